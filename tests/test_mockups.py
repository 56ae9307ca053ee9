"""Mockups: the design lands where the product's geometry says, stays inside the print area, and templates are data.

The built-in templates are renders (``mockups/render.py``); ``render.json`` beside each holds landmarks,
print-area points projected through the camera from the mesh itself, so these tests check the committed
UV pass and the compositor against the geometry, not against themselves.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage
import torch
from PIL import Image, ImageDraw

from tests.conftest import run_job, small_job
from worker import DesignWorker
from worker.mockups.composite import MockupRequest, composite_mockups, place_design
from worker.mockups.fit import (
    WHOLE,
    DesignLayout,
    backfill_source,
    design_layouts,
    fit_design,
    premultiply,
    sample_print,
)
from worker.mockups.templates import BUILTIN_MOCKUPS_DIR, load_template, load_templates
from worker.runtime.catalog import CatalogError
from worker.runtime.config import Settings

TEMPLATES = load_templates(BUILTIN_MOCKUPS_DIR, device=torch.device("cpu"))
PRODUCTS = sorted(TEMPLATES)
DESIGN = 1024


def template_json(product: str, root: Path = BUILTIN_MOCKUPS_DIR) -> dict:
    return json.loads((root / product / "template.json").read_text())


def render_record(product: str) -> dict:
    return json.loads((BUILTIN_MOCKUPS_DIR / product / "render.json").read_text())


def as_floats(pixels: torch.Tensor) -> torch.Tensor:
    """A mockup batch, ``(B, H, W, 3)`` uint8 as the worker stores it, as ``(B, 3, H, W)`` floats in [0, 1]."""
    return pixels.permute(0, 3, 1, 2).float() / 255


def quantised(image: torch.Tensor) -> torch.Tensor:
    """Floats in [0, 1] as they come out of 8 bits."""
    return image.clamp(0, 1).mul(255).round() / 255


def composite(design: torch.Tensor, product: str, color: str | None = None, templates=TEMPLATES) -> torch.Tensor:
    template = templates[product]
    request = MockupRequest(product, color or template.default_color)
    return as_floats(composite_mockups(design, templates, [request])[0])


def design_box(spec: dict, design_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Where an opaque design whose subject is all of it sits in print-area units (extent, offset), as
    mockups/README.md says it is fitted: whole (nothing of the subject may be cropped), at ``align``; with
    ``backfill: none``, centred with a margin of 7% of the short side all round when it does not fill."""
    fill = {"align": (0.5, 0.5)} | spec.get("fill", {})
    print_w, print_h = spec["print_area_in"]
    width, height = design_size
    margin = 0.07 * min(print_w, print_h) if fill.get("backfill") == "none" else 0.0
    if margin and width / height == pytest.approx(print_w / print_h):
        margin = 0.0  # it fills the area: no mat
    scale = min((print_w - 2 * margin) / width, (print_h - 2 * margin) / height)
    extent = np.array([width * scale / print_w, height * scale / print_h])
    return extent, np.array(fill["align"]) * (1 - extent)


def discs(centres, size: int = DESIGN, radius: float = 8.0, background: float | None = 0.5) -> torch.Tensor:
    """A ``(1, 4, size, size)`` design: red discs at design points, on opaque grey (or transparent)."""
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    design = torch.zeros(1, 4, size, size)
    if background is not None:
        design[0, :3], design[0, 3] = background, 1.0
    for cx, cy in centres:
        disc = ((xx - cx * (size - 1)) ** 2 + (yy - cy * (size - 1)) ** 2 <= radius**2).float()
        design[0, 0] = torch.maximum(design[0, 0], disc)
        design[0, 1:3] *= 1 - disc
        design[0, 3] = torch.maximum(design[0, 3], disc)
    return design


def red_centroid(image: torch.Tensor, near: tuple[float, float], window: int = 40) -> tuple[float, float] | None:
    """The centroid of the red pixels within ``window`` of ``near`` (pixel-centre coordinates)."""
    x0, y0 = max(0, round(near[0]) - window), max(0, round(near[1]) - window)
    patch = image[:, y0 : y0 + 2 * window, x0 : x0 + 2 * window]
    redness = patch[0] - (patch[1] + patch[2]) / 2
    weight = redness * (redness > 0.1)
    if weight.sum() == 0:
        return None
    ys, xs = torch.meshgrid(torch.arange(patch.shape[1]).float(), torch.arange(patch.shape[2]).float(), indexing="ij")
    return x0 + float((weight * xs).sum() / weight.sum()), y0 + float((weight * ys).sum() / weight.sum())


