"""Background removal for print: a clean alpha matte for a subject the model drew on a plain background.

No segmentation model can be downloaded, so the matte is built from colour: the background colour is the
median of the border, background is what is close to it *and* connected to the border (a flood fill, so
white fur inside the subject stays), and a guided filter turns the hard mask into soft, edge-following
alpha. Runs in torch on the images' device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.filters import guided_blur

from worker.filters import luminance

FLOOD_RESOLUTION = 256  # the flood fill runs at this long edge; the boundary is refined at full size


def border_pixels(image: torch.Tensor, width: int = 4) -> torch.Tensor:
    """``(B, N, 3)``: the pixels of a ``width``-pixel frame around each image."""
    top, bottom = image[..., :width, :], image[..., -width:, :]
    left, right = image[..., width:-width, :width], image[..., width:-width, -width:]
    return torch.cat([part.flatten(2) for part in (top, bottom, left, right)], dim=2).transpose(1, 2)


def flood_from_border(candidate: torch.Tensor, check_every: int = 16) -> torch.Tensor:
    """The part of a boolean ``(B, 1, H, W)`` mask connected to the image border (geodesic dilation)."""
    seed = torch.zeros_like(candidate)
    seed[..., 0, :], seed[..., -1, :] = candidate[..., 0, :], candidate[..., -1, :]
    seed[..., :, 0], seed[..., :, -1] = candidate[..., :, 0], candidate[..., :, -1]
    mask = candidate.to(torch.float32)
    filled = seed.to(torch.float32)
    for iteration in range(1, 4 * sum(candidate.shape[-2:])):
        grown = F.max_pool2d(filled, 3, stride=1, padding=1) * mask
        if iteration % check_every == 0 and torch.equal(grown, filled):
            break
        filled = grown
    return filled > 0.5


def remove_background(image: torch.Tensor, tolerance: float = 0.12, softness: float = 0.06) -> torch.Tensor:
    """Alpha ``(B, 1, H, W)`` in [0, 1] for a ``(B, 3, H, W)`` batch: 0 on the background, 1 on the subject."""
    batch, _, height, width = image.shape
    background = border_pixels(image).median(dim=1).values.view(batch, 3, 1, 1)
    distance = (image - background).square().sum(dim=1, keepdim=True).sqrt()
    candidate = distance < tolerance

    scale = FLOOD_RESOLUTION / max(height, width)
    if scale < 1:
        small = F.interpolate(candidate.float(), scale_factor=scale, mode="area") > 0.5
        connected = flood_from_border(small)
        # Back to full size, grown by a pixel so the thin band at the subject's edge is covered.
        region = F.interpolate(connected.float(), size=(height, width), mode="bilinear", align_corners=False)
        connected = F.max_pool2d(region, 3, stride=1, padding=1) > 0.25
    else:
        connected = flood_from_border(candidate)

    # Soft alpha from the colour distance, only where the background is connected; the subject stays solid.
    ramp = ((distance - (tolerance - softness)) / (2 * softness)).clamp(0, 1)
    alpha = torch.where(connected, ramp, torch.ones_like(ramp))
    refined = guided_blur(luminance(image), alpha, 5, 1e-3, subsample=2)
    return refined.clamp(0, 1)
