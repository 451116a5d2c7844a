"""DuckDuckGo's HTML results page, parsed (private).

The page at ``https://html.duckduckgo.com/html/`` needs no API key and no
JavaScript. Each hit is a ``div.result`` holding ``a.result__a`` (title and
link), ``a.result__url`` (the shown address) and ``.result__snippet``. Links
usually go through DuckDuckGo's redirector ``//duckduckgo.com/l/?uddg=<url>``,
which is unwrapped here; ads (``div.result--ad``, links to ``/y.js``) are
dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

__all__ = ["SEARCH_URL", "SearchResult", "looks_blocked", "parse_results"]

SEARCH_URL = "https://html.duckduckgo.com/html/"
_SPACES = re.compile(r"\s+")


@dataclass
class SearchResult:
    """One hit: its title, the real URL and the snippet."""

    title: str
    url: str
    snippet: str = ""
    ad: bool = False


def parse_results(html: str) -> list[SearchResult]:
    """The organic results on a DuckDuckGo HTML page, in order."""
    parser = _ResultParser()
    parser.feed(html)
    parser.close()
    return [r for r in parser.results if not r.ad and r.url and r.title]


def looks_blocked(html: str) -> bool:
    """True for DuckDuckGo's "are you a robot" page instead of results."""
    return "anomaly-modal" in html or "challenge-form" in html


def unwrap(href: str) -> str:
    """The destination of a DuckDuckGo redirect link (other links as they are)."""
    absolute = urljoin(SEARCH_URL, href)
    parts = urlsplit(absolute)
    if parts.hostname and parts.hostname.endswith("duckduckgo.com"):
        if parts.path == "/l/":
            target = parse_qs(parts.query).get("uddg")
            return target[0] if target else ""
        if parts.path == "/y.js":
            return ""
    return absolute


class _ResultParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.results: list[SearchResult] = []
        self._ad = False
        self._capture: list[tuple[str, str]] = []  # (tag, part) being collected
        self._parts: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        classes = (values.get("class") or "").split()
        if tag == "div" and "result" in classes:
            self._ad = "result--ad" in classes
        if "result__a" in classes:
            href = unwrap(values.get("href") or "")
            self.results.append(SearchResult("", href, ad=self._ad or not href))
            self._capture.append((tag, "title"))
        elif self.results and "result__snippet" in classes:
            self._capture.append((tag, "snippet"))
        elif self._capture and tag == self._capture[-1][0]:
            self._capture.append((tag, ""))  # a nested element of the same tag

    def handle_endtag(self, tag: str) -> None:
        if self._capture and self._capture[-1][0] == tag:
            self._capture.pop()
            if not self._capture:
                self._finish_parts()

    def handle_data(self, data: str) -> None:
        if self._capture and self.results:
            part = next(p for _, p in reversed(self._capture) if p)
            self._parts.setdefault(part, []).append(data)

    def _finish_parts(self) -> None:
        result = self.results[-1]
        for part, pieces in self._parts.items():
            setattr(result, part, _SPACES.sub(" ", "".join(pieces)).strip())
        self._parts = {}
