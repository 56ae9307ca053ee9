"""The rules of every outbound connection, in one place: image URLs, their redirects, webhooks and S3
endpoints.

A URL is parsed once, by one parser (urllib3's), and the connection is made from the parsed parts, never
from the string again, so no second parser can read another host out of it. Refused before any network
use: schemes other than ``https`` (``http`` with ``ALLOW_HTTP_URLS``), credentials in the URL, backslashes,
whitespace and control characters (URL parsers disagree about them), and hosts that are neither a DNS
name nor a canonical IP literal (international names become their ASCII form). A host is resolved once
per connection, every address it resolves to must be allowed, and the connection goes to the address
that was checked (TLS still verifies the original host). Private, loopback, shared, multicast and
reserved addresses are refused unless ``ALLOW_PRIVATE_URLS`` (local development); link-local and cloud
metadata addresses are refused whatever the setting. Every transfer has an overall deadline, not only
per-read timeouts: a peer that answers one byte a second is cut off when it passes, whatever its framing
(HTTP/1.0, ``Connection: close``, chunked, keep-alive), because the socket is this module's own from its
making to its closing. Informational answers (1xx, ``103 Early Hints``) are skipped for the final one.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse, IncompleteRead
from typing import BinaryIO
from urllib.parse import urljoin

import certifi
import urllib3
from urllib3 import HTTPHeaderDict
from urllib3.exceptions import LocationParseError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_TIMEOUT_S = 10.0  # a lookup with no deadline of its own (a job's S3 endpoint, at validation)
# Never a legitimate target: cloud metadata (AWS, GCP, Azure: 169.254.169.254; AWS ECS: 169.254.170.2;
# AWS IPv6: fd00:ec2::254; GCP IPv6: fd20:ce::254; Alibaba: 100.100.100.200) and every other link-local address.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("fd00:ec2::254", "fd20:ce::254", "100.100.100.200"))
ALWAYS_BLOCKED_NETWORKS = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
# Reserved, yet global to some Python versions' tables: IETF protocol assignments (192.0.0.192 among them),
# the segment-routing SIDs and the IPv6 documentation range of RFC 9637.
NOT_GLOBAL = tuple(ipaddress.ip_network(n) for n in ("192.0.0.0/24", "5f00::/16", "3fff::/20"))
# IPv6 forms that carry an IPv4 address in their last 32 bits: NAT64's well-known prefix (RFC 6052), SIIT's
# translated form (RFC 2765) and the deprecated IPv4-compatible form (RFC 4291). 6to4 and Teredo have their own
# accessors. Each is checked as the IPv4 address inside it.
IPV4_IN_LAST_32_BITS = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "::ffff:0:0:0/96", "::/96"))
# Refused outright: site-local (deprecated, RFC 3879) and NAT64's local-use prefix, whose IPv4 sits where the
# operator's prefix length puts it (RFC 8215), so it cannot be unwrapped and checked.
DEPRECATED_NETWORKS = (ipaddress.ip_network("fec0::/10"), ipaddress.ip_network("64:ff9b:1::/48"))
FORBIDDEN_CHARACTERS = re.compile(r"[\\\s\x00-\x1f\x7f]")
HOSTNAME = re.compile(
    r"(?=.{1,253}\.?$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.?"
)
NUMERIC_HOST = re.compile(r"[0-9.]+|0x[0-9a-f.x]*")
# What may go on the request line and in a header (RFC 9110): no space, CR, LF or other control in a token or
# the target, no CR, LF or NUL in a value.
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
REQUEST_TARGET = re.compile(r"[\x21-\x7e]+")
FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
MAX_INFORMATIONAL_ANSWERS = 8  # 1xx answers skipped before the final one; a peer sending more is stalling


class URLRejected(ValueError):
    """A URL or address the rules refuse; the message says why, without echoing the URL."""


class TransferFailed(Exception):
    """A connection, TLS, protocol or read failure; ``deadline_passed`` when the overall deadline cut it."""

    def __init__(self, reason: str, deadline_passed: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.deadline_passed = deadline_passed


@dataclass(frozen=True)
class OutboundURL:
    """A URL that passed the rules, as its parts: the only form a connection is made from."""

    scheme: str
    host: str  # lower-case ASCII; an IP literal without brackets
    port: int
    target: str  # path and query, as sent on the request line

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.target}"

    def join(self, location: str, field: str, allow_http: bool) -> OutboundURL:
        """A redirect's ``Location``, relative or absolute, checked by the same rules."""
        if FORBIDDEN_CHARACTERS.search(location):
            raise URLRejected(f"{field} redirected to a URL with forbidden characters")
        try:
            joined = urljoin(self.url, location)
        except ValueError:
            raise URLRejected(f"{field} redirected to an invalid URL") from None
        return parse_outbound(joined, field, allow_http)


