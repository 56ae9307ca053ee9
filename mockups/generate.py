"""Render the six built-in product templates procedurally (no product photos can be downloaded here).

    python -m mockups.generate [--out mockups] [--size 1600]

Each product gets a studio "photo" (base.jpg) with its own shading baked in, a print-area mask, a
shading map (multiply), a highlight map (screen), a displacement map for fabric, a tint mask for colour
variants, and a template.json with its placement. The output is deterministic; the committed assets are
this script's output. Maps other than the base and the mask are saved at half size: they are smooth, and
the loader resizes every map to the base photo's size.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SUPERSAMPLE = 4
Polygon = list[tuple[float, float]]


# --- drawing helpers (numpy float32 arrays in [0, 1], shape (H, W) or (H, W, 3)) -------------------------


def shape_mask(size: int, draw: Callable[[ImageDraw.ImageDraw, float], None]) -> np.ndarray:
    """Anti-aliased coverage of whatever ``draw`` paints, drawn at 4x and reduced."""
    big = Image.new("L", (size * SUPERSAMPLE, size * SUPERSAMPLE), 0)
    draw(ImageDraw.Draw(big), size * SUPERSAMPLE)
    return np.asarray(big.resize((size, size), Image.Resampling.BOX), dtype=np.float32) / 255


def polygon(points: Polygon) -> Callable[[ImageDraw.ImageDraw, float], None]:
    return lambda d, s: d.polygon([(x * s, y * s) for x, y in points], fill=255)


def ellipse_px(left: float, top: float, right: float, bottom: float) -> Callable[[ImageDraw.ImageDraw, float], None]:
    """An ellipse by its bounding box in base-photo pixels, drawn on the supersampled canvas."""
    return lambda d, _: d.ellipse([v * SUPERSAMPLE for v in (left, top, right, bottom)], fill=255)


def rectangle_px(left: float, top: float, right: float, bottom: float) -> Callable[[ImageDraw.ImageDraw, float], None]:
    return lambda d, _: d.rectangle([v * SUPERSAMPLE for v in (left, top, right, bottom)], fill=255)


def all_of(*draws: Callable[[ImageDraw.ImageDraw, float], None]) -> Callable[[ImageDraw.ImageDraw, float], None]:
    """Several shapes on one canvas (so their shared edges are anti-aliased once)."""
    return lambda d, k: [draw(d, k) for draw in draws]


def blur(a: np.ndarray, radius: float) -> np.ndarray:
    image = Image.fromarray(np.clip(a * 255, 0, 255).astype(np.uint8))
    return np.asarray(image.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32) / 255


def studio_backdrop(size: int, top: tuple, bottom: tuple) -> np.ndarray:
    t = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    vignette = 1 - 0.12 * ((xx - 0.5) ** 2 + (yy - 0.45) ** 2)
    return (np.array(top) * (1 - t) + np.array(bottom) * t) * vignette[..., None]


def drop_shadow(coverage: np.ndarray, offset: tuple[int, int], radius: float, strength: float) -> np.ndarray:
    shifted = np.roll(coverage, offset, axis=(0, 1))
    return 1 - strength * blur(shifted, radius)


def lambert(height: np.ndarray, light=(-0.4, -0.7, 0.6), depth: float = 60.0) -> np.ndarray:
    gy, gx = np.gradient(height)
    normal = np.stack([-depth * gx, -depth * gy, np.ones_like(gx)], -1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    light = np.array(light) / np.linalg.norm(light)
    return np.clip(normal @ light, 0, 1).astype(np.float32)


def noise(size: int, scale: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low = rng.random((max(2, int(size / scale)), max(2, int(size / scale)))).astype(np.float32)
    return np.asarray(Image.fromarray(low).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)


def quad_mask(size: int, corners: Polygon, inset: float = 0.0) -> np.ndarray:
    return shape_mask(size, polygon([(x / size, y / size) for x, y in corners]))


# --- products -----------------------------------------------------------------------------------------


def garment(size: int, seed: int, hoodie: bool) -> dict:
    s = size
    if hoodie:
        body = [
            (0.30, 0.22),
            (0.40, 0.17),
            (0.60, 0.17),
            (0.70, 0.22),
            (0.86, 0.52),
            (0.90, 0.80),
            (0.82, 0.82),
            (0.74, 0.55),
            (0.73, 0.92),
            (0.27, 0.92),
            (0.26, 0.55),
            (0.18, 0.82),
            (0.10, 0.80),
            (0.14, 0.52),
        ]
    else:
        body = [
            (0.31, 0.20),
            (0.41, 0.16),
            (0.59, 0.16),
            (0.69, 0.20),
            (0.88, 0.35),
            (0.81, 0.47),
            (0.72, 0.41),
            (0.72, 0.90),
            (0.28, 0.90),
            (0.28, 0.41),
            (0.19, 0.47),
            (0.12, 0.35),
        ]
    coverage = shape_mask(s, polygon(body))
    if hoodie:
        coverage = np.maximum(
            coverage, shape_mask(s, lambda d, k: d.ellipse([0.37 * k, 0.07 * k, 0.63 * k, 0.30 * k], fill=255))
        )
        hood_opening = shape_mask(s, lambda d, k: d.ellipse([0.42 * k, 0.11 * k, 0.58 * k, 0.26 * k], fill=255))
        neck = np.zeros_like(coverage)
    else:
        hood_opening = np.zeros_like(coverage)
        neck = shape_mask(s, lambda d, k: d.ellipse([0.42 * k, 0.12 * k, 0.58 * k, 0.21 * k], fill=255))
    coverage = np.clip(coverage - neck, 0, 1)

    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    # Folds: drapes down the body, diagonal pulls from the armpits, a soft belly curve, then blur.
    folds = 0.5 * np.sin(2 * np.pi * (xx * 7 + 0.3 * np.sin(yy * 6))) * np.exp(-((yy - 0.8) ** 2) / 0.02)
    folds += 0.6 * np.sin(2 * np.pi * ((xx - yy) * 9)) * np.exp(-((xx - 0.3) ** 2 + (yy - 0.42) ** 2) / 0.01)
    folds += 0.6 * np.sin(2 * np.pi * ((xx + yy) * 9)) * np.exp(-((xx - 0.7) ** 2 + (yy - 0.42) ** 2) / 0.01)
    folds += 0.25 * noise(s, 90, seed)
    height = blur(np.clip(folds * 0.15 + 0.5, 0, 1), 6) + 0.3 * blur(coverage, 40)
    light = lambert(height, depth=40)
    occlusion = 0.55 + 0.45 * blur(coverage, 25)
    shading = np.clip((0.55 + 0.5 * light) * occlusion, 0, 1) * coverage + (1 - coverage)
    shading *= 1 - 0.5 * blur(hood_opening, 4)  # the inside of the hood is in shadow
    highlight = np.clip((light - 0.93) * 4, 0, 0.25) * coverage
    inner = coverage
    if hoodie:  # kangaroo pocket seam and drawstrings darken the fabric
        seam = shape_mask(
            s,
            lambda d, k: d.rounded_rectangle(
                [0.36 * k, 0.66 * k, 0.64 * k, 0.84 * k], 0.04 * k, outline=255, width=int(0.004 * k)
            ),
        )
        strings = shape_mask(
            s,
            lambda d, k: (
                d.line([0.46 * k, 0.22 * k, 0.45 * k, 0.40 * k], fill=255, width=int(0.006 * k)),
                d.line([0.54 * k, 0.22 * k, 0.55 * k, 0.40 * k], fill=255, width=int(0.006 * k)),
            ),
        )
        shading = shading * (1 - 0.35 * seam) * (1 - 0.45 * strings)
    fabric = 0.94 * shading[..., None] * np.ones(3)
    backdrop = (
        studio_backdrop(s, (0.90, 0.90, 0.91), (0.80, 0.80, 0.82))
        * drop_shadow(coverage, (18, 14), 30, 0.35)[..., None]
    )
    base = backdrop * (1 - inner[..., None]) + fabric * inner[..., None]

    top, bottom = (0.42, 0.645) if hoodie else (0.27, 0.74)
    left, right = (0.37, 0.63) if hoodie else (0.36, 0.64)
    corners = [[left * s, top * s], [right * s, top * s], [right * s, bottom * s], [left * s, bottom * s]]
    print_area = quad_mask(s, corners) * inner
    gy, gx = np.gradient(blur(height, 3))
    displacement = np.stack(
        [0.5 + np.clip(gx * 60, -0.5, 0.5), 0.5 + np.clip(gy * 60, -0.5, 0.5), np.full_like(gx, 0.5)], -1
    )
    return {
        "display_name": "Hoodie" if hoodie else "T-shirt",
        "maps": {
            "base": base,
            "mask": print_area,
            "shading": shading,
            "highlight": highlight,
            "displacement": displacement,
            "tint": inner,
        },
        "placement": {"kind": "fabric", "corners": corners, "displacement_px": 14},
        "colors": {
            "white": "#ffffff",
            "black": "#2b2b2e",
            "heather_grey": "#b9b9bd",
            "navy": "#27304d",
            "red": "#b3262e",
        },
        "default_color": "white",
    }


def mug(size: int, seed: int) -> dict:
    s = size
    axis_x, radius, top, bottom, ellipse = 0.46 * s, 0.25 * s, 0.30 * s, 0.78 * s, 0.045 * s
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    sin_theta = np.clip((xx - axis_x) / radius, -1, 1)
    theta = np.arcsin(sin_theta)
    cos_theta = np.cos(theta)
    body = shape_mask(
        s,
        all_of(
            rectangle_px(axis_x - radius, top, axis_x + radius, bottom),
            ellipse_px(axis_x - radius, bottom - ellipse, axis_x + radius, bottom + ellipse),
        ),
    )
    rim = shape_mask(s, ellipse_px(axis_x - radius, top - ellipse, axis_x + radius, top + ellipse))
    inside = shape_mask(
        s, ellipse_px(axis_x - radius * 0.93, top - ellipse * 0.8, axis_x + radius * 0.93, top + ellipse * 0.8)
    )
    hx, hy = axis_x + radius * 1.02, (top + bottom) / 2
    handle = shape_mask(s, ellipse_px(hx - 0.09 * s, hy - 0.16 * s, hx + 0.13 * s, hy + 0.16 * s))
    hole = shape_mask(s, ellipse_px(hx - 0.03 * s, hy - 0.10 * s, hx + 0.075 * s, hy + 0.10 * s))
    handle = np.clip(handle - hole, 0, 1) * (1 - body)
    cup = np.clip(np.maximum(body, rim), 0, 1)
    light_angle = math.radians(-35)
    cylinder_light = 0.45 + 0.55 * np.clip(np.cos(theta - light_angle), 0, 1) ** 1.5
    shading = np.where(cup > 0, cylinder_light * (1 - 0.25 * inside), 1).astype(np.float32)
    shading = shading * (1 - 0.5 * inside)
    highlight = (0.85 * np.exp(-((theta - light_angle * 0.8) ** 2) / 0.004) * body).astype(np.float32)
    handle_shade = 0.5 + 0.4 * blur(handle, 8)
    ceramic = np.array([0.96, 0.96, 0.95])
    backdrop = (
        studio_backdrop(s, (0.86, 0.87, 0.89), (0.74, 0.75, 0.78))
        * drop_shadow(np.maximum(cup, handle), (20, 10), 28, 0.4)[..., None]
    )
    product = np.maximum(cup, handle)
    color = ceramic * np.where(handle[..., None] > 0, handle_shade[..., None], shading[..., None])
    base = backdrop * (1 - product[..., None]) + np.clip(color + highlight[..., None] * 0.6, 0, 1) * product[..., None]
    margin = 0.06 * s
    print_top, print_bottom = top + margin + ellipse, bottom - margin
    # A horizontal line on the mug sits lower at the front than at the sides: y = edge + ellipse * cos(theta).
    print_area = body * (1 - rim) * (yy > print_top + ellipse * cos_theta) * (yy < print_bottom + ellipse * cos_theta)
    print_area = print_area * np.clip((cos_theta - 0.12) / 0.15, 0, 1)  # fades out where the side turns away
    return {
        "display_name": "Mug",
        "maps": {
            "base": base,
            "mask": print_area.astype(np.float32),
            "shading": shading,
            "highlight": highlight,
            "tint": np.maximum(cup * (1 - inside), handle),
        },
        "placement": {
            "kind": "cylinder",
            "axis_x": axis_x,
            "radius": radius,
            "top": print_top,
            "bottom": print_bottom,
            "arc_degrees": 150.0,
            "ellipse": ellipse,
        },
        "colors": {"white": "#ffffff", "black": "#2a2a2d", "sky": "#9fc5e8"},
        "default_color": "white",
    }


def poster(size: int, seed: int) -> dict:
    s = size
    frame = [[0.25 * s, 0.12 * s], [0.76 * s, 0.14 * s], [0.75 * s, 0.86 * s], [0.26 * s, 0.88 * s]]

    def inset(points, t):
        cx, cy = np.mean([p[0] for p in points]), np.mean([p[1] for p in points])
        return [[cx + (x - cx) * t, cy + (y - cy) * t] for x, y in points]

    mat, art = inset(frame, 0.93), inset(frame, 0.83)
    frame_cov, mat_cov, art_cov = (quad_mask(s, q) for q in (frame, mat, art))
    wall = studio_backdrop(s, (0.93, 0.91, 0.87), (0.84, 0.82, 0.78)) * (0.97 + 0.03 * noise(s, 3, seed))[..., None]
    wall *= drop_shadow(frame_cov, (22, 26), 26, 0.45)[..., None]
    wood = (
        np.array([0.23, 0.15, 0.10])
        * (0.8 + 0.3 * noise(s, 2, seed + 1)[..., None])
        * (0.8 + 0.2 * lambert(blur(frame_cov, 4), depth=80)[..., None])
    )
    paper = np.array([0.97, 0.96, 0.94]) * (0.93 + 0.07 * blur(mat_cov, 12))[..., None]
    base = wall * (1 - frame_cov[..., None]) + wood * (frame_cov - mat_cov)[..., None] + paper * mat_cov[..., None]
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    shading = (0.88 + 0.12 * (1 - ((xx - 0.45) ** 2 + (yy - 0.35) ** 2) * 2)).astype(np.float32)
    glare = np.clip(np.exp(-(((xx + yy) - 0.95) ** 2) / 0.004) * 0.35, 0, 1) * mat_cov
    base = np.clip(base + glare[..., None] * 0.5, 0, 1)
    return {
        "display_name": "Poster",
        "maps": {"base": base, "mask": art_cov, "shading": shading, "highlight": glare.astype(np.float32)},
        "placement": {"kind": "quad", "corners": art},
        "colors": {},
        "default_color": None,
    }


def phone_case(size: int, seed: int) -> dict:
    s = size
    corners = [[0.34 * s, 0.12 * s], [0.67 * s, 0.15 * s], [0.64 * s, 0.89 * s], [0.31 * s, 0.86 * s]]
    # Rounded corners: blur the quad and take the half-coverage level, which rounds convex corners.
    case = np.clip((blur(quad_mask(s, corners), 0.02 * s) - 0.5) * 6 + 0.5, 0, 1)
    bump_box = [0.37 * s, 0.16 * s, 0.50 * s, 0.30 * s]
    bump = shape_mask(
        s, lambda d, k: d.rounded_rectangle([v * SUPERSAMPLE for v in bump_box], 0.03 * s * SUPERSAMPLE, fill=255)
    )
    lens_centres = ((0.405 * s, 0.195 * s), (0.465 * s, 0.195 * s), (0.405 * s, 0.26 * s))
    lens_radius = 0.025 * s
    lenses = shape_mask(
        s,
        all_of(
            *(ellipse_px(x - lens_radius, y - lens_radius, x + lens_radius, y + lens_radius) for x, y in lens_centres)
        ),
    )
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    rim = np.clip(case - (blur(case, 10) > 0.97), 0, 1)
    shading = np.where(case > 0, 0.82 + 0.18 * (1 - (xx - 0.4)) * (1 - 0.3 * yy), 1).astype(np.float32)
    shading *= 1 - 0.35 * rim
    highlight = (np.clip(np.exp(-((xx - 0.36 - 0.02 * yy) ** 2) / 0.0004) * 0.4, 0, 1) * case).astype(np.float32)
    backdrop = (
        studio_backdrop(s, (0.88, 0.86, 0.84), (0.76, 0.74, 0.72)) * drop_shadow(case, (16, 22), 24, 0.45)[..., None]
    )
    case_color = np.array([0.95, 0.95, 0.95]) * shading[..., None]
    bump_color = (
        np.array([0.12, 0.12, 0.13]) * (1 - lenses[..., None]) + np.array([0.03, 0.04, 0.08]) * lenses[..., None]
    )
    base = backdrop * (1 - case[..., None]) + case_color * (case - bump)[..., None] + bump_color * bump[..., None]
    base = np.clip(base + highlight[..., None] * 0.5, 0, 1)
    print_area = np.clip(case - blur(bump, 3) * 1.5, 0, 1) * (blur(case, 4) > 0.98)
    return {
        "display_name": "Phone case",
        "maps": {
            "base": base,
            "mask": print_area.astype(np.float32),
            "shading": shading,
            "highlight": highlight,
            "tint": np.clip(case - bump, 0, 1),
        },
        "placement": {"kind": "quad", "corners": corners},
        "colors": {"clear": "#ffffff", "black": "#26262a", "pink": "#f4b6c8"},
        "default_color": "clear",
    }


def tote(size: int, seed: int) -> dict:
    s = size
    corners = [[0.26 * s, 0.36 * s], [0.74 * s, 0.36 * s], [0.76 * s, 0.90 * s], [0.24 * s, 0.90 * s]]
    bag = quad_mask(s, corners)
    straps = shape_mask(
        s,
        lambda d, k: [
            d.arc([cx * k, 0.10 * k, (cx + 0.16) * k, 0.62 * k], 180, 360, fill=255, width=int(0.022 * k))
            for cx in (0.30, 0.54)
        ],
    )
    straps *= 1 - bag
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    weave = 0.94 + 0.06 * (0.5 + 0.25 * np.sin(xx * 1.6) + 0.25 * np.sin(yy * 1.6))
    sag = blur(bag, 30)
    shading = np.where(bag > 0, (0.80 + 0.2 * sag) * weave * (0.98 + 0.02 * noise(s, 200, seed)), 1).astype(np.float32)
    highlight = np.zeros((s, s), np.float32)
    canvas = np.array([0.93, 0.89, 0.80])
    backdrop = (
        studio_backdrop(s, (0.90, 0.90, 0.90), (0.79, 0.79, 0.80))
        * drop_shadow(np.maximum(bag, straps), (18, 18), 26, 0.35)[..., None]
    )
    product = np.maximum(bag, straps)
    base = (
        backdrop * (1 - product[..., None])
        + canvas * shading[..., None] * bag[..., None]
        + canvas * 0.85 * straps[..., None]
    )
    inner = [[0.33 * s, 0.45 * s], [0.67 * s, 0.45 * s], [0.68 * s, 0.84 * s], [0.32 * s, 0.84 * s]]
    return {
        "display_name": "Tote bag",
        "maps": {
            "base": base,
            "mask": quad_mask(s, inner) * bag,
            "shading": shading,
            "highlight": highlight,
            "tint": product,
        },
        "placement": {"kind": "quad", "corners": inner},
        "colors": {"natural": "#ffffff", "black": "#2c2c2e"},
        "default_color": "natural",
    }


PRODUCTS: dict[str, Callable[[int, int], dict]] = {
    "tshirt": lambda size, seed: garment(size, seed, hoodie=False),
    "hoodie": lambda size, seed: garment(size, seed, hoodie=True),
    "mug": mug,
    "poster": poster,
    "phone_case": phone_case,
    "tote": tote,
}


def save_template(folder: Path, spec: dict, size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    maps = spec["maps"]
    assets = {}
    half = (size // 2, size // 2)

    def to_image(array: np.ndarray) -> Image.Image:
        return Image.fromarray(np.clip(np.round(array * 255), 0, 255).astype(np.uint8))

    to_image(maps["base"]).save(folder / "base.jpg", quality=88, optimize=True)
    assets["base"] = "base.jpg"
    to_image(maps["mask"]).save(folder / "mask.png", optimize=True)
    assets["mask"] = "mask.png"
    for name in ("shading", "highlight", "displacement", "tint"):
        if name in maps:
            to_image(maps[name]).resize(half, Image.Resampling.BILINEAR).save(folder / f"{name}.png", optimize=True)
            assets[name] = f"{name}.png"
    placement = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in spec["placement"].items()}
    if "corners" in placement:
        placement["corners"] = [[round(float(x), 1), round(float(y), 1)] for x, y in placement["corners"]]
    template = {"display_name": spec["display_name"], "assets": assets, "placement": placement}
    if spec["colors"]:
        template["colors"] = spec["colors"]
        template["default_color"] = spec["default_color"]
    (folder / "template.json").write_text(json.dumps(template, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("--size", type=int, default=1600)
    parser.add_argument("products", nargs="*", default=list(PRODUCTS))
    args = parser.parse_args(argv)
    for index, name in enumerate(args.products):
        save_template(args.out / name, PRODUCTS[name](args.size, seed=index), args.size)
        print(f"{name}: written to {args.out / name}")


if __name__ == "__main__":
    main()
