"""Scheduler benchmarks: the orchestrator's makespan, and its cost per subtask.

1. Makespan: seeded random DAGs of 50 subtasks (each depends on 0-3 random
   earlier ones; each costs 50-250 ms) run through the real ``Orchestrator`` on
   a real SQLite store, with a model that sleeps each subtask's cost before
   answering its executor call in plain text (no tool calls, no expected files:
   tier 1 passes). Makespan is from ``task.started`` to the last
   ``subtask.completed``, timed with ``perf_counter`` by a run listener. It is
   compared with ``simulate_list_schedule`` (zero-overhead, critical-path-first
   list scheduling) on the same plan, costs and parallelism, beside
   ``lower_bound`` = max(critical path, total work / parallelism). The
   orchestrator ranks ready subtasks by unit-cost critical path (it does not
   know costs); "sim, unit priority" is a zero-overhead simulation of that
   policy, so the gap to it is the harness's own overhead.
2. Overhead per subtask: the same model with no delays, on a chain of 50
   subtasks (strictly serial: makespan / 50) and on 50 independent subtasks on
   4 workers, with the median per subtask of ``subtask.started`` to
   ``subtask.completed`` (same listener clock) and of its parts: to the
   executor call reaching the model, and from its answer.

Usage: python bench/bench_scheduler.py [--quick] [--dags N] [--reps N]
       [--dir PATH] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import heapq
import json
import pstats
import random
import re
import statistics
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import machine, scratch_dir, verdict
from _runs import one_model_run

from loom.adapters.eventstore.backends import SQLiteBackend
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.app.autonomy.orchestrator import Orchestrator
from loom.domain.eventbase import Event
from loom.domain.events import SubtaskCompleted, SubtaskStarted, TaskStarted
from loom.domain.models import (
    Capabilities,
    Completion,
    Delta,
    ModelRequest,
    StreamItem,
)
from loom.domain.plan import Plan, lower_bound, parse_plan, simulate_list_schedule

SUBTASKS = 50
MAKESPAN_TARGET = 1.05
OVERHEAD_TARGET_MS = 10.0
_SUBTASK = re.compile(r"Your subtask \(([^)]+)\)")


# --- workloads ---------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """A plan as the planner answers it, and each subtask's cost in ms."""

    name: str
    plan_json: str
    costs_ms: dict[str, float]

    @property
    def plan(self) -> Plan:
        return parse_plan(self.plan_json)


def _subtask(sid: str, depends_on: Sequence[str]) -> dict[str, Any]:
    return {
        "id": sid,
        "description": f"do step {sid}",
        "depends_on": list(depends_on),
        "acceptance_criteria": [],
        "expected_files": [],
        "verification_tier": 1,
    }


def _workload(
    name: str, deps: Sequence[Sequence[str]], costs: Sequence[float]
) -> Workload:
    ids = [f"s{i:02d}" for i in range(len(deps))]
    subtasks = [_subtask(sid, d) for sid, d in zip(ids, deps, strict=True)]
    return Workload(
        name, json.dumps({"subtasks": subtasks}), dict(zip(ids, costs, strict=True))
    )


def random_dag(
    seed: int, count: int = SUBTASKS, fixed_ms: float | None = None
) -> Workload:
    """Each subtask depends on 0-3 random earlier ones and costs 50-250 ms
    (or ``fixed_ms`` each: the scripted model's fixed delay)."""
    rng = random.Random(seed)
    deps: list[list[str]] = []
    for i in range(count):
        picks = rng.sample(range(i), min(rng.randint(0, 3), i))
        deps.append([f"s{p:02d}" for p in sorted(picks)])
    costs = [round(rng.uniform(50, 250), 1) for _ in range(count)]
    if fixed_ms is not None:
        costs = [fixed_ms] * count
    return _workload(f"dag-{seed}", deps, costs)


def chain(count: int = SUBTASKS) -> Workload:
    deps = [[f"s{i - 1:02d}"] if i else [] for i in range(count)]
    return _workload("chain", deps, [0.0] * count)


