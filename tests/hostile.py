"""Hostile inputs for the adversarial suite: broken and booby-trapped images, and blocked URLs."""

from __future__ import annotations

import base64
import io
import struct
import zlib

from PIL import Image


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def as_data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height``: a decompression bomb's shape."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def valid_png() -> bytes:
    return encode(Image.new("RGB", (64, 64), (120, 80, 40)), "PNG")


BAD_IMAGES: dict[str, str] = {
    "gif": as_data_uri(encode(Image.new("RGB", (32, 32), "red"), "GIF"), "image/gif"),
    "gif-named-png": as_data_uri(encode(Image.new("RGB", (32, 32), "red"), "GIF"), "image/png"),
    "bmp": as_data_uri(encode(Image.new("RGB", (32, 32), "red"), "BMP"), "image/bmp"),
    "tiff": as_data_uri(encode(Image.new("RGB", (32, 32), "red"), "TIFF"), "image/tiff"),
    "text": as_data_uri(b"this is not a picture at all"),
    "truncated-png": as_data_uri(valid_png()[: len(valid_png()) // 2]),
    "corrupt-jpeg": as_data_uri(encode(Image.new("RGB", (64, 64), "blue"), "JPEG")[:200] + b"\x00" * 500, "image/jpeg"),
    "bomb-over-pillow-limit": as_data_uri(png_header_only(30000, 30000)),
    "bomb-over-worker-limit": as_data_uri(png_header_only(3000, 3000)),
    "bad-base64": "data:image/png;base64,@@@not-base64@@@",
    "bare-garbage": "%%%%",
}

# Every one must be refused without any connection: loopback and literal addresses only.
BLOCKED_URLS: dict[str, str] = {
    "loopback-v4": "https://127.0.0.1/pet.png",
    "loopback-name": "https://localhost/pet.png",
    "loopback-v6": "https://[::1]/pet.png",
    "private-10": "https://10.0.0.8/pet.png",
    "private-172": "https://172.16.5.4/pet.png",
    "private-192": "https://192.168.1.20/pet.png",
    "shared-100-64": "https://100.64.0.1/pet.png",
    "link-local": "https://169.254.10.10/pet.png",
    "metadata": "https://169.254.169.254/latest/meta-data/",
    "link-local-v6": "https://[fe80::1]/pet.png",
    "unique-local-v6": "https://[fc00::1]/pet.png",
    "mapped-v4-in-v6": "https://[::ffff:127.0.0.1]/pet.png",
    "multicast": "https://224.0.0.1/pet.png",
    "unspecified": "https://0.0.0.0/pet.png",
    "reserved": "https://240.0.0.1/pet.png",
    "broadcast": "https://255.255.255.255/pet.png",
    "plain-http": "http://127.0.0.1/pet.png",
    "file-scheme": "file:///etc/passwd",
    "ftp-scheme": "ftp://127.0.0.1/pet.png",
}
