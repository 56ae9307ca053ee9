"""Metal: chrome, engraving and embossing.

Chrome: the design becomes a relief (its smoothed tone as a height field, bevelled at its edges), and each
pixel shows what a mirror with that surface normal reflects: the reflected ray's elevation picks a row of a
studio environment (sky, a bright horizon, dark ground), brushed grain runs along one direction, and light
sources add highlights. The result is a single "reflection" value per pixel, which ``gradient_map`` turns
into the environment's colours.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from worker.style.filters.base import (
    FilterContext,
    edge_strength,
    gaussian,
    luminance,
    parse_color,
    pixel_grid,
    register,
    scaled,
    size_factor,
    sobel_gradients,
    soft_blur,
    unit,
)

GRADIENT_LUT_SIZE = 4096
KNEE = 0.04  # how softly chrome's ``ceiling`` caps the flat metal


def streak_noise(
    image: torch.Tensor, ctx: FilterContext, length: float, angle: float, width: float = 1.5
) -> torch.Tensor:
    """Seeded noise in [0, 1] stretched into streaks ``length`` pixels long, ``width`` wide, along ``angle``."""
    height, width_px = image.shape[-2:]
    u, v = pixel_grid(image, angle)
    reach = math.hypot(height, width_px)
    rows, cols = math.ceil(2 * reach / width) + 2, math.ceil(2 * reach / length) + 2
    fields = [
        torch.rand(1, 1, rows, cols, generator=torch.Generator().manual_seed(seed * 1_000_003 + 31))
        for seed in ctx.seeds
    ]
    noise = torch.cat(fields).to(device=image.device, dtype=image.dtype)
    grid = torch.stack([(u + reach) / length / (cols - 1), (v + reach) / width / (rows - 1)], dim=-1) * 2 - 1
    grid = grid[:, 0].expand(len(ctx.seeds), -1, -1, -1)
    return F.grid_sample(noise, grid, mode="bilinear", padding_mode="border", align_corners=True)


def height_normals(image: torch.Tensor, sigma: float, depth: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Slopes ``(gx, gy)`` of the smoothed tone times ``depth``: the relief's surface normals, unnormalised."""
    height_field = soft_blur(luminance(image), sigma)
    gx, gy = sobel_gradients(height_field, normalized=False)
    return depth * gx, depth * gy


@register
def chrome(
    image: torch.Tensor,
    ctx: FilterContext,
    depth: float = 6.0,
    bevel_sigma: float = 3.0,
    tone: float = 0.55,
    horizon_tilt: float = 0.35,
    brushed: float = 0.05,
    brush_angle: float = 0.0,
    brush_length: float = 80.0,
    highlight: float = 0.6,
    shininess: float = 40.0,
    light: list[float] | None = None,
    detail: float = 0.0,
    detail_sigma: float = 3.0,
    centre: float = 0.5,
    horizon_from: float = 0.0,
    ceiling: float = 1.0,
) -> torch.Tensor:
    """A mirror-finish relief of the design, as a greyscale reflection value for ``gradient_map``.

    ``tone`` keeps the design readable (darker areas reflect more of the ground), ``depth`` and
    ``bevel_sigma`` shape the relief whose slopes bend the reflected horizon, ``brushed`` adds grain of
    ``brush_length`` pixels along ``brush_angle``, and a light in direction ``light`` adds highlights.
    ``detail`` adds back the tone's own fine structure (finer than ``detail_sigma`` pixels: fur, the rim
    of an eye, a nostril) that the relief's smooth slopes would melt into chrome blobs. ``centre``: where
    mid-grey lands; below 0.5 the flat metal keeps to the gradient's low, monotonic part (the pet's own
    light and dark markings stay light and dark) and only slopes facing the sky reach the bright horizon.
    ``horizon_from``: slopes gentler than this (the reflected ray's elevation) bend nothing, so a soft
    backdrop or the fall of a cheek stays calm metal instead of a scatter of horizon squiggles.
    ``ceiling`` caps the flat metal's value (the top of the gradient's monotonic part), and the highlight
    counts only what a slope adds over flat metal, so a pale backdrop does not flicker into the horizon.
    Every size is pixels at ``REFERENCE_SIZE`` (scaled with the picture; ``depth`` too, as the slopes are).
    """
    factor = size_factor(image)
    gx, gy = height_normals(image, scaled(bevel_sigma, image), depth * factor)
    inverse_length = torch.rsqrt(1 + gx * gx + gy * gy)
    # Reflecting the view ray (0, 0, 1) in the normal (-gx, -gy, 1) / length: its "up" component (image y
    # runs down) is 2 * nz * (-ny), i.e. 2 * gy / length^2; the horizon sits where it is zero.
    elevation = 2 * gy * inverse_length * inverse_length
    lum = luminance(image)
    base = tone * (lum - 0.5)
    if detail > 0:
        base = base + detail * (lum - soft_blur(lum, scaled(detail_sigma, image)))
    bent = elevation.clamp(-1, 1)
    bent = bent.sign() * ((bent.abs() - horizon_from).clamp(min=0) / (1 - horizon_from))
    body = ceiling - KNEE * F.softplus((ceiling - centre - base) / KNEE)  # a soft cap: bright detail survives
    reflection = body + horizon_tilt * bent
    if brushed > 0:
        streaks = streak_noise(image, ctx, scaled(brush_length, image, least=4.0), brush_angle, max(1.0, 1.5 * factor))
        reflection = reflection + brushed * 2 * (streaks - 0.5)
    to_light = unit(light or [-0.45, -0.6, 1.0])
    half_vector = unit([to_light[0], to_light[1], to_light[2] + 1.0])
    facing = ((half_vector[2] - gx * half_vector[0] - gy * half_vector[1]) * inverse_length).clamp(min=0)
    flat = half_vector[2] ** shininess
    reflection = reflection + highlight * (facing.pow(shininess) - flat).clamp(min=0) / (1 - flat)
    return reflection.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


