"""Graphic filters: smoothing and saturation, and Pop Art's palette, outlines and halftone dots."""

from __future__ import annotations

import kornia
import torch

from worker.style.filters.base import (
    FilterContext,
    color_tensor,
    edge_strength,
    luminance,
    parse_color,
    pixel_grid,
    register,
)


@register
def smooth(
    image: torch.Tensor, ctx: FilterContext, kernel_size: int = 9, eps: float = 0.01, subsample: int = 2
) -> torch.Tensor:
    """Edge-preserving smoothing (guided filter, the image guiding itself): flattens texture, keeps shapes.

    ``subsample`` computes the filter's coefficients at a lower resolution (the "fast guided filter").
    """
    return kornia.filters.guided_blur(image, image, kernel_size, eps, subsample=subsample, separable=True).clamp(0, 1)


@register
def saturate(image: torch.Tensor, ctx: FilterContext, amount: float = 1.5) -> torch.Tensor:
    return kornia.enhance.adjust_saturation(image, amount).clamp(0, 1)


@register
def palette_quantize(image: torch.Tensor, ctx: FilterContext, palette: list[str]) -> torch.Tensor:
    """Snap every pixel to the nearest colour of a bold palette: flat screen-print areas."""
    colors = torch.tensor([parse_color(c) for c in palette], dtype=image.dtype, device=image.device)
    batch, _, height, width = image.shape
    pixels = image.permute(0, 2, 3, 1).reshape(batch, -1, 3)
    nearest = torch.cdist(pixels, colors.expand(batch, -1, -1)).argmin(dim=-1)
    return colors[nearest].reshape(batch, height, width, 3).permute(0, 3, 1, 2).contiguous()


@register
def outline(
    image: torch.Tensor, ctx: FilterContext, threshold: float = 0.15, thickness: int = 3, color: str = "#000000"
) -> torch.Tensor:
    """Bold outlines where the colour areas meet, drawn in ``color``."""
    lines = (edge_strength(image) > threshold).to(image.dtype)
    if thickness > 1:
        kernel = torch.ones(thickness, thickness, device=image.device, dtype=image.dtype)
        lines = kornia.morphology.dilation(lines, kernel)
    return torch.lerp(image, color_tensor(color, image).expand_as(image), lines)


@register
def halftone(
    image: torch.Tensor,
    ctx: FilterContext,
    period: float = 12.0,
    angle: float = 45.0,
    ink: str = "#000000",
    strength: float = 0.6,
) -> torch.Tensor:
    """Ben-Day dots on a rotated grid; darker areas get larger dots of ``ink`` (hard-edged: no new colours)."""
    u, v = pixel_grid(image, angle)
    du = u / period - torch.round(u / period)
    dv = v / period - torch.round(v / period)
    distance = torch.sqrt(du * du + dv * dv)  # 0 at a dot centre, about 0.7 at a cell corner
    radius = strength * 0.5 * torch.sqrt((1 - luminance(image)).clamp(min=0))
    dots = (distance < radius).to(image.dtype)
    return torch.lerp(image, color_tensor(ink, image).expand_as(image), dots)
