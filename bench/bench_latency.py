"""Append-to-visible latency: tailing readers and a following projection.

Target (2-core machine): median <= 20 ms from an append to the event being seen
by a tailing reader in another process (``AsyncEventLog.tail``, which polls
SQLite), and to its row being applied by a caught-up ``ProjectionRunner.follow``.

An appender appends one event at a time through ``AsyncEventLog.append``,
spaced 10-20 ms apart (seeded random gaps, so they do not beat with the 5 ms
poll interval), on top of a log pre-filled with 10,000 events. Each observer
records when it sees each position; the latency of an append is the first time
an observer has seen its position, minus the time ``append`` was called
("from start") or returned ("from return"; can be negative when the reader sees
the commit before the writer thread has handed back). Times are
``time.monotonic()``, which is one system-wide clock (CLOCK_MONOTONIC) on
Linux, so they compare across processes.

Scenarios:

* tail, other process: a spawned process with its own store (polling path);
* tail, same process, own log: a second ``AsyncEventLog`` and connection;
* tail, same log: the appender's own ``AsyncEventLog`` (woken by the append);
* follow, same log: ``ProjectionRunner(log, views, StreamIndex()).follow`` on
  the appender's log, as the app wires it;
* follow, other process: the same runner in a spawned process.

    python bench/bench_latency.py           # full run (about 2 minutes)
    python bench/bench_latency.py --quick   # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import multiprocessing
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path

from _common import (
    fill_store,
    machine,
    make_events,
    percentile,
    print_table,
    scratch_dir,
    verdict,
)

from loom.adapters.eventstore.backends import SQLiteBackend
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.adapters.views.sqlite import SQLiteViewStore
from loom.projections.runner import ProjectionRunner
from loom.projections.stream_index import StreamIndex

TARGET_MS = 20.0
PREFILL = 10_000
OBSERVE_TIMEOUT_S = 120.0

Seen = list[tuple[int, float]]
SWALLOWED = -1  # the position under which observe() reports lost cancels


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # "tail" or "follow"
    where: str  # "process", "own-log" or "same-log"


SCENARIOS = (
    Scenario("tail, other process", "tail", "process"),
    Scenario("tail, same process, own log", "tail", "own-log"),
    Scenario("tail, same log as appender", "tail", "same-log"),
    Scenario("follow, same log as appender", "follow", "same-log"),
    Scenario("follow, other process", "follow", "process"),
)


@dataclass(frozen=True)
class Append:
    position: int
    start: float
    returned: float


# --- observers ---------------------------------------------------------------


async def observe(
    kind: str,
    log: AsyncEventLog,
    views_path: Path,
    after: int,
    count: int,
    ready: Callable[[], None],
) -> Seen:
    """Record (position, time) as positions after ``after`` become visible."""
    seen: Seen = []
    done = asyncio.Event()
    last = after + count

    def saw(position: int) -> None:
        seen.append((position, time.monotonic()))
        if position >= last:
            done.set()

    async def tail() -> None:
        async for recorded in log.tail(after=after):
            saw(recorded.position)

    views = await SQLiteViewStore.connect(str(views_path))
    try:
        if kind == "tail":
            task = asyncio.create_task(tail())
        else:
            runner = ProjectionRunner(log, views, StreamIndex())
            await runner.catch_up()
            task = asyncio.create_task(runner.follow(on_applied=saw))
        await asyncio.sleep(0.05)  # let the observer start polling
        ready()
        try:
            await asyncio.wait_for(done.wait(), OBSERVE_TIMEOUT_S)
        finally:
            swallowed = await stop(task)
    finally:
        await views.close()
    return [(SWALLOWED, float(swallowed)), *seen]


async def stop(task: asyncio.Task[None]) -> int:
    """Cancel ``task`` and wait for it; return how often a cancel was lost.

    On Python 3.11, ``asyncio.wait_for`` (which ``AsyncEventLog``'s polling
    tail uses) drops a cancellation that arrives just as its inner wait
    finishes, so the first ``cancel()`` may not stop the tail: cancel again.
    """
    lost = -1
    while not task.done():
        lost += 1
        task.cancel()
        await asyncio.wait({task}, timeout=0.25)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return max(lost, 0)


def child_main(
    kind: str,
    path: str,
    views_path: str,
    after: int,
    count: int,
    ready: ProcessEvent,
    results: Connection,
) -> None:
    """Entry point of the observer process (spawned: a fresh interpreter)."""

    async def run() -> Seen:
        log = AsyncEventLog(EventStore(SQLiteBackend(Path(path))))
        try:
            return await observe(kind, log, Path(views_path), after, count, ready.set)
        finally:
            await log.close()

    results.send(asyncio.run(run()))
    results.close()


# --- the appender ------------------------------------------------------------


async def append_paced(
    log: AsyncEventLog, count: int, prefix: str, rng: random.Random
) -> list[Append]:
    """Append ``count`` events one at a time, 10-20 ms apart."""
    events = make_events(count, streams=1, seed=rng.randint(0, 1 << 30), prefix=prefix)
    appends: list[Append] = []
    for event in events:
        start = time.monotonic()
        [position] = await log.append([event])
        appends.append(Append(position, start, time.monotonic()))
        await asyncio.sleep(rng.uniform(0.010, 0.020))
    return appends


async def run_scenario(
    scenario: Scenario, path: Path, root: Path, run: int, count: int
) -> tuple[list[Append], Seen]:
    rng = random.Random(run)
    views_path = root / f"views-{run}.db"
    log = AsyncEventLog(EventStore(SQLiteBackend(path)))
    try:
        after = await log.last_position()
        if scenario.where == "process":
            context = multiprocessing.get_context("spawn")
            ready = context.Event()
            receiver, sender = context.Pipe(duplex=False)
            child = context.Process(
                target=child_main,
                args=(scenario.kind, str(path), str(views_path), after, count),
                kwargs={"ready": ready, "results": sender},
            )
            child.start()
            if not await asyncio.to_thread(ready.wait, OBSERVE_TIMEOUT_S):
                raise RuntimeError("the observer process did not start")
            appends = await append_paced(log, count, f"live{run}-", rng)
            if not await asyncio.to_thread(receiver.poll, OBSERVE_TIMEOUT_S):
                raise RuntimeError("the observer process sent no results")
            seen: Seen = receiver.recv()
            await asyncio.to_thread(child.join, 10)
            return appends, seen
        reader = log
        if scenario.where == "own-log":
            reader = AsyncEventLog(EventStore(SQLiteBackend(path)))
        started = asyncio.Event()
        observer = asyncio.create_task(
            observe(scenario.kind, reader, views_path, after, count, started.set)
        )
        await started.wait()
        appends = await append_paced(log, count, f"live{run}-", rng)
        seen = await observer
        if reader is not log:
            await reader.close()
        return appends, seen
    finally:
        await log.close()


def latencies(appends: list[Append], seen: Seen) -> tuple[list[float], list[float]]:
    """Milliseconds from each append's start and return to its first sighting."""
    seen = [(position, at) for position, at in seen if position != SWALLOWED]
    positions = [position for position, _ in seen]
    from_start: list[float] = []
    from_return: list[float] = []
    for append in appends:
        index = bisect.bisect_left(positions, append.position)
        if index == len(positions):
            raise AssertionError(f"position {append.position} was never seen")
        at = seen[index][1]
        from_start.append((at - append.start) * 1000)
        from_return.append((at - append.returned) * 1000)
    return from_start, from_return


