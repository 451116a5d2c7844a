"""Replay benchmark: ``replay_task`` over a recorded run of about 10,000 events.

A scripted run is recorded first, on a real SQLite store and workspace: a plan
of 50 subtasks (seeded random dependencies, 0-3 earlier ones each), each
executor making ``--steps`` tool calls before answering, alternating
``read_file`` on one of 40 workspace files and ``write_file`` of a new file
(arguments differ every call, so the doom-loop guard never fires). Then
``replay_task`` replays it (no live tools: tool results, files and model
answers come from the recording) and must report ``identical``; the time is
from calling ``replay_task`` to its report, reading the recording included.

Usage: python bench/bench_replay.py [--quick] [--reps N] [--steps N]
       [--dir PATH] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import random
import re
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from _common import machine, scratch_dir, verdict
from _runs import one_model_run

from loom.adapters.blobs import AsyncBlobStore
from loom.adapters.eventstore.backends import SQLiteBackend
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.adapters.models.scripted import ScriptedProvider
from loom.app.autonomy.orchestrator import Orchestrator
from loom.app.autonomy.runtime import RunContext
from loom.app.replay.task import ReplayReport, replay_task
from loom.domain.events import SubtaskStarted, ToolCall
from loom.domain.models import Completion, ModelRequest

SUBTASKS = 50
FILES = 40
TARGET_S = 5.0
TARGET_EVENTS = 10_000
TASK = "task-bench"
_SUBTASK = re.compile(r"Your subtask \(([^)]+)\)")
T = TypeVar("T")


# --- the recorded run --------------------------------------------------------


def plan_json(seed: int = 7) -> str:
    """50 subtasks, each depending on 0-3 random earlier ones."""
    rng = random.Random(seed)
    subtasks = []
    for i in range(SUBTASKS):
        picks = rng.sample(range(i), min(rng.randint(0, 3), i))
        subtasks.append(
            {
                "id": f"s{i:02d}",
                "description": f"do step s{i:02d}",
                "depends_on": [f"s{p:02d}" for p in sorted(picks)],
                "acceptance_criteria": [],
                "expected_files": [],
                "verification_tier": 1,
            }
        )
    return json.dumps({"subtasks": subtasks})


@dataclass(frozen=True)
class Steps:
    """The executor's script: ``count`` tool calls, then a plain answer."""

    plan: str
    count: int

    def __call__(self, request: ModelRequest) -> Completion:
        schema = request.params.json_schema or {}
        if "subtasks" in schema.get("properties", {}):
            return Completion(text=self.plan, finish_reason="stop")
        sid = _subtask_of(request)
        index = sum(1 for m in request.messages if m.role == "tool")
        if index >= self.count:
            return Completion(text="done", finish_reason="stop")
        return Completion(tool_calls=[_call(sid, index)], finish_reason="tool_calls")


def _call(sid: str, index: int) -> ToolCall:
    call_id = f"{sid}-{index}"
    if index % 2 == 0:
        path = f"src/f{(index // 2 + int(sid[1:])) % FILES:02d}.txt"
        return ToolCall(id=call_id, name="read_file", arguments={"path": path})
    arguments = {"path": f"out/{sid}/n{index:02d}.txt", "content": f"{sid} {index}\n"}
    return ToolCall(id=call_id, name="write_file", arguments=arguments)


def _subtask_of(request: ModelRequest) -> str:
    for message in request.messages:
        if message.role == "user" and (found := _SUBTASK.search(message.content)):
            return found.group(1)
    return "s00"


def _context(log: AsyncEventLog, workspace: Path, steps: int) -> RunContext:
    model = ScriptedProvider(handler=Steps(plan_json(), steps), name="scripted")
    return one_model_run(
        log, workspace, model, max_parallel_subtasks=4, max_loop_iterations=steps + 5
    )


async def record(root: Path, steps: int) -> tuple[int, float]:
    """Record the run; its event count (task and agent streams) and seconds."""
    workspace = root / "ws"
    (workspace / "src").mkdir(parents=True)
    for n in range(FILES):
        (workspace / "src" / f"f{n:02d}.txt").write_text(f"file {n}\n" * 30)
    log = AsyncEventLog(EventStore(SQLiteBackend(root / "loom.db")))
    try:
        started = time.perf_counter()
        outcome = await Orchestrator(_context(log, workspace, steps), TASK).run_goal(
            "benchmark replay"
        )
        elapsed = time.perf_counter() - started
        if outcome.status != "completed":
            raise RuntimeError(f"the recorded run {outcome.status}: {outcome.reason}")
        return await _count(log), elapsed
    finally:
        await log.close()


async def _count(log: AsyncEventLog) -> int:
    task = await log.read_stream(TASK)
    count = len(task)
    for event in task:
        if isinstance(event, SubtaskStarted) and event.agent_stream:
            count += await log.stream_version(event.agent_stream)
    return count


# --- replaying ---------------------------------------------------------------


async def _timed(work: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await work()
    return result, time.perf_counter() - started


async def replay(db: Path) -> tuple[ReplayReport, float]:
    """One replay of the recorded task, timed."""
    log = AsyncEventLog(EventStore(SQLiteBackend(db)))
    blobs = AsyncBlobStore(log.store.backend)
    try:
        return await _timed(lambda: replay_task(log, blobs, TASK))
    finally:
        await log.close()


def profile_replay(db: Path) -> None:
    """cProfile of one replay: the top 10 Loom functions by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(replay(db))
    profiler.disable()
    print("\n### cProfile, one replay (top 10 Loom functions, cumulative)\n")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(r"/loom/", 10)


def print_result(
    events: int, recording: float, reports: list[tuple[ReplayReport, float]]
) -> None:
    times = [seconds for _, seconds in reports]
    median = statistics.median(times)
    identical = all(r.identical and r.compared == events for r, _ in reports)
    scaled = median * TARGET_EVENTS / events
    print(f"\n### Replay of a recorded run ({len(times)} replays)\n")
    print(
        "| Events | recording the run (s) | replay, median (min-max) s | "
        "events/s | per 10,000 events (s) | identical |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| {events:,} | {recording:.1f} | {median:.2f} ({min(times):.2f}-"
        f"{max(times):.2f}) | {events / median:,.0f} | {scaled:.2f} | "
        f"{'yes' if identical else 'NO: ' + reports[0][0].text()[:200]} |"
    )
    passed = identical and scaled <= TARGET_S
    print(
        f"\nreplay: {scaled:.2f} s per 10,000 events (target <= {TARGET_S:.0f} s), "
        f"identical: {identical}: {verdict(passed)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    steps, reps = (4, 1) if args.quick else (args.steps, args.reps)
    print(machine())
    with scratch_dir(args.dir) as root:
        events, recording = asyncio.run(record(root, steps))
        db = root / "loom.db"
        reports = [asyncio.run(replay(db)) for _ in range(reps)]
        print_result(events, recording, reports)
        if args.profile:
            profile_replay(db)


if __name__ == "__main__":
    main()
