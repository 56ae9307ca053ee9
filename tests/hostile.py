"""Hostile inputs for the adversarial suite: broken and booby-trapped images, and blocked URLs."""

from __future__ import annotations

import base64
import contextlib
import datetime
import io
import socket
import ssl
import struct
import threading
import time
import zlib
from pathlib import Path

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


# --- round two: the holes a hostile tester found ------------------------------------------------------


def jpeg_scan_cut_short() -> bytes:
    """A JPEG whose entropy-coded scan stops halfway but which still ends with its EOI marker."""
    noise = Image.frombytes("RGB", (128, 128), bytes((i * 7919) % 251 for i in range(128 * 128 * 3)))
    data = encode(noise, "JPEG", quality=90)
    return data[: len(data) // 2] + b"\xff\xd9"


def exif_rotation_with_a_malformed_tag() -> bytes:
    """A 40x20 JPEG with orientation 6 (rotate on display) and a Software tag typed FLOAT (Pillow's
    ``exif_transpose`` fails to write such EXIF back)."""
    entries = [(0x0112, 3, 1, struct.pack("<HH", 6, 0)), (0x0131, 11, 1, b"\x00\x00\xc0\x7f")]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack("<HHI", tag, kind, count) + value
    exif = b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)
    return encode(Image.new("RGB", (40, 20), "green"), "JPEG", exif=exif)


def png_with_colour_key() -> bytes:
    """An RGB PNG whose pure red is transparent by tRNS colour key; the left half is that red."""
    image = Image.new("RGB", (16, 8), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 8, 8))
    return encode(image, "PNG", transparency=(255, 0, 0))


BASE64_VARIANTS: dict[str, str] = {
    "url-safe": base64.urlsafe_b64encode(encode(Image.new("RGB", (61, 61), (250, 251, 252)), "PNG")).decode(),
    "unpadded": base64.b64encode(valid_png()).decode().rstrip("="),
    "line-breaks": base64.encodebytes(valid_png()).decode(),  # 76 characters a line, as MIME writes it
    # RFC 2397: the scheme and the media type in any case, parameters before ``;base64``
    "upper-case-data-uri": "DATA:IMAGE/PNG;BASE64," + base64.b64encode(valid_png()).decode(),
    "data-uri-with-a-parameter": "data:image/png;name=pet.png;base64," + base64.b64encode(valid_png()).decode(),
}

# Parsed differently by different URL parsers, or not URLs at all: refused before any connection.
AMBIGUOUS_URLS: dict[str, str] = {
    "backslash-userinfo": "https://evil\\@example.com/pet.png",
    "userinfo": "https://user:secret@example.com/pet.png",
    "tab-in-host": "https://exa\tmple.com/pet.png",
    "decimal-ip": "https://2130706433/pet.png",
    "hex-ip": "https://0x7f.0.0.1/pet.png",
    "bad-port": "https://example.com:99999/pet.png",
    "ecs-metadata": "https://169.254.170.2/v2/credentials",
}


class LoopbackPeer:
    """A TCP server on a free loopback port that hands each connection to ``handle`` in a thread of its own."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen()
        self.port = self._socket.getsockname()[1]
        self.connections = 0
        self._stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._socket.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.handle, args=(client,), daemon=True).start()

    def handle(self, client: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stopped.set()
        self._socket.close()


class SlowDripServer(LoopbackPeer):
    """An HTTP server that answers every request one byte a second, forever."""

    def handle(self, client: socket.socket) -> None:
        reply = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000
        try:
            client.recv(65536)
            for byte in reply:
                if self._stopped.wait(1.0):
                    break
                client.sendall(bytes([byte]))
        except OSError:
            pass
        finally:
            client.close()


class DelayingProxy(LoopbackPeer):
    """A TCP proxy that holds each new connection for ``delay_s``, then relays both ways: a slow S3 peer in
    front of a real one."""

    def __init__(self, upstream_port: int, delay_s: float) -> None:
        self.upstream_port, self.delay_s = upstream_port, delay_s
        super().__init__()

    def handle(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        time.sleep(self.delay_s)

        def pipe(source: socket.socket, sink: socket.socket) -> None:
            try:
                while chunk := source.recv(65536):
                    sink.sendall(chunk)
            except OSError:
                pass
            finally:
                for end in (source, sink):
                    with contextlib.suppress(OSError):
                        end.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        pipe(client, upstream)


class FixedReplyServer(LoopbackPeer):
    """An HTTP server that answers every request with the same raw bytes (headers a framework would refuse
    to send, such as a malformed ``Location``)."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        super().__init__()

    def handle(self, client: socket.socket) -> None:
        with client:
            client.recv(65536)
            client.sendall(self.reply)


# --- round three: peers that close after their reply, informational answers ------------------------------


