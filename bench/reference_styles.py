"""A straightforward Pillow/numpy implementation of the style filters, for the speed comparison only.

Same algorithms and parameters as worker/filters.py and worker/matte.py, written the way one would
without torch: numpy arrays of float32 (H, W, 3), Pillow for blurs, floodfill and resizing.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from worker.style.filters import parse_color


def to_pil(array: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(array, 0, 1) * 255).astype(np.uint8))


def from_pil(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32) / 255


def gray(a: np.ndarray) -> np.ndarray:
    return a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114


def box(a: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window with summed-area tables, edge-padded."""
    pad = [(radius + 1, radius), (radius + 1, radius)] + [(0, 0)] * (a.ndim - 2)
    s = np.pad(a, pad, mode="edge").cumsum(0).cumsum(1)
    k = 2 * radius + 1
    return (s[k:, k:] - s[:-k, k:] - s[k:, :-k] + s[:-k, :-k]) / (k * k)


def sobel(g: np.ndarray) -> np.ndarray:
    p = np.pad(g, 1, mode="edge")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:] - p[:-2, :-2] - 2 * p[1:-1, :-2] - p[2:, :-2]) / 8
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:] - p[:-2, :-2] - 2 * p[:-2, 1:-1] - p[:-2, 2:]) / 8
    return np.sqrt(gx * gx + gy * gy + 1e-6)


def gaussian(a: np.ndarray, sigma: float) -> np.ndarray:
    """Pillow's Gaussian blur works on 8-bit images: values in [0, 1] go through one."""
    if a.ndim == 2:
        blurred = to_pil(a).convert("L").filter(ImageFilter.GaussianBlur(sigma))
        return np.asarray(blurred, dtype=np.float32) / 255
    return from_pil(to_pil(a).filter(ImageFilter.GaussianBlur(sigma)))


def noise(shape: tuple[int, int], scale: float, seed: int) -> np.ndarray:
    h, w = shape
    low = np.random.default_rng(seed).random((max(2, int(np.ceil(h / scale))), max(2, int(np.ceil(w / scale)))))
    return np.asarray(Image.fromarray(low.astype(np.float32)).resize((w, h), Image.Resampling.BILINEAR))


