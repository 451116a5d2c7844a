"""The planning core of autonomous runs: plan shape, validation and scheduling.

A planner model answers with JSON matching :data:`PLAN_SCHEMA`;
:func:`parse_plan` turns that into a :class:`Plan` or raises :class:`PlanError`
with a message meant to be sent back to the planner for another try. A plan
then answers the scheduler's questions (what may start now, what a failure
blocks) and :func:`simulate_list_schedule` / :func:`lower_bound` give the
yardsticks a real scheduler is benchmarked against.

Everything here is pure: costs are estimates handed in by the caller, never
clocks.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loom.domain._plan_graph import (
    find_cycle,
    graph_problems,
    normalize_path,
    paths_overlap,
    remaining_lengths,
    topological_order,
)
from loom.domain._plan_shape import PLAN_SCHEMA, subtasks_from_data
from loom.domain._plan_sim import (
    SimulatedSchedule,
    lower_bound,
    simulate_list_schedule,
    simulate_schedule,
)
from loom.domain.errors import LoomError
from loom.domain.events import PlannedSubtask

__all__ = [
    "PLAN_SCHEMA",
    "Plan",
    "PlanError",
    "SimulatedSchedule",
    "lower_bound",
    "parse_plan",
    "simulate_list_schedule",
    "simulate_schedule",
]


class PlanError(LoomError):
    """A planner's answer is not a usable plan.

    The message lists every problem found, worded for the planner model so it
    can be sent back verbatim with a request for a corrected plan.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        listed = "\n".join(f"- {problem}" for problem in self.problems)
        super().__init__(
            "the plan was rejected; fix these problems and answer again with "
            f"the whole plan:\n{listed}"
        )


def parse_plan(data: object) -> Plan:
    """Validate a planner's answer and build the plan it describes.

    Args:
        data: The decoded JSON answer (a ``dict``), or its raw JSON text.

    Returns:
        The plan, its subtasks in a stable topological order.

    Raises:
        PlanError: The answer has the wrong shape, or its dependency graph has
            duplicate ids, unknown or self dependencies, or a cycle.
    """
    subtasks, problems = subtasks_from_data(data)
    if problems:
        raise PlanError(problems)
    return Plan(tuple(subtasks))


