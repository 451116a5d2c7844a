"""web_fetch and web_search: address checks, pinning, redirects, limits, parsing.

No test reaches the internet: requests go to ``httpx.MockTransport`` with a fake
resolver, and the refusal tests also run against a real HTTP server on
127.0.0.1 that counts its hits, to prove the refusal happens before connecting.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from loom.adapters.tools import ToolContext, ToolRunner
from loom.adapters.tools._web_ddg import unwrap
from loom.adapters.tools._web_net import refusal, system_resolver
from loom.adapters.tools.base import ToolError
from loom.adapters.tools.web import WebAccess, WebFetch, WebSearch

FIXTURES = Path(__file__).parents[2] / "fixtures" / "web"
PUBLIC = "93.184.215.14"
DNS = {
    "example.com": [PUBLIC],
    "docs.example.com": ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "html.duckduckgo.com": ["52.142.124.215"],
    "intranet.example.com": ["10.1.2.3"],
    "mixed.example.com": [PUBLIC, "192.168.1.10"],
    "cgnat.example.com": ["100.64.0.7"],
    "v6private.example.com": ["fd12:3456::1"],
    "mapped.example.com": ["::ffff:127.0.0.1"],
}

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport factory that remembers every request it was sent."""

    def __init__(self, handler: Handler) -> None:
        self.requests: list[httpx.Request] = []
        self._handler = handler

    def __call__(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._handler(request)


class FakeDNS:
    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table = DNS if table is None else table
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.table:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return self.table[host]


def html(body: str, status: int = 200) -> httpx.Response:
    return httpx.Response(status, text=body, headers={"content-type": "text/html"})


def fetch_tool(
    handler: Handler, dns: FakeDNS | None = None
) -> tuple[WebFetch, Recorder]:
    recorder = Recorder(handler)
    return WebFetch(WebAccess(recorder, dns or FakeDNS())), recorder


async def fetch(tool: WebFetch, ctx: ToolContext, url: str, **extra: int) -> str:
    return await tool.run(WebFetch.Args(url=url, **extra), ctx)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8080/admin",
        "http://[::1]/",
        "http://0.0.0.0/",
        "http://10.0.0.5/",
        "http://172.16.4.4/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fe80::1]/",
        "http://100.64.1.1/",
        "http://224.0.0.251/",
        "http://240.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://intranet.example.com/",
        "http://mixed.example.com/",
        "http://cgnat.example.com/",
        "http://v6private.example.com/",
        "http://mapped.example.com/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://METADATA.google.internal./",
    ],
)
async def test_non_public_targets_are_refused_before_any_request(
    ctx: ToolContext, url: str
) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        if host in DNS:
            return DNS[host]
        return await system_resolver(host, port)  # localhost and odd IP forms only

    recorder = Recorder(lambda request: html("secret"))
    tool = WebFetch(WebAccess(recorder, resolver))
    with pytest.raises(ToolError, match="refusing"):
        await fetch(tool, ctx, url)
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("127.0.0.2", "loopback"),
        ("fe80::1%eth0", "link-local"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("fc00::1", "private"),
        ("2002:0a00:0001::1", "private"),
        ("64:ff9b::a00:1", "private"),
        ("ff02::1", "multicast"),
        ("192.0.2.1", "private"),
    ],
)
def test_address_verdicts(address: str, reason: str | None) -> None:
    verdict = refusal(address)
    if reason is None:
        assert verdict is None
    else:
        assert verdict is not None
        assert reason in verdict


