"""Fixed synthetic pictures for tests and benchmarks: a pet-like subject on a plain background."""

from __future__ import annotations

import torch

BACKGROUND = (0.96, 0.95, 0.93)


def subject_mask(size: int = 384) -> torch.Tensor:
    """A head with two ears, ``(H, W)`` bool."""
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    s = size / 384
    head = ((xx - 192 * s) / (110 * s)) ** 2 + ((yy - 210 * s) / (130 * s)) ** 2 < 1
    ear_left = ((xx - 135 * s) / (38 * s)) ** 2 + ((yy - 85 * s) / (45 * s)) ** 2 < 1
    ear_right = ((xx - 250 * s) / (38 * s)) ** 2 + ((yy - 85 * s) / (45 * s)) ** 2 < 1
    return head | ear_left | ear_right


def pet_on_plain_background(size: int = 384, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(1, 3, H, W)`` picture, its true subject mask, and a white patch inside the subject (white fur)."""
    generator = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    mask = subject_mask(size)
    shade = 0.5 + 0.5 * torch.cos((xx - size / 2) / (size / 4)) * torch.cos((yy - size * 0.55) / (size / 3.5))
    fur = 0.04 * torch.rand(size, size, generator=generator)
    subject = torch.stack([0.75 * shade + 0.1 + fur, 0.45 * shade + 0.05 + fur, 0.2 * shade + 0.05 + fur])
    white_patch = ((xx - size / 2) / (size / 10)) ** 2 + ((yy - size * 0.7) / (size / 14)) ** 2 < 1
    subject[:, white_patch] = 0.97
    background = torch.tensor(BACKGROUND).view(3, 1, 1) + 0.01 * torch.randn(3, size, size, generator=generator)
    image = torch.where(mask, subject, background).clamp(0, 1).unsqueeze(0)
    return image, mask, white_patch


def colourful_detail(size: int = 256, seed: int = 0) -> torch.Tensor:
    """Saturated colours with fine detail and sharp edges: a hard input for every style."""
    generator = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    image = torch.stack([(xx / size), (yy / size), 1 - xx / size]) * 0.8
    image[:, (xx // 32 + yy // 32) % 2 == 0] *= 0.5
    image = image + 0.15 * torch.rand(3, size, size, generator=generator)
    return image.clamp(0, 1).unsqueeze(0)
