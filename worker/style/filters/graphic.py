"""Graphic filters: smoothing and saturation, and Pop Art's palette, outlines and halftone dots."""

from __future__ import annotations

import math

import kornia
import torch
import torch.nn.functional as F

from worker.style.filters.base import (
    FilterContext,
    color_tensor,
    dilate,
    edge_strength,
    gaussian,
    luminance,
    parse_color,
    pixel_grid,
    register,
    shrunk,
    subject_weight,
)


@register
def smooth(
    image: torch.Tensor,
    ctx: FilterContext,
    kernel_size: int = 9,
    eps: float = 0.01,
    subsample: int = 2,
    guide: str = "colour",
) -> torch.Tensor:
    """Edge-preserving smoothing (guided filter): flattens texture, keeps shapes.

    ``subsample`` computes the filter's coefficients at a lower resolution (the "fast guided filter").
    ``guide``: ``colour`` (the image guides itself: keeps edges between colours of the same lightness) or
    ``luminance`` (its lightness guides: about half the work, for styles that redraw colour anyway).
    """
    if guide not in ("colour", "luminance"):
        raise ValueError(f"smooth: guide must be 'colour' or 'luminance', not {guide!r}")
    guidance = image if guide == "colour" else luminance(image)
    return kornia.filters.guided_blur(guidance, image, kernel_size, eps, subsample=subsample, separable=True).clamp(
        0, 1
    )


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
    image: torch.Tensor,
    ctx: FilterContext,
    threshold: float = 0.15,
    thickness: int = 3,
    color: str = "#000000",
    silhouette: int = 0,
) -> torch.Tensor:
    """Bold outlines where the colour areas meet, drawn in ``color``; with ``silhouette``, also a contour
    that many pixels wide just inside the matte's edge, so a pet keeps its outline on any shirt colour."""
    lines = dilate((edge_strength(image) > threshold).to(image.dtype), thickness)
    if silhouette > 0 and ctx.alpha is not None:
        inside = (subject_weight(image, ctx) > 0.5).to(image.dtype)
        lines = torch.maximum(lines, inside + dilate(-inside, 2 * silhouette + 1))  # inside minus its erosion
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


def hue_families(
    image: torch.Tensor, weight: torch.Tensor, hues: list[float], neutral_chroma: float, size: int, blur: float
) -> torch.Tensor:
    """Per pixel, weights ``(B, 1 + len(hues), H, W)`` of the colour family it belongs to: 0 is neutral
    (chroma under ``neutral_chroma``), then the family whose hue (degrees) is nearest.

    Decided on the picture shrunk to ``size`` and blurred by ``blur`` (its pixels), so a family covers a
    whole area (a brown coat, a green eye) instead of flickering with the fur; the blur is weighted by the
    matte (``weight``), so the backdrop's grey does not bleed into the pet's edge. The weights are then
    upsampled smoothly so the families' borders follow the areas' shapes.
    """
    small, small_weight = shrunk(image, size), shrunk(weight, size) + 1e-4
    if blur > 0:
        small = gaussian(small * small_weight, blur) / gaussian(small_weight, blur)
    hsv = kornia.color.rgb_to_hsv(small.clamp(0, 1))
    hue, chroma = hsv[:, :1], hsv[:, 1:2] * hsv[:, 2:3]
    centres = torch.tensor([math.radians(h) for h in hues], dtype=image.dtype, device=image.device).view(1, -1, 1, 1)
    nearest = torch.cos(hue - centres).argmax(dim=1, keepdim=True) + 1
    labels = torch.where(chroma < neutral_chroma, torch.zeros_like(nearest), nearest)
    one_hot = F.one_hot(labels[:, 0], len(hues) + 1).permute(0, 3, 1, 2).to(image.dtype)
    return F.interpolate(one_hot, size=image.shape[-2:], mode="bilinear", align_corners=False)


@register
def pop_posterize(
    image: torch.Tensor,
    ctx: FilterContext,
    thresholds: list[float],
    neutral: list[str],
    families: list[dict],
    neutral_chroma: float = 0.08,
    family_size: int = 128,
    family_blur: float = 1.5,
) -> torch.Tensor:
    """Screen-print posterisation that keeps each area's hue family: the tone picks a step of a ramp
    (``thresholds`` split the luminance), the area's own hue picks the ramp.

    ``families``: ``[{hue = degrees, ramp = ["#rrggbb", ...]}, ...]``, each ramp one colour per step
    from dark to light; ``neutral``: the ramp of greys, blacks and whites (chroma under ``neutral_chroma``).
    A brown dog takes the warm ramp (deep red, orange, yellow), a green eye the green one, a black cat the
    neutral one: bold colours, but never a hue the pet does not have. Only ramp colours come out.
    """
    ramps = [neutral, *(family["ramp"] for family in families)]
    if len({len(ramp) for ramp in ramps}) != 1 or len(neutral) != len(thresholds) + 1:
        raise ValueError("pop_posterize: every ramp needs one colour per step, len(thresholds) + 1")
    table = torch.tensor([[parse_color(c) for c in ramp] for ramp in ramps], dtype=image.dtype, device=image.device)
    hues = [float(family["hue"]) for family in families]
    weights = hue_families(image, subject_weight(image, ctx), hues, neutral_chroma, family_size, family_blur)
    family = weights.argmax(dim=1)  # (B, H, W)
    bounds = torch.tensor(thresholds, dtype=image.dtype, device=image.device)
    step = torch.bucketize(luminance(image)[:, 0].contiguous(), bounds)
    colours = table[family, step]  # (B, H, W, 3)
    return colours.permute(0, 3, 1, 2).contiguous()