def landmark_pixel(landmark: dict) -> tuple[float, float]:
    x, y = landmark["pixel"]
    return x - 0.5, y - 0.5  # landmarks are in image coordinates; pixel centres sit at +0.5


# --- the rendered built-in templates ------------------------------------------------------------------


def test_six_rendered_products_at_least_2048_pixels_with_a_uv_pass():
    assert PRODUCTS == ["hoodie", "mug", "phone_case", "poster", "tote", "tshirt"]
    for product in PRODUCTS:
        spec = template_json(product)
        assert spec["placement"]["kind"] == "uv"
        assert max(TEMPLATES[product].size) >= 2048
        record = render_record(product)
        assert record["engine"].startswith("Cycles") and record["samples"] > 0
        for name in ("mask", "base"):
            with Image.open(BUILTIN_MOCKUPS_DIR / product / spec["assets"][name]) as image:
                assert image.size == TEMPLATES[product].size


@pytest.mark.parametrize("product", PRODUCTS)
def test_uv_pass_agrees_with_the_geometry(product):
    """At each landmark the UV pass holds the landmark's print-area point, and the mask is fully on."""
    template = TEMPLATES[product]
    width_px, height_px = template.print_size
    landmarks = render_record(product)["landmarks"]
    assert len(landmarks) >= 5, "too few print-area points are visible"
    for landmark in landmarks:
        x, y = (math.floor(c) for c in landmark["pixel"])
        u, v = template.print_grid[y, x].tolist()
        assert template.mask[0, y, x] == 1
        # Within a pixel of the print area: the landmark is a point, the pixel averages its footprint.
        assert abs(u - landmark["uv"][0]) * width_px < 1.0 and abs(v - landmark["uv"][1]) * height_px < 1.0


@pytest.mark.parametrize("product", PRODUCTS)
def test_markers_land_where_the_geometry_projects_them(product):
    spec = template_json(product)
    extent, offset = design_box(spec, (DESIGN, DESIGN))
    highlight = TEMPLATES[product].highlight[0]
    targets = []
    for landmark in render_record(product)["landmarks"]:
        point = (np.array(landmark["uv"]) - offset) / extent
        x, y = (math.floor(c) for c in landmark["pixel"])
        # Where the glaze mirrors a softbox the print is hidden, as in a photo: no marker to find there.
        if ((point > 0.03) & (point < 0.97)).all() and highlight[y, x] < 0.3:
            targets.append((tuple(point), landmark_pixel(landmark)))
    assert len(targets) >= 5
    out = composite(discs([point for point, _ in targets]), product)[0]
    for _, expected in targets:
        found = red_centroid(out, expected)
        assert found is not None, f"no marker near {expected}"
        assert math.dist(found, expected) < 1.0, (found, expected)


@pytest.mark.parametrize("product", PRODUCTS)
def test_no_design_pixel_lands_outside_the_print_area(product):
    template = TEMPLATES[product]
    opaque = torch.rand(1, 4, 700, 500, generator=torch.Generator().manual_seed(0))
    opaque[:, 3] = 1
    markers = discs([(0.0, 0.0), (1.0, 0.0), (0.5, 0.5), (0.0, 1.0), (1.0, 1.0)], size=512, radius=30, background=None)
    outside = (template.mask[0] == 0).expand(3, -1, -1)
    blank = quantised(template.tinted_base(template.default_color))
    for design in (opaque, markers):
        out = composite(design, product)[0]
        assert torch.equal(out[outside], blank[outside])
        assert (out - blank).abs().sum(0)[template.mask[0] == 1].max() > 0.2, "the design did not appear"


@pytest.mark.parametrize("product", PRODUCTS)
def test_transparent_design_leaves_the_product_visible(product):
    template = TEMPLATES[product]
    design = torch.rand(1, 4, 256, 256)
    design[:, 3] = 0
    out = composite(design, product)[0]
    assert torch.equal(out, quantised(template.tinted_base(template.default_color)))


