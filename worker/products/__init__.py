"""Product templates and mockups: the design composited onto product photos, in torch on the model's device.

A template (``mockups/<product>/template.json`` plus images, see ``mockups/README.md``) is validated and
loaded to the device once, at cold start, where its placement becomes a sampling grid: for every pixel
of the product photo, the point of the print area (u, v in [0, 1]) it shows. Per job, the design is fitted
into the print area with its aspect ratio kept, sampled through that grid (kornia's remap), masked,
multiplied by the shading map and screened with the highlights. Products of the same photo size are
composited as one batch.
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
    placement: Annotated[QuadPlacement | FabricPlacement | CylinderPlacement, Field(discriminator="kind")]
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
    print_grid: torch.Tensor  # (H, W, 2) print-area (u, v) per pixel; outside [0, 1] where nothing is printed
    print_size: tuple[float, float]  # the print area's width and height in photo pixels
    colors: dict[str, str]
    default_color: str | None

    @property
    def size(self) -> tuple[int, int]:
        return self.base.shape[-1], self.base.shape[-2]

    def tinted_base(self, color: str | None) -> torch.Tensor:
        if color is None or not self.colors:
            return self.base
        rgb = torch.tensor(parse_color(self.colors[color]), dtype=self.base.dtype, device=self.base.device)
        return self.base * (1 + self.tint * (rgb.view(3, 1, 1) - 1))


# --- loading ------------------------------------------------------------------------------------------


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


def check_geometry(spec: TemplateSpec, width: int, height: int) -> None:
    p = spec.placement
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


def load_template(folder: Path, device: torch.device) -> MockupTemplate:
    try:
        spec = TemplateSpec.model_validate(json.loads((folder / "template.json").read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, ValidationError, ValueError) as exc:
        raise TemplateError(str(exc)) from None
    base_path = folder / spec.assets.base
    if not base_path.is_file():
        raise TemplateError(f"missing asset {spec.assets.base}")
    with Image.open(base_path) as photo:
        size = photo.size
    width, height = size
    if max(size) < MIN_LONG_EDGE:
        raise TemplateError(f"base photo is {width}x{height}; its long edge must be at least {MIN_LONG_EDGE}")
    check_geometry(spec, width, height)

    def optional_map(name: str | None, default: float) -> torch.Tensor:
        return torch.full((1, height, width), default) if name is None else read_map(folder / name, size, "L")

    xs, ys = pixel_centres(width, height, torch.device("cpu"))
    placement = spec.placement
    if isinstance(placement, CylinderPlacement):
        grid = cylinder_print_grid(placement, xs, ys)
        print_size = (placement.radius * math.radians(placement.arc_degrees), placement.bottom - placement.top)
    else:
        if isinstance(placement, FabricPlacement):
            shift = (read_map(folder / spec.assets.displacement, size, "RGB")[:2] - 0.5) * 2 * placement.displacement_px
            xs, ys = xs + shift[0], ys + shift[1]
        grid = quad_print_grid(placement.corners, xs, ys)
        print_size = quad_print_size(placement.corners)

    mask = read_map(folder / spec.assets.mask, size, "L")
    highlight = optional_map(spec.assets.highlight, 0.0)
    return MockupTemplate(
        name=folder.name,
        display_name=spec.display_name,
        base=read_map(folder / spec.assets.base, size, "RGB").to(device),
        mask=mask.to(device),
        ink_gain=(mask * optional_map(spec.assets.shading, 1.0)).to(device),
        highlight=highlight.to(device),
        ink_keep=(1 - highlight).to(device),
        tint=optional_map(spec.assets.tint, 0.0).to(device),
        print_grid=grid.to(device),
        print_size=print_size,
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


def fit_design(design: torch.Tensor, template: MockupTemplate) -> tuple[torch.Tensor, torch.Tensor]:
    """The design resized to the area it will cover, and the grid mapping photo pixels onto it.

    The design keeps its aspect ratio and is centred in the print area; resizing first (with
    anti-aliasing) keeps the bilinear sampling from aliasing when a large design covers a small area.
    """
    height, width = design.shape[-2:]
    print_w, print_h = template.print_size
    scale = min(print_w / width, print_h / height)
    target = (max(2, round(height * scale)), max(2, round(width * scale)))
    resized = F.interpolate(design, size=target, mode="bilinear", antialias=scale < 1, align_corners=False)
    # print (u, v) -> design coordinates in grid_sample's [-1, 1]: one multiply-add per pixel.
    stretch = torch.tensor([print_w / (width * scale), print_h / (height * scale)], device=design.device) * 2
    grid = torch.addcmul(-stretch / 2, template.print_grid, stretch)
    return resized, grid


def place_design(premultiplied: torch.Tensor, template: MockupTemplate) -> torch.Tensor:
    """``(B, 4, h, w)`` premultiplied design -> ``(B, 4, H, W)`` in the photo's frame (zero outside)."""
    resized, grid = fit_design(premultiplied, template)
    batch = premultiplied.shape[0]
    return F.grid_sample(
        resized, grid.unsqueeze(0).expand(batch, -1, -1, -1), mode="bilinear", padding_mode="zeros", align_corners=False
    )


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
    # base*(1-a) + screen(ink, highlight)*a, premultiplied: base + a*(highlight - base) + ink*(1 - highlight).
    composite = torch.addcmul(base, alpha, template.highlight - base)
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
