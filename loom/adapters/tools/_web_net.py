"""Guarded HTTP for the web tools (private): public addresses only, pinned.

Every hop of a fetch is checked from scratch: the scheme must be http or https,
the name must not be a cloud metadata name, and *every* address the name
resolves to must be public (not loopback, private, link-local, CGNAT, multicast,
reserved, unspecified or a metadata address). The request then goes to the
first vetted address as an IP literal, with the Host header and the TLS SNI
(and so the certificate check) keeping the original name.

DNS rebinding: the name is resolved once per hop, by us, and the HTTP stack
is handed an IP literal, so it never resolves the name again; a second DNS
answer pointing at 127.0.0.1 has nothing to act on. Each hop gets a fresh
transport so a pooled TLS connection made for one name is never reused for
another name that happens to share its address. Environment proxies are
ignored (``trust_env=False``): a proxy would make the pinning meaningless.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import httpx

from loom.adapters.tools.base import ToolError

__all__ = [
    "MAX_BYTES",
    "MAX_REDIRECTS",
    "Fetched",
    "Resolver",
    "TransportFactory",
    "WebAccess",
    "media_type",
    "refusal",
    "system_resolver",
    "textual",
]

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) -> addresses``: how names become IP addresses."""
TransportFactory = Callable[[], httpx.AsyncBaseTransport]
"""Makes the transport for one hop (tests pass a ``MockTransport``)."""