@pytest.mark.parametrize("product", ["mug", "phone_case"])
def test_cover_templates_print_edge_to_edge(product):
    """A square photo whose subject is unknown (all of it) covers all of a phone case or mug: where it stops
    short, a colour field made from it fills the rest."""
    template = TEMPLATES[product]
    assert template.fill.mode == "cover" and template.fill.backfill == "photo"
    design = torch.ones(1, 4, 512, 512)
    alpha = place_design(design, template)[0, 3]
    assert alpha[template.mask[0] > 0].min() > 0.999


def test_a_photo_that_cannot_fill_the_poster_is_matted_with_an_even_margin():
    """The poster crops no subject: a photo that cannot fill it is printed whole, centred, with the same margin
    of paper on every side (7% of the short side), as a framed print on a larger sheet."""
    template = TEMPLATES["poster"]
    assert template.fill.backfill == "none"
    width_in, height_in = template.print_area_in
    for shape in ((512, 512), (300, 451), (451, 300)):  # square, landscape, portrait (rows, columns)
        design = torch.ones(1, 4, *shape)
        [layout] = design_layouts(design)
        fit = fit_design(layout, (shape[1], shape[0]), template.print_area_in, template.fill)
        margins_in = [
            (fit.offset[0] * width_in, (1 - fit.offset[0] - fit.extent[0]) * width_in),
            (fit.offset[1] * height_in, (1 - fit.offset[1] - fit.extent[1]) * height_in),
        ]
        assert margins_in[0][0] == pytest.approx(margins_in[0][1]) and margins_in[1][0] == pytest.approx(
            margins_in[1][1]
        )
        assert min(min(m) for m in margins_in) == pytest.approx(0.07 * width_in)
        assert fit.backfill is None and fit.window == WHOLE


def test_a_photo_dissolves_into_its_colour_field_but_never_into_a_known_subject():
    """On a phone case, an unknown subject's outermost 8% dissolves into the fill (soft, nothing cut); a pet the
    matte found is never faded: only the background between it and the edge dissolves."""
    template = TEMPLATES["phone_case"]
    design = torch.ones(1, 4, 512, 512)
    [unknown] = design_layouts(design)
    fit = fit_design(unknown, (512, 512), template.print_area_in, template.fill)
    assert fit.backfill is not None and fit.feather == (0.0, pytest.approx(0.08))
    [pet] = design_layouts(design, [(0.05, 0.1, 0.95, 0.9)])
    fit = fit_design(pet, (512, 512), template.print_area_in, template.fill)
    assert fit.feather[1] == pytest.approx(0.07)  # 10% of room, less the 3% margin kept round the subject
    [filling] = design_layouts(design, [(0.05, 0.02, 0.95, 0.98)])
    assert fit_design(filling, (512, 512), template.print_area_in, template.fill).feather == (0.0, 0.0)


@pytest.mark.parametrize("product", ["tshirt", "hoodie", "tote"])
def test_apparel_shows_all_of_the_design_inside_the_print_area(product):
    """Contain: a wide design is printed whole; the rest of the print area stays blank."""
    template = TEMPLATES[product]
    assert template.fill.mode == "contain"
    design = torch.ones(1, 4, 256, 1024)  # 4:1, wider than any garment's print area
    alpha = place_design(design, template)[0, 3]
    v = template.print_grid[..., 1]
    extent, offset = design_box(template_json(product), (1024, 256))
    assert extent[0] == pytest.approx(1) and extent[1] < 0.5
    on_area = template.mask[0] == 1
    inside = on_area & (v > offset[1] + 0.01) & (v < offset[1] + extent[1] - 0.01)
    beside = on_area & ((v < offset[1] - 0.01) | (v > offset[1] + extent[1] + 0.01))
    assert inside.sum() > 1000 and beside.sum() > 1000
    assert alpha[inside].min() > 0.999 and alpha[beside].max() == 0


