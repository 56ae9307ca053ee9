"""What a style keeps of the pet, in numbers: its structure, and the tones its features are drawn in.

``structure_kept``: the correlation, inside the subject, of the blurred edge maps of the photo and the
design. Both are shrunk to ``WORK_SIZE`` (the scale a print is seen at: halftone dots, paper grain and
brushed streaks average out), their luminance is replaced by its rank among the subject's pixels (so
only the order of tones counts, not their exposure: a black cat's fur, eyes and nose count as fully as a
tabby's, and any monotonic tone curve keeps a design at 1), its Sobel magnitude is blurred by ``SIGMA``,
and the two maps are correlated (Pearson) over the subject's pixels clear of its outline by the blur's
reach (so a contour a style draws round the pet neither helps nor hurts). 1: every edge of the pet is
where it was, as strong relative to the others; 0: no relation (a blob, a silhouette). A feature drawn
in tones too close to see still counts here: ``tone_levels`` is the measure of that.

``tone_levels``: how many distinct tone levels the design shows in the features (eyes, nose and the
fur around them): of ``TONE_BINS`` equal bins of luminance, those holding at least ``TONE_SHARE`` of
the features' pixels. A black silhouette has 1; eyes, pupils, fur and nose drawn apart have 3 or more.
"""

from __future__ import annotations

import math

import torch

from devkit.pets import Pet
from worker.style.catalog import Style
from worker.style.filters import luminance
from worker.style.filters.base import dilate, gaussian, shrunk, sobel_magnitude

WORK_SIZE = 256
SIGMA = 1.5
TONE_BINS = 10
TONE_SHARE = 0.04


def equalised(tone: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``tone`` ``(1, 1, H, W)`` replaced by its rank among the pixels of ``mask`` ``(H, W)``, in [0, 1]."""
    inside = tone[0, 0][mask].sort().values.contiguous()
    ranks = torch.searchsorted(inside, tone.contiguous().view(-1)).view_as(tone)
    return ranks.to(tone.dtype) / max(1, inside.numel())


def edge_map(tone: torch.Tensor) -> torch.Tensor:
    return gaussian(sobel_magnitude(tone), SIGMA)


def structure_kept(photo: torch.Tensor, design: torch.Tensor, mask: torch.Tensor) -> float:
    """Correlation of the blurred edge maps of ``photo`` and ``design`` ``(1, 3, H, W)`` inside ``mask`` ``(H, W)``."""
    inside = (shrunk(mask.float().view(1, 1, *mask.shape), WORK_SIZE) > 0.99).float()
    reach = 2 * (math.ceil(3 * SIGMA) + 1) + 1  # clear of whatever a style draws along the outline
    small_mask = (1 - dilate(1 - inside, reach))[0, 0] > 0.5
    photo_map, design_map = (
        edge_map(equalised(shrunk(luminance(image.clamp(0, 1)), WORK_SIZE), small_mask))[0, 0][small_mask]
        for image in (photo, design)
    )
    both = torch.stack([photo_map, design_map])
    return float(torch.corrcoef(both)[0, 1].nan_to_num(0.0))


def tone_levels(design: torch.Tensor, region: torch.Tensor) -> int:
    """How many of ``TONE_BINS`` luminance bins hold at least ``TONE_SHARE`` of ``region``'s pixels."""
    tones = luminance(design.clamp(0, 1))[0, 0][region]
    counts = torch.histc(tones, bins=TONE_BINS, min=0.0, max=1.0)
    return int((counts >= TONE_SHARE * tones.numel()).sum())


def run_chain(style: Style, image: torch.Tensor, alpha: torch.Tensor | None, seed: int = 1) -> torch.Tensor:
    """The style's filter chain on ``image`` ``(1, 3, H, W)`` with the matte ``alpha``, as the style stage runs it."""
    return style.apply_filters(image, [seed], alpha)


def styled(style: Style, subject: Pet, seed: int = 1) -> torch.Tensor:
    """The subject through the style's filter chain, with its matte."""
    return run_chain(style, subject.image, subject.alpha, seed)