class _Counting(BaseHTTPRequestHandler):
    hits: list[str]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = b"internal secret"
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[tuple[int, list[str]]]:
    hits: list[str] = []
    handler = type("Handler", (_Counting,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_a_real_local_server_is_never_contacted(
    runner: ToolRunner, local_server: tuple[int, list[str]]
) -> None:
    port, hits = local_server
    async with httpx.AsyncClient() as client:  # the server does answer plain clients
        assert (await client.get(f"http://127.0.0.1:{port}/control")).text == (
            "internal secret"
        )
    assert hits == ["/control"]
    for host in ("127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "127.1"):
        result = await runner.call("web_fetch", {"url": f"http://{host}:{port}/x"})
        assert result.is_error
        assert "refusing" in result.text
    assert hits == ["/control"]


async def test_requests_go_to_the_vetted_address_with_the_name_kept(
    ctx: ToolContext,
) -> None:
    dns = FakeDNS()
    tool, recorder = fetch_tool(lambda request: html("<p>hello</p>"), dns)
    await fetch(tool, ctx, "https://example.com/page?q=1")
    await fetch(tool, ctx, "https://docs.example.com:8443/")
    first, second = recorder.requests
    assert first.url == httpx.URL(f"https://{PUBLIC}/page?q=1")
    assert first.headers["host"] == "example.com"
    assert first.extensions["sni_hostname"] == "example.com"
    assert second.url.host == "2606:2800:21f:cb07:6820:80da:af6b:8b2c"
    assert second.headers["host"] == "docs.example.com:8443"
    assert dns.lookups == ["example.com", "docs.example.com"]


async def test_dns_is_asked_once_per_hop_so_rebinding_has_nothing_to_act_on(
    ctx: ToolContext,
) -> None:
    answers = iter([[PUBLIC], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    recorder = Recorder(lambda request: html("<p>public page</p>"))
    text = await fetch(
        WebFetch(WebAccess(recorder, rebinding)), ctx, "http://rebind.test/"
    )
    assert "public page" in text
    assert [r.url.host for r in recorder.requests] == [PUBLIC]


async def test_a_redirect_to_a_private_address_is_refused(ctx: ToolContext) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "http://127.0.0.1:9/admin"})

    tool, recorder = fetch_tool(handler)
    with pytest.raises(
        ToolError, match=r"loopback.*redirected from http://example\.com/"
    ):
        await fetch(tool, ctx, "http://example.com/")
    assert len(recorder.requests) == 1


async def test_a_redirect_to_a_name_that_resolves_privately_is_refused(
    ctx: ToolContext,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            301, headers={"location": "https://intranet.example.com/"}
        )

    tool, recorder = fetch_tool(handler)
    with pytest.raises(ToolError, match=r"10\.1\.2\.3, a private address"):
        await fetch(tool, ctx, "http://example.com/")
    assert len(recorder.requests) == 1


async def test_redirects_are_followed_and_reported(ctx: ToolContext) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old":
            return httpx.Response(301, headers={"location": "/new"})
        if request.url.path == "/new":
            return httpx.Response(
                302, headers={"location": "https://docs.example.com/x"}
            )
        return html("<h1>Arrived</h1>")

    tool, recorder = fetch_tool(handler)
    text = await fetch(tool, ctx, "http://example.com/old")
    assert "URL: https://docs.example.com/x" in text
    assert "Redirected from: http://example.com/old -> http://example.com/new" in text
    assert "# Arrived" in text
    assert [r.headers["host"] for r in recorder.requests] == [
        "example.com",
        "example.com",
        "docs.example.com",
    ]


async def test_redirect_loops_stop_after_five(ctx: ToolContext) -> None:
    tool, recorder = fetch_tool(
        lambda request: httpx.Response(302, headers={"location": "/again"})
    )
    with pytest.raises(ToolError, match="more than 5 redirects"):
        await fetch(tool, ctx, "http://example.com/")
    assert len(recorder.requests) == 6


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://example.com/", "//x"]
)
async def test_only_http_and_https_are_fetched(ctx: ToolContext, url: str) -> None:
    tool, recorder = fetch_tool(lambda request: html("x"))
    with pytest.raises(ToolError, match=r"only http and https|invalid URL"):
        await fetch(tool, ctx, url)
    assert recorder.requests == []


async def test_a_redirect_to_another_scheme_is_refused(ctx: ToolContext) -> None:
    tool, _ = fetch_tool(
        lambda request: httpx.Response(302, headers={"location": "file:///etc/passwd"})
    )
    with pytest.raises(ToolError, match="only http and https"):
        await fetch(tool, ctx, "http://example.com/")


async def test_unresolvable_names_are_a_clear_error(ctx: ToolContext) -> None:
    tool, _ = fetch_tool(lambda request: html("x"))
    with pytest.raises(ToolError, match=r"could not resolve nowhere\.invalid"):
        await fetch(tool, ctx, "http://nowhere.invalid/")


async def test_the_body_is_capped_while_streaming(ctx: ToolContext) -> None:
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for n in range(1000):
            sent.append(n)
            yield b"a" * 65_536

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/plain"}, content=endless()
        )

    recorder = Recorder(handler)
    tool = WebFetch(WebAccess(recorder, FakeDNS(), max_bytes=200_000))
    text = await fetch(tool, ctx, "http://example.com/big", max_chars=1000)
    assert "Note: the body was cut at 200000 bytes" in text
    assert "[cut at 1000 of 200000 characters" in text
    assert len(sent) < 10


async def test_the_default_cap_is_two_megabytes(ctx: ToolContext) -> None:
    body = b"b" * 3_000_000
    tool, _ = fetch_tool(
        lambda request: httpx.Response(
            200, headers={"content-type": "text/plain"}, content=body
        )
    )
    text = await fetch(tool, ctx, "http://example.com/")
    assert "the body was cut at 2000000 bytes" in text


async def test_html_becomes_readable_text(ctx: ToolContext) -> None:
    page = (FIXTURES / "article.html").read_text()
    tool, _ = fetch_tool(lambda request: html(page))
    text = await fetch(tool, ctx, "https://example.com/posts/es")
    assert "Title: Event Sourcing in Practice — Loom Blog" in text
    assert "\n# Event Sourcing in Practice\n" in text
    assert "\n## Why replay matters\n" in text
    assert "By [Ada](https://example.com/authors/ada) · March 2024" in text
    assert "See the [replay guide](https://example.org/replay) for details." in text
    assert "immutable fact. Projections are folded from it." in text
    assert "- Audit trail for free\n- Time travel debugging" in text
    assert "def fold(state, event):\n    return state.apply(event)" in text
    assert "Store | Latency\nSQLite | 0.2 ms" in text
    for hidden in ("TRACKING-CODE", "font-family", "Log in", "enable JavaScript"):
        assert hidden not in text


async def test_json_is_pretty_printed_and_text_kept(ctx: ToolContext) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api":
            return httpx.Response(200, json={"name": "loom", "tags": ["a", "b"]})
        return httpx.Response(
            200, text="line one\n  line two\n", headers={"content-type": "text/plain"}
        )

    tool, _ = fetch_tool(handler)
    api = await fetch(tool, ctx, "http://example.com/api")
    assert json.dumps({"name": "loom", "tags": ["a", "b"]}, indent=2) in api
    plain = await fetch(tool, ctx, "http://example.com/readme.txt")
    assert plain.endswith("line one\n  line two\n")


async def test_binary_content_is_described_not_downloaded(ctx: ToolContext) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "application/pdf", "content-length": "5"}
        return httpx.Response(200, content=b"%PDF-", headers=headers)

    tool, _ = fetch_tool(handler)
    text = await fetch(tool, ctx, "http://example.com/paper.pdf")
    assert "(application/pdf, 5 bytes;" in text
    assert "%PDF" not in text