def test_cover_crop_keeps_the_subject():
    """A pet off-centre in a photo whose background was kept: the phone case is covered edge to edge, the
    crop centres the pet on the case, and the pet is whole."""
    product = "phone_case"
    [centre] = [lm for lm in render_record(product)["landmarks"] if lm["uv"] == [0.5, 0.5]]
    subject = (0.35, 0.5)
    design = discs([subject], radius=40)
    pet = (0.35 - 0.05, 0.45, 0.35 + 0.05, 0.55)
    [layout] = design_layouts(design, [pet])
    assert not layout.cut_out
    fit = fit_design(layout, (DESIGN, DESIGN), TEMPLATES[product].print_area_in, TEMPLATES[product].fill)
    assert fit.extent[1] == pytest.approx(1) and fit.extent[0] > 1 and fit.backfill is None  # edge to edge
    out = as_floats(composite_mockups(design, TEMPLATES, [MockupRequest(product, "clear")], [layout])[0])[0]
    found = red_centroid(out, landmark_pixel(centre), window=80)
    assert found is not None and math.dist(found, landmark_pixel(centre)) < 2.0, found


def print_area_of(design: torch.Tensor, layout, product: str, size: int = 400) -> torch.Tensor:
    """The design as fitted onto ``product``'s print area, seen straight on: ``(4, size*h/w, size)``."""
    template = TEMPLATES[product]
    width, height = template.print_area_in
    rows = round(size * height / width)
    v, u = torch.meshgrid((torch.arange(rows) + 0.5) / rows, (torch.arange(size) + 0.5) / size, indexing="ij")
    fit = fit_design(layout, (design.shape[-1], design.shape[-2]), template.print_area_in, template.fill)
    premultiplied = premultiply(design)
    blurred = backfill_source(premultiplied) if fit.backfill else None
    return sample_print(premultiplied, [fit], torch.stack([u, v], -1), blurred)[0]


def marked_subject(box: tuple[float, float, float, float], size: int = 512) -> torch.Tensor:
    """An opaque grey photo whose subject is a green box with a red dot at each corner."""
    design = discs([], size=size)
    x0, y0, x1, y1 = (round(c * size) for c in box)
    design[0, :3, y0:y1, x0:x1] = torch.tensor([0.1, 0.8, 0.2]).view(3, 1, 1)
    dots = discs(
        [
            (box[0] + 0.01, box[1] + 0.01),
            (box[2] - 0.01, box[1] + 0.01),
            (box[0] + 0.01, box[3] - 0.01),
            (box[2] - 0.01, box[3] - 0.01),
        ],
        size=size,
        radius=3,
        background=None,
    )
    return torch.where(dots[:, 3:] > 0.5, dots, design)


@pytest.mark.parametrize("product", PRODUCTS)
@pytest.mark.parametrize(
    "subject", [(0.3, 0.3, 0.7, 0.7), (0.02, 0.1, 0.4, 0.95), (0.55, 0.0, 1.0, 0.45), (0.05, 0.05, 0.95, 0.95)]
)
def test_no_subject_pixel_is_cropped_on_any_product(product, subject):
    """Whatever the product's shape, all of the subject (its four corner dots) is on the print area, and a
    product filled edge to edge (a colour field where the photo stops short) is covered edge to edge."""
    design = marked_subject(subject)
    [layout] = design_layouts(design, [subject])
    seen = print_area_of(design, layout, product)
    red = (seen[0] > 0.5) & (seen[1] < 0.3)
    _, count = scipy.ndimage.label(red.numpy())
    assert count == 4, f"{count} of the subject's 4 corners are printed"
    if TEMPLATES[product].fill.mode == "cover" and TEMPLATES[product].fill.backfill == "photo":
        assert seen[3].min() > 0.99


@pytest.mark.parametrize("product", PRODUCTS)
def test_a_cut_out_is_trimmed_and_printed_whole(product):
    """Transparent margins do not shrink a cut-out: it spans the print area along its limiting side, whole."""
    design = discs([(0.5, 0.5)], radius=150, background=None)  # a disc in a wide transparent margin
    [layout] = design_layouts(design)
    assert layout.cut_out
    seen = print_area_of(design, layout, product)
    alpha = seen[3] > 0.5
    rows, columns = alpha.any(1).nonzero(), alpha.any(0).nonzero()
    spans = ((columns[-1] - columns[0] + 1) / alpha.shape[1], (rows[-1] - rows[0] + 1) / alpha.shape[0])
    assert max(spans) > 0.97
    disc_share = alpha.sum() / ((rows[-1] - rows[0] + 1) * (columns[-1] - columns[0] + 1))
    assert float(disc_share) == pytest.approx(math.pi / 4, abs=0.03)  # a whole disc: cropping would fill more


