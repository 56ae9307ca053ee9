"""Real pets for judging styles: a tabby, the same cat as a black cat and as a white cat, and on busy ground.

Every subject is scikit-image's ``chelsea()`` cat (the cut-out of devkit/backdrops.py, its own fur, eyes
and whiskers), so its structure is real. The dark and white cats are that photo tone-mapped (a monotonic
curve on luminance, colour mostly drained) until the fur's median luminance is that of a black cat
(below 0.12) or a white one (above 0.85), then noised and rounded to 8 bits like a camera's JPEG, so
their features survive only in the few levels a real photo of such a pet has. Each subject carries the
alpha the style filters get (the cut-out's coverage on a plain backdrop, all ones on a busy picture that
the matte keeps whole), where to measure (the cat, clear of its outline) and its features (eyes, nose).
A plain module, shared by tests and benchmarks (``python -m devkit.pets OUT_DIR`` writes them as PNGs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import kornia
import torch
import torch.nn.functional as F

from devkit.backdrops import cat_cutout, texture

DARK_MEDIAN = 0.09  # a black cat's fur in a well-exposed photo
WHITE_MEDIAN = 0.9  # a white cat's
BROWN_MEDIAN, BROWN_COLOUR = 0.3, 1.2  # a chocolate-brown coat, as a brown dog's: darker and richer than the tabby
# The two eyes, then the nose, in the cut-out's pixel coordinates (chelsea() minus CROP's left edge): centre, radii.
FEATURES = (((130, 115), (36, 31)), ((278, 136), (27, 29)), ((222, 240), (30, 18)))
FEATURE_RING = 1.4  # the feature region reaches this far past each ellipse: the rim of fur around an eye
SUBJECT_WIDTH = 0.9  # the cat spans this fraction of the design's width, as a generated design's pet does
PLAIN_BACKDROP = (0.95, 0.94, 0.92)
GROUND_TINT = (0.62, 0.55, 0.45)  # gravel tinted like earth: a busy ground of the fur's own tones


@dataclass(frozen=True)
class Pet:
    """One subject as the style filters get it, and where to judge the result."""

    name: str
    image: torch.Tensor  # (1, 3, H, W) in [0, 1]
    alpha: torch.Tensor  # (1, 1, H, W): the matte the filters get
    subject: torch.Tensor  # (H, W) bool: the cat, clear of its outline
    features: torch.Tensor  # (H, W) bool: eyes, nose and the fur around them
    eyes: torch.Tensor  # (2, H, W) bool: each eye, iris and pupil


def _ellipses(height: int, width: int, ellipses: tuple, grow: float = 1.0) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
    inside = torch.zeros(height, width, dtype=torch.bool)
    for (cx, cy), (rx, ry) in ellipses:
        inside |= ((xx - cx) / (rx * grow)) ** 2 + ((yy - cy) / (ry * grow)) ** 2 < 1
    return inside


def tone_mapped(photo: torch.Tensor, coverage: torch.Tensor, median: float, colour: float = 0.5) -> torch.Tensor:
    """The photo ``(3, h, w)`` under a monotonic tone curve that moves its fur's median luminance to ``median``.

    Dark: ``L ** g``; light: ``1 - (1 - L) ** g``; the colour's distance from grey follows the tone (it
    shrinks with the distance to black or white) and is scaled by ``colour`` (black and white fur are nearly grey).
    """
    lum = kornia.color.rgb_to_grayscale(photo.unsqueeze(0))[0].clamp(1e-4, 1 - 1e-4)
    fur_median = float(lum[0][coverage > 0.99].median())
    if median < fur_median:
        mapped = lum ** (math.log(median) / math.log(fur_median))
        chroma_scale = mapped / lum
    else:
        mapped = 1 - (1 - lum) ** (math.log(1 - median) / math.log(1 - fur_median))
        chroma_scale = (1 - mapped) / (1 - lum)
    return (mapped + (photo - lum) * chroma_scale * colour).clamp(0, 1)


def camera(image: torch.Tensor, seed: int, noise: float = 0.006) -> torch.Tensor:
    """Sensor noise, then 8-bit rounding: the levels a real photo has."""
    noisy = image + noise * torch.randn(image.shape, generator=torch.Generator().manual_seed(seed))
    return (noisy.clamp(0, 1) * 255).round() / 255


def place(photo: torch.Tensor, coverage: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor, float, int, int]:
    """The cut-out scaled to span ``SUBJECT_WIDTH`` of a ``size`` square, standing on its bottom edge.

    Returns the cat ``(3, size, size)``, its coverage ``(size, size)``, the scale and the top-left offset.
    """
    scale = SUBJECT_WIDTH * size / photo.shape[-1]
    height, width = round(photo.shape[-2] * scale), round(photo.shape[-1] * scale)
    top, left = size - height, (size - width) // 2
    cat = torch.zeros(3, size, size)
    cover = torch.zeros(size, size)
    cat[:, top:, left : left + width] = F.interpolate(photo.unsqueeze(0), size=(height, width), mode="area")[0]
    cover[top:, left : left + width] = F.interpolate(
        coverage.view(1, 1, *coverage.shape), (height, width), mode="area"
    )[0, 0]
    return cat, cover, scale, top, left


def pet(name: str, size: int = 512) -> Pet:
    """One subject by name: ``plain`` (the tabby on a plain backdrop), ``dark``, ``white``, ``brown`` or ``busy``."""
    photo, coverage = cat_cutout()
    if name == "dark":
        photo = tone_mapped(photo, coverage, DARK_MEDIAN)
    elif name == "white":
        photo = tone_mapped(photo, coverage, WHITE_MEDIAN)
    elif name == "brown":
        photo = tone_mapped(photo, coverage, BROWN_MEDIAN, BROWN_COLOUR)
    elif name not in ("plain", "busy"):
        raise ValueError(f"unknown pet {name!r}; available: {', '.join(PETS)}")
    cat, cover, scale, top, left = place(photo, coverage, size)
    if name == "busy":
        backdrop = texture("gravel", GROUND_TINT)(size)
        alpha = torch.ones(1, 1, size, size)  # a textured picture: the matte keeps it whole
    else:
        backdrop = torch.tensor(PLAIN_BACKDROP).view(3, 1, 1).expand(3, size, size)
        alpha = cover.view(1, 1, size, size)
    image = camera(backdrop * (1 - cover) + cat * cover, seed=PETS.index(name)).unsqueeze(0)
    clear = -F.max_pool2d(-(cover > 0.99).float().view(1, 1, size, size), 2 * (size // 64) + 1, 1, size // 64)
    in_photo = tuple(
        ((cx * scale + left, cy * scale + top), (rx * scale, ry * scale)) for (cx, cy), (rx, ry) in FEATURES
    )
    features = _ellipses(size, size, in_photo, FEATURE_RING)
    eyes = torch.stack([_ellipses(size, size, (eye,)) for eye in in_photo[:2]])
    return Pet(name, image, alpha, clear[0, 0] > 0.5, features, eyes)


PETS = ("plain", "dark", "white", "brown", "busy")


def pets(size: int = 512) -> list[Pet]:
    """Every subject, in the order of ``PETS``."""
    return [pet(name, size) for name in PETS]


def fur_median(subject: Pet) -> float:
    """The median luminance of the cat's fur (what makes a pet black or white)."""
    return float(kornia.color.rgb_to_grayscale(subject.image)[0, 0][subject.subject].median())


def main(argv: list[str] | None = None) -> None:
    """``python -m devkit.pets OUT_DIR [--size N]``: write every subject as a PNG."""
    import argparse
    from pathlib import Path

    from PIL import Image

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for subject in pets(args.size):
        pixels = (subject.image[0].permute(1, 2, 0) * 255).round().byte().numpy()
        Image.fromarray(pixels).save(args.out_dir / f"{subject.name}.png")
        print(args.out_dir / f"{subject.name}.png", f"fur median {fur_median(subject):.3f}")


if __name__ == "__main__":
    main()
