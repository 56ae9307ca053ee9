"""The style stage: background matte, the style's filter chain, and the print size, all on the device."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from worker.matte import remove_background
from worker.styles import Style

MAX_PRINT_SIZE = 4096
PRINT_DPI = 300


def resize_long_edge(images: torch.Tensor, long_edge: int) -> torch.Tensor:
    """Bicubic resize so the longer side is ``long_edge``, keeping the aspect ratio."""
    height, width = images.shape[-2:]
    scale = long_edge / max(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    if size == (height, width):
        return images
    return F.interpolate(images, size=size, mode="bicubic", align_corners=False, antialias=scale < 1).clamp(0, 1)


def style_designs(
    designs: torch.Tensor, style: Style, seeds: list[int], transparent_background: bool, print_size: int | None
) -> torch.Tensor:
    """``(B, 3, H, W)`` generated designs to ``(B, 4, H', W')`` print-ready RGBA designs.

    The matte is taken from the generated picture (its plain background), before the filters add texture.
    """
    with torch.inference_mode():
        alpha = remove_background(designs) if transparent_background else torch.ones_like(designs[:, :1])
        styled = torch.cat([style.apply_filters(designs, seeds), alpha], dim=1)
        if print_size is not None:
            styled = resize_long_edge(styled, print_size)
        return styled