def parse_outbound(url: str, field: str, allow_http: bool) -> OutboundURL:
    """Parse and check ``url`` with no network use; raises ``URLRejected`` naming ``field``."""
    if FORBIDDEN_CHARACTERS.search(url):
        raise URLRejected(f"{field} URL contains a backslash, whitespace or a control character")
    try:
        parts = urllib3.util.parse_url(url)
    except (LocationParseError, ValueError):
        raise URLRejected(f"{field} is not a valid URL") from None
    scheme = (parts.scheme or "").lower()
    if scheme != "https" and not (scheme == "http" and allow_http):
        raise URLRejected(f"{field} URL must use https://")
    if parts.auth is not None:
        raise URLRejected(f"{field} URL must not carry credentials")
    host = (parts.host or "").lower().rstrip(".").strip("[]")
    if not host:
        raise URLRejected(f"{field} URL has no host")
    host = canonical_host(host, field)
    port = parts.port if parts.port is not None else (443 if scheme == "https" else 80)
    if not 0 < port < 65536:
        raise URLRejected(f"{field} URL has an invalid port")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query is not None else "")
    return OutboundURL(scheme, host, port, target)


def canonical_host(host: str, field: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
            raise URLRejected(f"{field} URL has an IPv6 zone, which names this machine's interfaces")
        return str(address)
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise URLRejected(f"{field} URL has an invalid host name") from None
    if NUMERIC_HOST.fullmatch(ascii_host) or not HOSTNAME.fullmatch(ascii_host):
        raise URLRejected(f"{field} URL has an invalid host name")
    return ascii_host


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo's client, NAT64, SIIT, compatible)."""
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if int(address) > 1 and any(address in network for network in IPV4_IN_LAST_32_BITS):  # not :: nor ::1
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def blocked_reason(address: IPAddress, allow_private: bool) -> str | None:
    """Why a connection to ``address`` is refused, or None when it is allowed. An IPv6 address that carries an
    IPv4 address is judged as that IPv4 address: that is where the connection goes."""
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in network for network in DEPRECATED_NETWORKS):
            return "a deprecated IPv6 range (site-local or NAT64 local-use)"
        address = embedded_ipv4(address) or address
    if address in METADATA_ADDRESSES or any(address in network for network in ALWAYS_BLOCKED_NETWORKS):
        return "a link-local or cloud metadata address"
    if allow_private:
        return None
    if address.is_multicast:
        return "a multicast address"
    if not address.is_global or any(address in network for network in NOT_GLOBAL):
        return "a private, loopback, link-local or reserved address"
    return None


def resolve(url: OutboundURL, field: str, allow_private: bool, deadline: Deadline | None = None) -> IPAddress:
    """Resolve once, within ``deadline``; every address must be allowed (``URLRejected``); the first is the one
    to dial.

    A name that does not resolve raises ``TransferFailed`` (it may resolve later: callers retry). The lookup
    runs in a thread of its own, so a name server that answers slowly (its owner decides how slowly) costs
    the transfer its deadline, not more; the lookup itself then ends on the resolver's own timeouts.
    """
    try:
        addresses = [ipaddress.ip_address(url.host)]
    except ValueError:
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in lookup(url, field, deadline)]
    for address in addresses:
        reason = blocked_reason(address, allow_private)
        if reason is not None:
            raise URLRejected(f"{field} URL points to {reason}")
    return addresses[0]


