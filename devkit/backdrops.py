"""Real-photo scenes with known masks, for measuring the background matte.

The subject is a real cat: scikit-image's ``chelsea()`` photo, cut along a cat-head outline drawn once
over the photo (every pixel inside it is the cat's own fur, eyes and whiskers), so the true mask is known
to the pixel. It is placed on plain, gradient and textured backdrops, with soft contact shadows, on
backdrops the colour of its own fur, and on skies with clouds (a gradient that is not plain); tone-mapped,
the same photo is a white cat on white and a black cat on near-black, its fur's structure intact. A plain
module (no test framework), so tests and benchmarks can share it; it needs scikit-image, a test dependency.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from skimage import data, measure

# The cat-head outline in chelsea()'s pixel coordinates (451 x 300): head and chest ellipses, two ears.
HEAD = ((210, 165), (150, 120))  # centre (x, y), radii (x, y)
CHEST = ((200, 330), (175, 110))
EARS = (((70, 110), (75, 8), (165, 60)), ((290, 55), (355, 10), (350, 120)))
CROP = (40, 0, 390, 300)  # left, top, right, bottom: the part of the photo the outline lies in
SUPERSAMPLE = 4
NOISE_SIZE = 512  # clouds are drawn at this size, then resized


@dataclass(frozen=True)
class Scene:
    """One picture and its truth: where the cat is, where only backdrop is, and whether that is plain."""

    name: str
    image: torch.Tensor  # (1, 3, H, W) in [0, 1]
    subject: torch.Tensor  # (H, W) bool: fully covered by the cat
    backdrop: torch.Tensor  # (H, W) bool: no cat at all (shadows included)
    plain: bool  # a plain colour or gradient: a matte should remove it


def _inside_triangle(xx: np.ndarray, yy: np.ndarray, corners: tuple) -> np.ndarray:
    (x0, y0), (x1, y1), (x2, y2) = corners

    def side(ax: float, ay: float, bx: float, by: float) -> np.ndarray:
        return (xx - bx) * (ay - by) - (ax - bx) * (yy - by) < 0

    first, second, third = side(x0, y0, x1, y1), side(x1, y1, x2, y2), side(x2, y2, x0, y0)
    return (first == second) & (second == third)


def _inside_ellipse(xx: np.ndarray, yy: np.ndarray, ellipse: tuple) -> np.ndarray:
    (cx, cy), (rx, ry) = ellipse
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1


@functools.cache
def cat_cutout() -> tuple[torch.Tensor, torch.Tensor]:
    """The cat's pixels ``(3, h, w)`` and its coverage ``(h, w)`` in [0, 1] (anti-aliased outline)."""
    left, top, right, bottom = CROP
    photo = torch.from_numpy(data.chelsea()[top:bottom, left:right].copy()).permute(2, 0, 1).float() / 255
    height, width = photo.shape[-2:]
    fine = (
        (np.arange(height * SUPERSAMPLE) + 0.5) / SUPERSAMPLE + top,
        (np.arange(width * SUPERSAMPLE) + 0.5) / SUPERSAMPLE + left,
    )
    yy, xx = np.meshgrid(*fine, indexing="ij")
    inside = _inside_ellipse(xx, yy, HEAD) | _inside_ellipse(xx, yy, CHEST)
    for ear in EARS:
        inside |= _inside_triangle(xx, yy, ear)
    coverage = torch.from_numpy(inside.astype(np.float32)).view(1, 1, height * SUPERSAMPLE, width * SUPERSAMPLE)
    return photo, F.avg_pool2d(coverage, SUPERSAMPLE)[0, 0]


def fur_colour(quantile: float) -> tuple[float, float, float]:
    """A colour of the cat's own fur: the per-channel quantile of its pixels (0.5: its typical tabby)."""
    photo, coverage = cat_cutout()
    fur = photo[:, coverage > 0.99]
    return tuple(float(v) for v in torch.quantile(fur, quantile, dim=1))


