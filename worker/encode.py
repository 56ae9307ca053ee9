"""Turn float image tensors into PNG/WebP/JPEG bytes, in parallel threads (Pillow releases the GIL)."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import torch
from PIL import Image

CONTENT_TYPES = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}


def to_pil(image: torch.Tensor) -> Image.Image:
    """``(C, H, W)`` float in [0, 1], 3 (RGB) or 4 (RGBA) channels, on any device."""
    array = (image.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array, mode="RGBA" if array.shape[2] == 4 else "RGB")


def encode_image(image: Image.Image, fmt: str, quality: int = 90, dpi: int | None = None) -> bytes:
    buffer = io.BytesIO()
    if fmt == "png":
        image.save(buffer, format="PNG", compress_level=6, **({"dpi": (dpi, dpi)} if dpi else {}))
    elif fmt == "webp":
        image.save(buffer, format="WEBP", quality=quality, method=4)
    elif fmt == "jpeg":
        image.convert("RGB").save(buffer, format="JPEG", quality=quality, optimize=True)
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    return buffer.getvalue()


def encode_batch(images: torch.Tensor, fmt: str, quality: int = 90, dpi: int | None = None) -> list[bytes]:
    """Encode every image of a ``(N, C, H, W)`` batch; one host copy, then one thread per image."""
    host = images.detach().cpu()
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(host)))) as pool:
        return list(pool.map(lambda image: encode_image(to_pil(image), fmt, quality, dpi), host))
