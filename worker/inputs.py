"""Load the pet photo from a URL, a data URI or bare base64, safely, and fit it to the design's size.

URLs are fetched without SSRF: ``https://`` only (``ALLOW_HTTP_URLS``), the host is resolved and every
address must be public (``ALLOW_PRIVATE_URLS`` lifts that for local development, never for cloud metadata
addresses), the connection goes to the address that was checked (no second DNS answer can swap it), and
each redirect is checked the same way, at most ``MAX_REDIRECTS`` of them. The body is capped while it
streams. Images are accepted as PNG, JPEG or WebP by their content, their pixel count is checked from the
header before anything is decoded, and every mode (palette, CMYK, 16-bit, alpha) becomes plain RGB.
"""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import re
import socket
import struct
from urllib.parse import urljoin, urlsplit

import certifi
import numpy as np
import urllib3
from PIL import Image, ImageOps, UnidentifiedImageError

from worker.config import Settings
from worker.errors import ErrorCode, WorkerError, invalid_input

DATA_URI = re.compile(r"data:image/[a-zA-Z0-9.+-]+;base64,(?P<payload>.*)", re.DOTALL)
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP")
MAX_REDIRECTS = 3
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud metadata services: refused even with ALLOW_PRIVATE_URLS (AWS/GCP/Azure, AWS IPv6, Alibaba).
METADATA_ADDRESSES = {ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")}


def blocked_reason(address: IPAddress, allow_private: bool) -> str | None:
    """Why a connection to ``address`` is refused, or None when it is allowed."""
    effective = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped else address
    if effective in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if allow_private:
        return None
    if effective.is_multicast:
        return "a multicast address"
    if not effective.is_global:
        return "a private, loopback, link-local or reserved address"
    return None


def resolve_public(host: str, port: int, allow_private: bool, field: str) -> IPAddress:
    """Every address of ``host`` must be allowed; the first is the one to connect to."""
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise WorkerError(ErrorCode.INPUT_FETCH_FAILED, f"could not resolve the host of the {field} URL") from None
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for address in addresses:
        reason = blocked_reason(address, allow_private)
        if reason is not None:
            raise invalid_input(f"{field} URL points to {reason}", field)
    return addresses[0]


def check_url(url: str, settings: Settings, field: str) -> tuple[str, int, IPAddress]:
    """Scheme, host and port of ``url``, and the checked address to connect to."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise invalid_input(f"{field} is not a valid URL", field) from None
    if parts.scheme != "https" and not (parts.scheme == "http" and settings.allow_http_urls):
        raise invalid_input(f"{field} URL must use https://", field)
    if not parts.hostname:
        raise invalid_input(f"{field} URL has no host", field)
    return parts.hostname, port, resolve_public(parts.hostname, port, settings.allow_private_urls, field)


def fetch_url(url: str, settings: Settings, timeout_s: float | None = None) -> bytes:
    """GET ``url`` with every hop checked and pinned; the body is refused once it passes the size cap."""
    timeout = urllib3.Timeout(
        connect=timeout_s or settings.input_fetch_timeout_s, read=timeout_s or settings.input_fetch_timeout_s
    )
    for _ in range(MAX_REDIRECTS + 1):
        host, port, address = check_url(url, settings, "image")
        parts = urlsplit(url)
        if parts.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                str(address), port, timeout=timeout, retries=False, cert_reqs="CERT_REQUIRED",
                ca_certs=certifi.where(), server_hostname=host, assert_hostname=host,
            )  # fmt: skip
        else:
            pool = urllib3.HTTPConnectionPool(str(address), port, timeout=timeout, retries=False)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            response = pool.urlopen(
                "GET", target, headers={"Host": parts.netloc.rsplit("@", 1)[-1], "User-Agent": "pet-merch-worker"},
                redirect=False, preload_content=False,
            )  # fmt: skip
            try:
                if response.status in REDIRECT_STATUSES and response.headers.get("Location"):
                    url = urljoin(url, response.headers["Location"])
                    continue
                if response.status != 200:
                    raise WorkerError(ErrorCode.INPUT_FETCH_FAILED, f"image URL answered HTTP {response.status}")
                return read_capped(response, settings.max_input_bytes)
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            raise WorkerError(
                ErrorCode.INPUT_FETCH_FAILED, f"could not fetch the image URL ({type(exc).__name__})"
            ) from None
        finally:
            pool.close()
    raise invalid_input(f"image URL redirected more than {MAX_REDIRECTS} times", "image")


def read_capped(response: urllib3.BaseHTTPResponse, limit: int) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise invalid_input(f"image is larger than {limit} bytes", "image")
    body = bytearray()
    for chunk in response.stream(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise invalid_input(f"image is larger than {limit} bytes", "image")
    return bytes(body)


def decode_base64(value: str, settings: Settings) -> bytes:
    match = DATA_URI.fullmatch(value)
    payload = match.group("payload") if match else value
    if len(payload) * 3 // 4 > settings.max_input_bytes:
        raise invalid_input(f"image is larger than {settings.max_input_bytes} bytes", "image")
    try:
        return base64.b64decode(payload.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise invalid_input("image must be an https:// URL, a data:image/...;base64, URI or base64", "image") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB: 16-bit scaled (not clipped), alpha and palettes flattened on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        full_scale = 65535.0 if image.mode.startswith("I;16") or array.max(initial=0) > 255 else 255.0
        image = Image.fromarray(np.clip(array / full_scale * 255 + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode a PNG, JPEG or WebP (by content), refusing too many pixels before decoding them."""
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError:
        raise invalid_input(f"image has more than {max_pixels} pixels", "image") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise invalid_input("image must be a PNG, JPEG or WebP picture", "image") from None
    width, height = image.size
    if width * height > max_pixels:
        raise invalid_input(f"image is {width}x{height} pixels; at most {max_pixels} are accepted", "image")
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        return to_rgb(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, struct.error):
        raise invalid_input("image is truncated or corrupt", "image") from None


def load_photo(source: str, width: int, height: int, settings: Settings, timeout_s: float | None = None) -> Image.Image:
    """The photo, centre-cropped to the design's aspect ratio and resized to its exact size."""
    if source.lower().startswith(("https://", "http://")) or "://" in source[:16]:
        data = fetch_url(source, settings, timeout_s)
    else:
        data = decode_base64(source, settings)
    return ImageOps.fit(decode_image(data, settings.max_input_pixels), (width, height), method=Image.Resampling.LANCZOS)