async def test_the_charset_is_honoured(ctx: ToolContext) -> None:
    body = "<p>café</p>".encode("latin-1")
    tool, _ = fetch_tool(
        lambda request: httpx.Response(
            200, content=body, headers={"content-type": "text/html; charset=ISO-8859-1"}
        )
    )
    assert "café" in await fetch(tool, ctx, "http://example.com/")


async def test_error_statuses_are_reported(ctx: ToolContext) -> None:
    tool, _ = fetch_tool(lambda request: html("<h1>Not Found</h1>", status=404))
    text = await fetch(tool, ctx, "http://example.com/missing")
    assert "Status: 404 Not Found" in text


async def test_transport_failures_become_tool_errors(ctx: ToolContext) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    tool, _ = fetch_tool(handler)
    with pytest.raises(ToolError, match="timed out"):
        await fetch(tool, ctx, "http://example.com/")


def ddg_tool(page: str, status: int = 200) -> tuple[WebSearch, Recorder]:
    recorder = Recorder(lambda request: html(page, status))
    return WebSearch(WebAccess(recorder, FakeDNS())), recorder


async def test_search_parses_duckduckgo_results(ctx: ToolContext) -> None:
    tool, recorder = ddg_tool((FIXTURES / "ddg_results.html").read_text())
    text = await tool.run(WebSearch.Args(query="python asyncio timeout"), ctx)
    (request,) = recorder.requests
    assert request.method == "POST"
    assert request.headers["host"] == "html.duckduckgo.com"
    assert request.url.host == "52.142.124.215"
    assert b"q=python+asyncio+timeout" in request.content
    assert text.startswith(
        "1. Coroutines and Tasks — Python 3.12.4 documentation\n"
        "   https://docs.python.org/3/library/asyncio-task.html#timeouts\n"
        "   An asynchronous context manager for cancelling overdue coroutines."
    )
    assert "2. python - asyncio force timeout - Stack Overflow\n" in text
    assert "   https://superfastpython.com/asyncio-timeout/\n" in text
    assert "4. PEP 654 \u2013 Exception Groups and except* | peps.python.org" in text
    assert "Learn Python Fast" not in text  # the ad
    assert "\n\n5. " not in text


async def test_search_returns_the_top_n(ctx: ToolContext) -> None:
    tool, _ = ddg_tool((FIXTURES / "ddg_results.html").read_text())
    text = await tool.run(WebSearch.Args(query="asyncio", max_results=2), ctx)
    assert "2. python - asyncio force timeout" in text
    assert "\n\n3. " not in text


async def test_search_without_results(ctx: ToolContext) -> None:
    tool, _ = ddg_tool((FIXTURES / "ddg_no_results.html").read_text())
    text = await tool.run(WebSearch.Args(query="qwxzvkjhq"), ctx)
    assert text == "no results for 'qwxzvkjhq'"


async def test_a_bot_check_page_is_an_error(ctx: ToolContext) -> None:
    tool, _ = ddg_tool(
        '<div class="anomaly-modal__title">Unfortunately, bots</div>', 202
    )
    with pytest.raises(ToolError, match="bot check"):
        await tool.run(WebSearch.Args(query="x"), ctx)


@pytest.mark.parametrize(
    ("href", "url"),
    [
        (
            "//duckduckgo.com/l/?uddg=https%3A%2F%2Fa.example%2Fp%3Fx%3D1%26y%3D2&rut=z",
            "https://a.example/p?x=1&y=2",
        ),
        ("https://duckduckgo.com/y.js?ad_domain=x", ""),
        ("https://plain.example/", "https://plain.example/"),
    ],
)
def test_duckduckgo_links_are_unwrapped(href: str, url: str) -> None:
    assert unwrap(href) == url


def test_the_tools_are_registered_as_network_tools() -> None:
    assert WebFetch.kind == WebSearch.kind == "network"
    assert set(WebFetch.spec().parameters["properties"]) == {"url", "max_chars"}
