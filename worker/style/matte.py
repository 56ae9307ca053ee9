"""Background removal for print: a clean alpha matte, or the picture kept whole when that is not safe.

Without a learned model (``MATTE_MODEL``, see worker/style/matte_model.py), the matte is built from colour, and
only where colour can be trusted: the picture's frame is fitted with a smooth backdrop (a plain colour or a
gradient, robust to the subject touching the edge); if the frame does not match one, or is textured, the
picture is kept whole and the report says why. Otherwise background is what matches the fitted backdrop
(shadows included: a darker shade of it), is smooth like it (fur of the same colour is not: it has
texture), and is connected to the frame (a flood fill, so light fur inside the subject stays). The
decision is taken at a small working size and refined at full size along the edge only. Runs in torch on
the images' device. ``python -m worker.matte IN OUT.png`` shows the matte of any picture.

One concern, the colour matte's single decision (backdrop fit, flood, full-size edge), kept in one file
although it runs a little over 300 lines: its steps share their thresholds and are tuned together.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from worker.style.filters import luminance

WORK_RESOLUTION = 256  # the backdrop fit and the flood fill run at this long edge
FRAME_FRACTION = 0.03  # the frame fitted as backdrop: this fraction of the long edge, each side
BACKDROP_MATCH = 0.7  # the least fraction of the frame that must match the fitted backdrop
MATCH_TOLERANCE = 0.06  # a frame pixel matches when its colour is this close to the fitted backdrop
PLAIN_TEXTURE = 0.02  # fine texture (see fine_texture) above which the matching frame counts as textured
MIN_TOLERANCE = 0.02  # the least colour tolerance, for noise-free backdrops
MIN_TEXTURE = 0.004  # the least texture allowance, likewise
SHADOW_DEPTH = 0.45  # background may be this much darker than the backdrop (cast and contact shadows)
REFITS = 3  # the backdrop is refitted on the background found this many times (reaching into vignettes)
LEAST_SUBJECT = 0.01  # a matte that keeps less than this fraction of the picture found no subject
# How far (working-size pixels) the full-size edge test reaches past the working-size region: the region
# stops where fine_texture sees the outline (its 3x3 mean and 5x5 window: 3 pixels), one more for the
# flood's shrink. Reaching less leaves a band of backdrop at alpha 1 around the subject (a halo on dark shirts).
EDGE_REACH = 4


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


def frame_mask(height: int, width: int, thickness: int, device: torch.device) -> torch.Tensor:
    """``(H, W)`` bool: a ``thickness``-pixel frame around the picture."""
    mask = torch.ones(height, width, dtype=torch.bool, device=device)
    mask[thickness:-thickness, thickness:-thickness] = False
    return mask


def quadratic_basis(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """``(H*W, 6)``: 1, x, y, x^2, xy, y^2 over [-1, 1]: enough for plain colours, sweeps and vignettes."""
    ys = torch.linspace(-1, 1, height, device=like.device, dtype=like.dtype)
    xs = torch.linspace(-1, 1, width, device=like.device, dtype=like.dtype)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([torch.ones_like(xx), xx, yy, xx * xx, xx * yy, yy * yy], dim=-1).reshape(-1, 6)


def fit_backdrop(small: torch.Tensor, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth backdrop ``(B, 3, h, w)`` fitted to the frame, and each frame pixel's distance to it ``(B, N)``.

    A trimmed least-squares fit that grows in freedom: the frame's median colour, then a plane, then a
    quadratic, each fitted to the pixels the previous one matched. A subject cut by the edge of the
    picture therefore never gets to pull the backdrop towards its colours.
    """
    batch, _, height, width = small.shape
    basis = quadratic_basis(height, width, small)
    frame_basis = basis[frame.flatten()]  # (N, 6)
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


def fine_texture(image: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)``: how much the luminance wiggles around its 3x3 mean, over 5x5 (RMS).

    Noise and fur have it; a plain backdrop, and the smooth ramps of gradients and soft shadows, do not.
    """
    grey = luminance(image)
    detail = grey - box_mean(grey, 1)
    return box_mean(detail * detail, 2).clamp(min=0).sqrt()


def per_image_median(values: torch.Tensor, where: torch.Tensor, empty: float) -> torch.Tensor:
    """``(B,)``: the median of each image's ``values`` where ``where`` holds, ``empty`` where it never does."""
    medians = [v[w].median() if w.any() else v.new_tensor(empty) for v, w in zip(values, where, strict=True)]
    return torch.stack(medians)


