"""Load the pet photo from a URL, a data URI or bare base64, and fit it to the design's size."""

from __future__ import annotations

import base64
import binascii
import io
import re

import requests
from PIL import Image, ImageOps, UnidentifiedImageError

from worker.config import Settings
from worker.errors import ErrorCode, WorkerError, invalid_input

DATA_URI = re.compile(r"data:image/[a-zA-Z0-9.+-]+;base64,(?P<payload>.*)", re.DOTALL)


def fetch_url(url: str, settings: Settings) -> bytes:
    """Stream the body, refusing it as soon as it passes ``MAX_INPUT_BYTES``."""
    scheme = url.split("://", 1)[0].lower()
    if scheme != "https" and not (scheme == "http" and settings.allow_http_urls):
        raise invalid_input("image URL must use https://", "image")
    timeout = settings.input_fetch_timeout_s
    try:
        with requests.get(url, stream=True, timeout=(timeout, timeout)) as response:
            if response.status_code != 200:
                raise WorkerError(ErrorCode.INPUT_FETCH_FAILED, f"image URL answered HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_content(chunk_size=64 * 1024):
                body += chunk
                if len(body) > settings.max_input_bytes:
                    raise invalid_input(f"image is larger than {settings.max_input_bytes} bytes", "image")
            return bytes(body)
    except requests.RequestException as exc:
        raise WorkerError(
            ErrorCode.INPUT_FETCH_FAILED, f"could not fetch the image URL ({type(exc).__name__})"
        ) from None


def decode_base64(value: str, settings: Settings) -> bytes:
    match = DATA_URI.fullmatch(value)
    payload = match.group("payload") if match else value
    if len(payload) * 3 // 4 > settings.max_input_bytes:
        raise invalid_input(f"image is larger than {settings.max_input_bytes} bytes", "image")
    try:
        return base64.b64decode(payload.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise invalid_input("image must be an https:// URL, a data:image/...;base64, URI or base64", "image") from None


def decode_image(data: bytes) -> Image.Image:
    """Decode fully (so a truncated file fails here), apply EXIF orientation, and drop alpha onto white."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError, ValueError):
        raise invalid_input("image could not be decoded as a PNG, JPEG or WebP picture", "image") from None
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_photo(source: str, width: int, height: int, settings: Settings) -> Image.Image:
    """The photo, centre-cropped to the design's aspect ratio and resized to its exact size."""
    if source.lower().startswith(("https://", "http://")):
        data = fetch_url(source, settings)
    else:
        data = decode_base64(source, settings)
    return ImageOps.fit(decode_image(data), (width, height), method=Image.Resampling.LANCZOS)
