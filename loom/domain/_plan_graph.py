"""Graph checks and orderings over a plan's subtasks.

Private helper of :mod:`loom.domain.plan`. Problems come back as strings
addressed to the planner model; nothing here raises.
"""

from __future__ import annotations

import heapq
import posixpath
from collections.abc import Callable, Sequence

from loom.domain.events import PlannedSubtask

__all__ = [
    "find_cycle",
    "graph_problems",
    "normalize_path",
    "paths_overlap",
    "remaining_lengths",
    "topological_order",
]

Cost = Callable[[str], float]


def graph_problems(subtasks: Sequence[PlannedSubtask]) -> list[str]:
    """Duplicate ids, self-dependencies and unknown dependencies, in that order."""
    seen: set[str] = set()
    duplicates: dict[str, None] = {}
    for subtask in subtasks:
        if subtask.id in seen:
            duplicates[subtask.id] = None
        seen.add(subtask.id)
    problems = [f"duplicate id {d!r}: give each subtask its own id" for d in duplicates]
    valid = ", ".join(dict.fromkeys(s.id for s in subtasks))
    for subtask in subtasks:
        if subtask.id in subtask.depends_on:
            problems.append(f"subtask {subtask.id!r} depends on itself")
        unknown = [d for d in dict.fromkeys(subtask.depends_on) if d not in seen]
        if unknown:
            names = ", ".join(repr(d) for d in unknown)
            problems.append(
                f"subtask {subtask.id!r} depends on unknown id(s) {names}; "
                f"valid ids are: {valid}"
            )
    return problems


def topological_order(subtasks: Sequence[PlannedSubtask]) -> list[PlannedSubtask]:
    """Kahn's algorithm, breaking ties by original position.

    Subtasks on or behind a cycle are left out; compare lengths to detect one.
    Assumes ids are unique and every dependency names a subtask.
    """
    position = {s.id: i for i, s in enumerate(subtasks)}
    waiting = {s.id: len(set(s.depends_on)) for s in subtasks}
    dependents: dict[str, list[str]] = {s.id: [] for s in subtasks}
    for subtask in subtasks:
        for dep in dict.fromkeys(subtask.depends_on):
            dependents[dep].append(subtask.id)
    heap = [position[i] for i, count in waiting.items() if count == 0]
    heapq.heapify(heap)
    order: list[PlannedSubtask] = []
    while heap:
        subtask = subtasks[heapq.heappop(heap)]
        order.append(subtask)
        for child in dependents[subtask.id]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(heap, position[child])
    return order


def find_cycle(subtasks: Sequence[PlannedSubtask], ordered: set[str]) -> list[str]:
    """One dependency cycle among the subtasks Kahn's algorithm could not order.

    Each unordered subtask has an unordered dependency, so following the first
    one from the first unordered subtask must come back to a node already seen.

    Returns:
        The cycle as ids, first id repeated at the end (``[a, b, a]``).
    """
    by_id = {s.id: s for s in subtasks}
    current = next(s.id for s in subtasks if s.id not in ordered)
    path: list[str] = []
    while current not in path:
        path.append(current)
        current = next(d for d in by_id[current].depends_on if d not in ordered)
    return [*path[path.index(current) :], current]


def remaining_lengths(
    ordered: Sequence[PlannedSubtask], cost: Cost
) -> dict[str, float]:
    """For each subtask, the costliest path from it (inclusive) to a sink."""
    dependents: dict[str, list[str]] = {s.id: [] for s in ordered}
    for subtask in ordered:
        for dep in dict.fromkeys(subtask.depends_on):
            dependents[dep].append(subtask.id)
    lengths: dict[str, float] = {}
    for subtask in reversed(ordered):
        after = max((lengths[c] for c in dependents[subtask.id]), default=0.0)
        lengths[subtask.id] = cost(subtask.id) + after
    return lengths


def normalize_path(path: str) -> str:
    """A workspace-relative path in one spelling (``./src\\a.py`` -> ``src/a.py``)."""
    cleaned = posixpath.normpath(path.strip().replace("\\", "/")).lstrip("/")
    return "" if cleaned == "." else cleaned


def paths_overlap(first: str, second: str) -> bool:
    """Whether two normalized paths are the same or one lies under the other."""
    if not first or not second:
        return False
    if first == second:
        return True
    return first.startswith(second + "/") or second.startswith(first + "/")