def grid(shape: tuple[int, int], angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    a = np.radians(angle_deg)
    return xs * np.cos(a) + ys * np.sin(a), -xs * np.sin(a) + ys * np.cos(a)


def smooth(a, kernel_size=9, eps=0.01, subsample=2):
    """Colour-guided filter, full resolution, one 3x3 solve per pixel."""
    r = kernel_size // 2
    mean_i = box(a, r)
    mean_p = mean_i
    cov = np.empty((*a.shape[:2], 3, 3), np.float32)
    for i in range(3):
        for j in range(3):
            cov[..., i, j] = box(a[..., i] * a[..., j], r) - mean_i[..., i] * mean_i[..., j]
    cov += eps * np.eye(3, dtype=np.float32)
    out = np.empty_like(a)
    inv = np.linalg.inv(cov)
    for c in range(3):
        cov_ip = np.stack([box(a[..., k] * a[..., c], r) - mean_i[..., k] * mean_p[..., c] for k in range(3)], -1)
        coef = np.einsum("hwij,hwj->hwi", inv, cov_ip)
        bias = mean_p[..., c] - (coef * mean_i).sum(-1)
        out[..., c] = (box(coef, r) * a).sum(-1) + box(bias, r)
    return np.clip(out, 0, 1)


def saturate(a, amount=1.5):
    return from_pil(ImageEnhance.Color(to_pil(a)).enhance(amount))


def palette_quantize(a, palette):
    colors = np.array([parse_color(c) for c in palette], np.float32)
    d = ((a[..., None, :] - colors) ** 2).sum(-1)
    return colors[d.argmin(-1)]


def outline(a, threshold=0.15, thickness=3, color="#000000"):
    lines = to_pil((sobel(gray(a)) > threshold).astype(np.float32)[..., None].repeat(3, -1)).convert("L")
    if thickness > 1:
        lines = lines.filter(ImageFilter.MaxFilter(thickness | 1))
    m = (np.asarray(lines) > 127)[..., None]
    return np.where(m, np.array(parse_color(color), np.float32), a)


def halftone(a, period=12.0, angle=45.0, ink="#000000", strength=0.6):
    u, v = grid(a.shape[:2], angle)
    du, dv = u / period - np.round(u / period), v / period - np.round(v / period)
    dots = np.sqrt(du * du + dv * dv) < strength * 0.5 * np.sqrt(np.clip(1 - gray(a), 0, None))
    return np.where(dots[..., None], np.array(parse_color(ink), np.float32), a)


def bleed(a, sigma=4.0, amount=0.6, scale=48.0, seed=0):
    wet = noise(a.shape[:2], scale, seed + 1)[..., None]
    return a + (gaussian(a, sigma) - a) * amount * wet


def edge_darken(a, strength=0.6, sigma=1.5, full_edge=0.2):
    rim = np.clip(gaussian(sobel(gray(a)), sigma) / full_edge, 0, 1)[..., None]
    return np.clip(a * (1 - strength * rim), 0, 1)


def granulate(a, amount=0.12, scale=3.0, seed=0):
    grain = noise(a.shape[:2], scale, seed + 2)[..., None] - 0.5
    return np.clip(a - amount * grain * (1 - a) * 2, 0, 1)


def paper(a, amount=0.04, scale=2.0, seed=0):
    h = noise(a.shape[:2], scale, seed + 3) + 0.5 * noise(a.shape[:2], scale * 4, seed + 4)
    gy, gx = np.gradient(h)
    relief = -(gx + gy)
    relief /= max(relief.std(), 1e-6)
    return np.clip(a * (1 + amount * relief[..., None]) - amount * 0.5, 0, 1)


def monochrome(a, contrast=8.0, midpoint=0.5):
    t = 1 / (1 + np.exp(-contrast * (gray(a) - midpoint)))
    lo, hi = 1 / (1 + np.exp(contrast * midpoint)), 1 / (1 + np.exp(-contrast * (1 - midpoint)))
    return np.clip((t - lo) / (hi - lo), 0, 1)[..., None].repeat(3, -1)


def engrave(a, period=6.0, angle=30.0, warp=3.0, edge_threshold=0.25):
    tone = gray(a)
    _, v = grid(a.shape[:2], angle)
    lines = 0.5 + 0.5 * np.sin(2 * np.pi * (v / period + warp * tone)) < 1 - tone
    ink = lines | (sobel(tone) > edge_threshold)
    return (tone * ~ink)[..., None].repeat(3, -1)


def specular(a, depth=6.0, shininess=24.0, strength=0.8, light=None, blur_sigma=2.0):
    h = gaussian(gray(a), blur_sigma)
    gy, gx = np.gradient(h)
    n = np.stack([-depth * gx, -depth * gy, np.ones_like(gx)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    to_light = np.array(light or [-0.5, -0.6, 1.0], np.float32)
    to_light /= np.linalg.norm(to_light)
    half = to_light + np.array([0, 0, 1], np.float32)
    half /= np.linalg.norm(half)
    spec = strength * np.clip(n @ half, 0, None) ** shininess
    diffuse = np.clip(n @ to_light, 0, None)
    lit = a * (0.75 + 0.25 * diffuse / max(diffuse.max(), 1e-6))[..., None]
    return 1 - (1 - lit) * (1 - spec[..., None])


def gradient_map(a, stops):
    positions = [float(p) for p, _ in stops]
    colors = np.array([parse_color(c) for _, c in stops], np.float32)
    t = gray(a)
    return np.stack([np.interp(t, positions, colors[:, c]) for c in range(3)], -1).astype(np.float32)


def remove_background(a, tolerance=0.12, softness=0.06):
    """Border median, distance, Pillow floodfill from the corners, soft ramp, blur."""
    b = np.concatenate([a[:4].reshape(-1, 3), a[-4:].reshape(-1, 3), a[:, :4].reshape(-1, 3), a[:, -4:].reshape(-1, 3)])
    distance = np.linalg.norm(a - np.median(b, axis=0), axis=-1)
    candidate = Image.fromarray(((distance < tolerance) * 255).astype(np.uint8))
    for corner in ((0, 0), (a.shape[1] - 1, 0), (0, a.shape[0] - 1), (a.shape[1] - 1, a.shape[0] - 1)):
        if candidate.getpixel(corner) == 255:
            ImageDraw.floodfill(candidate, corner, 128)
    connected = np.asarray(candidate) == 128
    ramp = np.clip((distance - (tolerance - softness)) / (2 * softness), 0, 1)
    alpha = np.where(connected, ramp, 1.0).astype(np.float32)
    return np.clip(gaussian(alpha, 1.0), 0, 1)


SEEDED = {"bleed", "granulate", "paper"}


def apply_style(a: np.ndarray, steps: list[tuple[str, dict]], seed: int = 0) -> np.ndarray:
    alpha = remove_background(a)
    for name, params in steps:
        fn = globals()[name]
        a = fn(a, **params, seed=seed) if name in SEEDED else fn(a, **params)
    return np.concatenate([a, alpha[..., None]], -1)
