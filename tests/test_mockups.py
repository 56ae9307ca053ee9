"""Mockups: the design lands where the template says, follows its shading, and templates are data."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from tests.conftest import run_job, small_job
from worker import DesignWorker
from worker.config import Settings
from worker.products import BUILTIN_MOCKUPS_DIR, MockupRequest, composite_mockups, load_templates

TEMPLATES = load_templates(BUILTIN_MOCKUPS_DIR, device=torch.device("cpu"))
MARKERS = [(0.3, 0.3), (0.7, 0.35), (0.5, 0.7)]


def marker_designs(size: int = 512, radius: float = 0.025) -> torch.Tensor:
    """One transparent design per marker, each with a single opaque red disc: ``(3, 4, size, size)``."""
    yy, xx = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    designs = torch.zeros(len(MARKERS), 4, size, size)
    for i, (mx, my) in enumerate(MARKERS):
        disc = ((xx / size - mx) ** 2 + (yy / size - my) ** 2 < radius**2).float()
        designs[i, 0] = disc
        designs[i, 3] = disc
    return designs


def centroids(product: str) -> list[tuple[float, float]]:
    """Where each marker landed: the centroid of the pixels it changed."""
    template = TEMPLATES[product]
    out = composite_mockups(marker_designs(), TEMPLATES, [MockupRequest(product, template.default_color)])[0]
    base = template.tinted_base(template.default_color)
    found = []
    for image in out:
        change = (image - base).abs().sum(0)
        assert change.max() > 0.3, "the marker did not appear"
        weight = change * (change > 0.1)
        ys, xs = torch.meshgrid(
            torch.arange(change.shape[0]).float(), torch.arange(change.shape[1]).float(), indexing="ij"
        )
        found.append(
            ((weight * xs).sum().item() / weight.sum().item(), (weight * ys).sum().item() / weight.sum().item())
        )
    return found


def fitted_print_point(product: str, point: tuple[float, float], design_aspect: float = 1.0) -> tuple[float, float]:
    """A design point -> print-area (u, v), for a design centred in the print area with its aspect kept."""
    width, height = TEMPLATES[product].print_size
    fit_w, fit_h = (
        (width, width / design_aspect) if width / height < design_aspect else (height * design_aspect, height)
    )
    return 0.5 + (point[0] - 0.5) * fit_w / width, 0.5 + (point[1] - 0.5) * fit_h / height


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


def template_json(product: str) -> dict:
    return json.loads((BUILTIN_MOCKUPS_DIR / product / "template.json").read_text())


@pytest.mark.parametrize("product", ["poster", "phone_case", "tote"])
def test_quad_placement_puts_markers_where_the_homography_says(product):
    h = homography(template_json(product)["placement"]["corners"])
    for found, marker in zip(centroids(product), MARKERS, strict=True):
        expected = apply_homography(h, fitted_print_point(product, marker))
        assert math.dist(found, expected) < 2.0, (found, expected)


@pytest.mark.parametrize("product", ["tshirt", "hoodie"])
def test_fabric_placement_follows_the_displacement(product):
    spec = template_json(product)
    h = homography(spec["placement"]["corners"])
    with Image.open(BUILTIN_MOCKUPS_DIR / product / spec["assets"]["displacement"]) as image:
        displacement = image.convert("RGB").resize(TEMPLATES[product].size, Image.Resampling.BILINEAR)
    scale = spec["placement"]["displacement_px"]
    for found, marker in zip(centroids(product), MARKERS, strict=True):
        target = apply_homography(h, fitted_print_point(product, marker))
        position = target
        for _ in range(3):  # the pixel at x shows the design at x + d(x): solve x = target - d(x)
            r, g, _ = displacement.getpixel((round(position[0]), round(position[1])))
            position = (target[0] - (r / 255 - 0.5) * 2 * scale, target[1] - (g / 255 - 0.5) * 2 * scale)
        assert math.dist(found, position) < 2.0, (found, position)
        assert math.dist(position, target) > 0 or scale == 0


def test_cylinder_placement_wraps_the_visible_arc():
    p = template_json("mug")["placement"]
    for found, marker in zip(centroids("mug"), MARKERS, strict=True):
        u, v = fitted_print_point("mug", marker)
        theta = (u - 0.5) * math.radians(p["arc_degrees"])
        expected = (
            p["axis_x"] + p["radius"] * math.sin(theta) - 0.5,
            p["top"] + v * (p["bottom"] - p["top"]) + p["ellipse"] * math.cos(theta) - 0.5,
        )
        assert math.dist(found, expected) < 2.0, (found, expected)


def test_cylinder_hides_the_back_of_the_mug():
    design = torch.zeros(1, 4, 64, 256)
    design[:, 1, :, :16] = 1  # a green stripe at the design's far left ...
    design[:, 3, :, :16] = 1
    template = TEMPLATES["mug"]
    out = composite_mockups(design, TEMPLATES, [MockupRequest("mug", "white")])[0][0]
    # ... wraps to 75 degrees round the side at 150 degrees of arc: near the silhouette's left edge.
    changed = ((out - template.tinted_base("white")).abs().sum(0) > 0.1).nonzero()
    assert changed.numel() > 0
    p = template_json("mug")["placement"]
    assert changed[:, 1].float().mean() < p["axis_x"] - 0.85 * p["radius"]


@pytest.mark.parametrize("product", sorted(TEMPLATES))
def test_pixels_outside_the_print_area_are_the_product_photo(product):
    template = TEMPLATES[product]
    design = torch.rand(1, 4, 300, 200, generator=torch.Generator().manual_seed(0))
    design[:, 3] = 1
    out = composite_mockups(design, TEMPLATES, [MockupRequest(product, template.default_color)])[0][0]
    outside = (template.mask[0] == 0).expand(3, -1, -1)
    assert outside.any()
    assert torch.equal(out[outside], template.tinted_base(template.default_color).clamp(0, 1)[outside])


@pytest.mark.parametrize("product", sorted(TEMPLATES))
def test_transparent_design_leaves_the_product_visible(product):
    template = TEMPLATES[product]
    design = torch.rand(1, 4, 256, 256)
    design[:, 3] = 0
    out = composite_mockups(design, TEMPLATES, [MockupRequest(product, template.default_color)])[0][0]
    assert torch.allclose(out, template.tinted_base(template.default_color).clamp(0, 1), atol=1e-6)


def test_flat_grey_design_is_darker_where_the_shading_is_dark():
    template = TEMPLATES["tshirt"]
    width, height = template.print_size
    design = torch.full((1, 4, round(400 * height / width), 400), 0.7)  # covers the whole print area
    design[:, 3] = 1
    out = composite_mockups(design, TEMPLATES, [MockupRequest("tshirt", "white")])[0][0].mean(0)
    # Away from the print area's border, where the folds may pull the design's edge inward.
    grid = template.print_grid
    inside = (template.mask[0] > 0.99) & (grid > 0.02).all(-1) & (grid < 0.98).all(-1)
    shading = (template.ink_gain[0] / template.mask[0].clamp(min=1e-6))[inside]
    tone = out[inside]
    dark, light = shading < shading.quantile(0.1), shading > shading.quantile(0.9)
    assert tone[dark].mean() < tone[light].mean()
    assert torch.corrcoef(torch.stack([shading, tone]))[0, 1] > 0.9
    assert (tone - 0.7 * shading).abs().max() < 0.01  # the ink is multiplied by the shading map


def test_colour_variants_tint_the_product():
    template = TEMPLATES["tshirt"]
    white, black = template.tinted_base("white"), template.tinted_base("black")
    fabric = template.tint[0] > 0.99
    assert black.mean(0)[fabric].mean() < 0.3 < white.mean(0)[fabric].mean()
    backdrop = template.tint[0] == 0
    assert torch.equal(white.mean(0)[backdrop], black.mean(0)[backdrop])


def test_all_six_products_at_least_1600_pixels():
    assert sorted(TEMPLATES) == ["hoodie", "mug", "phone_case", "poster", "tote", "tshirt"]
    assert all(max(t.size) >= 1600 for t in TEMPLATES.values())


def test_committed_assets_stay_small():
    total = sum(path.stat().st_size for path in BUILTIN_MOCKUPS_DIR.rglob("*") if path.is_file())
    assert total < 10 * 1024 * 1024


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
        assert path.name == f"{mockup['product']}-0.{fmt}"
        with Image.open(path) as image:
            assert image.format == pil_format
            assert image.size == (mockup["width"], mockup["height"]) == (1600, 1600)
    assert "mockups" in result["timings_ms"]


def test_every_design_gets_every_product(worker):
    result, _ = run_job(
        worker, small_job(design_id="two", num_designs=2, products=["poster", "tote"], mockup_quality=50)
    )
    assert [(m["product"], m["design_index"]) for m in result["mockups"]] == [
        ("poster", 0),
        ("poster", 1),
        ("tote", 0),
        ("tote", 1),
    ]


def make_cushion_template(folder: Path) -> None:
    """A template as a user would make one from their own photo: base, mask and a quad."""
    folder.mkdir(parents=True)
    base = Image.new("RGB", (1600, 1200), (200, 196, 190))
    ImageDraw.Draw(base).rounded_rectangle([400, 250, 1200, 950], 60, fill=(235, 232, 225))
    base.save(folder / "photo.jpg")
    mask = Image.new("L", (1600, 1200), 0)
    ImageDraw.Draw(mask).rectangle([480, 330, 1120, 870], fill=255)
    mask.save(folder / "print-area.png")
    (folder / "template.json").write_text(
        json.dumps(
            {
                "display_name": "Cushion",
                "assets": {"base": "photo.jpg", "mask": "print-area.png"},
                "placement": {"kind": "quad", "corners": [[480, 330], [1120, 330], [1120, 870], [480, 870]]},
            }
        )
    )


def test_a_template_added_as_files_works_end_to_end(tiny_model, tmp_path):
    make_cushion_template(tmp_path / "mockups" / "cushion")
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
        composite = np.asarray(image.convert("RGB"), dtype=np.int16)
    with Image.open(tmp_path / "mockups" / "cushion" / "photo.jpg") as photo:
        original = np.asarray(photo.convert("RGB"), dtype=np.int16)
    assert np.abs(composite[400:800, 600:1000] - original[400:800, 600:1000]).mean() > 5  # the design is there
    assert np.abs(composite[:300] - original[:300]).max() <= 1  # the rest is the photo


def break_poster(folder: Path, change) -> Path:
    target = folder / "mockups" / "poster"
    shutil.copytree(BUILTIN_MOCKUPS_DIR / "poster", target)
    spec = json.loads((target / "template.json").read_text())
    change(spec, target)
    (target / "template.json").write_text(json.dumps(spec))
    return folder / "mockups"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda spec, folder: (folder / "shading.png").unlink(), "missing asset shading.png"),
        (lambda spec, folder: spec["placement"]["corners"].__setitem__(2, [5000, 900]), "outside the 1600x1600"),
        (lambda spec, folder: spec["placement"].update(kind="sphere"), "sphere"),
        (lambda spec, folder: spec.update(colors={"red": "#ff0000"}, default_color="red"), "tint"),
    ],
)
def test_a_bad_template_fails_the_fitness_check(tiny_model, tmp_path, change, message):
    mockups = break_poster(tmp_path, change)
    worker = DesignWorker.cold_start(Settings(model_id=str(tiny_model), mockups_dir=mockups, output_dir=tmp_path))
    with pytest.raises(RuntimeError, match="mockup template") as failure:
        worker.fitness_check()
    assert message in str(failure.value)
