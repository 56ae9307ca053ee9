"""Product templates and mockups: the design composited onto product photos, in torch on the model's device.

A template (``mockups/<product>/template.json`` plus images, see ``mockups/README.md``) is validated and
loaded to the device once, at cold start, where its placement becomes a print grid: for every pixel of
the product photo, the point of the print area (u, v in [0, 1]) it shows. The built-in templates are
renders whose UV pass is that grid (``uv`` placement); templates made by hand from a photo describe it by
a quad, a fabric displacement or a cylinder. Per job, the design is fitted to the print area (``contain``
or ``cover``, as the template says), sampled through the grid, masked, multiplied by the shading map and
screened with the highlights; each product is composited for all of the job's designs as one batch.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import kornia
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from worker.catalog import CatalogError, load_catalog
from worker.filters import parse_color

BUILTIN_MOCKUPS_DIR = Path(__file__).resolve().parents[2] / "mockups"
MIN_LONG_EDGE = 1600
OUTSIDE = -1e4  # the print grid off the print area: outside the design however it is fitted
Point = tuple[float, float]


class QuadPlacement(BaseModel):
    """A flat print area: its four corners in the photo, clockwise from top left."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["quad"]
    corners: Annotated[list[Point], Field(min_length=4, max_length=4)]


class FabricPlacement(BaseModel):
    """A quad whose fabric folds shift the print by the displacement map (x in red, y in green, 0.5 = none)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["fabric"]
    corners: Annotated[list[Point], Field(min_length=4, max_length=4)]
    displacement_px: float = Field(10.0, ge=0, le=200)


class CylinderPlacement(BaseModel):
    """A print wrapped ``arc_degrees`` around a vertical cylinder; only its front half is visible.

    ``top`` and ``bottom`` are the print's edges where the cylinder's sides meet the silhouette; ``ellipse``
    is how much lower a horizontal line sits at the front than at the sides (the camera looks down).
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["cylinder"]
    axis_x: float
    radius: float = Field(gt=0)
    top: float
    bottom: float
    arc_degrees: float = Field(gt=0, le=360)
    ellipse: float = Field(0.0, ge=0)


