"""Background removal for print: a clean alpha matte, or the picture kept whole when that is not safe.

Without a learned model (``MATTE_MODEL``, see worker/style/matte_model.py), the matte is built from colour, and
only where colour can be trusted: the picture's frame is fitted with a smooth backdrop (a plain colour or a
gradient, robust to the subject touching the edge); if the frame does not match one, or is textured, the
picture is kept whole and the report says why. Otherwise background is what matches the fitted backdrop
(shadows included: a darker shade of it), is as smooth as the frame at two scales (fur of the same colour,
even white fur on white whose shading is a shadow's colour, is not: it has structure), and is connected to
the frame (a flood fill, so light fur inside the subject stays). What is left must be a subject alone: if the cut would leave part of the
backdrop's scene standing (clouds, a horizon), the picture is kept whole and the report says why. The
decision is taken at a small working size and refined at full size along the edge only. Runs in torch on
the images' device. ``python -m worker.matte IN OUT.png`` shows the matte of any picture.

One concern, the colour matte's single decision (backdrop fit, flood, tidy, clean-cut check, full-size
edge), kept in one file although it runs to about 400 lines: its steps share their thresholds and are
tuned together (docs/matte.md says how, and what each guards against). The mask operations they are
built from are in worker/style/masks.py.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from worker.style.filters import luminance
from worker.style.masks import (
    box_mean,
    flood,
    frame_mask,
    grow,
    islands,
    masked_mean,
    per_image_median,
    pixels_at,
    polynomial_basis,
    shrink,
    squared_distance,
    window_sums,
    with_pixels,
)

WORK_RESOLUTION = 256  # the backdrop fit and the flood fill run at this long edge
FRAME_FRACTION = 0.03  # the frame fitted as backdrop: this fraction of the long edge, each side
BACKDROP_MATCH = 0.7  # the least fraction of the frame that must match the fitted backdrop
MATCH_TOLERANCE = 0.06  # a frame pixel matches when its colour is this close to the fitted backdrop
PLAIN_TEXTURE = 0.02  # fine texture (see textures) above which the matching frame counts as textured
MIN_TOLERANCE = 0.025  # the least colour tolerance: noise-free backdrops, and what a quartic misses of a vignette
MIN_TEXTURE = 0.004  # the least texture allowance, for noise-free backdrops
SHADOW_DEPTH = 0.45  # background may be this much darker than the backdrop (cast and contact shadows)
ROUGHNESS = 2.5  # background is at most this many times as rough as the frame, at both scales (see textures)
REFIT_DEGREE = 4  # the backdrop refitted on the background found is a quartic: a vignette's bright centre
GAP = 2  # background reaches the subject through no gap narrower than 2 * GAP + 1 pixels (see flood_region)
REFITS = 3  # the backdrop is refitted on the background found this many times (reaching into vignettes)
# The texture windows see a few pixels around, so the background they find can stop short of the subject:
# it is grown back this far into pixels of the backdrop's colour. More eats pale fur; less leaves a band of
# backdrop round a pale subject.
REACH = 2
SHADOW_REACH = 2  # and then this much further into shadow (darker than the backdrop, never pale fur's white)
BITE = 5  # bites narrower than twice this into fur of the backdrop's colour are filled back (see tidy)
SPECK = 2  # kept bits no thicker than twice this, apart from the subject and of the backdrop's colour: specks
# An outline is pale where, of the subject within PALE_REACH pixels, less than PALE_SHARE has a colour of its
# own (white fur on white): its outline is drawn smooth there, not pixel by pixel.
PALE_REACH = 6
PALE_SHARE = 0.4
EDGE_REACH = 2  # the full-size edge test reaches this many working-size pixels either side of the outline
MAJORITY = 2  # the full-size outline follows the majority of each (2r+1)^2 window: no specks, no fraying
LEAST_SUBJECT = 0.01  # a matte that keeps less than this fraction of the picture found no subject
ISLAND = 0.001  # kept parts apart from the subject larger than this fraction of the picture: not a subject alone
SIDE_REACH = 2 / 3  # a subject cut by the picture's edge is cut at the bottom: up its sides this far at most


class MatteModel(Protocol):
    """A learned background remover: ``(B, 3, H, W)`` in [0, 1] to alpha ``(B, 1, H, W)``."""

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class BackgroundReport:
    """What the matte did to one design, for the job result."""

    removed: bool
    method: str  # "model" (MATTE_MODEL), "colour" (plain backdrop), "none" (kept whole)
    reason: str | None = None  # why the background was kept, when it was
    backdrop_match: float | None = None  # fraction of the frame matching a plain colour or gradient

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Matte:
    alpha: torch.Tensor  # (B, 1, H, W) in [0, 1]
    reports: list[BackgroundReport]
    colours: torch.Tensor  # (B, 3, H, W): the picture, its outline pixels unmixed from the old backdrop


def fit_backdrop(small: torch.Tensor, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth backdrop ``(B, 3, h, w)`` fitted to the frame, and each frame pixel's distance to it ``(B, N)``.

    A trimmed least-squares fit that grows in freedom: the frame's median colour, then a plane, then a
    quadratic, each fitted to the pixels the previous one matched. A subject cut by the edge of the
    picture therefore never gets to pull the backdrop towards its colours.
    """
    batch, _, height, width = small.shape
    basis = polynomial_basis(height, width, REFIT_DEGREE, small.device, small.dtype)
    frame_basis = basis[frame.flatten()]  # (N, 15): the frame fit uses the first 6, a quadratic
    pixels = small.flatten(2)[:, :, frame.flatten()].transpose(1, 2)  # (B, N, 3)
    distance = (pixels - pixels.median(dim=1, keepdim=True).values).norm(dim=-1)
    for terms in (3, 6, 6):
        inlier = distance <= trim_threshold(distance)
        used = frame_basis[:, :terms]
        weighted = used.T.unsqueeze(0) * inlier.to(small.dtype).unsqueeze(1)  # (B, terms, N)
        ridge = 1e-4 * torch.eye(terms, device=small.device, dtype=small.dtype)
        coefficients = torch.linalg.solve(weighted @ used + ridge, weighted @ pixels)  # (B, terms, 3)
        distance = (pixels - used @ coefficients).norm(dim=-1)
    backdrop = (basis[:, :terms] @ coefficients).transpose(1, 2).reshape(batch, 3, height, width)
    return backdrop, distance


