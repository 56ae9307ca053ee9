"""Graphic filters: smoothing and saturation, and Pop Art's palette, outlines and halftone dots."""

from __future__ import annotations

import math

import kornia
import torch
import torch.nn.functional as F

from worker.style.filters.base import (
    SOFT_BLUR_SIGMA,
    FilterContext,
    color_tensor,
    dilate,
    edge_strength,
    gaussian,
    luminance,
    parse_color,
    pixel_grid,
    register,
    scaled,
    scaled_int,
    shrunk,
    subject_weight,
)
from worker.style.filters.tone import HISTOGRAM_BINS, subject_histogram


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
    Both sizes scale with the picture (``scaled``), so a small design is smoothed as much, relatively.
    """
    if guide not in ("colour", "luminance"):
        raise ValueError(f"smooth: guide must be 'colour' or 'luminance', not {guide!r}")
    guidance = image if guide == "colour" else luminance(image)
    radius, step = scaled_int(kernel_size // 2, image), scaled_int(subsample, image)
    smoothed = kornia.filters.guided_blur(guidance, image, 2 * radius + 1, eps, subsample=step, separable=True)
    return smoothed.clamp(0, 1)


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
    that many pixels wide just inside the matte's edge, so a pet keeps its outline on any shirt colour.
    Both widths are pixels at ``REFERENCE_SIZE`` (scaled with the picture)."""
    lines = dilate((edge_strength(image) > threshold).to(image.dtype), scaled_int(thickness, image))
    if silhouette > 0 and ctx.alpha is not None:
        inside = (subject_weight(image, ctx) > 0.5).to(image.dtype)
        rim = 2 * scaled_int(silhouette, image) + 1
        lines = torch.maximum(lines, inside + dilate(-inside, rim))  # inside minus its erosion
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
    """Ben-Day dots on a rotated grid; darker areas get larger dots of ``ink`` (hard-edged: no new colours).
    ``period`` is pixels at ``REFERENCE_SIZE``, scaled with the picture but never under 4 pixels (a dot)."""
    period = scaled(period, image, least=4.0)
    u, v = pixel_grid(image, angle)
    du = u / period - torch.round(u / period)
    dv = v / period - torch.round(v / period)
    distance = torch.sqrt(du * du + dv * dv)  # 0 at a dot centre, about 0.7 at a cell corner
    radius = strength * 0.5 * torch.sqrt((1 - luminance(image)).clamp(min=0))
    dots = (distance < radius).to(image.dtype)
    return torch.lerp(image, color_tensor(ink, image).expand_as(image), dots)


def hue_families(
    image: torch.Tensor, weight: torch.Tensor, hues: list[float], neutral: tuple[float, float], size: int, blur: float
) -> torch.Tensor:
    """Per pixel, weights ``(B, 1 + len(hues), H, W)`` of the colour family it belongs to: 0 is neutral,
    then the family whose hue (degrees) is nearest.

    ``neutral``: ``(least colourfulness, value floor)``: an area is neutral when its chroma over its value
    (at least the floor) is under the first. A floor of 1 judges plain chroma; a lower one judges an
    underexposed brown coat by its saturation, as the eye does, instead of calling it grey.
    Decided on the picture shrunk to ``size`` and blurred by ``blur`` (its pixels), so a family covers a
    whole area (a brown coat, a green eye) instead of flickering with the fur; the blur is weighted by the
    matte (``weight``), so the backdrop's grey does not bleed into the pet's edge. The weights are then
    upsampled smoothly so the families' borders follow the areas' shapes.
    """
    small, small_weight = shrunk(image, size), shrunk(weight, size) + 1e-4
    if blur > 0:
        small = gaussian(small * small_weight, blur) / gaussian(small_weight, blur)
    hsv = kornia.color.rgb_to_hsv(small.clamp(0, 1))
    hue, value = hsv[:, :1], hsv[:, 2:3]
    colourful = hsv[:, 1:2] * value / value.clamp(min=neutral[1])
    centres = torch.tensor([math.radians(h) for h in hues], dtype=image.dtype, device=image.device).view(1, -1, 1, 1)
    nearest = torch.cos(hue - centres).argmax(dim=1, keepdim=True) + 1
    labels = torch.where(colourful < neutral[0], torch.zeros_like(nearest), nearest)
    one_hot = F.one_hot(labels[:, 0], len(hues) + 1).permute(0, 3, 1, 2).to(image.dtype)
    return F.interpolate(one_hot, size=image.shape[-2:], mode="bilinear", align_corners=False)


