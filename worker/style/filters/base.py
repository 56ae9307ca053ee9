"""What every filter shares: the registry style files name filters from, the designs' seeds, and helpers."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import kornia
import torch
import torch.nn.functional as F

Filter = Callable[..., torch.Tensor]
FILTERS: dict[str, Filter] = {}


@dataclass(frozen=True)
class FilterContext:
    """What a filter knows of the designs beside their pixels.

    ``seeds``: one per design, for seeded noise. ``alpha``: the designs' matte ``(B, 1, H, W)`` (1 on the
    subject), so a filter can take its statistics from the pet rather than the backdrop; None: all subject.
    """

    seeds: list[int]
    alpha: torch.Tensor | None = None


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


def subject_weight(image: torch.Tensor, ctx: FilterContext) -> torch.Tensor:
    """The matte as weights ``(B, 1, H, W)`` at the image's size and device; all ones without one."""
    if ctx.alpha is None:
        return torch.ones_like(image[:, :1])
    alpha = ctx.alpha.to(device=image.device, dtype=image.dtype)
    if alpha.shape[-2:] != image.shape[-2:]:
        alpha = F.interpolate(alpha, size=image.shape[-2:], mode="bilinear", align_corners=False)
    return alpha


def shrunk(image: torch.Tensor, size: int) -> torch.Tensor:
    """Area-averaged down to ``size`` on the long edge (unchanged when already that small): for the smooth,
    large-scale steps of a filter, which cost a fraction at a reduced size and look the same."""
    height, width = image.shape[-2:]
    factor = size / max(height, width)
    if factor >= 1:
        return image
    return F.interpolate(image, size=(max(1, round(height * factor)), max(1, round(width * factor))), mode="area")


REFERENCE_SIZE = 1024  # sizes in style files are pixels of a design this long on its long edge


def size_factor(image: torch.Tensor) -> float:
    """How much larger than ``REFERENCE_SIZE`` the picture is: a filter's sizes are multiplied by it, so a
    512 px design gets the same look as a 1024 px one (not outlines, dots and grain twice as coarse)."""
    return max(image.shape[-2:]) / REFERENCE_SIZE


def scaled(pixels: float, image: torch.Tensor, least: float = 0.5) -> float:
    """A size of a style file (pixels at ``REFERENCE_SIZE``) in the picture's pixels, at least ``least``."""
    return max(least, pixels * size_factor(image))


def scaled_int(pixels: float, image: torch.Tensor, least: int = 1) -> int:
    """``scaled`` rounded, for kernel sizes, line widths and dilations."""
    return max(least, round(pixels * size_factor(image)))


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


def dilate(mask: torch.Tensor, size: int) -> torch.Tensor:
    """Grey dilation by a ``size`` x ``size`` square (a max over it), as two one-dimensional passes of
    shifted maxima (several times quicker than ``max_pool2d`` on a CPU for the small sizes filters use).
    The border is replicated: a subject cut by the picture's edge does not end there."""
    for dim in (-1, -2):
        length = mask.shape[dim]
        before, after = (size - 1) // 2, size // 2
        padded = F.pad(mask, (before, after, 0, 0) if dim == -1 else (0, 0, before, after), mode="replicate")
        widest = padded.narrow(dim, 0, length)
        for shift in range(1, size):
            widest = torch.maximum(widest, padded.narrow(dim, shift, length))
        mask = widest
    return mask


def gaussian(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur by ``sigma`` pixels (the kernel reaching 3 sigma each side; the border replicated, so
    a blur wider than a small picture still works)."""
    size = 2 * math.ceil(3 * sigma) + 1
    return kornia.filters.gaussian_blur2d(image, (size, size), (sigma, sigma), border_type="replicate")


SOFT_BLUR_SIGMA = 1.5  # soft_blur's sigma at its reduced size, in that size's pixels
SOFT_BLUR_LEAST = 1.5  # the least reduction worth it


def soft_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """``gaussian`` for a wide blur, at a size reduced so the blur is ``SOFT_BLUR_SIGMA`` pixels there, then
    upsampled: a wide blur has nothing fine left for the reduced size to lose, and costs a fraction."""
    factor = sigma / SOFT_BLUR_SIGMA
    if factor < SOFT_BLUR_LEAST:
        return gaussian(image, sigma)
    small = shrunk(image, round(max(image.shape[-2:]) / factor))
    blurred = gaussian(small, sigma * small.shape[-1] / image.shape[-1])
    return F.interpolate(blurred, size=image.shape[-2:], mode="bilinear", align_corners=False)


def sobel_gradients(tone: torch.Tensor, normalized: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """``(d/dx, d/dy)`` of ``tone`` ``(B, C, H, W)`` by Sobel kernels (divided by 8 when ``normalized``) with a
    replicated border, as ``kornia.filters.spatial_gradient`` gives them, by shifted slices: several times
    quicker on a CPU than its convolution."""
    padded = F.pad(tone, (1, 1, 1, 1), mode="replicate")
    rows = padded[..., :-2, :] + 2 * padded[..., 1:-1, :] + padded[..., 2:, :]  # smoothed down the columns
    cols = padded[..., :, :-2] + 2 * padded[..., :, 1:-1] + padded[..., :, 2:]  # smoothed along the rows
    scale = 8 if normalized else 1
    return (rows[..., :, 2:] - rows[..., :, :-2]) / scale, (cols[..., 2:, :] - cols[..., :-2, :]) / scale


def sobel_magnitude(tone: torch.Tensor) -> torch.Tensor:
    """``kornia.filters.sobel``'s magnitude, from ``sobel_gradients``."""
    gx, gy = sobel_gradients(tone)
    return (gx * gx + gy * gy + 1e-6).sqrt()


def edge_strength(image: torch.Tensor, blur_sigma: float = 0.0) -> torch.Tensor:
    """Sobel magnitude of the luminance, ``(B, 1, H, W)``, optionally blurred."""
    edges = sobel_magnitude(luminance(image))
    return soft_blur(edges, blur_sigma) if blur_sigma > 0 else edges