def silhouette_share(product: str, design: torch.Tensor) -> float:
    """The printed design's width over the product's whole width (the dyed fabric, sleeve to sleeve)."""
    template = TEMPLATES[product]
    alpha = place_design(design, template)[0, 3] * template.mask[0]
    printed = (alpha > 0.5).any(0).nonzero()
    return float(printed[-1] - printed[0] + 1) / garment_width(template)


def pet_cut_out(aspect: float) -> torch.Tensor:
    """A pet-like cut-out of ``aspect`` (height / width), with transparent margins around it."""
    width, height = 600, 600
    yy, xx = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
    half_w = 200 if aspect <= 1 else 200 / aspect
    inside = ((xx - 300) / half_w) ** 2 + ((yy - 300) / (half_w * aspect)) ** 2 <= 1
    design = torch.zeros(1, 4, height, width)
    design[0, :3] = 0.4
    design[0, 3] = inside.float()
    return design


def garment_width(template) -> int:
    garment = (template.tint[0] > 0.5).any(0).nonzero()
    return int(garment[-1] - garment[0] + 1)


@pytest.mark.parametrize(
    ("product", "low", "high"), [("tshirt", 0.30, 0.40), ("hoodie", 0.30, 0.40), ("tote", 0.55, 1)]
)
def test_apparel_print_areas_span_what_print_shops_print(product, low, high):
    """A garment's print area spans 30-40% of its width sleeve to sleeve; a tote's at least 55%."""
    template = TEMPLATES[product]
    area = (template.mask[0] > 0.5).any(0).nonzero()
    assert low <= float(area[-1] - area[0] + 1) / garment_width(template) <= high


@pytest.mark.parametrize(
    ("product", "aspect"),
    [("tshirt", 1.0), ("tshirt", 1.25), ("tshirt", 0.8), ("hoodie", 1.0), ("hoodie", 0.8), ("tote", 1.0)],
)
def test_a_pet_is_printed_as_wide_as_print_shops_print_it(product, aspect):
    """A pet cut-out (square, portrait 4:5 or landscape 5:4), trimmed, spans 30-40% of a garment's width and
    at least 55% of a tote's. (A 4:5 portrait on the hoodie is held by the chest's height above the pocket:
    it spans 25%, as it would on a real hoodie.)"""
    low, high = (0.55, 1.0) if product == "tote" else (0.30, 0.40)
    assert low <= silhouette_share(product, pet_cut_out(aspect)) <= high


def test_flat_grey_design_takes_the_fabric_light():
    """The ink is multiplied by the rendered diffuse light and screened with the gloss: folds shade the print."""
    template = TEMPLATES["tshirt"]
    design = torch.full((1, 4, 512, 512), 0.7)
    design[:, 3] = 1
    out = composite(design, "tshirt", "white")[0]
    alpha = place_design(design, template)[0, 3]
    inside = (template.mask[0] == 1) & (alpha == 1)
    shading = (template.ink_gain[0] / template.mask[0].clamp(min=1e-6))[inside]
    highlight = template.highlight[0][inside]
    expected = highlight + 0.7 * shading * (1 - highlight)
    assert (out.mean(0)[inside] - expected).abs().max() <= 0.5 / 255 + 1e-6  # exact, up to 8-bit rounding
    assert shading.std() > 0.01, "the print area's light is flat: no folds?"


@pytest.mark.parametrize("product", PRODUCTS)
def test_a_white_print_looks_like_the_blank_product(product):
    """The layers come from one render: white ink, shaded and screened, reproduces the photo's print area."""
    template = TEMPLATES[product]
    design = torch.ones(1, 4, 512, 512)
    out = composite(design, product)[0]
    printed = (template.mask[0] == 1) & (place_design(design, template)[0, 3] == 1)
    blank = template.tinted_base(template.default_color)
    assert (out - blank).abs().mean(0)[printed].mean() < 0.03


