"""Watercolor: pigment on paper, after Bousseau et al., "Interactive watercolor rendering with temporal
coherence and abstraction" (NPAR 2006).

Each effect is a map of pigment density d (1: unchanged, above 1: more pigment, below 1: less) applied as
C' = C - (C - C^2)(d - 1), which darkens or lightens a colour the way a thicker or thinner layer of the same
pigment would, and leaves white paper white.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from worker.style.filters.base import (
    FilterContext,
    color_tensor,
    dilate,
    edge_strength,
    gaussian,
    luminance,
    register,
    scaled,
    seeded_noise,
    shrunk,
    sobel_gradients,
    sobel_magnitude,
    soft_blur,
    subject_weight,
)


def apply_density(image: torch.Tensor, density: torch.Tensor) -> torch.Tensor:
    return (image - (image - image * image) * (density - 1)).clamp(0, 1)


def octave_noise(image: torch.Tensor, ctx: FilterContext, scale: float, salt: int, octaves: int = 3) -> torch.Tensor:
    """Smooth noise in about [-1, 1] with detail at ``scale``, ``scale / 2``, ...: blotches, not grain."""
    total = sum(0.5**i * (seeded_noise(image, ctx, scale / 2**i, salt + i) - 0.5) for i in range(octaves))
    return total / (sum(0.5**i for i in range(octaves)) * 0.5)


def paper_height(image: torch.Tensor, ctx: FilterContext, scale: float) -> torch.Tensor:
    """The paper's surface, ``(B, 1, H, W)`` in about [-1, 1]: fine tooth over a coarser cockle."""
    height_field = seeded_noise(image, ctx, scale, salt=3) + 0.5 * seeded_noise(image, ctx, scale * 4, salt=4)
    centred = height_field - height_field.mean(dim=(-2, -1), keepdim=True)
    return centred / centred.std(dim=(-2, -1), keepdim=True).clamp(min=1e-6)  # per design, not per batch


