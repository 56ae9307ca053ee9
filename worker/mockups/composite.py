"""The mockups stage: each design composited onto product photos, in torch on the model's device.

Per job, the design is fitted to the print area (``contain`` or ``cover``, as the template says), sampled
through the template's print grid, masked, multiplied by the shading map and screened with the highlights;
each product is composited for all of the job's designs as one batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from worker.mockups.templates import MockupTemplate


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


def mockup_requests(
    templates: dict[str, MockupTemplate], products: list[str] | None, colors: dict[str, str] | None
) -> list[MockupRequest]:
    """The products a job asks for (every template when it names none), each in its colour or the default."""
    names = products if products is not None else sorted(templates)
    colors = colors or {}
    return [MockupRequest(name, colors.get(name, templates[name].default_color)) for name in names]