MAX_BYTES = 2_000_000
MAX_REDIRECTS = 5
_TIMEOUT = httpx.Timeout(20.0, connect=10.0)
_TOTAL_SECONDS = 45.0
_USER_AGENT = "Mozilla/5.0 (compatible; Loom/1.0; +https://github.com/loom-agent)"
_METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
_METADATA = tuple(
    ipaddress.ip_network(n) for n in ("169.254.169.254/32", "fd00:ec2::254/128")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_TEXTUAL_SUFFIXES = ("+json", "+xml")
_TEXTUAL = frozenset(
    {
        "",
        "application/json",
        "application/xml",
        "application/xhtml+xml",
        "application/javascript",
        "application/x-javascript",
        "application/yaml",
        "application/x-yaml",
        "application/toml",
        "application/x-ndjson",
    }
)

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for ``host``, in its order."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal(address: str) -> str | None:
    """Why ``address`` may not be fetched from, or None when it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            reason = refusal(str(embedded))
            if reason is not None or ip.ipv4_mapped or ip in _NAT64:
                return None if reason is None else f"{reason} (inside {ip})"
    return _refusal(ip)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _refusal(ip: _Address) -> str | None:
    checks = (
        (any(ip in net for net in _METADATA), "a cloud metadata address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip in _CGNAT, "a shared (carrier-grade NAT) address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a public address"),
    )
    return next((reason for hit, reason in checks if hit), None)


def media_type(content_type: str) -> tuple[str, str | None]:
    """``(media type, charset)`` of a Content-Type header value, lowercased."""
    kind, _, rest = content_type.partition(";")
    charset = None
    for param in rest.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'").lower()
    return kind.strip().lower(), charset


def textual(kind: str) -> bool:
    """True for media types whose body is text (and for an unknown type)."""
    return (
        kind.startswith("text/") or kind in _TEXTUAL or kind.endswith(_TEXTUAL_SUFFIXES)
    )


@dataclass(frozen=True)
class Fetched:
    """What one fetch got: the body is empty for types that aren't text."""

    url: str
    status: int
    reason: str
    content_type: str
    charset: str | None
    body: bytes
    truncated: bool
    length: int | None
    redirects: tuple[str, ...] = ()


class WebAccess:
    """Fetches public web pages with address checks, pinning and limits."""

    def __init__(
        self,
        transport: TransportFactory | None = None,
        resolver: Resolver | None = None,
        *,
        max_bytes: int = MAX_BYTES,
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        self._transport = transport or httpx.AsyncHTTPTransport
        self._resolve = resolver or system_resolver
        self.max_bytes, self.max_redirects = max_bytes, max_redirects

    async def fetch(
        self, url: str, *, method: str = "GET", data: dict[str, str] | None = None
    ) -> Fetched:
        """Fetch ``url``, following up to ``max_redirects`` checked redirects."""
        try:
            async with asyncio.timeout(_TOTAL_SECONDS):
                return await self._follow(_parse(url), method, data)
        except TimeoutError:
            raise ToolError(
                f"fetching {url} took longer than {_TOTAL_SECONDS:g} s"
            ) from None
        except httpx.TimeoutException:
            raise ToolError(f"fetching {url} timed out") from None
        except httpx.HTTPError as error:
            raise ToolError(
                f"fetching {url} failed: {type(error).__name__}: {error}"
            ) from None

    async def _follow(
        self, url: httpx.URL, method: str, data: dict[str, str] | None
    ) -> Fetched:
        seen: list[str] = []
        for _ in range(self.max_redirects + 1):
            try:
                outcome = await self._hop(url, method, data)
            except ToolError as error:
                if not seen:
                    raise
                raise ToolError(f"{error} (redirected from {seen[-1]})") from None
            if isinstance(outcome, Fetched):
                return _with_redirects(outcome, seen)
            status, location = outcome
            seen.append(str(url))
            url = _parse(str(url.join(location)), redirected_from=str(url))
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, data = "GET", None
        raise ToolError(f"more than {self.max_redirects} redirects; stopped at {url}")

    async def _hop(
        self, url: httpx.URL, method: str, data: dict[str, str] | None
    ) -> Fetched | tuple[int, str]:
        address = await self._vetted_address(url)
        request = _pinned_request(url, address, method, data)
        async with httpx.AsyncClient(
            transport=self._transport(), trust_env=False, timeout=_TIMEOUT
        ) as client:
            response = await client.send(request, stream=True)
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    return response.status_code, location
                return await self._read(url, response)
            finally:
                await response.aclose()

    async def _vetted_address(self, url: httpx.URL) -> str:
        host = url.raw_host.decode("ascii")
        name = host.lower().rstrip(".")
        if name in _METADATA_NAMES:
            raise ToolError(f"refusing to fetch {url}: {host} is a cloud metadata name")
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = _literal(name) or await self._resolve(name, port)
        except (OSError, UnicodeError) as error:
            raise ToolError(f"could not resolve {host}: {error}") from None
        if not addresses:
            raise ToolError(f"could not resolve {host}: no addresses")
        for address in addresses:
            reason = refusal(address)
            if reason is not None:
                raise ToolError(
                    f"refusing to fetch {url}: {host} resolves to {address}, {reason}; "
                    "web_fetch only reaches public internet addresses"
                )
        return addresses[0]

    async def _read(self, url: httpx.URL, response: httpx.Response) -> Fetched:
        kind, charset = media_type(response.headers.get("content-type", ""))
        length = _content_length(response)
        body, truncated = b"", False
        if textual(kind):
            body, truncated = await _read_capped(response, self.max_bytes)
        return Fetched(
            str(url),
            response.status_code,
            response.reason_phrase,
            kind,
            charset,
            body,
            truncated,
            length,
        )


def _parse(url: str, *, redirected_from: str | None = None) -> httpx.URL:
    where = f" (redirected from {redirected_from})" if redirected_from else ""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise ToolError(f"invalid URL {url!r}{where}: {error}") from None
    if parsed.scheme not in ("http", "https"):
        raise ToolError(
            f"refusing {url!r}{where}: only http and https URLs can be fetched"
        )
    if not parsed.raw_host:
        raise ToolError(f"invalid URL {url!r}{where}: it has no host")
    return parsed


def _literal(host: str) -> list[str]:
    """``[host]`` when it is an IP address already (no lookup needed)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        return []


def _pinned_request(
    url: httpx.URL, address: str, method: str, data: dict[str, str] | None
) -> httpx.Request:
    headers = {
        "Host": url.netloc.decode("ascii"),
        "User-Agent": _USER_AGENT,
        "Accept": "text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8",
        # No br/zstd: fewer decoders, and gzip output is counted against the cap.
        "Accept-Encoding": "gzip, deflate",
    }
    extensions = {"sni_hostname": url.raw_host.decode("ascii")}
    pinned = url.copy_with(host=address.split("%", 1)[0])
    return httpx.Request(
        method, pinned, headers=headers, data=data, extensions=extensions
    )


async def _read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


def _with_redirects(fetched: Fetched, redirects: list[str]) -> Fetched:
    if not redirects:
        return fetched
    return replace(fetched, redirects=tuple(redirects))