@dataclass(frozen=True)
class Plan:
    """A validated dependency graph of subtasks.

    Constructing one checks the graph (raising :class:`PlanError`) and stores
    ``subtasks`` in topological order, ties broken by the order given, so a
    plan rebuilt from a ``PlanProposed`` event is as trustworthy as a parsed
    one.

    Attributes:
        subtasks: The subtasks, every one after all of its dependencies.
    """

    subtasks: tuple[PlannedSubtask, ...]
    _by_id: dict[str, PlannedSubtask] = field(init=False, repr=False, compare=False)
    _dependents: dict[str, tuple[str, ...]] = field(
        init=False, repr=False, compare=False
    )
    _files: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    _unit_lengths: dict[str, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ordered = _checked_order(tuple(self.subtasks))
        dependents: dict[str, list[str]] = {s.id: [] for s in ordered}
        for subtask in ordered:
            for dep in dict.fromkeys(subtask.depends_on):
                dependents[dep].append(subtask.id)
        # Frozen for callers; these are derived once here, never changed after.
        object.__setattr__(self, "subtasks", tuple(ordered))
        object.__setattr__(self, "_by_id", {s.id: s for s in ordered})
        object.__setattr__(
            self, "_dependents", {k: tuple(v) for k, v in dependents.items()}
        )
        object.__setattr__(self, "_files", {s.id: _files_of(s) for s in ordered})
        # The scheduler asks for unit-cost priorities at every launch.
        unit = remaining_lengths(self.subtasks, _cost_of(None))
        object.__setattr__(self, "_unit_lengths", unit)

    @property
    def ids(self) -> tuple[str, ...]:
        """The subtask ids in topological order."""
        return tuple(self._by_id)

    def subtask(self, subtask_id: str) -> PlannedSubtask:
        """The subtask with this id (``KeyError`` if there is none)."""
        return self._by_id[subtask_id]

    def as_data(self) -> dict[str, Any]:
        """The plan as JSON-ready data matching :data:`PLAN_SCHEMA`."""
        return {"subtasks": [s.model_dump() for s in self.subtasks]}

    def priorities(self, costs: Mapping[str, float] | None = None) -> dict[str, float]:
        """Each subtask's longest remaining path to a sink, itself included.

        Args:
            costs: Estimated cost per subtask id; missing ids (or no mapping)
                cost 1.
        """
        if costs is None:
            return dict(self._unit_lengths)
        return remaining_lengths(self.subtasks, _cost_of(costs))

    def critical_path(
        self, costs: Mapping[str, float] | None = None
    ) -> tuple[list[str], float]:
        """The costliest dependency chain and its total cost.

        Ties go to the subtask earliest in topological order.
        """
        lengths = self.priorities(costs)
        roots = [s.id for s in self.subtasks if not s.depends_on]
        path = [max(roots, key=lambda i: lengths[i])]
        while children := self._dependents[path[-1]]:
            path.append(max(children, key=lambda i: lengths[i]))
        return path, lengths[path[0]]

    def blocked_by_failure(self, failed: Collection[str]) -> set[str]:
        """Every subtask that transitively depends on a failed one.

        The failed subtasks themselves are included only when they depend on
        another failed one.
        """
        blocked: set[str] = set()
        frontier = [f for f in failed if f in self._dependents]
        while frontier:
            for child in self._dependents[frontier.pop()]:
                if child not in blocked:
                    blocked.add(child)
                    frontier.append(child)
        return blocked

    def ready(
        self,
        done: Collection[str],
        running: Collection[str],
        failed: Collection[str],
        costs: Mapping[str, float] | None = None,
    ) -> list[str]:
        """Subtasks that may start now, highest priority first.

        A subtask is ready when all its dependencies are done and it is not
        done, running, failed or blocked by a failure. Priority is
        :meth:`priorities` (critical path first), ties in topological order.
        """
        excluded = {*done, *running, *failed, *self.blocked_by_failure(failed)}
        done_set = set(done)
        ready = [
            s.id
            for s in self.subtasks
            if s.id not in excluded and done_set.issuperset(s.depends_on)
        ]
        lengths = self._unit_lengths if costs is None else self.priorities(costs)
        return sorted(ready, key=lambda i: -lengths[i])

    def conflicts(self, first: str, second: str) -> bool:
        """Whether two subtasks may not run at once because they touch the same files.

        Paths are compared normalized and relative; a path also overlaps the
        paths under it. An empty ``expected_files`` means unknown, which is
        treated as no conflict.
        """
        return any(
            paths_overlap(a, b) for a in self._files[first] for b in self._files[second]
        )

    def next_batch(
        self,
        done: Collection[str],
        running: Collection[str],
        failed: Collection[str],
        limit: int,
        costs: Mapping[str, float] | None = None,
    ) -> list[str]:
        """The ready subtasks to start now on up to ``limit`` workers in all.

        Picks in priority order, skipping any that conflict with a running
        subtask or one already picked.
        """
        busy = [r for r in running if r in self._by_id]
        picked: list[str] = []
        for candidate in self.ready(done, running, failed, costs):
            if len(picked) >= limit - len(running):
                break
            if not any(self.conflicts(candidate, other) for other in busy):
                picked.append(candidate)
                busy.append(candidate)
        return picked


def _checked_order(subtasks: tuple[PlannedSubtask, ...]) -> list[PlannedSubtask]:
    if not subtasks:
        raise PlanError(["the plan has no subtasks: give at least one"])
    problems = graph_problems(subtasks)
    if problems:
        raise PlanError(problems)
    ordered = topological_order(subtasks)
    if len(ordered) < len(subtasks):
        cycle = find_cycle(subtasks, {s.id for s in ordered})
        raise PlanError(
            [
                f"dependency cycle: {' -> '.join(cycle)} "
                "(each depends on the next); remove one of these dependencies"
            ]
        )
    return ordered


def _files_of(subtask: PlannedSubtask) -> tuple[str, ...]:
    normalized = (normalize_path(path) for path in subtask.expected_files)
    return tuple(dict.fromkeys(path for path in normalized if path))


def _cost_of(costs: Mapping[str, float] | None) -> Callable[[str], float]:
    if costs is None:
        return lambda _: 1.0
    return lambda subtask_id: float(costs.get(subtask_id, 1.0))
