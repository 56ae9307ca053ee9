"""Resizing designs to print size, in torch on the device.

A learned super-resolution model when one is configured (``UPSCALER_MODEL``: an ESRGAN-class network,
e.g. Real-ESRGAN x4plus or 4x-UltraSharp, loaded through spandrel, which reads the architecture from the
weights), run tile by tile with overlapping, feathered seams; otherwise a Lanczos-3 resampler, sharper
than bicubic interpolation and antialiased when it shrinks. Alpha is always resampled with Lanczos, on
premultiplied colours, so no rim of the transparent backdrop's colour bleeds into the subject.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from worker.runtime.config import Settings
from worker.runtime.devices import Runtime

log = logging.getLogger(__name__)

LANCZOS_LOBES = 3
TILE_OVERLAP = 16  # input pixels each tile shares with its neighbours, blended away


def lanczos(distance: torch.Tensor) -> torch.Tensor:
    return torch.where(distance.abs() < LANCZOS_LOBES, torch.sinc(distance) * torch.sinc(distance / LANCZOS_LOBES), 0.0)


def resample_axis(images: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """Lanczos-3 resampling of one axis to ``size`` pixels (pixel centres aligned, edges clamped)."""
    length = images.shape[dim]
    if length == size:
        return images
    scale = size / length
    stretch = min(1.0, scale)  # shrinking widens the kernel: the antialiasing
    support = LANCZOS_LOBES / stretch
    device, dtype = images.device, images.dtype
    centres = (torch.arange(size, device=device, dtype=torch.float64) + 0.5) / scale - 0.5
    first = torch.floor(centres - support).long() + 1
    taps = first.unsqueeze(1) + torch.arange(math.ceil(2 * support), device=device)  # (size, taps)
    weights = lanczos((centres.unsqueeze(1) - taps) * stretch)
    weights = (weights / weights.sum(dim=1, keepdim=True)).to(dtype)
    taps = taps.clamp(0, length - 1)
    shape = [1] * images.ndim
    shape[dim] = size
    out_shape = list(images.shape)
    out_shape[dim] = size
    result = images.new_zeros(out_shape)
    for tap in range(taps.shape[1]):
        result += weights[:, tap].view(shape) * images.index_select(dim, taps[:, tap])
    return result


def lanczos_resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(B, C, H, W)`` to ``(B, C, *size)`` with Lanczos-3, separably."""
    return resample_axis(resample_axis(images, size[1], -1), size[0], -2)


def premultiplied_resize(
    rgba: torch.Tensor, size: tuple[int, int], colour_resize: Callable[[torch.Tensor], torch.Tensor] | None = None
) -> torch.Tensor:
    """Resize ``(B, 4, H, W)`` on premultiplied colours; ``colour_resize`` may take the colours' place."""
    alpha = rgba[:, 3:]
    if colour_resize is None:
        resized = lanczos_resize(torch.cat([rgba[:, :3] * alpha, alpha], dim=1), size).clamp(0, 1)
        new_alpha = resized[:, 3:]
        colours = resized[:, :3] / new_alpha.clamp(min=1e-4)
        colours = torch.where(new_alpha > 1e-4, colours, 0.0)
    else:
        colours = colour_resize(rgba[:, :3])
        if colours.shape[-2:] != size:
            colours = lanczos_resize(colours, size)
        new_alpha = lanczos_resize(alpha, size)
    return torch.cat([colours, new_alpha], dim=1).clamp(0, 1)


@dataclass
class LearnedUpscaler:
    """A super-resolution network ``(B, 3, h, w) -> (B, 3, h*scale, w*scale)`` run on overlapping tiles."""

    network: Callable[[torch.Tensor], torch.Tensor]
    scale: int
    tile: int
    device: torch.device
    dtype: torch.dtype = torch.float32
    overlap: int = TILE_OVERLAP

    def tile_starts(self, length: int) -> list[int]:
        if length <= self.tile:
            return [0]
        step = self.tile - 2 * self.overlap
        starts = list(range(0, length - self.tile, step))
        return [*starts, length - self.tile]

    def feather(self, start: int, total: int) -> torch.Tensor:
        """1-D blending weights of one tile's output, flat where the tile meets the picture's edge.

        Consecutive tiles share ``2 * overlap`` pixels. Each tile's outer ``overlap / 2`` pixels (where a
        network sees the tile's edge instead of the picture) get no weight; the rest of the shared band is a
        ramp, and the two tiles' ramps add up to one.
        """
        size = min(self.tile, total) * self.scale
        margin, ramp = self.overlap // 2 * self.scale, (2 * self.overlap - 2 * (self.overlap // 2)) * self.scale
        position = torch.arange(size, device=self.device, dtype=torch.float32) + 0.5
        rising = ((position - margin) / ramp).clamp(0, 1) if start > 0 else torch.ones_like(position)
        falling = ((size - position - margin) / ramp).clamp(0, 1) if start + self.tile < total else 1.0
        return rising * falling

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = images.shape
        out = torch.zeros(batch, channels, height * self.scale, width * self.scale, device=self.device)
        weight = torch.zeros(1, 1, height * self.scale, width * self.scale, device=self.device)
        source = images.to(self.device, self.dtype)
        with torch.inference_mode():
            for top in self.tile_starts(height):
                for left in self.tile_starts(width):
                    patch = source[..., top : top + self.tile, left : left + self.tile]
                    result = self.network(patch).float()
                    window = self.feather(top, height).view(1, 1, -1, 1) * self.feather(left, width).view(1, 1, 1, -1)
                    rows = slice(top * self.scale, top * self.scale + result.shape[-2])
                    cols = slice(left * self.scale, left * self.scale + result.shape[-1])
                    out[..., rows, cols] += result * window
                    weight[..., rows, cols] += window
        return (out / weight).clamp(0, 1).to(images.device, images.dtype)


def load_upscaler(settings: Settings, runtime: Runtime | None = None) -> LearnedUpscaler | None:
    """The network in ``UPSCALER_MODEL`` on the worker's device, or None when none is configured."""
    if settings.upscaler_model is None:
        return None
    from spandrel import ImageModelDescriptor, ModelLoader

    runtime = runtime or Runtime.from_settings(settings)
    device = runtime.device
    descriptor = ModelLoader(device=device).load_from_file(settings.upscaler_model)
    if not isinstance(descriptor, ImageModelDescriptor) or descriptor.input_channels != 3 or descriptor.scale < 2:
        raise ValueError(f"UPSCALER_MODEL {settings.upscaler_model} is not an RGB super-resolution model")
    half = runtime.upscaler_half and descriptor.supports_half
    descriptor.eval()
    if half:
        descriptor.half()
    log.info(
        "loaded upscaler %s (%s x%d) on %s",
        settings.upscaler_model,
        descriptor.architecture.name,
        descriptor.scale,
        device,
    )
    return LearnedUpscaler(
        descriptor, descriptor.scale, settings.upscaler_tile, device, torch.float16 if half else torch.float32
    )