def wide(count: int = SUBTASKS) -> Workload:
    return _workload("wide", [[] for _ in range(count)], [0.0] * count)


# --- the model and the clock -------------------------------------------------


class TimedModel:
    """Plans instantly; answers each subtask's executor call after its cost.

    It tells ``clock`` when each executor call arrives and is answered.
    """

    name = model = "timed"
    capabilities = Capabilities(
        native_tools=True,
        context_length=32768,
        streams_tool_calls=True,
        constrained_output=True,
    )

    def __init__(self, workload: Workload, clock: Clock) -> None:
        self._workload, self._clock = workload, clock

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        return self._stream(request)

    async def aclose(self) -> None:
        return None

    async def _stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        schema = request.params.json_schema or {}
        if "subtasks" in schema.get("properties", {}):
            yield Completion(text=self._workload.plan_json, finish_reason="stop")
            return
        sid = _subtask_of(request)
        self._clock.asked[sid] = time.perf_counter()
        delay = self._workload.costs_ms.get(sid, 0.0)
        if delay:
            await asyncio.sleep(delay / 1000)
        self._clock.answered[sid] = time.perf_counter()
        yield Completion(text="done", finish_reason="stop")


def _subtask_of(request: ModelRequest) -> str:
    for message in request.messages:
        if message.role == "user" and (found := _SUBTASK.search(message.content)):
            return found.group(1)
    return "?"


@dataclass
class Clock:
    """A run listener: ``perf_counter`` when each task-stream event is told,
    and (from the model) when each executor call arrived and was answered."""

    started: float = 0.0
    starts: dict[str, float] = field(default_factory=dict)
    ends: dict[str, float] = field(default_factory=dict)
    asked: dict[str, float] = field(default_factory=dict)
    answered: dict[str, float] = field(default_factory=dict)

    def on_event(self, event: Event) -> None:
        now = time.perf_counter()
        if isinstance(event, TaskStarted):
            self.started = now
        elif isinstance(event, SubtaskStarted):
            self.starts[event.subtask_id] = now
        elif isinstance(event, SubtaskCompleted):
            self.ends[event.subtask_id] = now

    def on_delta(self, stream: str, delta: Delta) -> None:
        return None

    @property
    def makespan_ms(self) -> float:
        return (max(self.ends.values()) - self.started) * 1000

    def durations_ms(self) -> list[float]:
        """Per subtask: ``subtask.started`` to ``subtask.completed``."""
        return _ms(self.starts, self.ends)

    def harness_ms(self) -> list[float]:
        """Per subtask: started to completed, less the model's own time."""
        return [
            (self.ends[s] - self.starts[s] - self.answered[s] + self.asked[s]) * 1000
            for s in self.ends
        ]

    def launch_ms(self) -> list[float]:
        """Per subtask: ``subtask.started`` to its executor call arriving."""
        return _ms(self.starts, self.asked)

    def settle_ms(self) -> list[float]:
        """Per subtask: the executor's answer to ``subtask.completed``."""
        return _ms(self.answered, self.ends)

    def handoff_ms(self, plan: Plan) -> list[float]:
        """Per subtask with dependencies: the last one completed to it starting."""
        return [
            (self.starts[s.id] - max(self.ends[d] for d in s.depends_on)) * 1000
            for s in plan.subtasks
            if s.depends_on
        ]


def _ms(first: Mapping[str, float], then: Mapping[str, float]) -> list[float]:
    return [(then[key] - first[key]) * 1000 for key in then]


# --- running the orchestrator ------------------------------------------------