async def bench(args: argparse.Namespace, root: Path) -> list[list[str]]:
    count = 30 if args.quick else 300
    path = root / "events.db"
    fill_store(path, make_events(PREFILL, seed=11))
    table: list[list[str]] = []
    run = 0
    lost = 0
    for scenario in SCENARIOS:
        starts: list[float] = []
        returns: list[float] = []
        run_medians: list[float] = []
        for _ in range(args.reps):
            run += 1
            appends, seen = await run_scenario(scenario, path, root, run, count)
            lost += int(dict(seen).get(SWALLOWED, 0))
            from_start, from_return = latencies(appends, seen)
            starts += from_start
            returns += from_return
            run_medians.append(statistics.median(from_start))
        median = statistics.median(starts)
        table.append(
            [
                scenario.name,
                f"median <= {TARGET_MS:.0f} ms",
                f"{median:.1f} ({min(run_medians):.1f}-{max(run_medians):.1f})",
                f"{percentile(starts, 95):.1f}",
                f"{statistics.median(returns):.1f}",
                f"{percentile(returns, 95):.1f}",
                f"{len(starts)}",
                verdict(median <= TARGET_MS),
            ]
        )
    if lost:
        print(
            f"note: {lost} cancellation(s) of a tail/follow task were swallowed "
            "(asyncio.wait_for on Python 3.11) and had to be repeated\n"
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--reps", type=int, default=None, help="runs per scenario")
    parser.add_argument("--dir", default=None, help="parent of the scratch dir")
    args = parser.parse_args()
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    print(machine())
    print(
        f"runs per scenario: {args.reps}; latency in ms; the median column gives "
        "the pooled median (range of per-run medians)\n"
    )
    with scratch_dir(args.dir) as root:
        table = asyncio.run(bench(args, root))
    print_table(
        [
            "scenario",
            "target",
            "median from start",
            "p95 from start",
            "median from return",
            "p95 from return",
            "n",
            "verdict",
        ],
        table,
    )


if __name__ == "__main__":
    main()
