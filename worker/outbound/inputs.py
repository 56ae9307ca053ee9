"""Load the pet photo from a URL, a data URI or bare base64, safely, and fit it to the design's size.

URLs follow the rules of ``worker.outbound.urls`` (one parser, checked and pinned addresses, an overall deadline),
and each of at most ``MAX_REDIRECTS`` redirects is checked the same way. The body is capped while it
streams. Data URIs follow RFC 2397 (any case, parameters before ``;base64``); base64 is bounded by its
decoded size, computed from its length before decoding. Images are accepted as PNG, JPEG (an MPO too, as its
first picture) or WebP by their content; their pixel count, each side and their aspect ratio are checked
from the header before anything is decoded; a JPEG must decode without a single libjpeg warning (a scan cut
short but closed with an end marker is refused, which Pillow cannot tell); every mode (palette, CMYK,
16-bit, alpha, colour-key transparency) becomes plain RGB.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import struct

import numpy as np
import simplejpeg
from PIL import Image, ImageOps, UnidentifiedImageError

from worker.errors import ErrorCode, WorkerError, invalid_input
from worker.outbound.urls import Deadline, TransferFailed, URLRejected, exchange, parse_outbound, resolve
from worker.runtime.config import Settings

# RFC 2397: scheme and media type in any case, parameters (``;name=pet.png``) before ``;base64``.
DATA_URI = re.compile(
    r"data:image/[a-z0-9.+-]+(?:;[a-z0-9!#$%&'*+.^_`|~-]+=[^;,]*)*;base64,(?P<payload>.*)", re.DOTALL | re.IGNORECASE
)
BASE64_WHITESPACE = " \t\n\r\f\v"  # line breaks as MIME writes them, and spaces; nothing else is skipped
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP")
JPEG_FORMATS = ("JPEG", "MPO")  # MPO: a JPEG with more pictures after it (stereo, phones); its first is the photo
# Bounds on the header's size, besides MAX_INPUT_PIXELS: a 1 x 40,000,000 PNG is within the pixel count but
# its rows cost Pillow about 900 MB to decode. No camera photo, panorama included, comes near either bound.
MAX_INPUT_SIDE = 16384
MAX_ASPECT_RATIO = 10
MAX_REDIRECTS = 3
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
ORIENTATION_TAG = 0x0112
ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def fetch_url(url: str, settings: Settings, deadline: Deadline, job_deadline: Deadline | None = None) -> bytes:
    """GET ``url``; every hop is checked, resolved once and dialled at the checked address.

    ``deadline`` bounds the whole fetch, redirects included; when it is the job's own deadline that cut
    it short (``job_deadline``), the job ends with ``timeout``.
    """
    try:
        target = parse_outbound(url, "image", settings.allow_http_urls)
        for _ in range(MAX_REDIRECTS + 1):
            reply = exchange(
                target,
                resolve(target, "image", settings.allow_private_urls, deadline),
                deadline,
                read_limit=settings.max_input_bytes,
            )
            location = reply.headers.get("Location") or reply.headers.get("location")
            if reply.status in REDIRECT_STATUSES and location:
                target = target.join(location, "image", settings.allow_http_urls)
                continue
            if reply.status != 200:
                raise WorkerError(ErrorCode.INPUT_FETCH_FAILED, f"image URL answered HTTP {reply.status}")
            if reply.truncated:
                raise invalid_input(f"image is larger than {settings.max_input_bytes} bytes", "image")
            return reply.body
    except URLRejected as exc:
        raise invalid_input(str(exc), "image") from None
    except TransferFailed as exc:
        if exc.deadline_passed and job_deadline is not None and job_deadline.passed:
            raise WorkerError(ErrorCode.TIMEOUT, "the job ran out of time fetching the image (JOB_TIMEOUT_S)") from None
        if exc.deadline_passed:
            raise WorkerError(
                ErrorCode.INPUT_FETCH_FAILED, f"the image URL took longer than {settings.input_fetch_timeout_s:g} s"
            ) from None
        raise WorkerError(ErrorCode.INPUT_FETCH_FAILED, f"could not fetch the image URL: {exc.reason}") from None
    raise invalid_input(f"image URL redirected more than {MAX_REDIRECTS} times", "image")


def decoded_size(payload: str) -> int:
    """How many bytes base64 ``payload`` decodes to, from its length alone: nothing is decoded.

    Whitespace and trailing padding carry no data. Padding is looked for in the last 64 characters: past
    that much trailing whitespace, the size may be over-counted by a byte or two, never under-counted.
    """
    characters = len(payload) - sum(payload.count(space) for space in BASE64_WHITESPACE)
    tail = "".join(character for character in payload[-64:] if character not in BASE64_WHITESPACE)
    padding = len(tail) - len(tail.rstrip("="))
    return (characters - padding) * 3 // 4


def decode_base64(value: str, settings: Settings) -> bytes:
    """Standard or URL-safe base64, padded or not, with or without line breaks; bounded by the decoded size
    (``MAX_INPUT_BYTES`` is the image's size, padded or not), checked before anything is decoded."""
    match = DATA_URI.fullmatch(value)
    payload = match.group("payload") if match else value
    too_large = invalid_input(f"image is larger than {settings.max_input_bytes} bytes", "image")
    if decoded_size(payload) > settings.max_input_bytes:
        raise too_large
    payload = re.sub(f"[{re.escape(BASE64_WHITESPACE)}]+", "", payload)
    payload = payload.replace("-", "+").replace("_", "/").rstrip("=")
    try:
        data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise invalid_input("image must be an https:// URL, a data:image/...;base64, URI or base64", "image") from None
    if len(data) > settings.max_input_bytes:
        raise too_large
    return data


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB: 16-bit scaled (not clipped, in integers), alpha, palettes and colour keys
    flattened on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image)
        if image.mode.startswith("I;16"):
            eight_bit = array >> 8  # the top byte: within one level of x * 255 / 65535, with no float copy
        elif array.dtype.kind in "iu" and array.max(initial=0) > 255:
            eight_bit = np.clip(array, 0, 65535).astype(np.uint16) >> 8
        else:
            eight_bit = np.clip(array, 0, 255)
        transparency = image.info.get("transparency")
        image = Image.fromarray(eight_bit.astype(np.uint8), "L")
        if isinstance(transparency, int):  # a 16-bit colour key, on the same scale
            mask = Image.fromarray(((array != transparency) * 255).astype(np.uint8), "L")
            image = Image.merge("LA", (image, mask))
    has_key = "transparency" in image.info
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or has_key:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def check_jpeg_strictly(data: bytes) -> None:
    """libjpeg-turbo with every warning an error: a scan cut short is refused even when it ends with EOI."""
    try:
        colorspace = simplejpeg.decode_jpeg_header(data)[2]
        simplejpeg.decode_jpeg(
            data,
            colorspace={"Gray": "GRAY"}.get(colorspace, "CMYK" if colorspace in ("CMYK", "YCCK") else "RGB"),
            strict=True,
        )
    except (ValueError, KeyError):  # simplejpeg raises KeyError on sampling factors it has no table for
        raise invalid_input("image is truncated or corrupt", "image") from None


