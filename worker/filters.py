"""Post-processing filters that give each style its look, in torch on the model's device.

Every filter takes a float batch ``(B, 3, H, W)`` in [0, 1] and a ``FilterContext`` (the designs' seeds),
plus its own keyword parameters as written in a style file, and returns a batch of the same shape. Noise
is drawn on the CPU from the design's seed and then moved to the device, so a filter gives the same
result for a seed on every device. A style file names filters by their function name here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import kornia
import torch
import torch.nn.functional as F

Filter = Callable[..., torch.Tensor]
FILTERS: dict[str, Filter] = {}
GRADIENT_LUT_SIZE = 4096


@dataclass(frozen=True)
class FilterContext:
    seeds: list[int]


def register(fn: Filter) -> Filter:
    FILTERS[fn.__name__] = fn
    return fn


def parse_color(value: str) -> tuple[float, float, float]:
    """``"#rrggbb"`` to floats in [0, 1]."""
    text = value.removeprefix("#")
    if len(text) != 6:
        raise ValueError(f"colour {value!r} is not #rrggbb")
    return tuple(int(text[i : i + 2], 16) / 255 for i in (0, 2, 4))


def color_tensor(value: str, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(parse_color(value), dtype=like.dtype, device=like.device).view(1, 3, 1, 1)


def unit(vector: list[float]) -> list[float]:
    length = math.sqrt(sum(v * v for v in vector))
    return [v / length for v in vector]


def luminance(image: torch.Tensor) -> torch.Tensor:
    return kornia.color.rgb_to_grayscale(image)


def seeded_noise(image: torch.Tensor, ctx: FilterContext, scale: float, salt: int) -> torch.Tensor:
    """Smooth noise in [0, 1], ``(B, 1, H, W)``, with features about ``scale`` pixels wide."""
    height, width = image.shape[-2:]
    low_h, low_w = max(2, math.ceil(height / scale)), max(2, math.ceil(width / scale))
    fields = [
        torch.rand(1, 1, low_h, low_w, generator=torch.Generator().manual_seed(seed * 1_000_003 + salt))
        for seed in ctx.seeds
    ]
    noise = torch.cat(fields).to(device=image.device, dtype=image.dtype)
    return F.interpolate(noise, size=(height, width), mode="bilinear", align_corners=False)


def pixel_grid(image: torch.Tensor, angle_deg: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates rotated by ``angle_deg``, shaped ``(1, 1, H, W)``."""
    height, width = image.shape[-2:]
    ys = torch.arange(height, device=image.device, dtype=image.dtype).view(1, 1, height, 1)
    xs = torch.arange(width, device=image.device, dtype=image.dtype).view(1, 1, 1, width)
    angle = math.radians(angle_deg)
    u = xs * math.cos(angle) + ys * math.sin(angle)
    v = -xs * math.sin(angle) + ys * math.cos(angle)
    return u, v


def edge_strength(image: torch.Tensor, blur_sigma: float = 0.0) -> torch.Tensor:
    """Sobel magnitude of the luminance, ``(B, 1, H, W)``, optionally blurred."""
    edges = kornia.filters.sobel(luminance(image))
    if blur_sigma > 0:
        size = 2 * math.ceil(3 * blur_sigma) + 1
        edges = kornia.filters.gaussian_blur2d(edges, (size, size), (blur_sigma, blur_sigma))
    return edges


# --- shared -----------------------------------------------------------------------------------------


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


# --- Pop Art ------------------------------------------------------------------------------------------


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


# --- Watercolor ---------------------------------------------------------------------------------------
#
# Pigment on paper, after Bousseau et al., "Interactive watercolor rendering with temporal coherence and
# abstraction" (NPAR 2006): each effect is a map of pigment density d (1: unchanged, above 1: more
# pigment, below 1: less) applied as C' = C - (C - C^2)(d - 1), which darkens or lightens a colour the way
# a thicker or thinner layer of the same pigment would, and leaves white paper white.


def apply_density(image: torch.Tensor, density: torch.Tensor) -> torch.Tensor:
    return (image - (image - image * image) * (density - 1)).clamp(0, 1)


