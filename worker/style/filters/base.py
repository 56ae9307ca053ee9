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
