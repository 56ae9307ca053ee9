"""Mask and window operations on ``(B, C, H, W)`` tensors for the matte, written for CPUs as well as GPUs.

Dilation by shifted ORs, box means by running sums and connected parts by spreading along whole runs are
far cheaper than poolings and pixel-step floods on a CPU, and give the same answers on a GPU.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F


def frame_mask(height: int, width: int, thickness: int, device: torch.device) -> torch.Tensor:
    """``(H, W)`` bool: a ``thickness``-pixel frame around the picture."""
    mask = torch.ones(height, width, dtype=torch.bool, device=device)
    mask[thickness:-thickness, thickness:-thickness] = False
    return mask


@functools.cache
def polynomial_basis(height: int, width: int, degree: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``(H*W, T)``: the monomials x^i y^j, i + j <= degree, over [-1, 1], by total degree (1, x, y, x^2, xy,
    y^2, ...), so the first 1, 3 or 6 columns are a constant, a plane and a quadratic. Cached: every design
    of a size shares it."""
    ys = torch.linspace(-1, 1, height, device=device, dtype=dtype)
    xs = torch.linspace(-1, 1, width, device=device, dtype=dtype)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    terms = [xx ** (total - j) * yy**j for total in range(degree + 1) for j in range(total + 1)]
    return torch.stack(terms, dim=-1).reshape(-1, len(terms))


def box_mean(image: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over each ``(2r+1)^2`` window, edges replicated: running sums, far cheaper than a pooling on CPUs."""
    size = 2 * radius + 1
    for dim, pad in ((-1, (radius + 1, radius, 0, 0)), (-2, (0, 0, radius + 1, radius))):
        sums = F.pad(image, pad, mode="replicate").cumsum(dim)
        image = (sums.narrow(dim, size, sums.shape[dim] - size) - sums.narrow(dim, 0, sums.shape[dim] - size)) / size
    return image


def squared_distance(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)``: squared RGB distance (summing squares beats ``norm`` over channels on CPUs)."""
    return (first - second).square().sum(1, keepdim=True)


def per_image_median(values: torch.Tensor, where: torch.Tensor, empty: float) -> torch.Tensor:
    """``(B,)``: the median of each image's ``values`` where ``where`` holds, ``empty`` where it never does."""
    medians = [v[w].median() if w.any() else v.new_tensor(empty) for v, w in zip(values, where, strict=True)]
    return torch.stack(medians)


def masked_mean(values: torch.Tensor, mask: torch.Tensor, radius: int) -> torch.Tensor:
    """The mean of ``values`` over the ``mask`` pixels of each ``(2r+1)^2`` window (0 where there are none)."""
    weight = mask.to(values.dtype)
    return box_mean(values * weight, radius) / box_mean(weight, radius).clamp(min=1e-6)


def grow(mask: torch.Tensor, pixels: int = 1) -> torch.Tensor:
    """A bool mask dilated by a ``(2 * pixels + 1)`` square: shifted ORs, far cheaper than a max pooling on CPUs."""
    for dim in (-1, -2):
        grown, size = mask.clone(), mask.shape[dim]
        for step in range(1, min(pixels, size - 1) + 1):
            grown.narrow(dim, step, size - step).logical_or_(mask.narrow(dim, 0, size - step))
            grown.narrow(dim, 0, size - step).logical_or_(mask.narrow(dim, step, size - step))
        mask = grown
    return mask


def shrink(mask: torch.Tensor, pixels: int = 1) -> torch.Tensor:
    return ~grow(~mask, pixels)


def spread_along_rows(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each pixel of ``mask`` (``(B, 1, H, W)`` bool) takes the largest of ``values`` along its horizontal run of
    ``mask`` pixels; 0 off the mask."""
    batch, _, height, width = mask.shape
    run = torch.cumsum(~mask, dim=-1)  # the same number along a run of mask pixels
    row = torch.arange(batch * height, device=mask.device).view(batch, 1, height, 1)
    key = (row * (width + 1) + run).flatten()
    largest = torch.zeros(batch * height * (width + 1), device=mask.device, dtype=values.dtype)
    largest = largest.scatter_reduce(0, key, values.flatten(), "amax")
    return largest[key].view_as(values) * mask


def spread(values: torch.Tensor, mask: torch.Tensor, max_turns: int = 64, check_every: int = 4) -> torch.Tensor:
    """Each pixel of ``mask`` takes the largest of ``values`` (>= 0) over its connected part of ``mask``.

    Alternates spreading along whole horizontal and vertical runs, so it takes as many passes as the part
    has turns, rather than one 3x3 step per pixel of distance; it looks for convergence only every few
    passes (each look waits for the device).
    """
    current = values * mask
    columns = mask.transpose(-1, -2)
    for turn in range(1, max_turns + 1):
        grown = spread_along_rows(current, mask)
        grown = spread_along_rows(grown.transpose(-1, -2), columns).transpose(-1, -2)
        if turn % check_every == 0 and torch.equal(grown, current):
            break
        current = grown
    return current


def flood(seed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The part of a boolean ``(B, 1, H, W)`` ``mask`` connected to ``seed``."""
    return spread(seed.float(), mask) > 0


def islands(mask: torch.Tensor) -> torch.Tensor:
    """``(B,)``: the area of each image's ``mask`` outside its largest connected part (4-connected)."""
    batch, _, height, width = mask.shape
    index = torch.arange(1, height * width + 1, device=mask.device, dtype=torch.float32).view(1, 1, height, width)
    labels = spread(index.expand(batch, -1, -1, -1), mask).long().flatten(1)
    areas = [torch.bincount(row, minlength=height * width + 1)[1:] for row in labels]
    return torch.stack([area.sum() - area.max() for area in areas])


def pixels_at(values: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
    """``(N, C)``: the pixels of ``values`` ``(B, C, H, W)`` at flat indices ``at`` ``(N,)`` into ``B*H*W``."""
    area = values.shape[-2] * values.shape[-1]
    return values.flatten(2)[at // area, :, at % area]


def with_pixels(values: torch.Tensor, at: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """A copy of ``values`` ``(B, C, H, W)`` with its pixels at ``at`` replaced by ``new`` ``(N, C)``."""
    area = values.shape[-2] * values.shape[-1]
    changed = values.clone()
    changed.view(values.shape[0], values.shape[1], area)[at // area, :, at % area] = new
    return changed


def window_sums(values: torch.Tensor, at: torch.Tensor, radius: int) -> torch.Tensor:
    """``(N, C)``: ``values`` ``(B, C, H, W)`` summed over the ``(2r+1)^2`` window round each pixel at ``at``
    (outside the picture counts 0). The full-size edge needs a few windows along the outline: summing only
    those is far cheaper than a box mean over the whole picture."""
    _, channels, height, width = values.shape
    padded = F.pad(values, (radius,) * 4).permute(0, 2, 3, 1).reshape(-1, channels)
    row = width + 2 * radius
    image, rest = at // (height * width), at % (height * width)
    centre = (image * (height + 2 * radius) + rest // width + radius) * row + rest % width + radius
    total = torch.zeros(at.shape[0], channels, device=values.device, dtype=values.dtype)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            total += padded[centre + dy * row + dx]
    return total