def octave_noise(image: torch.Tensor, ctx: FilterContext, scale: float, salt: int, octaves: int = 3) -> torch.Tensor:
    """Smooth noise in about [-1, 1] with detail at ``scale``, ``scale / 2``, ...: blotches, not grain."""
    total = sum(0.5**i * (seeded_noise(image, ctx, scale / 2**i, salt + i) - 0.5) for i in range(octaves))
    return total / (sum(0.5**i for i in range(octaves)) * 0.5)


def paper_height(image: torch.Tensor, ctx: FilterContext, scale: float) -> torch.Tensor:
    """The paper's surface, ``(B, 1, H, W)`` in about [-1, 1]: fine tooth over a coarser cockle."""
    height_field = seeded_noise(image, ctx, scale, salt=3) + 0.5 * seeded_noise(image, ctx, scale * 4, salt=4)
    centred = height_field - height_field.mean(dim=(-2, -1), keepdim=True)
    return centred / centred.std(dim=(-2, -1), keepdim=True).clamp(min=1e-6)  # per design, not per batch


@register
def wobble(image: torch.Tensor, ctx: FilterContext, amount: float = 2.5, scale: float = 40.0) -> torch.Tensor:
    """Hand-painted edges: the picture displaced by up to ``amount`` pixels of smooth seeded noise."""
    height, width = image.shape[-2:]
    shift_x = octave_noise(image, ctx, scale, salt=11, octaves=2) * amount * 2 / width
    shift_y = octave_noise(image, ctx, scale, salt=13, octaves=2) * amount * 2 / height
    ys = torch.linspace(-1, 1, height, device=image.device, dtype=image.dtype).view(1, height, 1)
    xs = torch.linspace(-1, 1, width, device=image.device, dtype=image.dtype).view(1, 1, width)
    grid = torch.stack([xs + shift_x[:, 0], ys + shift_y[:, 0]], dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


@register
def wash(
    image: torch.Tensor, ctx: FilterContext, levels: int = 5, softness: float = 0.35, transparency: float = 0.25
) -> torch.Tensor:
    """Flat layered washes: the lightness settles into ``levels`` soft steps, as glazes laid one over another,
    and every colour thins towards the paper by ``transparency`` (the highlights become bare paper)."""
    lightness = luminance(image)
    steps = lightness * levels
    stepped = (torch.floor(steps) + torch.sigmoid((steps - torch.floor(steps) - 0.5) / softness * 4)) / levels
    toned = image * (stepped / lightness.clamp(min=1e-3)).clamp(0, 3)
    return (1 - (1 - toned.clamp(0, 1)) * (1 - transparency)).clamp(0, 1)


@register
def bleed(
    image: torch.Tensor, ctx: FilterContext, sigma: float = 4.0, amount: float = 0.6, scale: float = 48.0
) -> torch.Tensor:
    """Pigment running into wet paper: a soft blur, stronger where a seeded wetness map is high."""
    size = 2 * math.ceil(3 * sigma) + 1
    blurred = kornia.filters.gaussian_blur2d(image, (size, size), (sigma, sigma))
    wetness = seeded_noise(image, ctx, scale, salt=1)
    return torch.lerp(image, blurred, amount * wetness)


@register
def edge_darken(
    image: torch.Tensor, ctx: FilterContext, strength: float = 0.6, sigma: float = 1.5, full_edge: float = 0.2
) -> torch.Tensor:
    """Darker rims where washes meet, as pigment collects at the edge of a drying wash.

    ``full_edge`` is the edge strength that gets the whole darkening; a flat wash gets none.
    """
    rim = (edge_strength(image, blur_sigma=sigma) / full_edge).clamp(0, 1)
    return (image * (1 - strength * rim)).clamp(0, 1)


@register
def pigment_pooling(
    image: torch.Tensor, ctx: FilterContext, strength: float = 1.2, sigma: float = 2.0, full_edge: float = 0.15
) -> torch.Tensor:
    """Dark rims along the edges of each wash, where pigment is carried as the wash dries, plus a
    lighter centre: density rises with the blurred edge strength (``full_edge`` gets all of ``strength``)."""
    rim = (edge_strength(image, blur_sigma=sigma) / full_edge).clamp(0, 1)
    return apply_density(image, 1 + strength * rim - 0.15 * strength * (1 - rim))


@register
def turbulence(image: torch.Tensor, ctx: FilterContext, amount: float = 0.35, scale: float = 160.0) -> torch.Tensor:
    """Uneven pigment across a wash (wet-in-wet blooms): low-frequency seeded density noise."""
    return apply_density(image, 1 + amount * octave_noise(image, ctx, scale, salt=21))


@register
def granulate(image: torch.Tensor, ctx: FilterContext, amount: float = 0.3, scale: float = 2.0) -> torch.Tensor:
    """Pigment settling in the paper's valleys: density follows the paper's surface (only where there is pigment)."""
    return apply_density(image, 1 - amount * paper_height(image, ctx, scale))


@register
def paper(image: torch.Tensor, ctx: FilterContext, amount: float = 0.04, scale: float = 2.0) -> torch.Tensor:
    """Cold-pressed paper: the same surface as ``granulate``'s, lit from the top left, over everything."""
    gradient = kornia.filters.spatial_gradient(paper_height(image, ctx, scale))  # (B, 1, 2, H, W)
    relief = -(gradient[:, :, 0] + gradient[:, :, 1])
    relief = relief / relief.std(dim=(-2, -1), keepdim=True).clamp(min=1e-6)
    return (image * (1 + amount * relief) - amount * 0.5).clamp(0, 1)


# --- Metal --------------------------------------------------------------------------------------------
#
# Chrome: the design becomes a relief (its smoothed tone as a height field, bevelled at its edges), and
# each pixel shows what a mirror with that surface normal reflects: the reflected ray's elevation picks a
# row of a studio environment (sky, a bright horizon, dark ground), brushed grain runs along one
# direction, and light sources add highlights. The result is a single "reflection" value per pixel, which
# ``gradient_map`` turns into the environment's colours.


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
    size = 2 * math.ceil(3 * sigma) + 1
    height_field = kornia.filters.gaussian_blur2d(luminance(image), (size, size), (sigma, sigma))
    gradient = kornia.filters.spatial_gradient(height_field, normalized=False)  # (B, 1, 2, H, W)
    return depth * gradient[:, :, 0], depth * gradient[:, :, 1]


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
) -> torch.Tensor:
    """A mirror-finish relief of the design, as a greyscale reflection value for ``gradient_map``.

    ``tone`` keeps the design readable (darker areas reflect more of the ground), ``depth`` and
    ``bevel_sigma`` shape the relief whose slopes bend the reflected horizon, ``brushed`` adds grain of
    ``brush_length`` pixels along ``brush_angle``, and a light in direction ``light`` adds highlights.
    """
    gx, gy = height_normals(image, bevel_sigma, depth)
    inverse_length = torch.rsqrt(1 + gx * gx + gy * gy)
    # Reflecting the view ray (0, 0, 1) in the normal (-gx, -gy, 1) / length: its "up" component (image y
    # runs down) is 2 * nz * (-ny), i.e. 2 * gy / length^2; the horizon sits where it is zero.
    elevation = 2 * gy * inverse_length * inverse_length
    base = tone * (luminance(image) - 0.5)
    reflection = 0.5 + base + horizon_tilt * elevation.clamp(-1, 1)
    if brushed > 0:
        reflection = reflection + brushed * 2 * (streak_noise(image, ctx, brush_length, brush_angle) - 0.5)
    to_light = unit(light or [-0.45, -0.6, 1.0])
    half_vector = unit([to_light[0], to_light[1], to_light[2] + 1.0])
    facing = ((half_vector[2] - gx * half_vector[0] - gy * half_vector[1]) * inverse_length).clamp(min=0)
    reflection = reflection + highlight * facing.pow(shininess)
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
    size = 2 * math.ceil(3 * blur_sigma) + 1
    height_field = kornia.filters.gaussian_blur2d(luminance(image), (size, size), (blur_sigma, blur_sigma))
    gradient = kornia.filters.spatial_gradient(height_field)  # (B, 1, 2, H, W): d/dx, d/dy
    gx, gy = gradient[:, :, 0], gradient[:, :, 1]
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
