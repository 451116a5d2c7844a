"""HTML to readable text for the web tools (private), with the stdlib parser.

``html.parser`` is used rather than lxml: it needs nothing beyond the standard
library, never raises on broken markup, and a page only needs one linear pass.
Scripts, styles, navigation and other chrome are dropped; headings become
Markdown ``#`` lines, links ``[text](url)``, list items ``- item``, table rows
``a | b``; ``<pre>`` keeps its whitespace and everything else is reflowed.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin

__all__ = ["html_to_text"]

_SKIP = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "nav",
        "svg",
        "canvas",
        "iframe",
        "object",
        "head",
        "select",
        "button",
        "dialog",
    }
)
_BLOCKS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "header",
        "footer",
        "aside",
        "blockquote",
        "figure",
        "figcaption",
        "form",
        "fieldset",
        "table",
        "thead",
        "tbody",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "hr",
        "address",
        "details",
        "summary",
    }
)
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
# Inside <pre> a newline and a space are stored as these so the final reflow,
# which collapses whitespace, leaves preformatted text alone.
_PRE_NEWLINE, _PRE_SPACE = "\x01", "\x02"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SPACES = re.compile(r"\s+")
_SKIPPED_LINKS = ("#", "javascript:", "data:")


def html_to_text(html: str, base_url: str = "") -> str:
    """The readable text of an HTML page, with its title first when it has one."""
    parser = _Extractor(base_url)
    parser.feed(html)
    parser.close()
    body = _reflow("".join(parser.out))
    title = _SPACES.sub(" ", "".join(parser.title)).strip()
    return f"Title: {title}\n\n{body}" if title else body


class _Extractor(HTMLParser):
    def __init__(self, base_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base_url = base_url
        self.out: list[str] = []
        self.title: list[str] = []
        self._skip: list[str] = []
        self._pre = 0
        self._in_title = False
        self._links: list[tuple[int, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in _SKIP:
            self._skip.append(tag)
        elif not self._skip:
            self._open(tag, dict(attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self._skip and tag not in _SKIP:
            self._open(tag, dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _SKIP:
            if tag in self._skip:
                del self._skip[len(self._skip) - 1 - self._skip[::-1].index(tag) :]
        elif not self._skip:
            self._close(tag)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        if self._skip:
            return
        data = _CONTROL.sub("", data)
        if self._pre:
            data = data.replace("\n", _PRE_NEWLINE).replace(" ", _PRE_SPACE)
        else:
            data = _SPACES.sub(" ", data)
        self.out.append(data)

    def _open(self, tag: str, attrs: dict[str, str | None]) -> None:
        if tag in _HEADINGS:
            self.out.append("\n\n" + "#" * _HEADINGS[tag] + " ")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in ("br", "tr"):
            self.out.append("\n")
        elif tag in ("td", "th"):
            self.out.append(" | ")
        elif tag == "pre":
            self.out.append("\n\n")
            self._pre += 1
        elif tag == "a":
            self._links.append((len(self.out), attrs.get("href")))
        elif tag == "img" and attrs.get("alt"):
            self.out.append(f" [image: {attrs['alt']}] ")
        elif tag in _BLOCKS:
            self.out.append("\n\n")

    def _close(self, tag: str) -> None:
        if tag in _HEADINGS or tag in _BLOCKS or tag == "pre":
            self.out.append("\n\n")
            if tag == "pre":
                self._pre = max(0, self._pre - 1)
        elif tag == "a" and self._links:
            self._close_link(*self._links.pop())

    def _close_link(self, start: int, href: str | None) -> None:
        text = _SPACES.sub(" ", "".join(self.out[start:])).strip()
        if not href or not text or href.startswith(_SKIPPED_LINKS):
            return
        url = urljoin(self.base_url, href.strip())
        if url != text:
            self.out[start:] = [f"[{text}]({url})"]


def _reflow(text: str) -> str:
    lines = []
    for raw in text.split("\n"):
        line = _SPACES.sub(" ", raw).strip(" ")
        if line.startswith("| "):
            line = line[2:]
        lines.append(line.replace(_PRE_SPACE, " ").replace(_PRE_NEWLINE, "\n"))
    joined = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", joined).strip()