def background_candidates(
    image: torch.Tensor, backdrop: torch.Tensor, tolerance: torch.Tensor, smooth_below: torch.Tensor | None = None
) -> torch.Tensor:
    """``(B, 1, H, W)`` bool: pixels that may be background: the backdrop, or a shadow on it, and smooth
    (when ``smooth_below`` is given).

    A shadow is the backdrop's colour at a lower brightness, down to ``SHADOW_DEPTH``: the colour is
    compared with the backdrop scaled to the pixel's brightness, and the darkening is bounded on its own.
    """
    energy = backdrop.square().sum(1, keepdim=True).clamp(min=1e-4)
    shade = ((image * backdrop).sum(1, keepdim=True) / energy).clamp(0, 2)
    same_colour = squared_distance(image, shade * backdrop) < tolerance.square()
    same_brightness = (1 - shade).abs() * energy.sqrt() < tolerance
    shadow = (shade < 1) & (shade > 1 - SHADOW_DEPTH)
    candidate = same_colour & (same_brightness | shadow)
    return candidate if smooth_below is None else candidate & (fine_texture(image) < smooth_below)


def grow(mask: torch.Tensor, pixels: int = 1) -> torch.Tensor:
    return F.max_pool2d(mask.float(), 2 * pixels + 1, stride=1, padding=pixels) > 0.5


def shrink(mask: torch.Tensor, pixels: int = 1) -> torch.Tensor:
    return ~grow(~mask, pixels)


