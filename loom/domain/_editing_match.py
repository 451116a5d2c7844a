"""Deciding which region of a file a drifted ``old`` means, or refusing to.

Candidates and their costs come from :mod:`loom.domain._editing_windows`
(and, for ``old`` with ``...`` lines, :mod:`loom.domain._editing_elide`).
The thresholds lean towards refusing: a refused edit costs the model one more
turn, a wrong edit silently breaks a file. So a window is accepted only when it
costs at most :func:`tolerance` and no other window comes anywhere near it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from loom.domain._editing_elide import chains
from loom.domain._editing_lines import Document, Query, is_marker
from loom.domain._editing_windows import Match, closest, pairs_at, segment_windows

__all__ = ["Ambiguous", "Found", "Match", "NotFound", "locate", "tolerance"]

# Below this many non-whitespace characters a single changed character is as
# likely a different line as a typo, so short `old`s must match exactly.
_MIN_FUZZY_SIZE = 12
_BASE_TOLERANCE = 2
_MAX_TOLERANCE = 6
_CHARS_PER_EXTRA_EDIT = 60
_TWIN_FRACTION = 10
_MAX_TWIN_EDITS = 60

_Finder = Callable[[Document, Query, int], list[Match]]


@dataclass(frozen=True)
class Found:
    """One region matches, clearly better than any other."""

    match: Match


@dataclass(frozen=True)
class Ambiguous:
    """Several regions match about equally well; the best comes first."""

    matches: tuple[Match, ...]


@dataclass(frozen=True)
class NotFound:
    """No region is close enough; ``closest`` is the most similar, if any."""

    closest: tuple[int, int] | None = field(default=None)


Outcome = Found | Ambiguous | NotFound


def tolerance(size: int) -> int:
    """How many character edits an ``old`` of ``size`` characters may be off by.

    Two (one substituted character) from 12 characters on, one more for every
    60 characters past 100, at most 6; nothing below 12.
    """
    if size < _MIN_FUZZY_SIZE:
        return 0
    extra = max(0, size - 100) // _CHARS_PER_EXTRA_EDIT
    return min(_MAX_TOLERANCE, _BASE_TOLERANCE + extra)


def locate(doc: Document, old: str) -> Outcome:
    """Find the one region of ``doc`` that ``old`` means, tolerating drift.

    ``old`` is first read literally; only when that finds nothing are lines
    such as ``...`` read as "everything in between".
    """
    literal = Query.literal(old)
    found = _search(doc, literal, _windows)
    if not isinstance(found, NotFound):
        return found
    if not any(is_marker(literal.lines[i]) for i in literal.indices):
        return found
    elided = Query.elided(old)
    if not elided.segments:
        return found
    again = _search(doc, elided, chains)
    if isinstance(again, NotFound) and again.closest is None:
        return found
    return again


def _search(doc: Document, query: Query, finder: _Finder) -> Outcome:
    """Rank the candidates ``finder`` gives and decide between them."""
    tol = tolerance(query.size)
    cutoff = 2 * tol + 1
    ranked = _ranked(finder(doc, query, cutoff))
    if not ranked or ranked[0].cost > tol:
        return NotFound(closest(doc, query, ranked))
    best = ranked[0]
    reach = _rival_reach(best.cost, query.size)
    if reach - 1 > cutoff:
        ranked = _ranked(finder(doc, query, reach - 1))
    rivals = [m for m in ranked[1:] if m.cost < reach]
    rivals += [
        extra
        for extra in _exact_elsewhere(doc, query, best)
        if not any(m.first <= extra.first <= m.last for m in rivals)
    ]
    if rivals:
        return Ambiguous((best, *rivals))
    return Found(best)


def _ranked(candidates: list[Match]) -> list[Match]:
    return sorted(candidates, key=lambda m: (m.cost, m.first))


def _rival_reach(best: int, size: int) -> int:
    """Candidates costing less than this are too close to ``best`` to choose.

    An exact match (cost 0) only loses to another exact one or a one-letter
    difference. A fuzzy one also loses to any region within a tenth of
    ``old``'s size: with a near twin in the file, a quote that is already off
    may well have been meant for the twin.
    """
    if best == 0:
        return 2
    return 2 * best + 2 + min(size // _TWIN_FRACTION, _MAX_TWIN_EDITS)


def _exact_elsewhere(doc: Document, query: Query, best: Match) -> list[Match]:
    """Lines of ``old`` that ``best`` reads as typos but the file has as written.

    Such a line is no typo: ``old`` names another place (``def f():`` when the
    match found ``def g():``), so that place is a rival.
    """
    rivals: list[Match] = []
    for o, f in best.pairs:
        key = query.keys[o]
        if key == doc.keys[f] or key not in doc.nb_keys:
            continue
        line = doc.nb[doc.nb_keys.index(key)]
        if not best.first <= line <= best.last:
            rivals.append(Match(0, ((o, line),)))
    return rivals


def _windows(doc: Document, query: Query, cutoff: int) -> list[Match]:
    """Every window of the file within ``cutoff`` of the single segment."""
    segment = query.segments[0]
    return [
        Match(cost, tuple(pairs_at(doc, segment, p)))
        for p, cost in segment_windows(doc, query, segment, cutoff)
    ]
