"""The mockups stage: each design composited onto product photos, in torch on the model's device.

Per job, the design is fitted to the print area as ``worker/mockups/fit.py`` decides, sampled through the
template's print grid, masked, multiplied by the shading map and screened with the highlights;
each product is composited for all of the job's designs as one batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from worker.delivery.encode import quantised
from worker.mockups.fit import (
    DesignLayout,
    PrintFit,
    backfill_source,
    design_layouts,
    fit_design,
    premultiply,
    sample_print,
    shrunk_to_fit,
)
from worker.mockups.templates import MockupTemplate, PixelBox


def fit_designs(premultiplied: torch.Tensor, template: MockupTemplate, layouts: list[DesignLayout]) -> list[PrintFit]:
    width, height = premultiplied.shape[-1], premultiplied.shape[-2]
    return [fit_design(layout, (width, height), template.print_area_in, template.fill) for layout in layouts]


def place_design(
    premultiplied: torch.Tensor,
    template: MockupTemplate,
    layouts: list[DesignLayout] | None = None,
    box: PixelBox | None = None,
) -> torch.Tensor:
    """``(B, 4, h, w)`` premultiplied design -> ``(B, 4, H, W)`` in the photo's frame (zero outside), or in
    its ``box`` only."""
    fits = fit_designs(premultiplied, template, layouts or design_layouts(premultiplied))
    premultiplied = shrunk_to_fit(premultiplied, fits, template.print_size[0])
    blurred = backfill_source(premultiplied) if any(fit.backfill for fit in fits) else None
    grid = template.print_grid if box is None else template.print_grid[box]
    return sample_print(premultiplied, fits, grid, blurred)


@dataclass(frozen=True)
class MockupRequest:
    product: str
    color: str | None


def composite_mockup(
    premultiplied: torch.Tensor, template: MockupTemplate, color: str | None, layouts: list[DesignLayout] | None
) -> torch.Tensor:
    """One product for every design of the job: ``(B, 4, h, w)`` premultiplied -> ``(B, H, W, 3)`` uint8.

    Only the print area's bounding box is composited and quantised; the rest is the product photo's own
    pixels, quantised once per colour.
    """
    box = template.print_box
    region = (slice(None), *box)  # (C, H, W) maps, cut to the box
    placed = place_design(premultiplied, template, layouts, box)
    alpha = placed[:, 3:].mul_(template.mask[region])
    ink = placed[:, :3].mul_(template.ink_gain[region])  # premultiplied colour, masked and shaded
    base = template.tinted_base(color)
    gloss_over_base = template.gloss_over_base if base is template.base else template.highlight - base
    # base*(1-a) + screen(ink, highlight)*a, premultiplied: base + a*(highlight - base) + ink*(1 - highlight).
    printed = torch.addcmul(base[region], alpha, gloss_over_base[region])
    printed.addcmul_(ink, template.ink_keep[region])
    mockups = template.base_pixels(color).expand(premultiplied.shape[0], -1, -1, -1).clone()
    mockups[(slice(None), *box)] = quantised(printed)
    return mockups


def composite_mockups(
    designs: torch.Tensor,
    templates: dict[str, MockupTemplate],
    requests: list[MockupRequest],
    layouts: list[DesignLayout] | None = None,
) -> list[torch.Tensor]:
    """``(B, 4, h, w)`` straight-alpha designs -> one ``(B, H, W, 3)`` uint8 batch per request, in request order.

    ``layouts`` says what of each design is the subject (the style stage's matte); by default, all it inks.

    Each product is composited for all of the job's designs at once. Stacking different products into
    one batch as well was measured slower (the copies into the stack cost more than the launches saved).
    """
    with torch.inference_mode():
        premultiplied = premultiply(designs)
        layouts = layouts or design_layouts(designs)
        return [composite_mockup(premultiplied, templates[r.product], r.color, layouts) for r in requests]


def mockup_requests(
    templates: dict[str, MockupTemplate], products: list[str] | None, colors: dict[str, str] | None
) -> list[MockupRequest]:
    """The products a job asks for (every template when it names none), each in its colour or the default."""
    names = products if products is not None else sorted(templates)
    colors = colors or {}
    return [MockupRequest(name, colors.get(name, templates[name].default_color)) for name in names]