async def run_once(root: Path, workload: Workload, parallelism: int) -> Clock:
    """One orchestrated run of ``workload`` on a fresh store and workspace."""
    workspace = root / "ws"
    workspace.mkdir(parents=True)
    log = AsyncEventLog(EventStore(SQLiteBackend(root / "loom.db")))
    clock = Clock()
    context = one_model_run(
        log,
        workspace,
        TimedModel(workload, clock),
        max_parallel_subtasks=parallelism,
    )
    context.listeners.append(clock)
    try:
        outcome = await Orchestrator(context, "task-bench").run_goal(
            f"benchmark {workload.name}"
        )
    finally:
        await log.close()
    if outcome.status != "completed" or len(clock.ends) != len(workload.costs_ms):
        raise RuntimeError(f"{workload.name}: {outcome.status} {outcome.reason}")
    return clock


class Runs:
    """Fresh scratch directories for consecutive runs."""

    def __init__(self, parent: Path) -> None:
        self._parent, self._count = parent, 0

    def __call__(self, workload: Workload, parallelism: int) -> Clock:
        self._count += 1
        root = self._parent / f"run-{self._count:03d}"
        return asyncio.run(run_once(root, workload, parallelism))


# --- simulation of the orchestrator's own policy -----------------------------


def simulate_unit_priority(
    plan: Plan, costs: Mapping[str, float], parallelism: int
) -> float:
    """Zero-overhead makespan of the policy the orchestrator runs: critical path
    first by unit costs (it is never told costs), ties in topological order,
    finished subtasks handled in launch order."""
    running: list[tuple[float, int, str]] = []
    done: set[str] = set()
    now, launched = 0.0, 0
    while len(done) < len(plan.ids):
        active = {entry[2] for entry in running}
        for sid in plan.next_batch(done, active, set(), parallelism):
            heapq.heappush(running, (now + costs[sid], launched, sid))
            launched += 1
        now, _, finished = heapq.heappop(running)
        done.add(finished)
    return now


@dataclass
class Phases:
    """Per-subtask times (ms) pooled over runs, and the runs' makespans."""

    makespans: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    harness: list[float] = field(default_factory=list)
    launch: list[float] = field(default_factory=list)
    settle: list[float] = field(default_factory=list)
    handoff: list[float] = field(default_factory=list)

    def add(self, clock: Clock, plan: Plan) -> None:
        self.makespans.append(clock.makespan_ms)
        self.durations += clock.durations_ms()
        self.harness += clock.harness_ms()
        self.launch += clock.launch_ms()
        self.settle += clock.settle_ms()
        self.handoff += clock.handoff_ms(plan)

    @property
    def makespan(self) -> float:
        return statistics.median(self.makespans)

    def spread(self) -> str:
        low, high = min(self.makespans), max(self.makespans)
        return f"{self.makespan:,.0f} ({low:,.0f}-{high:,.0f})"


def measure(runs: Runs, workload: Workload, parallelism: int, reps: int) -> Phases:
    phases, plan = Phases(), workload.plan
    for _ in range(reps):
        phases.add(runs(workload, parallelism), plan)
    return phases


def _median(samples: Sequence[float]) -> str:
    return f"{statistics.median(samples):.1f}" if samples else "-"


# --- 1. makespan -------------------------------------------------------------


@dataclass(frozen=True)
class MakespanRow:
    workload: str
    parallelism: int
    phases: Phases
    simulated: float
    unit_priority: float
    bound: float
    work: float

    @property
    def ratio(self) -> float:
        return self.phases.makespan / self.simulated


def makespan_row(
    runs: Runs, workload: Workload, parallelism: int, reps: int
) -> MakespanRow:
    plan, costs = workload.plan, workload.costs_ms
    return MakespanRow(
        workload.name,
        parallelism,
        measure(runs, workload, parallelism, reps),
        simulate_list_schedule(plan, costs, parallelism),
        simulate_unit_priority(plan, costs, parallelism),
        lower_bound(plan, costs, parallelism),
        sum(costs.values()),
    )


