"""A zero-overhead simulation of critical-path-first list scheduling.

Private helper of :mod:`loom.domain.plan`. The simulated makespan and
:func:`lower_bound` are the yardsticks a real scheduler is benchmarked
against: the real one pays for model calls and verification, this one pays
only each subtask's estimated cost.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loom.domain.plan import Plan

__all__ = [
    "SimulatedSchedule",
    "lower_bound",
    "simulate_list_schedule",
    "simulate_schedule",
]


@dataclass(frozen=True)
class SimulatedSchedule:
    """When each subtask ran in a simulated schedule.

    Attributes:
        starts: Start time per subtask id.
        finishes: Finish time per subtask id.
        makespan: When the last subtask finished.
    """

    starts: Mapping[str, float]
    finishes: Mapping[str, float]
    makespan: float


def simulate_schedule(
    plan: Plan, costs: Mapping[str, float], parallelism: int
) -> SimulatedSchedule:
    """Run the plan on ``parallelism`` workers in simulated time.

    At time zero and whenever subtasks finish, the highest-priority ready
    subtasks start on the free workers (:meth:`Plan.next_batch`, so file
    conflicts are respected). Ids missing from ``costs`` cost 1.

    Raises:
        ValueError: ``parallelism`` is below 1 or a cost is negative.
    """
    _check_inputs(costs, parallelism)
    starts: dict[str, float] = {}
    finishes: dict[str, float] = {}
    running: list[tuple[float, int, str]] = []
    done: set[str] = set()
    position = {subtask_id: i for i, subtask_id in enumerate(plan.ids)}
    now = 0.0
    while len(done) < len(position):
        active = {entry[2] for entry in running}
        for subtask_id in plan.next_batch(done, active, set(), parallelism, costs):
            starts[subtask_id] = now
            finish = now + float(costs.get(subtask_id, 1.0))
            heapq.heappush(running, (finish, position[subtask_id], subtask_id))
        now = running[0][0]
        while running and running[0][0] == now:
            _, _, finished = heapq.heappop(running)
            finishes[finished] = now
            done.add(finished)
    return SimulatedSchedule(starts, finishes, now)


def simulate_list_schedule(
    plan: Plan, costs: Mapping[str, float], parallelism: int
) -> float:
    """The makespan of :func:`simulate_schedule`."""
    return simulate_schedule(plan, costs, parallelism).makespan


def lower_bound(plan: Plan, costs: Mapping[str, float], parallelism: int) -> float:
    """No schedule can beat this: the critical path, or the work spread evenly.

    Returns:
        ``max(critical path cost, total cost / parallelism)``.
    """
    _check_inputs(costs, parallelism)
    total = sum(float(costs.get(subtask_id, 1.0)) for subtask_id in plan.ids)
    return max(plan.critical_path(costs)[1], total / parallelism)


def _check_inputs(costs: Mapping[str, float], parallelism: int) -> None:
    if parallelism < 1:
        raise ValueError(f"parallelism must be at least 1, got {parallelism}")
    negative = sorted(k for k, v in costs.items() if v < 0)
    if negative:
        raise ValueError(f"costs must not be negative: {', '.join(negative)}")
