"""Windows of a file that line up with ``old``, and what they cost.

Matching is line by line on keys (see :mod:`loom.domain._editing_lines`):
``old``'s non-blank lines must line up one to one with consecutive non-blank
lines of the file. A window's *cost* is the number of single-character
insertions and deletions (Indel distance) needed to turn its keys into
``old``'s; a one-character typo costs 1 or 2.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Indel

from loom.domain._editing_lines import Document, Query

__all__ = ["Match", "Pair", "closest", "pairs_at", "segment_windows"]

# The cutoff per anchor line is the window's cutoff shared among the anchors;
# a new anchor is added for every two edits the cutoff allows, up to this many.
_MAX_ANCHORS = 4
_EDITS_PER_ANCHOR = 2
_CLOSEST_ANCHORS = 3
_CLOSEST_MIN_RATIO = 50.0

Pair = tuple[int, int]


@dataclass(frozen=True)
class Match:
    """Where ``old`` lines up with the file.

    Attributes:
        cost: Character edits between ``old``'s keys and the file's.
        pairs: ``(old line, file line)`` for every matched non-blank line.
        gaps: File lines ``[start, stop)`` elided by each marker in ``old``.
        elided: Whether ``old``'s markers were read as elisions.
    """

    cost: int
    pairs: tuple[Pair, ...]
    gaps: tuple[tuple[int, int], ...] = ()
    elided: bool = False

    @property
    def first(self) -> int:
        """The first file line of the match (0-based)."""
        return self.pairs[0][1]

    @property
    def last(self) -> int:
        """The last file line of the match (0-based, inclusive)."""
        return self.pairs[-1][1]


def segment_windows(
    doc: Document, query: Query, segment: list[int], cutoff: int
) -> list[tuple[int, int]]:
    """``(start, cost)`` of the windows, in non-blank lines, within ``cutoff``.

    Of any ``k`` lines of such a window, one is within ``cutoff // k`` of its
    file line, so fast scans of the file for ``old``'s longest lines yield
    every candidate start; more lines are scanned as the cutoff grows, to keep
    each scan selective.
    """
    keys = [query.keys[i] for i in segment]
    found: dict[int, int] = {}
    for start in _anchored_starts(doc, keys, cutoff):
        if start not in found:
            found[start] = _window_cost(keys, doc.nb_keys, start, cutoff)
    return sorted((start, cost) for start, cost in found.items() if cost <= cutoff)


def _anchored_starts(doc: Document, keys: list[str], cutoff: int) -> list[int]:
    """Window starts where one of the anchor lines is close to its file line."""
    count = min(len(keys), _MAX_ANCHORS, 1 + cutoff // _EDITS_PER_ANCHOR)
    anchors = sorted(range(len(keys)), key=lambda i: -len(keys[i]))[:count]
    last = len(doc.nb_keys) - len(keys)
    starts: list[int] = []
    for anchor in anchors:
        hits = process.extract(
            keys[anchor],
            doc.nb_keys,
            scorer=Indel.distance,
            score_cutoff=cutoff // count,
            limit=None,
        )
        starts += [p - anchor for _, _, p in hits if 0 <= p - anchor <= last]
    return starts


def _window_cost(keys: list[str], file_keys: list[str], start: int, cutoff: int) -> int:
    """The cost of the window at ``start``, or more than ``cutoff``."""
    cost = 0
    for offset, key in enumerate(keys):
        cost += _line_cost(key, file_keys[start + offset], cutoff - cost)
        if cost > cutoff:
            break
    return cost


def _line_cost(key: str, file_key: str, cutoff: int) -> int:
    """Indel distance, except that part of a line never passes for a typo.

    ``old`` lines that stop short of the file's (``foo(a)`` against
    ``x = foo(a)``) would otherwise cost little, and the edit would drop the
    rest of the line.
    """
    if key == file_key:
        return 0
    missing = len(file_key) - len(key)
    if missing >= 2 and (file_key.startswith(key) or file_key.endswith(key)):
        return cutoff + 1
    return int(Indel.distance(key, file_key, score_cutoff=cutoff))


def pairs_at(doc: Document, segment: list[int], start: int) -> list[Pair]:
    """Old line and file line of each line of a window starting at ``start``."""
    return list(zip(segment, doc.nb[start : start + len(segment)], strict=True))


# --- closest region for a refusal -----------------------------------------


def closest(doc: Document, query: Query, near: list[Match]) -> tuple[int, int] | None:
    """The file lines most like ``old``, to show the model what is there."""
    if near:
        return near[0].first, near[0].last
    keys = [query.keys[i] for i in query.indices]
    size = min(len(keys), len(doc.nb_keys))
    if size == 0:
        return None
    best: tuple[int, int] | None = None
    for start in _closest_starts(doc, keys, size):
        cost = sum(
            Indel.distance(k, doc.nb_keys[start + i]) for i, k in enumerate(keys[:size])
        )
        if best is None or cost < best[0]:
            best = (cost, start)
    if best is None:
        return None
    return doc.nb[best[1]], doc.nb[best[1] + size - 1]


def _closest_starts(doc: Document, keys: list[str], size: int) -> list[int]:
    """Window starts lined up on the lines most like ``old``'s longest lines."""
    longest = sorted(range(size), key=lambda i: -len(keys[i]))[:_CLOSEST_ANCHORS]
    starts: set[int] = set()
    for anchor in longest:
        hits = process.extract(
            keys[anchor],
            doc.nb_keys,
            scorer=fuzz.ratio,
            score_cutoff=_CLOSEST_MIN_RATIO,
            limit=_CLOSEST_ANCHORS,
        )
        for _, _, position in hits:
            starts.add(min(max(0, position - anchor), len(doc.nb_keys) - size))
    return sorted(starts)