def majority(labels: torch.Tensor, count: int, sigma: float, dtype: torch.dtype) -> torch.Tensor:
    """``labels`` ``(B, H, W)`` in ``[0, count)`` replaced by the label most present within about ``sigma``
    pixels (each label's share blurred, then the largest): specks of fur go, shapes get clean, smooth edges.
    The shares are pooled by a whole factor of at least 2 and blurred there (``soft_blur``'s reasoning)."""
    factor = max(2, round(sigma / SOFT_BLUR_SIGMA))
    shares = torch.cat([(labels == level).unsqueeze(1).to(dtype) for level in range(count)], dim=1)
    small = F.avg_pool2d(shares, factor, ceil_mode=True)
    small = gaussian(small, max(0.5, sigma / factor))
    return channel_argmax(F.interpolate(small, size=labels.shape[-2:], mode="bilinear", align_corners=False))


def channel_argmax(weights: torch.Tensor) -> torch.Tensor:
    """``weights.argmax(dim=1)`` for a few channels, by running comparisons (``argmax`` across channels is
    over ten times slower on a CPU)."""
    best, index = weights[:, 0], torch.zeros_like(weights[:, 0], dtype=torch.long)
    for channel in range(1, weights.shape[1]):
        better = weights[:, channel] > best
        best = torch.where(better, weights[:, channel], best)
        index = index.masked_fill(better, channel)
    return index


def rank_bounds(tone: torch.Tensor, weight: torch.Tensor, ranks: list[float]) -> torch.Tensor:
    """Per design, the luminance ``(B, len(ranks))`` below which those shares of the subject lie (the matte
    weighting each pixel)."""
    counts = subject_histogram(tone, weight)
    cumulative = counts.cumsum(dim=1) / counts.sum(dim=1, keepdim=True)
    wanted = torch.tensor(ranks, dtype=cumulative.dtype, device=tone.device)
    below = (cumulative.unsqueeze(1) < wanted.view(1, -1, 1)).sum(dim=-1)
    return (below.to(tone.dtype) - 0.5) / (HISTOGRAM_BINS - 1)  # between the last bin below and the next


@register
def pop_posterize(
    image: torch.Tensor,
    ctx: FilterContext,
    thresholds: list[float],
    neutral: list[str],
    families: list[dict],
    neutral_chroma: float = 0.08,
    value_floor: float = 1.0,
    family_size: int = 128,
    family_blur: float = 1.5,
    clean: float = 0.0,
    ranks: list[float] | None = None,
) -> torch.Tensor:
    """Screen-print posterisation that keeps each area's hue family: the tone picks a step of a ramp
    (``thresholds`` split the luminance), the area's own hue picks the ramp.

    ``families``: ``[{hue = degrees, ramp = ["#rrggbb", ...]}, ...]``, each ramp one colour per step
    from dark to light; ``neutral``: the ramp of greys, blacks and whites (colourfulness under
    ``neutral_chroma``, see ``hue_families`` for ``value_floor``). A brown dog takes the warm ramp (deep
    red, orange, yellow), a green eye the green one, a black cat the neutral one: bold colours, but never
    a hue the pet does not have. Only ramp colours come out. ``clean`` (pixels at ``REFERENCE_SIZE``): the
    steps are settled by a majority over about that radius, so areas print as clean shapes, not fur noise.
    ``ranks`` (one per threshold): the steps split at the subject's own luminance at those ranks instead,
    so every pet, dark or light, gets its darkest marks in the first step and most of its fur in one
    flat colour, not split into blotches by a threshold that falls on its median.
    """
    ramps = [neutral, *(family["ramp"] for family in families)]
    if len({len(ramp) for ramp in ramps}) != 1 or len(neutral) != len(thresholds) + 1:
        raise ValueError("pop_posterize: every ramp needs one colour per step, len(thresholds) + 1")
    table = torch.tensor([[parse_color(c) for c in ramp] for ramp in ramps], dtype=image.dtype, device=image.device)
    hues = [float(family["hue"]) for family in families]
    weight = subject_weight(image, ctx)
    weights = hue_families(image, weight, hues, (neutral_chroma, value_floor), family_size, family_blur)
    family = channel_argmax(weights)  # (B, H, W)
    tone = luminance(image)
    if ranks:
        bounds = rank_bounds(tone, weight, ranks).view(-1, len(ranks), 1, 1)
    else:
        bounds = torch.tensor(thresholds, dtype=image.dtype, device=image.device).view(1, -1, 1, 1)
    step = torch.stack([torch.bucketize(t[0].contiguous(), b.flatten()) for t, b in zip(tone, bounds, strict=True)])
    if clean > 0:
        step = majority(step, len(thresholds) + 1, scaled(clean, image), image.dtype)
    colours = table[family, step]  # (B, H, W, 3)
    return colours.permute(0, 3, 1, 2).contiguous()
