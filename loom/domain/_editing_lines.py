"""The line model behind :mod:`loom.domain.editing`.

A file and an ``old`` string are both seen as lines. Each line has a *key*: the
line with every ASCII whitespace character removed, which is what tolerant
matching compares, so indentation depth, tabs, trailing spaces, CR and spacing
inside a line never count as differences. Blank lines have an empty key and
take no part in matching, so an added or dropped blank line is invisible too.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise

__all__ = [
    "Document",
    "Query",
    "cols",
    "dominant_crlf",
    "indent_of",
    "is_marker",
    "keys_of",
    "line_key",
    "line_range",
    "split_lines",
]

_WHITESPACE = b" \t\r\f\v"

# A line standing for "everything in between": `...`, `…`, or either inside a
# comment, optionally with a few words ("# ... existing code ...").
_MARKER = re.compile(
    r"(?:#+|//+|/\*+|--|;+|<!--)?\s*(?:\.{3,}|\u2026)"
    r"(?:\s+[A-Za-z][\w\s,'()-]*?)?\s*(?:\.{3,}|\u2026)?\s*(?:\*+/|-->)?"
)

# How far around a match to look when guessing the file's indentation step.
_NEIGHBOURHOOD = 200


def keys_of(text: str) -> list[str]:
    """The key of every ``\\n``-separated line of ``text``.

    The whole text is stripped of whitespace in one pass over its bytes, which
    is many times faster than stripping line by line on a long file.
    """
    raw = text.encode("utf-8", "surrogatepass").translate(None, _WHITESPACE)
    return raw.decode("utf-8", "surrogatepass").split("\n")


def line_key(line: str) -> str:
    """The key of a single line."""
    raw = line.encode("utf-8", "surrogatepass").translate(None, _WHITESPACE)
    return raw.decode("utf-8", "surrogatepass")


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` without their line endings (CRLF or LF).

    A final line ending does not start another, empty, line.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def dominant_crlf(text: str) -> bool:
    """Whether most line endings in ``text`` are CRLF."""
    crlf = text.count("\r\n")
    return crlf > text.count("\n") - crlf


def indent_of(line: str) -> str:
    """The leading spaces and tabs of ``line``."""
    return line[: len(line) - len(line.lstrip(" \t"))]


def cols(indent: str, tab: int) -> int:
    """The width of ``indent`` when a tab counts ``tab`` columns."""
    tabs = indent.count("\t")
    return tabs * tab + len(indent) - tabs


def is_marker(line: str) -> bool:
    """Whether ``line`` is an elision marker such as ``...`` or ``# ...``."""
    return _MARKER.fullmatch(line.strip()) is not None


def line_range(first: int, last: int) -> str:
    """1-based, human wording of the 0-based inclusive range ``first..last``."""
    if first == last:
        return f"line {first + 1}"
    return f"lines {first + 1}-{last + 1}"


@dataclass
class Document:
    """A file's text seen as lines.

    Attributes:
        parts: ``text.split("\\n")``: each line with its CR, if any; the last
            part is empty when the text ends with a line ending.
        keys: The key of each part.
        nb: Indices of the non-blank lines.
        nb_keys: The keys of the non-blank lines, for the fuzzy search.
        crlf: Whether the file mostly ends its lines with CRLF.
    """

    parts: list[str]
    keys: list[str]
    nb: list[int]
    nb_keys: list[str]
    crlf: bool
    _styles: dict[int, tuple[bool, int]] = field(
        default_factory=dict, init=False, repr=False
    )

    @classmethod
    def parse(cls, text: str) -> Document:
        """Split ``text`` into lines and keys."""
        keys = keys_of(text)
        nb = [i for i, key in enumerate(keys) if key]
        nb_keys = [keys[i] for i in nb]
        return cls(text.split("\n"), keys, nb, nb_keys, dominant_crlf(text))

    def body(self, index: int) -> str:
        """Line ``index`` without its line ending."""
        part = self.parts[index]
        return part[:-1] if part.endswith("\r") else part

    def indent(self, index: int) -> str:
        """The indentation of line ``index``."""
        return indent_of(self.parts[index])

    def indent_cols(self, index: int, tab: int) -> int:
        """The width of line ``index``'s indentation, a tab counting ``tab``."""
        return cols(self.indent(index), tab)

    def style(self, around: int) -> tuple[bool, int]:
        """How the lines near line ``around`` are indented.

        Returns:
            Whether they indent with tabs, and their usual indentation step in
            spaces: the most common increase from one non-blank line to the
            next, 4 when nothing is indented.
        """
        if around not in self._styles:
            self._styles[around] = self._measure_style(around)
        return self._styles[around]

    def _measure_style(self, around: int) -> tuple[bool, int]:
        indents = [self.indent(i) for i in self._near(around)]
        firsts = Counter(indent[:1] for indent in indents)
        widths = [len(indent) for indent in indents]
        steps = Counter(b - a for a, b in pairwise(widths))
        common = [step for step, _ in steps.most_common() if 0 < step <= 8]
        return firsts["\t"] > firsts[" "], common[0] if common else 4

    def _near(self, around: int) -> list[int]:
        """The non-blank lines within a fixed distance of line ``around``."""
        low = bisect_left(self.nb, around - _NEIGHBOURHOOD)
        high = bisect_right(self.nb, around + _NEIGHBOURHOOD)
        return self.nb[low:high]


@dataclass(frozen=True)
class Query:
    """The ``old`` string seen as lines, split into segments at elisions.

    Attributes:
        lines: The lines of ``old`` without line endings.
        keys: The key of each line.
        segments: For each stretch between elision markers, the indices of
            its non-blank lines; a single segment when nothing is elided.
    """

    lines: list[str]
    keys: list[str]
    segments: list[list[int]]

    @classmethod
    def literal(cls, old: str) -> Query:
        """Every non-blank line of ``old``, markers included, as one segment."""
        lines = split_lines(old)
        keys = [line_key(line) for line in lines]
        return cls(lines, keys, [[i for i, key in enumerate(keys) if key]])

    @classmethod
    def elided(cls, old: str) -> Query:
        """``old`` split at its elision markers; leading and trailing ones drop."""
        literal = cls.literal(old)
        segments: list[list[int]] = [[]]
        for i in literal.segments[0]:
            if is_marker(literal.lines[i]):
                segments.append([])
            else:
                segments[-1].append(i)
        kept = [segment for segment in segments if segment]
        return cls(literal.lines, literal.keys, kept)

    @property
    def indices(self) -> list[int]:
        """The indices of all matched lines, in order."""
        return [i for segment in self.segments for i in segment]

    @property
    def size(self) -> int:
        """How many non-whitespace characters the matched lines hold."""
        return sum(len(self.keys[i]) for i in self.indices)