def trim_threshold(distance: torch.Tensor) -> torch.Tensor:
    """``(B, 1)``: what still counts as fitting: near the better half of the frame, at least the tolerance."""
    return (2.5 * distance.quantile(0.5, dim=1, keepdim=True)).clamp(min=MATCH_TOLERANCE)


def textures(image: torch.Tensor, among: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, 1, H, W)`` each, over the ``among`` pixels only: fine texture (luminance around its 3x3 mean)
    and mid texture (the 3x3 mean around the 7x7 mean), each as its spread over 5x5.

    A plain backdrop has only noise at both scales, and a shadow's ramp or curve a steady detail (no
    spread); fur, even white fur the colour of a shadow, has structure at one or the other. Measured over ``among`` (pixels of the
    backdrop's colour), a window next to a subject of another colour does not see it, so the background
    found reaches that subject's outline.
    """
    grey = luminance(image)
    weight = among.to(grey.dtype)
    near = masked_mean(grey, weight, 1)
    details = torch.cat([grey - near, near - masked_mean(grey, weight, 3)], dim=1)
    pooled = masked_mean(torch.cat([details, details * details], dim=1), weight, 2)
    spread = (pooled[:, 2:] - pooled[:, :2].square()).clamp(min=0).sqrt()
    return spread[:, :1], spread[:, 1:]


def background_candidates(
    image: torch.Tensor, backdrop: torch.Tensor, tolerance: torch.Tensor, shadows: bool = True
) -> torch.Tensor:
    """``(B, 1, H, W)`` bool: pixels of the backdrop's colour: the backdrop, or a shadow on it.

    A shadow is the backdrop's colour at a lower brightness, down to ``SHADOW_DEPTH``: the colour is
    compared with the backdrop scaled to the pixel's brightness, and the darkening is bounded on its own.
    """
    energy = backdrop.square().sum(1, keepdim=True).clamp(min=1e-4)
    shade = ((image * backdrop).sum(1, keepdim=True) / energy).clamp(0, 2)
    same_colour = squared_distance(image, shade * backdrop) < tolerance.square()
    same_brightness = (1 - shade).abs() * energy.sqrt() < tolerance
    if not shadows:
        return same_colour & same_brightness
    shadow = (shade < 1) & (shade > 1 - SHADOW_DEPTH)
    return same_colour & (same_brightness | shadow)


def flood_region(candidate: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Background: candidates connected to the seed, through no gap narrower than ``2 * GAP + 1`` pixels.

    The flood runs on the candidates shrunk by ``GAP`` (so it cannot slip into the subject through a gap
    between strands of fur, nor through a concave corner of a pale outline), is grown back by as much, and
    small holes (noise) are closed.
    """
    region = grow(flood(seed, shrink(candidate, GAP)), GAP) & candidate
    return shrink(grow(region, 1), 1)


def refit_backdrop(
    small: torch.Tensor, region: torch.Tensor, backdrop: torch.Tensor, tolerance: torch.Tensor
) -> torch.Tensor:
    """The backdrop refitted on all the background found so far, not just the frame: vignettes, sweeps.

    Shadows are left out of the fit (only pixels that already match the backdrop within ``tolerance``, and
    are not darker than it by more than noise, count), so the fitted backdrop does not darken towards them.
    """
    batch, _, height, width = small.shape
    basis = polynomial_basis(height, width, REFIT_DEGREE, small.device, small.dtype)
    terms = basis.shape[1]
    residual = small - backdrop
    lit = (
        region
        & (residual.square().sum(1, keepdim=True) < tolerance.square())
        & (residual.sum(1, keepdim=True) > -tolerance)
    )
    weights = lit.flatten(1).to(small.dtype)  # (B, H*W)
    pixels = small.flatten(2).transpose(1, 2)  # (B, H*W, 3)
    weighted = basis.T.unsqueeze(0) * weights.unsqueeze(1)
    ridge = 1e-4 * torch.eye(terms, device=small.device, dtype=small.dtype)
    refitted = (basis @ torch.linalg.solve(weighted @ basis + ridge, weighted @ pixels)).transpose(1, 2)
    enough = (weights.sum(dim=1) > 64).view(batch, 1, 1, 1)
    return torch.where(enough, refitted.reshape(batch, 3, height, width), backdrop)


def unmix_edge(
    image: torch.Tensor, backdrop: torch.Tensor, background: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Alpha from a hard background mask, each pixel along the outline unmixed; and the unmixed colours.

    An outline pixel is a blend of the backdrop and the subject's colour just inside (the mean of the
    surely-subject pixels around it): its alpha is where it lies between the two, and its colour becomes
    the subject's, so no rim of the old backdrop shows on a shirt. Only the one-pixel rings either side of
    the outline are unmixed, and only where the two colours differ enough to tell.
    """
    subject = ~background
    core = shrink(subject)
    at = (grow(subject) & ~core).flatten().nonzero().squeeze(1)  # the rings either side of the outline
    sums = window_sums(torch.cat([image * core, core.to(image.dtype)], dim=1), at, 2)
    weight, inner = sums[:, 3:], sums[:, :3] / sums[:, 3:].clamp(min=1e-6)
    pixel, behind = pixels_at(image, at), pixels_at(backdrop, at)
    direction = inner - behind
    spread = direction.square().sum(1, keepdim=True)
    blend = (((pixel - behind) * direction).sum(1, keepdim=True) / spread.clamp(min=1e-6)).clamp(0, 1)
    unmixable = (weight > 0.5) & (spread > (2 * MATCH_TOLERANCE) ** 2)
    alpha = subject.to(image.dtype)
    alpha = with_pixels(alpha, at, torch.where(unmixable, blend, pixels_at(alpha, at)))
    return alpha, with_pixels(image, at, torch.where(unmixable, inner, pixel))


def pale_outline(region: torch.Tensor, weak: torch.Tensor) -> torch.Tensor:
    """``(B, 1, h, w)`` bool: where hardly any of the subject within two pixels has a colour of its own (white
    fur on white): there its outline cannot be placed pixel by pixel, only drawn smooth."""
    kept = ~region
    return masked_mean((~weak).float(), kept, PALE_REACH) < PALE_SHARE


def tidy(region: torch.Tensor, pale: torch.Tensor, bare: torch.Tensor, near: torch.Tensor) -> torch.Tensor:
    """The background with bites into the subject filled back, and specks of backdrop colour cleared.

    Where fur is of the backdrop's colour (pale fur, or fur the shade of a shadow) a few of its pixels pass
    for backdrop and the flood bites in; a bite narrower than ``2 * BITE`` is subject (a closing of the kept
    part), unless it is ``bare`` backdrop (its very colour and brightness) beside a subject of its own
    colour: a concave corner of the outline, which stays background. A kept bit no thicker than ``2 *
    SPECK`` pixels, not attached to anything thicker, ``near`` the backdrop's colour, is noise or a shadow's
    edge: it would print as a speck beside the pet.
    """
    kept = ~region
    kept = kept | (shrink(grow(kept, BITE), BITE) & (pale | ~bare))
    body = flood(shrink(kept, SPECK), kept)
    return ~(body | (kept & ~near))


def cut_problem(region: torch.Tensor) -> list[str | None]:
    """Per design, why cutting along ``region`` would not leave a subject alone on a clean background.

    What is kept must be one piece (nothing apart from the largest bigger than ``ISLAND`` of the picture),
    and may touch the picture's edge only as a subject cut by the bottom edge does: in one stretch, along
    the bottom and the lower part of a side. Pieces apart, kept stretches higher up, or several, or reaching
    both sides, are the backdrop's own scenery left standing (clouds over a sky's gradient, a horizon, a
    floor's edge) or a pale pet cut apart: a ragged half-removal. None where the cut is clean.
    """
    kept = ~region[:, 0]
    height = kept.shape[-2]
    low = round(height * (1 - SIDE_REACH))
    left, right = kept[:, :, 0], kept[:, :, -1]
    # The picture's edge as one loop: top left to right, right side down, bottom right to left, left side up.
    loop = torch.cat([kept[:, 0, :], right, kept[:, -1, :].flip(-1), left.flip(-1)], dim=1)
    stretches = (loop & ~loop.roll(1, dims=1)).sum(dim=1)
    high = kept[:, 0, :].any(dim=1) | left[:, :low].any(dim=1) | right[:, :low].any(dim=1)
    apart = islands(~region) / kept[0].numel()
    problems = []
    for i in range(kept.shape[0]):
        if float(apart[i]) > ISLAND:
            problems.append(
                "the cut would leave more than one piece (clouds, scenery or props, or a pale pet cut apart)"
            )
        elif bool(high[i]) or int(stretches[i]) > 1:
            problems.append(
                "the cut would leave more than the subject at the picture's edge (clouds or scenery, or a pale "
                "pet's edge lost in the backdrop)"
            )
        elif bool(left[i].any() & right[i].any()):
            problems.append("the cut would leave a band across the picture (a horizon or a floor's edge)")
        else:
            problems.append(None)
    return problems


def full_size_background(
    image: torch.Tensor, region: torch.Tensor, pale: torch.Tensor, backdrop: torch.Tensor, tolerance: torch.Tensor
) -> torch.Tensor:
    """``(B, 1, H, W)`` bool at full size (``backdrop`` at full size, the rest at the working size): the working-size region, its outline placed to the full-size pixel.

    Inside the region the working size is trusted. Along its outline (``EDGE_REACH`` working pixels either
    side), where the subject's colour stands out from the backdrop, each full-size pixel's own colour
    (denoised by a 3x3 mean) decides, so the outline is as sharp as the picture. Along a pale outline a
    pixel's colour says nothing its neighbours' does not: the working-size outline is drawn smooth there
    rather than frayed pixel by pixel. Either way the outline then follows the majority of each
    ``MAJORITY`` window, so no lone pixel of backdrop stays, nor a lone pixel of fur goes.
    """
    height, width = image.shape[-2:]

    def full_size(mask: torch.Tensor, mode: str = "nearest") -> torch.Tensor:
        return F.interpolate(mask.to(image.dtype), size=(height, width), mode=mode) > 0.5

    at = (full_size(grow(region, EDGE_REACH)) & ~full_size(shrink(region, EDGE_REACH))).flatten().nonzero().squeeze(1)
    sums = window_sums(torch.cat([image, torch.ones_like(image[:, :1])], dim=1), at, 1)
    denoised = (sums[:, :3] / sums[:, 3:]).view(-1, 3, 1, 1)
    per_pixel = background_candidates(
        denoised,
        pixels_at(backdrop, at).view(-1, 3, 1, 1),
        tolerance.view(-1)[at // (height * width)].view(-1, 1, 1, 1),
    )
    smooth = full_size(box_mean(region.to(image.dtype), 1), "bilinear")
    decided = torch.where(pixels_at(full_size(pale), at), pixels_at(smooth, at), per_pixel.view(-1, 1))
    background = with_pixels(full_size(region), at, decided)
    votes = window_sums(torch.cat([background, torch.ones_like(background)], dim=1).to(image.dtype), at, MAJORITY)
    return with_pixels(background, at, votes[:, :1] > votes[:, 1:] / 2)  # no lone pixels: no specks, no fraying


def colour_matte(image: torch.Tensor) -> Matte:
    """The plain-backdrop matte of a ``(B, 3, H, W)`` batch, each design kept whole where it is not safe."""
    batch, _, height, width = image.shape
    scale = min(1.0, WORK_RESOLUTION / max(height, width))
    small = F.interpolate(image, scale_factor=scale, mode="area") if scale < 1 else image
    small_h, small_w = small.shape[-2:]
    frame = frame_mask(small_h, small_w, max(2, math.ceil(FRAME_FRACTION * max(small_h, small_w))), image.device)

    # Is the frame a plain colour or gradient? Most of it must match a smooth fit, and what matches be smooth.
    backdrop, frame_distance = fit_backdrop(small, frame)
    matching = frame_distance < MATCH_TOLERANCE  # (B, N)
    match = matching.float().mean(dim=1)

    def frame_median(values: torch.Tensor) -> torch.Tensor:
        return per_image_median(values.flatten(2)[:, 0, frame.flatten()], matching, empty=1.0).view(batch, 1, 1, 1)

    fine, mid = (frame_median(t) for t in textures(small, torch.ones_like(small[:, :1], dtype=torch.bool)))
    plain = (match >= BACKDROP_MATCH) & (fine.view(batch) < PLAIN_TEXTURE)

    # Background at the working size: the backdrop's colour, as smooth as the frame at both scales, connected
    # to the frame, then grown back to the outline that the texture windows stopped short of.
    tolerance = (2.5 * per_image_median(frame_distance, matching, empty=1.0)).clamp(MIN_TOLERANCE, MATCH_TOLERANCE)
    tolerance = tolerance.view(batch, 1, 1, 1)
    fine_limit, mid_limit = (ROUGHNESS * fine).clamp(min=MIN_TEXTURE), (ROUGHNESS * mid).clamp(min=MIN_TEXTURE / 2)
    seed = torch.zeros(batch, 1, small_h, small_w, dtype=torch.bool, device=image.device)
    seed[:, :, frame] = (frame_distance < tolerance.view(batch, 1)).unsqueeze(1)  # the frame that fits the backdrop

    def find_background(backdrop: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weak = background_candidates(small, backdrop, tolerance)  # of the backdrop's colour
        fine_texture, mid_texture = textures(small, weak)
        return flood_region(weak & (fine_texture < fine_limit) & (mid_texture < mid_limit), seed), weak

    region, weak = find_background(backdrop)
    for _ in range(REFITS):
        backdrop = refit_backdrop(small, region, backdrop, tolerance)
        region, weak = find_background(backdrop)
    bare = background_candidates(small, backdrop, tolerance, shadows=False)
    region = region | (grow(region, REACH) & weak)
    for _ in range(SHADOW_REACH):  # a soft shadow is followed further, up to the foot of the subject
        region = region | (grow(region) & weak & ~bare)
    region = tidy(region, pale_outline(region, weak), bare, background_candidates(small, backdrop, 2 * tolerance))

    # At full size along the outline only; then is the cut clean, as a shopper would see it?
    pale = pale_outline(region, weak)
    full_backdrop = F.interpolate(backdrop, size=(height, width), mode="bilinear", align_corners=False)
    background = full_size_background(image, region, pale, full_backdrop, tolerance)
    alpha, colours = unmix_edge(image, full_backdrop, background)
    problems = cut_problem((F.interpolate(alpha, size=(small_h, small_w), mode="area") if scale < 1 else alpha) < 0.5)

    reports = matte_reports(match, plain, problems, (alpha > 0.5).float().mean(dim=(1, 2, 3)))
    removed = torch.tensor([r.removed for r in reports], device=image.device).view(batch, 1, 1, 1)
    return Matte(torch.where(removed, alpha, torch.ones_like(alpha)), reports, torch.where(removed, colours, image))


def matte_reports(
    match: torch.Tensor, plain: torch.Tensor, problems: list[str | None], kept: torch.Tensor
) -> list[BackgroundReport]:
    """Per design, whether the background comes off, or why it is kept: the frame is no plain backdrop, the
    cut would not leave a subject alone, or nothing stands out from the backdrop."""
    reports = []
    for i, problem in enumerate(problems):
        figure = round(float(match[i]), 3)
        if not plain[i]:
            why = (
                f"the picture's edge is not a plain colour or gradient (only {figure:.0%} of it matches one)"
                if match[i] < BACKDROP_MATCH
                else "the backdrop is textured"
            )
            reports.append(BackgroundReport(False, "none", f"{why}; the background was kept", figure))
        elif problem:
            reports.append(BackgroundReport(False, "none", f"{problem}; the background was kept", figure))
        elif kept[i] < LEAST_SUBJECT:
            reports.append(BackgroundReport(False, "none", "no subject stands out from the plain backdrop", figure))
        else:
            reports.append(BackgroundReport(True, "colour", None, figure))
    return reports


def matte(image: torch.Tensor, model: MatteModel | None = None) -> Matte:
    """The matte of a ``(B, 3, H, W)`` batch: the learned model's when one is loaded, else the colour matte."""
    if model is None:
        return colour_matte(image)
    alpha = model(image).clamp(0, 1)
    return Matte(alpha, [BackgroundReport(True, "model") for _ in range(image.shape[0])], image)