class UVPlacement(BaseModel):
    """A rendered print grid: 16-bit greyscale maps of the print area's u and v for every photo pixel.

    ``print_size_mm`` is the print area's size on the product: its aspect ratio is what the design is
    fitted to.
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["uv"]
    u: str
    v: str
    print_size_mm: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]]


class Fill(BaseModel):
    """How a design fills the print area, as print shops do.

    ``contain``: all of the design, as large as fits, placed at ``align`` (fractions of the spare room:
    (0.5, 0) is top centre). ``cover``: the print area edge to edge, cropping what does not fit; the crop
    keeps ``focus`` (a design point, or ``"subject"``: the centre of the design's opaque part, the pet
    rather than its background) as close to the centre as the design allows.
    """

    model_config = ConfigDict(extra="forbid")
    mode: Literal["contain", "cover"] = "contain"
    align: tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]] = (0.5, 0.5)
    focus: Literal["subject"] | tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]] = (
        0.5,
        0.5,
    )


class TemplateAssets(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base: str
    mask: str
    shading: str | None = None
    highlight: str | None = None
    displacement: str | None = None
    tint: str | None = None


class TemplateSpec(BaseModel):
    """The schema of ``template.json``."""

    model_config = ConfigDict(extra="forbid")
    display_name: str
    assets: TemplateAssets
    placement: Annotated[QuadPlacement | FabricPlacement | CylinderPlacement | UVPlacement, Field(discriminator="kind")]
    fill: Fill = Field(default_factory=Fill)
    colors: dict[str, str] = Field(default_factory=dict)
    default_color: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TemplateSpec:
        for name, value in self.colors.items():
            parse_color(value)
            if not name.replace("_", "").isalnum():
                raise ValueError(f"colour name {name!r} must be letters, digits and '_'")
        if self.colors and self.default_color not in self.colors:
            raise ValueError(f"default_color must be one of {', '.join(self.colors)}")
        if self.colors and not self.assets.tint:
            raise ValueError("colour variants need a tint mask asset")
        if isinstance(self.placement, FabricPlacement) and not self.assets.displacement:
            raise ValueError("a fabric placement needs a displacement asset")
        return self


TemplateError = CatalogError  # a template that cannot be used; raised at cold start


@dataclass
class MockupTemplate:
    """A template on the device, ready to composite onto."""

    name: str
    display_name: str
    base: torch.Tensor  # (3, H, W)
    mask: torch.Tensor  # (1, H, W) print area, soft-edged
    ink_gain: torch.Tensor  # (1, H, W) mask x shading: what the printed ink is multiplied by
    highlight: torch.Tensor  # (1, H, W) screen
    ink_keep: torch.Tensor  # (1, H, W) 1 - highlight: what screening leaves of the ink
    tint: torch.Tensor  # (1, H, W) where the product colour applies
    dye: torch.Tensor  # (3, H, W) tint x (base - highlight): what a colour variant multiplies
    gloss_over_base: torch.Tensor  # (3, H, W) highlight - base: how far a fully inked pixel moves from the photo
    print_grid: torch.Tensor  # (H, W, 2) print-area (u, v) per pixel; outside [0, 1] where nothing is printed
    print_size: tuple[float, float]  # the print area's width and height in photo pixels (its aspect matters)
    fill: Fill
    colors: dict[str, str]
    default_color: str | None

    @property
    def size(self) -> tuple[int, int]:
        return self.base.shape[-1], self.base.shape[-2]

    def tinted_base(self, color: str | None) -> torch.Tensor:
        """The photo in a colour variant: the dyed material's diffuse light times the colour, gloss kept.

        The photo is the diffuse light screened with the highlights, ``d + h - d*h``; dyeing multiplies
        ``d`` by the colour, which changes the photo by ``(colour - 1) * (photo - h)``. A black mug keeps its
        white reflections.
        """
        if color is None or not self.colors or parse_color(self.colors[color]) == (1.0, 1.0, 1.0):
            return self.base
        rgb = torch.tensor(parse_color(self.colors[color]), dtype=self.base.dtype, device=self.base.device)
        return torch.addcmul(self.base, self.dye, rgb.view(3, 1, 1) - 1)


# --- loading ------------------------------------------------------------------------------------------


def image_size(path: Path) -> tuple[int, int]:
    if not path.is_file():
        raise TemplateError(f"missing asset {path.name}")
    with Image.open(path) as image:
        return image.size


def read_map(path: Path, size: tuple[int, int], mode: str) -> torch.Tensor:
    """An image asset as ``(C, H, W)`` float in [0, 1], resized to the base photo's size."""
    if not path.is_file():
        raise TemplateError(f"missing asset {path.name}")
    with Image.open(path) as image:
        converted = image.convert(mode)
        if converted.size != size:
            converted = converted.resize(size, Image.Resampling.BILINEAR)
        array = np.asarray(converted, dtype=np.float32) / 255
    return torch.from_numpy(array.reshape(size[1], size[0], -1)).permute(2, 0, 1).contiguous()


def quad_print_size(corners: list[Point]) -> tuple[float, float]:
    c = [np.array(p) for p in corners]
    width = (np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / 2
    height = (np.linalg.norm(c[3] - c[0]) + np.linalg.norm(c[2] - c[1])) / 2
    return float(width), float(height)


def pixel_centres(width: int, height: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32),
        torch.arange(width, device=device, dtype=torch.float32),
        indexing="ij",
    )
    return xs, ys