def print_makespan(rows: Sequence[MakespanRow], reps: int) -> None:
    print(f"\n### Makespan (ms; measured = median of {reps} runs, (min-max))\n")
    print(
        "| DAG | workers | total work | lower bound | simulated | "
        "sim, unit priority | measured | measured / simulated | "
        "measured / unit-priority sim | harness per subtask, median |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row.workload} | {row.parallelism} | {row.work:,.0f} | "
            f"{row.bound:,.0f} | {row.simulated:,.0f} | {row.unit_priority:,.0f} | "
            f"{row.phases.spread()} | {row.ratio:.3f} | "
            f"{row.phases.makespan / row.unit_priority:.3f} | "
            f"{_median(row.phases.harness)} |"
        )
    for parallelism in sorted({r.parallelism for r in rows}):
        ratios = [r.ratio for r in rows if r.parallelism == parallelism]
        median = statistics.median(ratios)
        print(
            f"\nworkers={parallelism}: median measured / simulated {median:.3f} "
            f"(target <= {MAKESPAN_TARGET}): {verdict(median <= MAKESPAN_TARGET)}"
        )


# --- 2. overhead per subtask -------------------------------------------------


def print_overhead(rows: Sequence[tuple[str, int, Phases]], reps: int) -> None:
    print(f"\n### Overhead per subtask, no model delay (ms; {reps} runs each)\n")
    print(
        "| Plan | workers | makespan, median (min-max) | makespan / 50 | "
        "started -> completed, median | p90 | started -> model call | "
        "model answer -> completed | dependency completed -> started |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, parallelism, phases in rows:
        ordered = sorted(phases.durations)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        print(
            f"| {name} | {parallelism} | {phases.spread()} | "
            f"{phases.makespan / SUBTASKS:.1f} | {_median(phases.durations)} | "
            f"{p90:.1f} | {_median(phases.launch)} | {_median(phases.settle)} | "
            f"{_median(phases.handoff)} |"
        )
    serial = rows[0][2]
    per_subtask = serial.makespan / SUBTASKS
    duration = statistics.median(serial.durations)
    passed = max(per_subtask, duration) <= OVERHEAD_TARGET_MS
    print(
        f"\nchain: {per_subtask:.1f} ms per subtask, median started -> "
        f"completed {duration:.1f} ms (target <= {OVERHEAD_TARGET_MS:.0f} ms): "
        f"{verdict(passed)}"
    )


# --- main --------------------------------------------------------------------


def profile_run(runs: Runs, workload: Workload, parallelism: int) -> None:
    """cProfile of one run (event-loop thread only): idle share, then the top
    10 Loom functions by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    runs(workload, parallelism)
    profiler.disable()
    stats = pstats.Stats(profiler)
    profile = stats.get_stats_profile()
    poll = profile.func_profiles.get("<method 'poll' of 'select.epoll' objects>")
    total, idle = profile.total_tt, poll.cumtime if poll else 0.0
    print(
        f"\n### cProfile, {workload.name} on {parallelism} workers: "
        f"{total:.2f} s on the loop thread, {idle:.2f} s of it idle in epoll\n"
    )
    stats.sort_stats("cumulative").print_stats(r"/loom/", 10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dags", type=int, default=5)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--fixed-delay",
        type=float,
        default=None,
        metavar="MS",
        help="every subtask's model call takes MS (default: random 50-250 ms)",
    )
    args = parser.parse_args()
    dags, reps = (2, 1) if args.quick else (args.dags, args.reps)
    workers = (4,) if args.quick else (4, 8)
    print(machine())
    workloads = [
        random_dag(seed, fixed_ms=args.fixed_delay) for seed in range(1, dags + 1)
    ]
    with scratch_dir(args.dir) as parent:
        runs = Runs(parent)
        runs(chain(10), 2)  # warm-up: imports, tool schemas, first SQLite file
        rows = [makespan_row(runs, w, p, reps) for p in workers for w in workloads]
        print_makespan(rows, reps)
        overhead = [
            ("chain", 1, measure(runs, chain(), 1, reps)),
            ("wide (50 independent)", 4, measure(runs, wide(), 4, reps)),
        ]
        print_overhead(overhead, reps)
        if args.profile:
            profile_run(runs, workloads[0], workers[0])


if __name__ == "__main__":
    main()