@register
def wobble(image: torch.Tensor, ctx: FilterContext, amount: float = 2.5, scale: float = 40.0) -> torch.Tensor:
    """Hand-painted edges: the picture displaced by up to ``amount`` pixels of smooth seeded noise."""
    height, width = image.shape[-2:]
    amount, scale = scaled(amount, image), scaled(scale, image, least=2.0)
    shift_x = octave_noise(image, ctx, scale, salt=11, octaves=2) * amount * 2 / width
    shift_y = octave_noise(image, ctx, scale, salt=13, octaves=2) * amount * 2 / height
    ys = torch.linspace(-1, 1, height, device=image.device, dtype=image.dtype).view(1, height, 1)
    xs = torch.linspace(-1, 1, width, device=image.device, dtype=image.dtype).view(1, 1, width)
    grid = torch.stack([xs + shift_x[:, 0], ys + shift_y[:, 0]], dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


PAPER_SIZE = 256  # where bare paper may go is decided on the design shrunk to this long edge


def paper_allowed(
    lightness: torch.Tensor, ctx: FilterContext, paper_white: float, size: float, calm_edge: float
) -> torch.Tensor:
    """Where a highlight may be left as bare paper, ``(B, 1, H, W)`` in [0, 1].

    A painter leaves the background and the small true highlights (a catchlight, a whisker) unpainted, but
    lays a pale wash over a wide light area of the pet (a white blaze, a white cat's cheek): left bare, it
    reads as a hole with hard edges in the face. A light area is held to be the pet's when the matte says
    so and it is wider than ``size`` pixels (it survives an opening by that size) and there are edges
    around it (blurred Sobel strength over ``calm_edge`` at ``PAPER_SIZE``): an out-of-focus backdrop or
    a sky kept in the picture (the matte all ones) is calm, and stays paper.
    """
    small = shrunk(lightness, PAPER_SIZE)
    factor = small.shape[-1] / lightness.shape[-1]
    reach = max(1, round(size * factor))
    bright = (small > paper_white).to(small.dtype)
    wide = dilate(-dilate(-bright, reach), reach)  # an opening: only light areas wider than the reach
    busy = (gaussian(sobel_magnitude(small), 2 * reach) / calm_edge).clamp(0, 1)
    subject = shrunk(subject_weight(lightness, ctx), PAPER_SIZE)
    painted = gaussian(wide * busy * subject, 1.0)  # a soft change from paper to wash
    return 1 - F.interpolate(painted, size=lightness.shape[-2:], mode="bilinear", align_corners=False)


@register
def wash(
    image: torch.Tensor,
    ctx: FilterContext,
    levels: int = 5,
    softness: float = 0.35,
    transparency: float = 0.25,
    paper_white: float = 1.0,
    colour_blur: float = 0.0,
    saturation: float = 1.0,
    highlight_size: float = 0.0,
    calm_edge: float = 0.08,
) -> torch.Tensor:
    """Flat layered washes: the lightness settles into ``levels`` soft steps, as glazes laid one over another,
    and the light glazes thin towards the paper by up to ``transparency`` (the darkest, laid thick, stay dark).

    Lightness from ``paper_white`` up is left as bare paper (a painter leaves the highlights unpainted),
    and with ``colour_blur`` the washes' colour is the picture's blurred by that many pixels, so colour
    runs softly across the shapes the lightness steps draw, as wet-in-wet pigment does; ``saturation``
    scales the washes' colourfulness. With ``highlight_size``, bare paper is kept off the pet: see
    ``paper_allowed``.
    """
    lightness = luminance(image)
    colour = image
    if colour_blur > 0:
        colour = soft_blur(image, scaled(colour_blur, image))
    if saturation != 1:  # away from its own grey: cheaper than a trip through HSV, and enough for a wash
        grey = luminance(colour)
        colour = (grey + (colour - grey) * saturation).clamp(0, 1)
    steps = lightness * levels
    stepped = (torch.floor(steps) + torch.sigmoid((steps - torch.floor(steps) - 0.5) / softness * 4)) / levels
    toned = colour * (stepped / luminance(colour).clamp(min=1e-3)).clamp(0, 3)
    thinned = 1 - (1 - toned.clamp(0, 1)) * (1 - transparency * (0.3 + 0.7 * stepped))  # dark glazes stay deep
    if paper_white < 1:
        bare = torch.sigmoid((lightness - paper_white) / softness * 4 * levels)
        if highlight_size > 0:
            bare = bare * paper_allowed(lightness, ctx, paper_white, scaled(highlight_size, image), calm_edge)
        thinned = torch.lerp(thinned, torch.ones_like(thinned), bare)
    return thinned.clamp(0, 1)


@register
def ink_lines(
    image: torch.Tensor,
    ctx: FilterContext,
    sigma: float = 1.2,
    threshold: float = 0.02,
    sharpness: float = 60.0,
    strength: float = 0.7,
    color: str = "#2b2118",
) -> torch.Tensor:
    """Delicate ink drawing on the dark side of the strongest edges (a difference of Gaussians, after
    Winnemoeller's XDoG): the rim of an eye, a pupil, a nostril, the mouth, drawn in ``color``."""
    lightness = luminance(image)
    sigma = scaled(sigma, image)
    ink = strength * torch.sigmoid(
        sharpness * (gaussian(lightness, 1.6 * sigma) - gaussian(lightness, sigma) - threshold)
    )
    return torch.lerp(image, color_tensor(color, image).expand_as(image), ink)


@register
def bleed(
    image: torch.Tensor, ctx: FilterContext, sigma: float = 4.0, amount: float = 0.6, scale: float = 48.0
) -> torch.Tensor:
    """Pigment running into wet paper: a soft blur, stronger where a seeded wetness map is high."""
    blurred = soft_blur(image, scaled(sigma, image))
    wetness = seeded_noise(image, ctx, scaled(scale, image, least=2.0), salt=1)
    return torch.lerp(image, blurred, amount * wetness)


@register
def edge_darken(
    image: torch.Tensor, ctx: FilterContext, strength: float = 0.6, sigma: float = 1.5, full_edge: float = 0.2
) -> torch.Tensor:
    """Darker rims where washes meet, as pigment collects at the edge of a drying wash.

    ``full_edge`` is the edge strength that gets the whole darkening; a flat wash gets none.
    """
    rim = (edge_strength(image, blur_sigma=scaled(sigma, image)) / full_edge).clamp(0, 1)
    return (image * (1 - strength * rim)).clamp(0, 1)


@register
def pigment_pooling(
    image: torch.Tensor, ctx: FilterContext, strength: float = 1.2, sigma: float = 2.0, full_edge: float = 0.15
) -> torch.Tensor:
    """Dark rims along the edges of each wash, where pigment is carried as the wash dries, plus a
    lighter centre: density rises with the blurred edge strength (``full_edge`` gets all of ``strength``)."""
    rim = (edge_strength(image, blur_sigma=scaled(sigma, image)) / full_edge).clamp(0, 1)
    return apply_density(image, 1 + strength * rim - 0.15 * strength * (1 - rim))


@register
def turbulence(image: torch.Tensor, ctx: FilterContext, amount: float = 0.35, scale: float = 160.0) -> torch.Tensor:
    """Uneven pigment across a wash (wet-in-wet blooms): low-frequency seeded density noise."""
    return apply_density(image, 1 + amount * octave_noise(image, ctx, scaled(scale, image, least=2.0), salt=21))


@register
def granulate(image: torch.Tensor, ctx: FilterContext, amount: float = 0.3, scale: float = 2.0) -> torch.Tensor:
    """Pigment settling in the paper's valleys: density follows the paper's surface (only where there is pigment)."""
    return apply_density(image, 1 - amount * paper_height(image, ctx, scaled(scale, image, least=2.0)))


@register
def paper(image: torch.Tensor, ctx: FilterContext, amount: float = 0.04, scale: float = 2.0) -> torch.Tensor:
    """Cold-pressed paper: the same surface as ``granulate``'s, lit from the top left, over everything."""
    gx, gy = sobel_gradients(paper_height(image, ctx, scaled(scale, image, least=2.0)))
    relief = -(gx + gy)
    relief = relief / relief.std(dim=(-2, -1), keepdim=True).clamp(min=1e-6)
    return (image * (1 + amount * relief) - amount * 0.5).clamp(0, 1)
