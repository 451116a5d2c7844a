"""Reading the web: fetching a page as text, and searching with DuckDuckGo.

Both tools go through :class:`~loom.adapters.tools._web_net.WebAccess`, which
only reaches public addresses, pins the address it checked (so DNS rebinding
cannot redirect the connection), re-checks every redirect and caps size and
time. The transport and the resolver are injected, so tests use
``httpx.MockTransport`` and never touch the internet.
"""

from __future__ import annotations

import json
import re

from pydantic import Field

from loom.adapters.tools._web_ddg import SEARCH_URL, looks_blocked, parse_results
from loom.adapters.tools._web_html import html_to_text
from loom.adapters.tools._web_net import Fetched, WebAccess, textual
from loom.adapters.tools.base import Tool, ToolArgs, ToolContext, ToolError

__all__ = ["WebAccess", "WebFetch", "WebSearch", "readable_text"]

_DEFAULT_CHARS = 20_000
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", re.I)
_HTML_START = re.compile(
    rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)", re.I | re.S
)


class WebFetchArgs(ToolArgs):
    url: str = Field(description="The http:// or https:// address to fetch.")
    max_chars: int = Field(
        default=_DEFAULT_CHARS,
        ge=200,
        le=100_000,
        description="Most characters of page text to return.",
    )


class WebFetch(Tool):
    name = "web_fetch"
    description = (
        "Fetch a public web page and return its readable text (HTML is converted "
        "to text with headings, lists and [links](url); JSON is pretty-printed). "
        "Only public internet addresses can be fetched."
    )
    kind = "network"
    Args = WebFetchArgs

    def __init__(self, web: WebAccess | None = None) -> None:
        self.web = web or WebAccess()

    async def run(self, args: WebFetchArgs, ctx: ToolContext) -> str:
        fetched = await self.web.fetch(args.url.strip())
        text = readable_text(fetched)
        if len(text) > args.max_chars:
            text = (
                f"{text[: args.max_chars]}\n[cut at {args.max_chars} of {len(text)} "
                "characters; raise max_chars to see more]"
            )
        return f"{_header(fetched)}\n\n{text}"


def _header(fetched: Fetched) -> str:
    lines = [f"URL: {fetched.url}"]
    if fetched.redirects:
        lines.append(f"Redirected from: {' -> '.join(fetched.redirects)}")
    lines.append(f"Status: {fetched.status} {fetched.reason}".rstrip())
    lines.append(f"Content-Type: {fetched.content_type or 'unknown'}")
    if fetched.truncated:
        lines.append(f"Note: the body was cut at {len(fetched.body)} bytes")
    return "\n".join(lines)


def readable_text(fetched: Fetched) -> str:
    """The body as text a model can read, or a description of what it is."""
    kind = fetched.content_type
    if not fetched.body:
        return "(empty body)" if textual(kind) else _describe(fetched)
    if kind in ("text/html", "application/xhtml+xml") or (
        not kind and _HTML_START.match(fetched.body)
    ):
        return html_to_text(_decode(fetched, html=True), fetched.url)
    text = _decode(fetched)
    if kind == "application/json" or kind.endswith("+json"):
        return _pretty_json(text, fetched.truncated)
    if not kind and "\x00" in text[:8192]:
        return _describe(fetched)
    return text


def _describe(fetched: Fetched) -> str:
    size = f"{fetched.length} bytes" if fetched.length is not None else "size unknown"
    return (
        f"({fetched.content_type or 'binary content'}, {size}; web_fetch shows "
        "only text, HTML and JSON, so the content is not shown)"
    )


def _decode(fetched: Fetched, *, html: bool = False) -> str:
    charset = fetched.charset
    if charset is None and html:
        found = _META_CHARSET.search(fetched.body[:4096])
        charset = found.group(1).decode("ascii").lower() if found else None
    try:
        return fetched.body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return fetched.body.decode("utf-8", errors="replace")


def _pretty_json(text: str, truncated: bool) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text if truncated else f"(the body is not valid JSON)\n{text}"


class WebSearchArgs(ToolArgs):
    query: str = Field(min_length=1, max_length=500, description="What to search for.")
    max_results: int = Field(
        default=8, ge=1, le=25, description="How many results to return."
    )


class WebSearch(Tool):
    name = "web_search"
    description = (
        "Search the web with DuckDuckGo; returns titles, URLs and snippets. Use "
        "web_fetch to read a result."
    )
    kind = "network"
    Args = WebSearchArgs

    def __init__(self, web: WebAccess | None = None) -> None:
        self.web = web or WebAccess()

    async def run(self, args: WebSearchArgs, ctx: ToolContext) -> str:
        fetched = await self.web.fetch(
            SEARCH_URL, method="POST", data={"q": args.query, "b": ""}
        )
        page = _decode(fetched, html=True)
        if fetched.status >= 400 or looks_blocked(page):
            raise ToolError(
                f"DuckDuckGo did not return results (HTTP {fetched.status}"
                f"{', a bot check' if looks_blocked(page) else ''}); try again later"
            )
        results = parse_results(page)[: args.max_results]
        if not results:
            return f"no results for {args.query!r}"
        return "\n\n".join(
            f"{n}. {r.title}\n   {r.url}" + (f"\n   {r.snippet}" if r.snippet else "")
            for n, r in enumerate(results, 1)
        )