def test_colour_variants_tint_the_product_not_the_backdrop():
    template = TEMPLATES["tshirt"]
    white, black = template.tinted_base("white"), template.tinted_base("black")
    fabric = template.tint[0] > 0.99
    assert black.mean(0)[fabric].mean() < 0.3 < white.mean(0)[fabric].mean()
    backdrop = template.tint[0] == 0
    assert torch.equal(white[:, backdrop], black[:, backdrop])


def test_a_black_mug_keeps_its_reflections():
    template = TEMPLATES["mug"]
    black = template.tinted_base("black")
    glaze = template.tint[0] > 0.99
    reflections = glaze & (template.highlight[0] > 0.5)
    assert reflections.sum() > 100
    assert black.mean(0)[reflections].min() >= 0.5
    assert black.mean(0)[glaze & (template.highlight[0] < 0.05)].mean() < 0.3


def test_committed_assets_stay_small():
    total = sum(path.stat().st_size for path in BUILTIN_MOCKUPS_DIR.rglob("*") if path.is_file())
    assert total < 40 * 1024 * 1024


# --- templates made by hand: quad, fabric, cylinder ---------------------------------------------------

HAND_SIZE = (1600, 1200)
QUAD = [[480.0, 330.0], [1120.0, 360.0], [1100.0, 880.0], [500.0, 860.0]]
MARKERS = [(0.3, 0.3), (0.7, 0.35), (0.5, 0.7)]


def make_template(folder: Path, placement: dict, mask: Image.Image, **extra) -> Path:
    """A template as a user would make one from their own photo: base, mask, placement (+ displacement)."""
    folder.mkdir(parents=True)
    Image.new("RGB", HAND_SIZE, (200, 196, 190)).save(folder / "photo.jpg")
    mask.save(folder / "print-area.png")
    assets = {"base": "photo.jpg", "mask": "print-area.png"}
    for name, image in extra.items():
        image.save(folder / f"{name}.png")
        assets[name] = f"{name}.png"
    spec = {"display_name": folder.name, "assets": assets, "placement": placement, "print_area_in": [8.0, 6.5]}
    (folder / "template.json").write_text(json.dumps(spec))
    return folder


def polygon_mask(points) -> Image.Image:
    mask = Image.new("L", HAND_SIZE, 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in points], fill=255)
    return mask


def hand_centroids(template) -> list[tuple[float, float]]:
    found = []
    for marker in MARKERS:
        design = discs([marker], size=512, radius=12.8, background=None)
        whole = [DesignLayout(WHOLE, WHOLE, cut_out=False)]  # the geometry, not trimming, is under test here
        out = as_floats(composite_mockups(design, {"t": template}, [MockupRequest("t", None)], whole)[0])[0]
        change = (out - template.base).abs().sum(0)
        weight = change * (change > 0.1)
        ys, xs = torch.meshgrid(
            torch.arange(change.shape[0]).float(), torch.arange(change.shape[1]).float(), indexing="ij"
        )
        found.append((float((weight * xs).sum() / weight.sum()), float((weight * ys).sum() / weight.sum())))
    return found


def fitted_print_point(print_area: tuple[float, float], point: tuple[float, float]) -> tuple[float, float]:
    """A point of a square design -> print-area (u, v), contained and centred."""
    width, height = print_area
    side = min(width, height)
    return 0.5 + (point[0] - 0.5) * side / width, 0.5 + (point[1] - 0.5) * side / height