def _grid(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Coordinates in [0, 1], ``(H, W)`` each."""
    steps = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    return torch.meshgrid(steps, steps, indexing="ij")


def _mix(low: tuple, high: tuple, weight: torch.Tensor) -> torch.Tensor:
    low_t, high_t = torch.tensor(low).view(3, 1, 1), torch.tensor(high).view(3, 1, 1)
    return low_t + (high_t - low_t) * weight.unsqueeze(0)


def flat(colour: tuple) -> Callable[[int], torch.Tensor]:
    return lambda size: torch.tensor(colour).view(3, 1, 1).expand(3, size, size).clone()


def vertical_gradient(top: tuple, bottom: tuple) -> Callable[[int], torch.Tensor]:
    """A studio sweep: lighter at the top, darker on the floor."""
    return lambda size: _mix(top, bottom, _grid(size)[0])


def vignette(centre: tuple, edge: tuple) -> Callable[[int], torch.Tensor]:
    def backdrop(size: int) -> torch.Tensor:
        yy, xx = _grid(size)
        return _mix(centre, edge, ((xx - 0.5) ** 2 + (yy - 0.45) ** 2).sqrt().div(0.7).clamp(0, 1) ** 1.5)

    return backdrop


def texture(name: str, tint: tuple) -> Callable[[int], torch.Tensor]:
    """A real grey texture from scikit-image (grass, gravel, brick), tinted."""

    def backdrop(size: int) -> torch.Tensor:
        grey = torch.from_numpy(getattr(data, name)().astype(np.float32) / 255).view(1, 1, *data.grass().shape)
        grey = F.interpolate(grey, size=(size, size), mode="area")[0]
        return (grey * torch.tensor(tint).view(3, 1, 1) * 1.6).clamp(0, 1)

    return backdrop


def photo_backdrop(name: str) -> Callable[[int], torch.Tensor]:
    """A real photo from scikit-image (coffee, astronaut) as a busy background, centre-cropped."""

    def backdrop(size: int) -> torch.Tensor:
        picture = torch.from_numpy(getattr(data, name)().copy()).permute(2, 0, 1).float().unsqueeze(0) / 255
        height, width = picture.shape[-2:]
        edge = min(height, width)
        square = picture[..., (height - edge) // 2 : (height + edge) // 2, (width - edge) // 2 : (width + edge) // 2]
        return F.interpolate(square, size=(size, size), mode="area")[0]

    return backdrop


def _fractal_noise(size: int, seed: int, falloff: float = 2.0) -> torch.Tensor:
    """``(H, W)`` noise with a 1/f^falloff spectrum, zero mean and unit spread: the density of clouds.

    Drawn once at ``NOISE_SIZE`` and resized, so a scene's clouds are the same at every size.
    """
    generator = torch.Generator().manual_seed(seed)
    spectrum = torch.randn(NOISE_SIZE, NOISE_SIZE, 2, generator=generator)
    frequency = torch.fft.fftfreq(NOISE_SIZE)
    radius = (frequency.view(-1, 1).square() + frequency.view(1, -1).square()).sqrt().clamp(min=1 / NOISE_SIZE)
    field = torch.fft.ifft2(torch.view_as_complex(spectrum) * radius**-falloff).real
    field = F.interpolate(field.view(1, 1, NOISE_SIZE, NOISE_SIZE), size=(size, size), mode="bilinear")[0, 0]
    return (field - field.mean()) / field.std()


def cloudy_sky(cover: float, seed: int = 0) -> Callable[[int], torch.Tensor]:
    """A daylight sky: deep blue overhead paling fast towards the horizon (no quadratic fits it), with
    soft cumulus, whiter on top and grey beneath, over about ``cover`` of the picture (more of it low)."""

    def backdrop(size: int) -> torch.Tensor:
        yy, xx = _grid(size)
        sky = _mix((0.28, 0.50, 0.85), (0.66, 0.79, 0.93), (torch.exp(2.5 * yy) - 1) / (math.exp(2.5) - 1))
        sky = sky + 0.04 * xx.unsqueeze(0)  # towards the sun
        density = _fractal_noise(size, seed) + 0.8 * yy
        density = ((density - density.quantile(1 - cover)) / 0.5).clamp(0, 1)
        density = density * density * (3 - 2 * density)  # smoothstep: soft cloud edges
        underside = 0.5 + 0.5 * (_fractal_noise(size, seed + 1, 1.5) - yy).tanh()  # lit tops, grey bases
        cloud = _mix((0.70, 0.72, 0.76), (0.97, 0.97, 0.96), underside)
        return (sky * (1 - density) + cloud * density).clamp(0, 1)

    return backdrop


def dusk_sky(size: int) -> torch.Tensor:
    """The real dusk sky of scikit-image's ``rocket()`` (between two towers: deepening blue, a band of low
    cloud and lamps at the horizon), mirrored side by side to fill the picture."""
    strip = torch.from_numpy(data.rocket()[:, 95:175].copy()).permute(2, 0, 1).float() / 255
    tiled = torch.cat([strip, strip.flip(-1)] * 4, dim=-1)[:, :, : strip.shape[-2]]
    return F.interpolate(tiled.unsqueeze(0), size=(size, size), mode="area")[0]


def white_fur(photo: torch.Tensor) -> torch.Tensor:
    """The cat as a white cat: its brightness range pressed into the top third, nearly without colour, so
    its lightest fur is the white of the backdrop and its stripes are the faint shading of white fur."""
    grey = photo.mean(0, keepdim=True)
    return (0.66 + 0.47 * (0.8 * grey + 0.2 * photo)).clamp(0, 1)


def dark_fur(photo: torch.Tensor) -> torch.Tensor:
    """The cat as a black cat: its brightness squared and darkened, so most of its fur is near black."""
    grey = photo.mean(0, keepdim=True)
    return 0.02 + 0.4 * (0.85 * grey + 0.15 * photo).square()


def contact_shadow(size: int, box: tuple[int, int, int, int], depth: float) -> torch.Tensor:
    """A soft ellipse of shade where the subject meets the floor: multiply the backdrop by it."""
    left, _, right, bottom = box
    yy, xx = _grid(size)
    cx, cy = (left + right) / 2 / size, bottom / size
    rx, ry = 0.62 * (right - left) / size, 0.06
    reach = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
    return 1 - depth * torch.exp(-1.5 * reach)


def compose(
    name: str,
    backdrop: Callable[[int], torch.Tensor],
    plain: bool,
    size: int = 384,
    seed: int = 0,
    shadow: float = 0.0,
    grounded: bool = True,
    noise: float = 0.012,
    fur: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Scene:
    """The cat over a backdrop, ``grounded`` (cut by the bottom edge, as a portrait) or sitting with a shadow;
    ``fur`` re-tones the cat (``white_fur``, ``dark_fur``)."""
    photo, coverage = cat_cutout()
    photo = photo if fur is None else fur(photo)
    scale = 0.8 * size / photo.shape[-1]
    height, width = round(photo.shape[-2] * scale), round(photo.shape[-1] * scale)
    cat = F.interpolate(photo.unsqueeze(0), size=(height, width), mode="area")[0]
    cover = F.interpolate(coverage.view(1, 1, *coverage.shape), size=(height, width), mode="area")[0, 0]
    left = (size - width) // 2
    top = size - height if grounded else size - height - size // 12
    canvas = backdrop(size)
    if shadow > 0:
        canvas = canvas * contact_shadow(size, (left, top, left + width, top + height), shadow)
    alpha = torch.zeros(size, size)
    alpha[top : top + height, left : left + width] = cover
    subject_rgb = torch.zeros(3, size, size)
    subject_rgb[:, top : top + height, left : left + width] = cat
    image = canvas * (1 - alpha) + subject_rgb * alpha
    image = image + noise * torch.randn(image.shape, generator=torch.Generator().manual_seed(seed))  # the camera's
    image = image.clamp(0, 1).unsqueeze(0)
    return Scene(name, image, alpha > 0.99, alpha < 0.01, plain)


def backdrop_set(size: int = 384) -> list[Scene]:
    """Every scene: plain colours and gradients (to be removed), textures and photos (to be kept whole)."""
    light_fur, typical_fur = fur_colour(0.8), fur_colour(0.5)
    return [
        compose("white", flat((0.95, 0.94, 0.92)), True, size),
        compose("white-shadow", flat((0.95, 0.94, 0.92)), True, size, shadow=0.35, grounded=False),
        compose("grey-shadow", flat((0.55, 0.56, 0.58)), True, size, seed=1, shadow=0.3, grounded=False),
        compose("black", flat((0.06, 0.06, 0.07)), True, size, seed=2),
        compose("blue", flat((0.20, 0.45, 0.85)), True, size, seed=3, shadow=0.3, grounded=False),
        compose("sweep", vertical_gradient((0.93, 0.92, 0.90), (0.62, 0.64, 0.68)), True, size, seed=4),
        compose("vignette", vignette((0.86, 0.89, 0.95), (0.50, 0.56, 0.66)), True, size, seed=5, shadow=0.25),
        compose("light-fur-colour", flat(light_fur), True, size, seed=6, shadow=0.25, grounded=False),
        compose("fur-colour", flat(typical_fur), True, size, seed=7),
        compose("white-cat", flat((0.95, 0.94, 0.92)), True, size, seed=13, shadow=0.3, grounded=False, fur=white_fur),
        compose("black-cat", flat((0.06, 0.06, 0.07)), True, size, seed=15, fur=dark_fur),
        compose("grass", texture("grass", (0.45, 0.8, 0.35)), False, size, seed=8),
        compose("gravel", texture("gravel", (0.6, 0.6, 0.6)), False, size, seed=9),
        compose("brick", texture("brick", (0.8, 0.45, 0.35)), False, size, seed=10),
        compose("coffee", photo_backdrop("coffee"), False, size, seed=11),
        compose("astronaut", photo_backdrop("astronaut"), False, size, seed=12),
        compose("cloudy-sky", cloudy_sky(0.2, seed=25), False, size, seed=16),
        compose("clouds", cloudy_sky(0.2, seed=23), False, size, seed=17),
        compose("few-clouds", cloudy_sky(0.1, seed=27), False, size, seed=19),
        compose("dusk-sky", dusk_sky, False, size, seed=18),
    ]


# --- judging a matte as a shopper would -------------------------------------------------------------


def _margin(alpha: torch.Tensor) -> int:
    """How close to the cat's outline a flaw counts as the outline's, not a speck or a hole: 1/64 of the size."""
    return max(1, alpha.shape[-1] // 64)


def kept_share(scene: Scene, alpha: torch.Tensor) -> float:
    """The share of the cat a shopper gets: its pixels at alpha >= 0.9 (``alpha`` ``(H, W)``)."""
    return float((alpha[scene.subject] >= 0.9).float().mean())


def specks(scene: Scene, alpha: torch.Tensor) -> int:
    """Opaque bits (alpha > 0.5) standing apart from the cat: none of their pixels near it."""
    margin = _margin(alpha)
    near_cat = F.max_pool2d((~scene.backdrop).float()[None, None], 2 * margin + 1, 1, margin)[0, 0] > 0
    parts, count = measure.label((alpha > 0.5).numpy(), connectivity=2, return_num=True)
    return sum(1 for part in range(1, count + 1) if not near_cat.numpy()[parts == part].any())


def holes(scene: Scene, alpha: torch.Tensor) -> int:
    """Cat pixels gone see-through (alpha < 0.5) clear of its outline: bites and holes eaten into the pet."""
    margin = _margin(alpha)
    inside = F.max_pool2d((~scene.subject).float()[None, None], 2 * margin + 1, 1, margin)[0, 0] == 0
    return int(((alpha < 0.5) & inside).sum())


def outline_ratio(scene: Scene, alpha: torch.Tensor) -> float:
    """The cut-out's outline length over the cat's own: about 1 for a clean edge, well above for a frayed one."""

    def length(mask: torch.Tensor) -> int:
        mask = mask.float()
        return int((mask[1:] != mask[:-1]).sum() + (mask[:, 1:] != mask[:, :-1]).sum())

    return length(alpha > 0.5) / length(~scene.backdrop)


def halo(scene: Scene, alpha: torch.Tensor) -> torch.Tensor:
    """The alpha of the backdrop within 2 px of the cat (0: a clean outline; a band left opaque shows as a
    light or dark outline round the pet on a shirt of the other colour)."""
    near = F.max_pool2d((~scene.backdrop).float()[None, None], 5, stride=1, padding=2)[0, 0] > 0
    return alpha[near & scene.backdrop]


def main(argv: list[str] | None = None) -> None:
    """``python -m devkit.backdrops OUT_DIR``: write every scene as a PNG (e.g. to try the matte or the sheet)."""
    import argparse
    from pathlib import Path

    from PIL import Image

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--size", type=int, default=768)
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for scene in backdrop_set(args.size):
        pixels = (scene.image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(args.out_dir / f"{scene.name}.png")
        print(args.out_dir / f"{scene.name}.png")


if __name__ == "__main__":
    main()
