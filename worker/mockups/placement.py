"""Where a template's print area lies in its product photo, as a print grid.

A placement, as ``template.json`` describes it, becomes the print grid: for every photo pixel, the point of
the print area (u, v in [0, 1]) it shows.

The built-in templates are renders whose UV pass is that grid (``uv``); templates made by hand from a photo
describe it by a quad, a fabric displacement or a cylinder.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

import kornia
import numpy as np
import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from worker.runtime.catalog import CatalogError as TemplateError

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

    The grid spans the template's ``print_area_in``: its aspect ratio is what the design is fitted to.
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["uv"]
    u: str
    v: str


Placement = QuadPlacement | FabricPlacement | CylinderPlacement | UVPlacement


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


def uv_print_size(print_area_in: tuple[float, float], mask: torch.Tensor) -> tuple[float, float]:
    """The print area's size in photo pixels, from its rendered area and its aspect ratio on the product."""
    width_in, height_in = print_area_in
    area = float(mask.sum())
    if area < 1:
        raise TemplateError("the mask has no print area")
    return math.sqrt(area * width_in / height_in), math.sqrt(area * height_in / width_in)


def check_geometry(p: Placement, width: int, height: int) -> None:
    """Every placement point on the photo, and a quad with an area."""
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
    folder: Path,
    placement: Placement,
    displacement: str | None,
    size: tuple[int, int],
    mask: torch.Tensor,
    print_area_in: tuple[float, float],
) -> tuple[torch.Tensor, tuple[float, float]]:
    """The print grid (photo pixel -> print u, v) and the print area's size in photo pixels."""
    if isinstance(placement, UVPlacement):
        return uv_print_grid(folder, placement, mask), uv_print_size(print_area_in, mask)
    xs, ys = pixel_centres(*size, torch.device("cpu"))
    if isinstance(placement, CylinderPlacement):
        print_size = (placement.radius * math.radians(placement.arc_degrees), placement.bottom - placement.top)
        return cylinder_print_grid(placement, xs, ys), print_size
    if isinstance(placement, FabricPlacement):
        shift = (read_map(folder / str(displacement), size, "RGB")[:2] - 0.5) * 2 * placement.displacement_px
        xs, ys = xs + shift[0], ys + shift[1]
    return quad_print_grid(placement.corners, xs, ys), quad_print_size(placement.corners)
