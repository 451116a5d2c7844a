"""Reading ``...`` lines in ``old`` as "everything in between".

Each stretch of ``old`` between markers is a segment. The first segment may
fit anywhere; each later one is taken at its nearest fit after the previous
one that keeps the code's structure: the same indentation shift as the rest
of ``old``, and no elided line leaving the block the match sits in.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from loom.domain._editing_lines import Document, Query
from loom.domain._editing_shift import Shift
from loom.domain._editing_windows import Match, Pair, pairs_at, segment_windows

__all__ = ["chains"]

# An elision longer than this is refused rather than searched to the end.
_MAX_ELIDED_LINES = 3_000
_TRAILING_COMMENT = re.compile(r"\s+(?:#|//).*$")
_DEFINITION = re.compile(
    r"@\w|(?:(?:export|pub|public|private|protected|static|async)\s+)*"
    r"(?:def|class|function|func|fn|interface|struct|impl|module)\b"
)


def chains(doc: Document, query: Query, cutoff: int) -> list[Match]:
    """For each place the first segment fits, the nearest fit of the rest.

    When the last segment fits a second time before the block it sits in
    ends, that reading is a candidate too, so the edit is refused as ambiguous
    rather than guessed.
    """
    windows = [segment_windows(doc, query, s, cutoff) for s in query.segments]
    found: list[Match] = []
    for start, cost in windows[0]:
        head = pairs_at(doc, query.segments[0], start)
        for chain in _chain(doc, query, windows, head):
            if chain.cost + cost <= cutoff:
                found.append(Match(chain.cost + cost, chain.pairs, chain.gaps, True))
    return found


def _chain(
    doc: Document, query: Query, windows: list[list[tuple[int, int]]], head: list[Pair]
) -> list[Match]:
    """Extend ``head`` segment by segment; the cost counts the later ones only."""
    pairs, gaps, cost = list(head), [], 0
    steps = list(zip(query.segments[1:], windows[1:], strict=True))
    for segment, fits in steps[:-1]:
        found = _next_segments(doc, query, pairs, segment, fits)
        if not found:
            return []
        more, more_cost = found[0]
        gaps.append((pairs[-1][1] + 1, more[0][1]))
        pairs, cost = pairs + more, cost + more_cost
    segment, fits = steps[-1]
    return [
        Match(
            cost + more_cost,
            tuple(pairs + more),
            (*gaps, (pairs[-1][1] + 1, more[0][1])),
        )
        for more, more_cost in _next_segments(doc, query, pairs, segment, fits)
    ]


def _next_segments(
    doc: Document,
    query: Query,
    pairs: list[Pair],
    segment: list[int],
    fits: list[tuple[int, int]],
) -> list[tuple[list[Pair], int]]:
    """The nearest fit of ``segment`` after ``pairs`` that keeps the structure,
    and the next one too if it is still in the same block."""
    gap = _Gap.after(doc, pairs)
    first = bisect_left(fits, (bisect_right(doc.nb, pairs[-1][1]), -1))
    found: list[tuple[list[Pair], int]] = []
    for start, cost in fits[first:]:
        more = pairs_at(doc, segment, start)
        gap.scan(more[0][1])
        if gap.closed or (found and gap.boundary):
            break
        if gap.admits(more) and _indent_agrees(doc, query, pairs + more):
            found.append((more, cost))
            if len(found) == 2:
                break
    return found


def _indent_agrees(doc: Document, query: Query, pairs: list[Pair]) -> bool:
    """Whether one indentation shift maps every ``old`` line to its file line.

    This is what keeps ``def f():`` / ``...`` / ``    return x`` from ending
    at a deeper ``return x`` inside ``f``.
    """
    return Shift.measure(doc, query.lines, pairs).consistent


@dataclass
class _Gap:
    """The lines an elision skips, scanned once as later fits are tried.

    Attributes:
        head: Indentation of the match's first line.
        floor: Least indentation of the lines matched so far.
        least: Least indentation of the non-blank lines scanned.
        seen: How many non-blank lines were scanned.
        closed: A definition (``def``, ``class``, ``func``...) at or left of
            the first line was passed, or too many lines: ``def f():`` /
            ``...`` / ``return x`` must not run on into the next function.
        boundary: A new block at or left of the first line, or a line left of
            all matched lines, was passed: a second fit beyond it is no rival.
    """

    doc: Document
    tab: int
    head: int
    floor: int
    start: int
    next: int
    least: int
    seen: int = 0
    closed: bool = False
    boundary: bool = False

    @classmethod
    def after(cls, doc: Document, pairs: list[Pair]) -> _Gap:
        """The gap that opens after the last of ``pairs``."""
        tab = Shift.tab_width(doc, pairs[0][1])
        head = doc.indent_cols(pairs[0][1], tab)
        floor = min(doc.indent_cols(f, tab) for _, f in pairs)
        start = pairs[-1][1] + 1
        return cls(doc, tab, head, floor, start, start, floor)

    def scan(self, stop: int) -> None:
        """Take in the lines up to ``stop`` (exclusive)."""
        if stop - self.start > _MAX_ELIDED_LINES:
            self.closed = True
        while self.next < stop and not self.closed:
            line, self.next = self.next, self.next + 1
            if self.doc.keys[line]:
                self._take(self.doc.indent_cols(line, self.tab), self.doc.body(line))

    def _take(self, width: int, body: str) -> None:
        self.seen += 1
        self.least = min(self.least, width)
        if width <= self.head and _defines(body):
            self.closed = True
        if width < self.floor or (width <= self.head and _opens(body)):
            self.boundary = True

    def admits(self, more: list[Pair]) -> bool:
        """Whether the gap so far may end where ``more`` starts.

        A marker stands for at least one line, and no elided line may be less
        indented than every matched line.
        """
        tail = min(self.doc.indent_cols(f, self.tab) for _, f in more)
        return self.seen > 0 and self.least >= min(tail, self.floor)


def _defines(line: str) -> bool:
    """Whether ``line`` starts a definition (function, class, decorator...)."""
    return _DEFINITION.match(line.strip()) is not None


def _opens(line: str) -> bool:
    """Whether ``line`` ends by opening a block, ignoring a trailing comment."""
    return _TRAILING_COMMENT.sub("", line).rstrip().endswith((":", "{"))