def spread_along_rows(filled: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fill every horizontal run of ``mask`` (``(B, 1, H, W)`` bool) that holds a ``filled`` pixel."""
    batch, _, height, width = mask.shape
    run = torch.cumsum(~mask, dim=-1)  # the same number along a run of mask pixels
    row = torch.arange(batch * height, device=mask.device).view(batch, 1, height, 1)
    key = (row * (width + 1) + run).flatten()
    any_filled = torch.zeros(batch * height * (width + 1), device=mask.device)
    any_filled = any_filled.scatter_reduce(0, key, filled.flatten().float(), "amax")
    return (any_filled[key].view_as(mask) > 0) & mask


def flood(seed: torch.Tensor, mask: torch.Tensor, max_turns: int = 64, check_every: int = 4) -> torch.Tensor:
    """The part of a boolean ``(B, 1, H, W)`` ``mask`` connected to ``seed``.

    Alternates filling whole horizontal and vertical runs, so it takes as many passes as the flood has
    turns to make, rather than one 3x3 step per pixel of distance; it looks for convergence only every
    few passes (each look waits for the device).
    """
    filled = seed & mask
    columns = mask.transpose(-1, -2)
    for turn in range(1, max_turns + 1):
        grown = spread_along_rows(filled, mask)
        grown = spread_along_rows(grown.transpose(-1, -2), columns).transpose(-1, -2)
        if turn % check_every == 0 and torch.equal(grown, filled):
            break
        filled = grown
    return filled


def flood_region(candidate: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Background: candidates connected to the seed, through no gap narrower than three pixels.

    The flood runs on the candidates shrunk by a pixel (so it cannot slip into the subject through a thin
    gap), is grown back by that pixel, and small holes (noise) are closed.
    """
    region = grow(flood(seed, shrink(candidate)), 1) & candidate
    return shrink(grow(region, 1), 1)


def refit_backdrop(
    small: torch.Tensor, region: torch.Tensor, backdrop: torch.Tensor, tolerance: torch.Tensor
) -> torch.Tensor:
    """The backdrop refitted on all the background found so far, not just the frame: vignettes, sweeps.

    Shadows are left out of the fit (only pixels that already match the backdrop within ``tolerance``
    count), so the fitted backdrop does not darken towards them.
    """
    batch, _, height, width = small.shape
    basis = quadratic_basis(height, width, small)
    lit = region & (squared_distance(small, backdrop) < tolerance.square())
    weights = lit.flatten(1).to(small.dtype)  # (B, H*W)
    pixels = small.flatten(2).transpose(1, 2)  # (B, H*W, 3)
    weighted = basis.T.unsqueeze(0) * weights.unsqueeze(1)
    ridge = 1e-4 * torch.eye(6, device=small.device, dtype=small.dtype)
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
    ring = grow(subject) & ~core
    weight = box_mean(core.to(image.dtype), 2)
    inner = box_mean(image * core, 2) / weight.clamp(min=1e-6)
    direction = inner - backdrop
    spread = direction.square().sum(1, keepdim=True)
    blend = (((image - backdrop) * direction).sum(1, keepdim=True) / spread.clamp(min=1e-6)).clamp(0, 1)
    unmixable = ring & (weight > 1e-3) & (spread > (2 * MATCH_TOLERANCE) ** 2)
    alpha = torch.where(unmixable, blend, subject.to(image.dtype))
    return alpha, torch.where(unmixable, inner, image)


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
    small_texture = fine_texture(small)
    texture = per_image_median(small_texture.flatten(2)[:, 0, frame.flatten()], matching, empty=1.0)
    plain = (match >= BACKDROP_MATCH) & (texture < PLAIN_TEXTURE)

    # Background at the working size: like the backdrop, as smooth as it, and connected to the frame.
    noise = per_image_median(frame_distance, matching, empty=1.0)
    tolerance = (2.5 * noise).clamp(MIN_TOLERANCE, MATCH_TOLERANCE).view(batch, 1, 1, 1)
    smooth_below = (2.5 * texture).clamp(min=MIN_TEXTURE).view(batch, 1, 1, 1)
    seed = torch.zeros(batch, 1, small_h, small_w, dtype=torch.bool, device=image.device)
    seed[:, :, frame] = (frame_distance < tolerance.view(batch, 1)).unsqueeze(1)  # the frame that fits the backdrop
    region = flood_region(background_candidates(small, backdrop, tolerance, smooth_below), seed)
    for _ in range(REFITS):
        backdrop = refit_backdrop(small, region, backdrop, tolerance)
        region = flood_region(background_candidates(small, backdrop, tolerance, smooth_below), seed)

    # At full size: trust the working-size decision inside the region; along its edge (as far as the
    # working size could not decide, EDGE_REACH), test each pixel's colour (denoised by a 3x3 mean), so the
    # outline is as sharp as the picture.
    def full_size(mask: torch.Tensor) -> torch.Tensor:
        return F.interpolate(mask.to(image.dtype), size=(height, width), mode="nearest") > 0.5

    full_backdrop = F.interpolate(backdrop, size=(height, width), mode="bilinear", align_corners=False)
    denoised = box_mean(image, 1)
    edge_candidates = background_candidates(denoised, full_backdrop, tolerance)
    background = full_size(shrink(region)) | (full_size(grow(region, EDGE_REACH)) & edge_candidates)
    alpha, colours = unmix_edge(image, full_backdrop, background)

    kept = (alpha > 0.5).float().mean(dim=(1, 2, 3))
    reports = []
    for i in range(batch):
        figure = round(float(match[i]), 3)
        if not plain[i]:
            why = (
                f"the picture's edge is not a plain colour or gradient (only {figure:.0%} of it matches one)"
                if match[i] < BACKDROP_MATCH
                else "the backdrop is textured"
            )
            reports.append(BackgroundReport(False, "none", f"{why}; the background was kept", figure))
        elif kept[i] < LEAST_SUBJECT:
            reports.append(BackgroundReport(False, "none", "no subject stands out from the plain backdrop", figure))
        else:
            reports.append(BackgroundReport(True, "colour", None, figure))
    removed = torch.tensor([r.removed for r in reports], device=image.device).view(batch, 1, 1, 1)
    return Matte(torch.where(removed, alpha, torch.ones_like(alpha)), reports, torch.where(removed, colours, image))


def matte(image: torch.Tensor, model: MatteModel | None = None) -> Matte:
    """The matte of a ``(B, 3, H, W)`` batch: the learned model's when one is loaded, else the colour matte."""
    if model is None:
        return colour_matte(image)
    alpha = model(image).clamp(0, 1)
    return Matte(alpha, [BackgroundReport(True, "model") for _ in range(image.shape[0])], image)