def read_request(client: socket.socket) -> bytes:
    """One whole HTTP request (its headers, then ``Content-Length`` bytes of body): a webhook's POST arrives in
    more than one segment, and closing with bytes unread would reset the connection before the reply is read."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    while len(body) < length:
        chunk = client.recv(65536)
        if not chunk:
            break
        body += chunk
    return data


class DripServer(LoopbackPeer):
    """An HTTP server that reads the whole request, sends ``head`` at once, then ``drip`` one byte every
    ``interval_s`` seconds, then closes: ``len(drip) * interval_s`` seconds for the whole reply."""

    def __init__(
        self, head: bytes, drip: bytes = b"", interval_s: float = 0.5, tls: ssl.SSLContext | None = None
    ) -> None:
        self.head, self.drip, self.interval_s, self.tls = head, drip, interval_s, tls
        self.requests: list[bytes] = []
        super().__init__()

    @property
    def drip_s(self) -> float:
        return len(self.drip) * self.interval_s

    def handle(self, client: socket.socket) -> None:
        try:
            if self.tls is not None:
                client = self.tls.wrap_socket(client, server_side=True)
            self.requests.append(read_request(client))
            client.sendall(self.head)
            for byte in self.drip:
                if self._stopped.wait(self.interval_s):
                    break
                client.sendall(bytes([byte]))
        except OSError:
            pass
        finally:
            client.close()


def drip_reply(framing: str, status: str = "200 OK", size: int = 60) -> tuple[bytes, bytes]:
    """The head sent at once and the body dripped, for ``size`` body bytes framed as HTTP/1.0 (no length: the
    peer closes at the end), ``Connection: close``, chunked or keep-alive (HTTP/1.1 with a length)."""
    body = b"x" * size
    if framing == "http/1.0":
        return f"HTTP/1.0 {status}\r\nContent-Type: image/png\r\n\r\n".encode(), body
    if framing == "connection-close":
        return f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {size}\r\n\r\n".encode(), body
    if framing == "chunked":
        chunks = b"".join(b"1\r\n" + bytes([byte]) + b"\r\n" for byte in body[: size // 6]) + b"0\r\n\r\n"
        return f"HTTP/1.1 {status}\r\nTransfer-Encoding: chunked\r\n\r\n".encode(), chunks
    if framing == "keep-alive":
        return f"HTTP/1.1 {status}\r\nConnection: keep-alive\r\nContent-Length: {size}\r\n\r\n".encode(), body
    raise ValueError(framing)


DRIP_FRAMINGS = ("http/1.0", "connection-close", "chunked", "keep-alive")


def mpo(first: bytes, second: bytes) -> bytes:
    """A two-picture MPO (CIPA DC-007, what stereo and some phone cameras write) from two JPEG files: an MP
    Index in an APP2 segment of the first, whose second entry points at the second picture."""
    entries_at = 8 + 2 + 3 * 12 + 4  # from the TIFF header: the IFD's count, three entries, the next-IFD offset
    ifd = struct.pack("<H", 3) + struct.pack("<HHI4s", 0xB000, 7, 4, b"0100")  # MP Format version
    ifd += struct.pack("<HHII", 0xB001, 4, 1, 2) + struct.pack("<HHII", 0xB002, 7, 32, entries_at)  # count, entries
    ifd += struct.pack("<I", 0)
    segment_size = 2 + 4 + 8 + len(ifd) + 32
    first_size = len(first) + 2 + segment_size
    tiff_at = 2 + 4 + 4  # SOI, APP2 marker and length, b"MPF\0"
    entries = struct.pack("<IIIHH", 0x20030000, first_size, 0, 0, 0)  # representative, baseline primary
    entries += struct.pack("<IIIHH", 0x00020002, len(second), first_size - tiff_at, 0, 0)  # disparity image
    app2 = b"\xff\xe2" + struct.pack(">H", segment_size) + b"MPF\x00" + b"II*\x00" + struct.pack("<I", 8)
    return first[:2] + app2 + ifd + entries + first[2:] + second


def blank_png(width: int, height: int) -> bytes:
    """A real, all-black RGB PNG of ``width`` x ``height``, compressed as it streams: 1 x 40,000,000 pixels
    is about 160 KB of file and 120 MB of pixels."""
    remaining, block = height * (1 + 3 * width), b"\x00" * (1 << 20)  # every row: filter 0, then black pixels
    compressor, data = zlib.compressobj(9), bytearray()
    while remaining:
        data += compressor.compress(block[: min(remaining, len(block))])
        remaining -= min(remaining, len(block))
    data += compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", bytes(data)) + png_chunk(b"IEND", b"")


def loopback_tls(folder: Path, host: str = "localhost") -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throwaway CA and a certificate for ``host``: the server's context, and a client's that trusts the CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def certificate(name: str, key, issuer: str, signer, ca: bool):
        builder = x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        builder = builder.issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        builder = builder.public_key(key.public_key()).serial_number(x509.random_serial_number())
        builder = builder.not_valid_before(now - datetime.timedelta(hours=1))
        builder = builder.not_valid_after(now + datetime.timedelta(hours=1))
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate("hostile test CA", ca_key, "hostile test CA", ca_key, ca=True)
    leaf = certificate(host, key, "hostile test CA", ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (folder / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(folder / "leaf.pem", folder / "key.pem")
    client = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    return server, client
