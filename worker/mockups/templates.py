"""Product templates, validated and loaded to the device once, at cold start.

A template is ``mockups/<product>/template.json`` and its images (see ``mockups/README.md``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from worker.delivery.encode import quantised
from worker.mockups.placement import (
    OUTSIDE,
    FabricPlacement,
    Placement,
    TemplateError,
    UVPlacement,
    check_geometry,
    image_size,
    print_grid_and_size,
    read_map,
)
from worker.runtime.catalog import load_catalog
from worker.style.filters import parse_color

BUILTIN_MOCKUPS_DIR = Path(__file__).resolve().parents[2] / "mockups"
MIN_LONG_EDGE = 1600
PixelBox = tuple[slice, slice]  # rows, columns of a photo


class Fill(BaseModel):
    """How a design fills the print area, as print shops do.

    ``contain``: all of the design, as large as fits, placed at ``align`` (fractions of the spare room:
    (0.5, 0) is top centre). ``cover``: the print area edge to edge, cropping what does not fit; the crop
    keeps ``focus`` (a design point, or ``"subject"``: the centre of the design's opaque part, the pet
    rather than its background) as close to the centre as the design allows. Where ``cover`` stops short of an
    edge (the subject would be cropped), ``backfill`` says what fills the rest: ``photo``, a colour field
    made from the design, its edge dissolving into it; ``none``, the product itself (a mat round a print).
    """

    model_config = ConfigDict(extra="forbid")
    mode: Literal["contain", "cover"] = "contain"
    align: tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]] = (0.5, 0.5)
    focus: Literal["subject"] | tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]] = (
        0.5,
        0.5,
    )
    backfill: Literal["photo", "none"] = "photo"


class PrintFileSpec(BaseModel):
    """The area a print shop prints when it is larger than what the mockup shows: an 11 oz mug's wrap is
    9 x 3.5 in, and its photo shows the 4.23 x 2.95 in facing the camera. The print file is this size, with
    the shown print area at ``area_at_in`` (its top-left corner, inches from the file's top-left)."""

    model_config = ConfigDict(extra="forbid")
    size_in: tuple[Annotated[float, Field(gt=0, le=100)], Annotated[float, Field(gt=0, le=100)]]
    area_at_in: tuple[Annotated[float, Field(ge=0, le=100)], Annotated[float, Field(ge=0, le=100)]] = (0.0, 0.0)


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
    placement: Annotated[Placement, Field(discriminator="kind")]
    print_area_in: tuple[Annotated[float, Field(gt=0, le=100)], Annotated[float, Field(gt=0, le=100)]] = Field(
        description="the print area's width and height in inches, as print shops state it (a tee's front: 12 x 16)"
    )
    print_file: PrintFileSpec | None = Field(
        None, description="the whole area the shop prints, when larger than the print area shown (a mug's wrap)"
    )
    fill: Fill = Field(default_factory=Fill)
    colors: dict[str, str] = Field(default_factory=dict)
    default_color: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TemplateSpec:
        if self.print_file is not None:
            for i, side in enumerate(("width", "height")):
                if self.print_file.area_at_in[i] + self.print_area_in[i] > self.print_file.size_in[i] + 1e-6:
                    raise ValueError(f"the print area runs past the print file's {side} (print_file.area_at_in)")
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
    print_size: tuple[float, float]  # the print area's width and height in photo pixels
    print_area_in: tuple[float, float]  # ... and on the product, in inches: its aspect is what designs fit
    print_box: PixelBox  # the photo's rows and columns that hold any of the print area (where to composite)
    print_file: PrintFileSpec  # what the shop prints: the print area itself unless the template says more
    fill: Fill
    colors: dict[str, str]
    default_color: str | None
    pixels_by_color: dict[str | None, torch.Tensor] = field(default_factory=dict)  # base_pixels' cache

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

    def base_pixels(self, color: str | None) -> torch.Tensor:
        """The photo in a colour variant as ``(H, W, 3)`` uint8, what a mockup is outside its print area;
        made once per colour, on first use."""
        if color not in self.pixels_by_color:
            self.pixels_by_color[color] = quantised(self.tinted_base(color)[None])[0].contiguous()
        return self.pixels_by_color[color]


def load_template(folder: Path, device: torch.device) -> MockupTemplate:
    try:
        spec = TemplateSpec.model_validate(json.loads((folder / "template.json").read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, ValidationError, ValueError) as exc:
        raise TemplateError(str(exc)) from None
    size = image_size(folder / spec.assets.base)
    width, height = size
    if max(size) < MIN_LONG_EDGE:
        raise TemplateError(f"base photo is {width}x{height}; its long edge must be at least {MIN_LONG_EDGE}")
    check_geometry(spec.placement, width, height)
    if isinstance(spec.placement, UVPlacement) and image_size(folder / spec.assets.mask) != size:
        raise TemplateError(f"with a uv placement the mask must be {width}x{height}, the base photo's size")

    def optional_map(name: str | None, default: float) -> torch.Tensor:
        return torch.full((1, height, width), default) if name is None else read_map(folder / name, size, "L")

    mask = read_map(folder / spec.assets.mask, size, "L")
    grid, print_size = print_grid_and_size(
        folder, spec.placement, spec.assets.displacement, size, mask, spec.print_area_in
    )
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
        print_area_in=spec.print_area_in,
        print_box=bounding_box(mask[0] > 0),
        print_file=spec.print_file or PrintFileSpec(size_in=spec.print_area_in),
        fill=spec.fill,
        colors=spec.colors,
        default_color=spec.default_color,
    )


def bounding_box(where: torch.Tensor) -> PixelBox:
    rows, columns = where.any(1).nonzero().flatten(), where.any(0).nonzero().flatten()
    if len(rows) == 0:
        return slice(0, 0), slice(0, 0)
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(columns[0]), int(columns[-1]) + 1)


def load_templates(*folders: Path | None, device: torch.device) -> dict[str, MockupTemplate]:
    """Every ``<folder>/<product>/template.json``; a later folder's product replaces an earlier one."""
    return load_catalog(
        folders,
        "*/template.json",
        lambda path: load_template(path.parent, device),
        lambda path: path.parent.name.lower(),
        "mockup template",
    )


def product_colors(templates: dict[str, MockupTemplate]) -> dict[str, list[str]]:
    """Each product's colour variants, as the job contract validates ``products`` and ``colors``."""
    return {name: list(template.colors) for name, template in templates.items()}