def apply_orientation(image: Image.Image) -> Image.Image:
    """The EXIF orientation, applied; an unreadable EXIF block is ignored rather than failing the photo."""
    try:
        orientation = image.getexif().get(ORIENTATION_TAG)
    except (AttributeError, IndexError, KeyError, OSError, SyntaxError, TypeError, ValueError, struct.error):
        return image
    method = ORIENTATIONS.get(orientation) if isinstance(orientation, int) else None
    return image.transpose(method) if method is not None else image


def check_size(width: int, height: int, max_pixels: int) -> None:
    """The header's size, before any pixel is decoded: the pixel count, each side and the aspect ratio (the
    decoder's memory follows the longest row, not only the area)."""
    if max(width, height) > MAX_INPUT_SIDE:
        raise invalid_input(f"image is {width}x{height} pixels; each side may be at most {MAX_INPUT_SIDE}", "image")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise invalid_input(
            f"image is {width}x{height} pixels; its long side may be at most {MAX_ASPECT_RATIO} times its short side",
            "image",
        )
    if width * height > max_pixels:
        raise invalid_input(f"image is {width}x{height} pixels; at most {max_pixels} are accepted", "image")


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode a PNG, JPEG or WebP (by content), refusing a size out of bounds before decoding any pixel."""
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError:
        raise invalid_input(f"image has more than {max_pixels} pixels", "image") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise invalid_input("image must be a PNG, JPEG or WebP picture", "image") from None
    check_size(*image.size, max_pixels)
    if image.format in JPEG_FORMATS:  # an MPO's first picture is the one loaded: it is checked the same way
        check_jpeg_strictly(data)
    try:
        image.load()
        return to_rgb(apply_orientation(image))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, struct.error):
        raise invalid_input("image is truncated or corrupt", "image") from None


def load_photo(
    source: str,
    width: int,
    height: int,
    settings: Settings,
    job_deadline: Deadline | None = None,
    crop: bool = True,
) -> Image.Image:
    """The photo, centre-cropped to the design's aspect ratio and resized to its exact size; with ``crop``
    False, all of it, resized to fit inside ``width`` x ``height`` (the photo as it is, for the photo pipeline)."""
    if source.lower().startswith(("https://", "http://")) or "://" in source[:16]:
        deadline = Deadline(settings.input_fetch_timeout_s)
        if job_deadline is not None:
            deadline = job_deadline.sooner(settings.input_fetch_timeout_s)
        data = fetch_url(source, settings, deadline, job_deadline)
    else:
        data = decode_base64(source, settings)
    photo = decode_image(data, settings.max_input_pixels)
    if not crop:
        return ImageOps.contain(photo, (width, height), method=Image.Resampling.LANCZOS)
    return ImageOps.fit(photo, (width, height), method=Image.Resampling.LANCZOS)
