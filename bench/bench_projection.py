"""Rebuild time of the stream-index projection over a long log.

Target (2-core machine): ``ProjectionRunner(...).rebuild()`` of ``StreamIndex``
over 100,000 events, into a file-backed ``SQLiteViewStore``: <= 3 s.

Each repetition rebuilds into a fresh views file. For the breakdown, the same
log is also read alone through ``AsyncEventLog.read_all`` in the runner's batch
size, which is the part of a rebuild that does not touch the views.

    python bench/bench_projection.py           # full run
    python bench/bench_projection.py --quick   # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from _common import (
    Spread,
    fill_store,
    machine,
    make_events,
    print_table,
    scratch_dir,
    verdict,
)

from loom.adapters.eventstore.backends import SQLiteBackend
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.adapters.views.sqlite import SQLiteViewStore
from loom.projections.runner import ProjectionRunner
from loom.projections.stream_index import StreamIndex, list_streams

REBUILD_TARGET_S = 3.0
STREAMS = 100


async def rebuild_once(log: AsyncEventLog, views_path: Path, total: int) -> float:
    """Seconds to rebuild the stream index into a fresh views file."""
    views = await SQLiteViewStore.connect(str(views_path))
    try:
        runner = ProjectionRunner(log, views, StreamIndex())
        start = time.perf_counter()
        position = await runner.rebuild()
        elapsed = time.perf_counter() - start
        rows = await list_streams(views)
    finally:
        await views.close()
    counted = sum(row.event_count for row in rows)
    if position != total or len(rows) != STREAMS or counted != total:
        raise AssertionError(f"bad rebuild: {position=} {len(rows)=} {counted=}")
    return elapsed


async def read_once(log: AsyncEventLog, batch: int, total: int) -> float:
    """Seconds to read the whole log as the runner does, without applying it."""
    start = time.perf_counter()
    after = 0
    count = 0
    while True:
        found = await log.read_all(after=after, limit=batch)
        if not found:
            break
        count += len(found)
        after = found[-1].position
    elapsed = time.perf_counter() - start
    if count != total:
        raise AssertionError(f"read {count} events, expected {total}")
    return elapsed


async def run(args: argparse.Namespace, root: Path) -> list[list[str]]:
    total = 10_000 if args.quick else 100_000
    path = root / "events.db"
    fill_store(path, make_events(total, streams=STREAMS, seed=7))
    log = AsyncEventLog(EventStore(SQLiteBackend(path)))
    batch = ProjectionRunner(log, None, StreamIndex()).batch_size  # type: ignore[arg-type]
    rebuilds: list[float] = []
    reads: list[float] = []
    try:
        await read_once(log, batch, total)  # warm the page cache
        for rep in range(args.reps):
            rebuilds.append(await rebuild_once(log, root / f"views-{rep}.db", total))
            reads.append(await read_once(log, batch, total))
    finally:
        await log.close()
    target = REBUILD_TARGET_S * total / 100_000
    spread = Spread.of(rebuilds)
    read = statistics.median(reads)
    return [
        [
            f"rebuild stream_index, {total:,} ev (s)",
            f"<= {target:.1f} s",
            spread.fmt(3),
            verdict(spread.median <= target),
        ],
        [f"  of which read_all, batch {batch} (s)", "-", f"{read:.3f}", "-"],
        [
            "  rest: apply + views writes, by difference (s)",
            "-",
            f"{max(0.0, spread.median - read):.3f}",
            "-",
        ],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--reps", type=int, default=None, help="repetitions")
    parser.add_argument("--dir", default=None, help="parent of the scratch dir")
    args = parser.parse_args()
    if args.reps is None:
        args.reps = 2 if args.quick else 5
    print(machine())
    print(f"repetitions: {args.reps}; figures are median (min-max)\n")
    with scratch_dir(args.dir) as root:
        table = asyncio.run(run(args, root))
    print_table(["figure", "target", "loom", "verdict"], table)


if __name__ == "__main__":
    main()