def quad_print_grid(corners: list[Point], xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Photo pixel -> print (u, v) through the homography that takes the quad to the unit square."""
    quad = torch.tensor([corners], dtype=torch.float32, device=xs.device)
    square = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]], device=xs.device)
    to_print = kornia.geometry.transform.get_perspective_transform(quad, square)
    points = torch.stack([xs, ys], dim=-1).reshape(1, -1, 2)
    return kornia.geometry.linalg.transform_points(to_print, points).reshape(*xs.shape, 2)


def cylinder_print_grid(p: CylinderPlacement, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Photo pixel -> print (u, v) on the cylinder's visible front; elsewhere (-1, -1)."""
    sin_theta = (xs - p.axis_x) / p.radius
    visible = sin_theta.abs() < 1
    theta = torch.asin(sin_theta.clamp(-1, 1))
    u = 0.5 + theta / math.radians(p.arc_degrees)
    v = (ys - p.top - p.ellipse * torch.cos(theta)) / (p.bottom - p.top)
    grid = torch.stack([u, v], dim=-1)
    return torch.where(visible.unsqueeze(-1), grid, torch.full_like(grid, -1.0))


def read_uv_map(path: Path, size: tuple[int, int]) -> torch.Tensor:
    """A 16-bit greyscale UV map as ``(H, W)`` float in [0, 1], at exactly the base photo's size.

    Never resized or read at 8 bits: either would move the design at the print area's edges.
    """
    if not path.is_file():
        raise TemplateError(f"missing asset {path.name}")
    with Image.open(path) as image:
        if image.mode not in ("I;16", "I;16B", "I"):
            raise TemplateError(f"{path.name} must be a 16-bit greyscale PNG, not mode {image.mode}")
        if image.size != size:
            raise TemplateError(
                f"{path.name} is {image.size[0]}x{image.size[1]}; the base photo is {size[0]}x{size[1]}"
            )
        array = np.asarray(image, dtype=np.float32) / 65535
    return torch.from_numpy(array)


def uv_print_grid(folder: Path, placement: UVPlacement, mask: torch.Tensor) -> torch.Tensor:
    """The rendered UV pass as the print grid; off the print area wherever the mask is 0."""
    size = mask.shape[-1], mask.shape[-2]
    grid = torch.stack([read_uv_map(folder / placement.u, size), read_uv_map(folder / placement.v, size)], dim=-1)
    return torch.where((mask[0] > 0).unsqueeze(-1), grid, torch.full_like(grid, OUTSIDE))


def uv_print_size(placement: UVPlacement, mask: torch.Tensor) -> tuple[float, float]:
    """The print area's size in photo pixels, from its rendered area and its aspect ratio on the product."""
    width_mm, height_mm = placement.print_size_mm
    area = float(mask.sum())
    if area < 1:
        raise TemplateError("the mask has no print area")
    return math.sqrt(area * width_mm / height_mm), math.sqrt(area * height_mm / width_mm)


def check_geometry(spec: TemplateSpec, width: int, height: int) -> None:
    p = spec.placement
    if isinstance(p, UVPlacement):
        return
    if isinstance(p, CylinderPlacement):
        points = [(p.axis_x - p.radius, p.top), (p.axis_x + p.radius, p.bottom + p.ellipse)]
        if p.bottom <= p.top:
            raise TemplateError("cylinder bottom must be below its top")
    else:
        points = p.corners
    for x, y in points:
        if not (0 <= x <= width and 0 <= y <= height):
            raise TemplateError(f"placement point ({x}, {y}) lies outside the {width}x{height} base photo")
    if not isinstance(p, CylinderPlacement):
        area = 0.5 * abs(
            sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(p.corners, p.corners[1:] + p.corners[:1], strict=True))
        )
        if area < 1:
            raise TemplateError("the placement quad has no area")