@register
def monochrome(image: torch.Tensor, ctx: FilterContext, contrast: float = 8.0, midpoint: float = 0.5) -> torch.Tensor:
    """High-contrast black and white: luminance through a steep sigmoid."""
    tone = torch.sigmoid(contrast * (luminance(image) - midpoint))
    low, high = (
        torch.sigmoid(torch.tensor(-contrast * midpoint)),
        torch.sigmoid(torch.tensor(contrast * (1 - midpoint))),
    )
    return ((tone - low) / (high - low)).clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


@register
def engrave(
    image: torch.Tensor,
    ctx: FilterContext,
    period: float = 6.0,
    angle: float = 30.0,
    warp: float = 3.0,
    edge_threshold: float = 0.25,
) -> torch.Tensor:
    """Engraved linework: parallel lines bent by the tone, thicker in the shadows, plus etched contours."""
    tone = luminance(image)
    _, v = pixel_grid(image, angle)
    phase = torch.sin(2 * math.pi * (v / period + warp * tone))
    lines = (0.5 + 0.5 * phase) < (1 - tone)  # the line covers more of each period where it is darker
    etched = edge_strength(image) > edge_threshold
    ink = (lines | etched).to(image.dtype)
    return (tone * (1 - ink)).expand(-1, 3, -1, -1).contiguous()


@register
def specular(
    image: torch.Tensor,
    ctx: FilterContext,
    depth: float = 6.0,
    shininess: float = 24.0,
    strength: float = 0.8,
    light: list[float] | None = None,
    blur_sigma: float = 2.0,
) -> torch.Tensor:
    """Emboss and specular highlights from normals of the tone, treated as a height field."""
    height_field = gaussian(luminance(image), blur_sigma)
    gx, gy = sobel_gradients(height_field)
    # The normal is (-depth*gx, -depth*gy, 1) / length; dot products are taken without building it.
    inverse_length = torch.rsqrt(1 + depth * depth * (gx * gx + gy * gy))
    to_light = unit(light or [-0.5, -0.6, 1.0])
    half_vector = unit([to_light[0], to_light[1], to_light[2] + 1.0])

    def facing(v: list[float]) -> torch.Tensor:
        return ((v[2] - depth * (gx * v[0] + gy * v[1])) * inverse_length).clamp(min=0)

    highlight = strength * facing(half_vector).pow(shininess)
    diffuse = facing(to_light)
    lit = image * (0.75 + 0.25 * diffuse / diffuse.amax(dim=(-2, -1), keepdim=True).clamp(min=1e-6))
    return 1 - (1 - lit) * (1 - highlight)  # screen the highlight over the embossed tone


@register
def gradient_map(image: torch.Tensor, ctx: FilterContext, stops: list[list]) -> torch.Tensor:
    """Map luminance through a multi-stop colour gradient (``[[position, "#rrggbb"], ...]``): chrome."""
    positions = torch.tensor([float(p) for p, _ in stops], dtype=image.dtype, device=image.device)
    colors = torch.tensor([parse_color(c) for _, c in stops], dtype=image.dtype, device=image.device)
    if len(stops) < 2 or bool((positions[1:] <= positions[:-1]).any()):
        raise ValueError("gradient_map needs at least two stops in increasing position order")
    # A lookup table of the piecewise-linear gradient, then one gather per pixel.
    samples = torch.linspace(0, 1, GRADIENT_LUT_SIZE, dtype=image.dtype, device=image.device)
    tone = samples.clamp(positions[0], positions[-1])
    upper = torch.searchsorted(positions, tone, right=True).clamp(1, len(stops) - 1)
    weight = ((tone - positions[upper - 1]) / (positions[upper] - positions[upper - 1])).unsqueeze(-1)
    table = torch.lerp(colors[upper - 1], colors[upper], weight)  # (LUT, 3)
    index = (luminance(image).clamp(0, 1) * (GRADIENT_LUT_SIZE - 1)).round().long()  # (B, 1, H, W)
    return table[index[:, 0]].permute(0, 3, 1, 2).contiguous()