def homography(corners: list) -> np.ndarray:
    """Unit square -> quad, solved directly (DLT), independent of the worker's kornia path."""
    square = [(0, 0), (1, 0), (1, 1), (0, 1)]
    rows, rhs = [], []
    for (x, y), (u, v) in zip(square, corners, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    h = np.linalg.solve(np.array(rows, float), np.array(rhs, float))
    return np.append(h, 1).reshape(3, 3)


def apply_homography(h: np.ndarray, point: tuple[float, float]) -> tuple[float, float]:
    x, y, w = h @ np.array([point[0], point[1], 1.0])
    return x / w - 0.5, y / w - 0.5  # pixel centres sit at +0.5


def test_quad_placement_puts_markers_where_the_homography_says(tmp_path):
    folder = make_template(tmp_path / "cushion", {"kind": "quad", "corners": QUAD}, polygon_mask(QUAD))
    template = load_template(folder, torch.device("cpu"))
    h = homography(QUAD)
    for found, marker in zip(hand_centroids(template), MARKERS, strict=True):
        expected = apply_homography(h, fitted_print_point(template.print_area_in, marker))
        assert math.dist(found, expected) < 2.0, (found, expected)


def test_fabric_placement_follows_the_displacement(tmp_path):
    width, height = HAND_SIZE
    xs, ys = np.meshgrid(np.arange(width), np.arange(height))
    red = 128 + 100 * np.sin(ys / 90.0)  # folds across the shirt shift the print sideways
    green = 128 + 60 * np.cos(xs / 120.0)
    displacement = Image.fromarray(np.stack([red, green, np.full_like(red, 128)], -1).astype(np.uint8))
    corners = [[560, 300], [1040, 300], [1040, 900], [560, 900]]
    placement = {"kind": "fabric", "corners": corners, "displacement_px": 14}
    folder = make_template(tmp_path / "shirt", placement, polygon_mask(corners), displacement=displacement)
    template = load_template(folder, torch.device("cpu"))
    h = homography(corners)
    for found, marker in zip(hand_centroids(template), MARKERS, strict=True):
        target = apply_homography(h, fitted_print_point(template.print_area_in, marker))
        position = target
        for _ in range(4):  # the pixel at x shows the design at x + d(x): solve x = target - d(x)
            r, g, _ = displacement.getpixel((round(position[0]), round(position[1])))
            position = (target[0] - (r / 255 - 0.5) * 28, target[1] - (g / 255 - 0.5) * 28)
        assert math.dist(found, position) < 2.0, (found, position)
        assert math.dist(position, target) > 2.0  # the displacement did move it


CYLINDER = {
    "kind": "cylinder",
    "axis_x": 800.0,
    "radius": 300.0,
    "top": 400.0,
    "bottom": 800.0,
    "arc_degrees": 150.0,
    "ellipse": 50.0,
}


def test_cylinder_placement_wraps_the_visible_arc(tmp_path):
    mask = polygon_mask([(500, 380), (1100, 380), (1100, 870), (500, 870)])
    template = load_template(make_template(tmp_path / "mug", CYLINDER, mask), torch.device("cpu"))
    p = CYLINDER
    for found, marker in zip(hand_centroids(template), MARKERS, strict=True):
        u, v = fitted_print_point(template.print_area_in, marker)
        theta = (u - 0.5) * math.radians(p["arc_degrees"])
        expected = (
            p["axis_x"] + p["radius"] * math.sin(theta) - 0.5,
            p["top"] + v * (p["bottom"] - p["top"]) + p["ellipse"] * math.cos(theta) - 0.5,
        )
        assert math.dist(found, expected) < 2.0, (found, expected)


def test_hand_made_template_can_print_edge_to_edge(tmp_path):
    folder = make_template(tmp_path / "card", {"kind": "quad", "corners": QUAD}, polygon_mask(QUAD))
    spec = json.loads((folder / "template.json").read_text())
    (folder / "template.json").write_text(json.dumps(spec | {"fill": {"mode": "cover"}}))
    template = load_template(folder, torch.device("cpu"))
    alpha = place_design(torch.ones(1, 4, 300, 600), template)[0, 3]  # 2:1 on a nearly square card
    assert alpha[template.mask[0] > 0].mean() > 0.995
    assert alpha[template.mask[0] == 0].max() == 0


# --- through the worker -------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "pil_format"), [("webp", "WEBP"), ("jpeg", "JPEG"), ("png", "PNG")])
def test_job_returns_each_mockup_in_the_asked_format(worker, fmt, pil_format):
    result, _ = run_job(
        worker,
        small_job(design_id=f"mock-{fmt}", products=["mug", "tshirt"], mockup_format=fmt, colors={"tshirt": "black"}),
    )
    assert "error" not in result, result
    assert [(m["product"], m["color"]) for m in result["mockups"]] == [("mug", "white"), ("tshirt", "black")]
    for mockup in result["mockups"]:
        path = Path(mockup["url"].removeprefix("file://"))
        extension = {"jpeg": "jpg"}.get(fmt, fmt)
        assert re.fullmatch(rf"{mockup['product']}-0-[0-9a-f]{{12}}\.{extension}", path.name), path.name
        with Image.open(path) as image:
            assert image.format == pil_format
            assert image.size == (mockup["width"], mockup["height"]) == (2048, 2048)
    assert "mockups" in result["timings_ms"]


def test_every_design_gets_every_product(worker):
    result, _ = run_job(
        worker,
        small_job(design_id="two", num_designs=2, products=["poster", "tote"], mockup_format="jpeg", mockup_quality=50),
    )
    assert [(m["product"], m["design_index"]) for m in result["mockups"]] == [
        ("poster", 0),
        ("poster", 1),
        ("tote", 0),
        ("tote", 1),
    ]


def test_a_template_added_as_files_works_end_to_end(tiny_model, tmp_path):
    corners = [[480, 330], [1120, 330], [1120, 870], [480, 870]]
    make_template(tmp_path / "mockups" / "cushion", {"kind": "quad", "corners": corners}, polygon_mask(corners))
    worker = DesignWorker.cold_start(
        Settings(model_id=str(tiny_model), mockups_dir=tmp_path / "mockups", output_dir=tmp_path)
    )
    assert worker.startup_error is None, worker.startup_error
    result, _ = run_job(
        worker, small_job(design_id="cushion", products=["cushion"], mockup_format="png", transparent_background=False)
    )
    assert "error" not in result, result
    [mockup] = result["mockups"]
    assert (mockup["product"], mockup["width"], mockup["height"]) == ("cushion", 1600, 1200)
    with Image.open(mockup["url"].removeprefix("file://")) as image:
        composite_image = np.asarray(image.convert("RGB"), dtype=np.int16)
    with Image.open(tmp_path / "mockups" / "cushion" / "photo.jpg") as photo:
        original = np.asarray(photo.convert("RGB"), dtype=np.int16)
    assert np.abs(composite_image[400:800, 600:1000] - original[400:800, 600:1000]).mean() > 5  # the design is there
    assert np.abs(composite_image[:300] - original[:300]).max() <= 1  # the rest is the photo


def break_poster(folder: Path, change) -> Path:
    target = folder / "mockups" / "poster"
    shutil.copytree(BUILTIN_MOCKUPS_DIR / "poster", target)
    spec = json.loads((target / "template.json").read_text())
    change(spec, target)
    (target / "template.json").write_text(json.dumps(spec))
    return folder / "mockups"


def eight_bit_uv(spec: dict, folder: Path) -> None:
    with Image.open(folder / "uv-u.png") as image:
        Image.fromarray((np.asarray(image) // 257).astype(np.uint8)).save(folder / "uv-u.png")


def shrunk_mask(spec: dict, folder: Path) -> None:
    with Image.open(folder / "mask.png") as image:
        image.resize((1024, 1024)).save(folder / "mask.png")


def test_a_bad_template_fails_the_fitness_check(tiny_model, tmp_path):
    mockups = break_poster(tmp_path, lambda spec, folder: (folder / "shading.png").unlink())
    worker = DesignWorker.cold_start(Settings(model_id=str(tiny_model), mockups_dir=mockups, output_dir=tmp_path))
    with pytest.raises(RuntimeError, match="mockup template") as failure:
        worker.fitness_check()
    assert "missing asset shading.png" in str(failure.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda spec, folder: (folder / "uv-v.png").unlink(), "missing asset uv-v.png"),
        (eight_bit_uv, "16-bit greyscale"),
        (shrunk_mask, "mask must be 2048x2048"),
        (lambda spec, folder: spec["placement"].update(kind="sphere"), "sphere"),
        (lambda spec, folder: spec.update(fill={"mode": "stretch"}), "stretch"),
        (lambda spec, folder: spec.update(colors={"red": "#ff0000"}, default_color="red"), "tint"),
        (lambda spec, folder: spec.update(print_file={"size_in": [20, 20]}), "print file's height"),
    ],
)
def test_a_bad_template_is_rejected_with_its_reason(tmp_path, change, message):
    """What the fitness check reports (above): the catalog loader names the template and the reason."""
    mockups = break_poster(tmp_path, change)
    with pytest.raises(CatalogError, match="mockup template") as failure:
        load_templates(mockups, device=torch.device("cpu"))
    assert message in str(failure.value)