def lookup(url: OutboundURL, field: str, deadline: Deadline | None) -> list:
    """``getaddrinfo`` for ``url``'s host, given up on when ``deadline`` (default ``RESOLVE_TIMEOUT_S``) passes."""
    answer: dict[str, object] = {}

    def ask() -> None:
        try:
            answer["infos"] = socket.getaddrinfo(url.host, url.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            answer["error"] = exc

    asking = threading.Thread(target=ask, name="resolve", daemon=True)
    asking.start()
    asking.join((deadline or Deadline(RESOLVE_TIMEOUT_S)).remaining())
    if asking.is_alive():
        raise TransferFailed(f"the host of the {field} URL did not resolve in time", deadline_passed=True)
    if "infos" not in answer:
        raise TransferFailed(f"could not resolve the host of the {field} URL")
    return answer["infos"]  # type: ignore[return-value]


class Deadline:
    """A point in time that bounds a transfer (and, through ``min``, the job's own deadline)."""

    def __init__(self, seconds: float, clock=time.monotonic) -> None:
        self._clock = clock
        self.at = clock() + max(0.0, seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - self._clock())

    @property
    def passed(self) -> bool:
        return self._clock() >= self.at

    def expire(self) -> None:
        self.at = self._clock()

    def sooner(self, seconds: float) -> Deadline:
        """This deadline or ``seconds`` from now, whichever comes first."""
        return self if self.remaining() <= seconds else Deadline(seconds, self._clock)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes
    truncated: bool  # the body was longer than the read limit; only ``read_limit`` bytes were read


class Watchdog:
    """Shuts a transfer's connection when its deadline passes, through a descriptor of its own.

    Per-read timeouts never trip on a peer that sends a byte every half second, so the connection is shut from
    outside. It is shut through a duplicate of the socket's descriptor, taken when the socket is made: the
    HTTP parser's own objects cannot be relied on (http.client hands a closing connection's socket to its
    response and forgets it, and a watchdog that shut the connection's socket then shut nothing).
    """

    def __init__(self, deadline: Deadline) -> None:
        self.fired = False
        self._lock = threading.Lock()
        self._handle: socket.socket | None = None
        self._timer = threading.Timer(deadline.remaining(), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock``'s connection at the deadline (at once if it has passed)."""
        with self._lock:
            self._handle = sock.dup()
            if self.fired:
                shut(self._handle)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            if self._handle is not None:
                shut(self._handle)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


def shut(sock: socket.socket) -> None:
    """Shut the connection both ways: a read blocked on it in another thread returns at once."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """Certificates checked against certifi's roots and the URL's host name; TLS 1.2 at least."""
    context = ssl.create_default_context(cafile=certifi.where())
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def connect(url: OutboundURL, address: IPAddress, watchdog: Watchdog, timeout: float) -> socket.socket:
    """A connection to the checked ``address`` (never a name: no second lookup), watched from its first moment;
    TLS for https, verifying the URL's host."""
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        watchdog.watch(sock)
        sock.connect((str(address), url.port))
        if url.scheme == "https":
            return tls_context().wrap_socket(sock, server_hostname=url.host)
        return sock
    except BaseException:
        sock.close()
        raise


def request_head(url: OutboundURL, method: str, headers: Mapping[str, str], body: bytes | None) -> bytes:
    """The request line and headers, refused (``ValueError``) if any would end a line early or smuggle one."""
    fields = {"Host": url.host_header, "User-Agent": "pet-merch-worker", "Accept-Encoding": "identity"}
    fields |= {"Connection": "close"} | ({"Content-Length": str(len(body))} if body is not None else {})
    given = {name.lower() for name in headers}
    fields = {name: value for name, value in fields.items() if name.lower() not in given} | dict(headers)
    if not TOKEN.fullmatch(method) or not REQUEST_TARGET.fullmatch(url.target):
        raise ValueError("a request line with forbidden characters")
    if not all(TOKEN.fullmatch(name) and FIELD_VALUE.fullmatch(value) for name, value in fields.items()):
        raise ValueError("a header with forbidden characters")
    lines = [f"{method} {url.target} HTTP/1.1", *(f"{name}: {value}" for name, value in fields.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class OpenReader:
    """Hands http.client's response parser the reader already open on the connection: an answer after an
    informational one is read from the bytes the reader holds (a new reader would lose what it buffered)."""

    def __init__(self, reader: BinaryIO) -> None:
        self._reader = reader

    def makefile(self, mode: str) -> BinaryIO:
        return self._reader


def final_response(reader: BinaryIO, method: str) -> HTTPResponse:
    """The first answer that is not informational. 1xx answers (``103 Early Hints``, ``102 Processing``) may come
    before the final one and are skipped; ``101`` (switching protocols, never asked for) is final."""
    for _ in range(MAX_INFORMATIONAL_ANSWERS + 1):
        response = HTTPResponse(OpenReader(reader), method=method)  # type: ignore[arg-type]
        response.begin()
        if not 100 <= response.status < 200 or response.status == 101:
            return response
        response.fp = None  # the reader is shared: dropping this answer must not close it
    raise HTTPException(f"more than {MAX_INFORMATIONAL_ANSWERS} informational answers")


def read_body(response: HTTPResponse, read_limit: int) -> bytearray:
    """At most ``read_limit + 1`` bytes of the body, raw; a body cut short of its stated length is an error."""
    data = bytearray()
    while len(data) <= read_limit:
        chunk = response.read(min(64 * 1024, read_limit + 1 - len(data)))
        if not chunk:
            break
        data += chunk
    if len(data) <= read_limit and response.length:  # http.client returns a short body quietly: not here
        raise IncompleteRead(bytes(data), response.length)
    return data


def exchange(
    url: OutboundURL,
    address: IPAddress,
    deadline: Deadline,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    read_limit: int = 4096,
) -> Reply:
    """One request to the checked ``address`` (never a redirect), its body read raw (never decompressed)
    up to ``read_limit`` bytes, all of it within ``deadline``, whatever the peer's framing (HTTP/1.0, close,
    chunked or keep-alive): the connection is this module's from its making to its closing."""
    if deadline.passed:
        raise TransferFailed("no time was left for the transfer", deadline_passed=True)
    watchdog = Watchdog(deadline)
    stream: socket.socket | None = None
    reader: BinaryIO | None = None
    try:
        stream = connect(url, address, watchdog, max(deadline.remaining(), 0.001))
        stream.sendall(request_head(url, method, headers or {}, body) + (body or b""))
        reader = stream.makefile("rb")
        response = final_response(reader, method)
        data = read_body(response, read_limit)
        if watchdog.fired:  # the shut connection may have read as the end of a body without a length
            raise TransferFailed("the transfer passed its deadline", deadline_passed=True)
        truncated = len(data) > read_limit
        headers = HTTPHeaderDict(response.getheaders())  # looked up by name in any case: LOCATION is Location
        return Reply(response.status, headers, bytes(data[:read_limit]), truncated)
    except (HTTPException, OSError, ValueError) as exc:
        if watchdog.fired or deadline.passed:
            raise TransferFailed("the transfer passed its deadline", deadline_passed=True) from None
        raise TransferFailed(f"the transfer failed ({type(exc).__name__})") from None
    finally:
        watchdog.close()
        for closable in (reader, stream):
            if closable is not None:
                with contextlib.suppress(OSError):
                    closable.close()
