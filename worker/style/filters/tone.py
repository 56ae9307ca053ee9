"""Tone: the subject's own tones spread over the whole range before any palette or gradient sees them.

A black cat's fur sits in the bottom tenth of the range and a white cat's in the top tenth; a palette,
gradient or threshold tuned for mid tones then draws either as one flat tone and its eyes, nose and
markings vanish. ``tone_normalize`` takes the luminance histogram of the subject only (weighted by the
matte, so the backdrop's tones do not count), equalises it with a clip limit (between a plain stretch of
the subject's range and full equalisation) and remaps every pixel through the resulting curve.
"""

from __future__ import annotations

import kornia
import torch

from worker.style.filters.base import FilterContext, luminance, register, scaled, shrunk, subject_weight

HISTOGRAM_BINS = 256
STATISTICS_SIZE = 256  # the histogram is taken on the design shrunk to about this long edge


def subject_histogram(tone: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per design, the matte-weighted histogram of ``tone`` ``(B, 1, H, W)`` over ``HISTOGRAM_BINS`` bins, in float32."""
    tone, weight = shrunk(tone, STATISTICS_SIZE), shrunk(weight, STATISTICS_SIZE)
    index = (tone.float().clamp(0, 1) * (HISTOGRAM_BINS - 1)).round().long().flatten(1)
    counts = torch.zeros(tone.shape[0], HISTOGRAM_BINS, dtype=torch.float32, device=tone.device)  # even for bf16
    counts.scatter_add_(1, index, weight.float().flatten(1))
    return counts + 1e-6  # an empty matte still gives a curve (the identity, below)


def equalising_curve(counts: torch.Tensor, clip: float, tail: float) -> torch.Tensor:
    """The tone curve ``(B, HISTOGRAM_BINS)`` to [0, 1] that equalises ``counts``, clip-limited.

    Bins below the ``tail`` and above the ``1 - tail`` quantile go to 0 and 1. Between them, no bin may
    take more than ``clip`` times an even share; the excess is spread evenly over that range, so ``clip``
    near 1 gives a plain linear stretch of it and a large ``clip`` full equalisation.
    """
    share = counts / counts.sum(dim=1, keepdim=True)
    cumulative = share.cumsum(dim=1)
    inside = ((cumulative >= tail) & (cumulative - share <= 1 - tail)).to(counts.dtype)
    kept = counts * inside
    width = inside.sum(dim=1, keepdim=True).clamp(min=1)
    limit = clip * kept.sum(dim=1, keepdim=True) / width
    clipped = kept.minimum(limit)
    spread = clipped + inside * (kept.sum(dim=1, keepdim=True) - clipped.sum(dim=1, keepdim=True)) / width
    curve = spread.cumsum(dim=1) - spread / 2  # each bin at its middle rank: a flat picture stays mid-grey
    return curve / spread.sum(dim=1, keepdim=True).clamp(min=1e-12)


def local_base(tone: torch.Tensor, sigma: float, eps: float) -> torch.Tensor:
    """The tone's large-scale base ``(B, 1, H, W)``, edge-preserving (a self-guided filter about ``sigma``
    pixels wide, its coefficients solved at a reduced size): fine for local contrast, with no halo."""
    radius = max(1, round(2 * sigma))
    subsample = max(1, radius // 6)
    base = kornia.filters.guided_blur(tone, tone, 2 * radius + 1, eps, subsample=subsample, separable=True)
    return base.to(tone.dtype)


@register
def tone_normalize(
    image: torch.Tensor,
    ctx: FilterContext,
    amount: float = 1.0,
    clip: float = 2.5,
    tail: float = 0.01,
    max_gain: float = 2.0,
    centre: float = 0.5,
    key: float = 0.0,
    local: float = 0.0,
    local_sigma: float = 24.0,
    local_eps: float = 0.02,
) -> torch.Tensor:
    """Spread the subject's tones over the range, so a black or a white pet keeps its features.

    The curve comes from the subject's histogram (``clip``, ``tail``: see ``equalising_curve``), mixed
    with the identity by ``amount`` (0: no equalising), then bent (a power) so the subject's median lands
    at ``centre``, or, with ``key``, part of the way back to its own median: a black cat stays a dark cat,
    a white one a light one, with their features spread apart. A pixel's colour is scaled with its new tone up to
    ``max_gain`` times (hue and saturation kept) and any further lightening is added as grey, so the
    noise and faint casts of near-black fur are not blown into strong colours. ``local`` then adds that
    much of the new tone's difference from its edge-preserving blur over about ``local_sigma`` pixels: a
    nose against a muzzle of nearly its tone, an eye in a dark face, drawn apart where one curve for the
    whole pet cannot. The blur keeps edges stronger than ``local_eps`` (a variance), so a dark head against
    a pale wall gets no bright halo.
    """
    tone = luminance(image)
    counts = subject_histogram(tone, subject_weight(image, ctx))
    levels = torch.linspace(0, 1, HISTOGRAM_BINS, device=tone.device).expand_as(counts)
    curve = torch.lerp(levels, equalising_curve(counts, clip, tail), amount).clamp(1e-4, 1)
    middle = ((counts.cumsum(dim=1) / counts.sum(dim=1, keepdim=True)) < 0.5).sum(dim=1, keepdim=True)
    middle = middle.clamp(max=HISTOGRAM_BINS - 1)
    wanted = torch.lerp(torch.full_like(counts[:, :1], centre), levels.gather(1, middle), key).clamp(0.02, 0.98)
    curve = (curve ** (wanted.log() / curve.gather(1, middle).clamp(0.02, 0.98).log())).to(tone.dtype)
    position = tone.clamp(0, 1).flatten(1) * (HISTOGRAM_BINS - 1)
    lower = position.floor().long().clamp(max=HISTOGRAM_BINS - 2)
    target = torch.lerp(curve.gather(1, lower), curve.gather(1, lower + 1), position - lower).view_as(tone)
    if local > 0:
        target = (target + local * (target - local_base(target, scaled(local_sigma, image), local_eps))).clamp(0, 1)
    gain = (target / tone.clamp(min=1e-4)).clamp(max=max_gain)
    return (image * gain + (target - tone * gain)).clamp(0, 1)