def print_grid_and_size(
    folder: Path, spec: TemplateSpec, size: tuple[int, int], mask: torch.Tensor
) -> tuple[torch.Tensor, tuple[float, float]]:
    placement = spec.placement
    if isinstance(placement, UVPlacement):
        return uv_print_grid(folder, placement, mask), uv_print_size(placement, mask)
    xs, ys = pixel_centres(*size, torch.device("cpu"))
    if isinstance(placement, CylinderPlacement):
        print_size = (placement.radius * math.radians(placement.arc_degrees), placement.bottom - placement.top)
        return cylinder_print_grid(placement, xs, ys), print_size
    if isinstance(placement, FabricPlacement):
        shift = (read_map(folder / spec.assets.displacement, size, "RGB")[:2] - 0.5) * 2 * placement.displacement_px
        xs, ys = xs + shift[0], ys + shift[1]
    return quad_print_grid(placement.corners, xs, ys), quad_print_size(placement.corners)


def load_template(folder: Path, device: torch.device) -> MockupTemplate:
    try:
        spec = TemplateSpec.model_validate(json.loads((folder / "template.json").read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, ValidationError, ValueError) as exc:
        raise TemplateError(str(exc)) from None
    size = image_size(folder / spec.assets.base)
    width, height = size
    if max(size) < MIN_LONG_EDGE:
        raise TemplateError(f"base photo is {width}x{height}; its long edge must be at least {MIN_LONG_EDGE}")
    check_geometry(spec, width, height)
    if isinstance(spec.placement, UVPlacement) and image_size(folder / spec.assets.mask) != size:
        raise TemplateError(f"with a uv placement the mask must be {width}x{height}, the base photo's size")

    def optional_map(name: str | None, default: float) -> torch.Tensor:
        return torch.full((1, height, width), default) if name is None else read_map(folder / name, size, "L")

    mask = read_map(folder / spec.assets.mask, size, "L")
    grid, print_size = print_grid_and_size(folder, spec, size, mask)
    on_print_area = ((grid >= 0) & (grid <= 1)).all(-1, keepdim=True)
    grid = torch.where(on_print_area, grid, torch.full_like(grid, OUTSIDE))  # samples nothing, however it is fitted
    highlight = optional_map(spec.assets.highlight, 0.0)
    base = read_map(folder / spec.assets.base, size, "RGB")
    tint = optional_map(spec.assets.tint, 0.0)
    return MockupTemplate(
        name=folder.name,
        display_name=spec.display_name,
        base=base.to(device),
        mask=mask.to(device),
        ink_gain=(mask * optional_map(spec.assets.shading, 1.0)).to(device),
        highlight=highlight.to(device),
        ink_keep=(1 - highlight).to(device),
        tint=tint.to(device),
        dye=(tint * (base - highlight).clamp(min=0)).to(device),
        gloss_over_base=(highlight - base).to(device),
        print_grid=grid.to(device),
        print_size=print_size,
        fill=spec.fill,
        colors=spec.colors,
        default_color=spec.default_color,
    )


def load_templates(*folders: Path | None, device: torch.device) -> dict[str, MockupTemplate]:
    """Every ``<folder>/<product>/template.json``; a later folder's product replaces an earlier one."""
    return load_catalog(
        folders,
        "*/template.json",
        lambda path: load_template(path.parent, device),
        lambda path: path.parent.name.lower(),
        "mockup template",
    )


# --- compositing --------------------------------------------------------------------------------------


def subject_centre(premultiplied: torch.Tensor) -> torch.Tensor:
    """``(B, 2)``: each design's opaque part's centre of mass, as a fraction of its width and height."""
    alpha = premultiplied[:, 3]
    height, width = alpha.shape[-2:]
    ys = (torch.arange(height, device=alpha.device, dtype=alpha.dtype) + 0.5) / height
    xs = (torch.arange(width, device=alpha.device, dtype=alpha.dtype) + 0.5) / width
    total = alpha.sum((1, 2))
    centre = (
        torch.stack([(alpha.sum(1) * xs).sum(1), (alpha.sum(2) * ys).sum(1)], dim=-1) / total.clamp(min=1e-6)[:, None]
    )
    return torch.where((total > 0)[:, None], centre, torch.full_like(centre, 0.5))


def fit_design(premultiplied: torch.Tensor, template: MockupTemplate) -> tuple[torch.Tensor, torch.Tensor]:
    """The design resized to the area it will cover, and each design's grid onto it: ``(B, H, W, 2)``.

    In print-area units the design spans ``extent`` (1 along the axis it fills; below 1 across the other
    for ``contain``, above 1 for ``cover``) from ``offset``. Resizing a large design first (with
    anti-aliasing) keeps the bilinear sampling from aliasing where it covers few photo pixels.
    """
    fill = template.fill
    height, width = premultiplied.shape[-2:]
    print_w, print_h = template.print_size
    pick = max if fill.mode == "cover" else min
    scale = pick(print_w / width, print_h / height)  # photo pixels per design pixel
    device = premultiplied.device
    extent = torch.tensor([width * scale / print_w, height * scale / print_h], device=device)
    if fill.mode == "contain":
        offset = (torch.tensor(fill.align, device=device) * (1 - extent)).expand(premultiplied.shape[0], 2)
    else:
        focus = subject_centre(premultiplied) if fill.focus == "subject" else torch.tensor([fill.focus], device=device)
        offset = (0.5 - focus * extent).clamp(min=1 - extent, max=torch.zeros_like(extent))
    target = (max(2, round(height * scale)), max(2, round(width * scale)))
    if target[0] < height:
        premultiplied = F.interpolate(premultiplied, size=target, mode="bilinear", antialias=True, align_corners=False)
    # print (u, v) -> design coordinates in grid_sample's [-1, 1]: one multiply-add per pixel and design.
    stretch = 2 / extent
    shift = -offset * stretch - 1
    grid = torch.addcmul(shift.view(-1, 1, 1, 2), template.print_grid.unsqueeze(0), stretch.view(1, 1, 1, 2))
    return premultiplied, grid


def place_design(premultiplied: torch.Tensor, template: MockupTemplate) -> torch.Tensor:
    """``(B, 4, h, w)`` premultiplied design -> ``(B, 4, H, W)`` in the photo's frame (zero outside)."""
    resized, grid = fit_design(premultiplied, template)
    grid = grid.expand(premultiplied.shape[0], -1, -1, -1)
    # align_corners: the design's outermost pixel centres sit on its edges, so a cover fill stays opaque right
    # up to the print area's edge; beyond the design's edge, the zero padding fades it out within a pixel.
    return F.grid_sample(resized, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


@dataclass(frozen=True)
class MockupRequest:
    product: str
    color: str | None


def composite_mockup(premultiplied: torch.Tensor, template: MockupTemplate, color: str | None) -> torch.Tensor:
    """One product for every design of the job: ``(B, 4, h, w)`` premultiplied -> ``(B, 3, H, W)``."""
    placed = place_design(premultiplied, template)
    alpha = placed[:, 3:].mul_(template.mask)
    ink = placed[:, :3].mul_(template.ink_gain)  # premultiplied colour, masked and shaded
    base = template.tinted_base(color)
    gloss_over_base = template.gloss_over_base if base is template.base else template.highlight - base
    # base*(1-a) + screen(ink, highlight)*a, premultiplied: base + a*(highlight - base) + ink*(1 - highlight).
    composite = torch.addcmul(base, alpha, gloss_over_base)
    return composite.addcmul_(ink, template.ink_keep).clamp_(0, 1)


def composite_mockups(
    designs: torch.Tensor, templates: dict[str, MockupTemplate], requests: list[MockupRequest]
) -> list[torch.Tensor]:
    """``(B, 4, h, w)`` straight-alpha designs -> one ``(B, 3, H, W)`` batch per request, in request order.

    Each product is composited for all of the job's designs at once. Stacking different products into
    one batch as well was measured slower (the copies into the stack cost more than the launches saved).
    """
    with torch.inference_mode():
        premultiplied = torch.cat([designs[:, :3] * designs[:, 3:], designs[:, 3:]], dim=1)
        return [composite_mockup(premultiplied, templates[r.product], r.color) for r in requests]
