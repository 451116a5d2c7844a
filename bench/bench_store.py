"""Append and read throughput of Loom's SQLite event store, against plain sqlite3.

Targets (2-core machine, WAL + synchronous=NORMAL):

* append one event per transaction: >= 2,500 events/s
* append 100 events per transaction: >= 40,000 events/s
* read 100,000 events in global order, decoded, via ``EventStore.read_all``
  paging: <= 1 s

Every repetition writes to fresh database files; the Loom and plain-sqlite3
runs alternate within each repetition so drift hits both alike. Reads are
warm-cache (the database was just written and read once before timing).

    python bench/bench_store.py            # full run (about a minute)
    python bench/bench_store.py --quick    # smoke run
    python bench/bench_store.py --profile  # add cProfile listings
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import sqlite3
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from _common import (
    PLAIN_INSERT,
    Row,
    Spread,
    chunks,
    fill_store,
    grouped_by_stream,
    machine,
    make_events,
    open_plain,
    print_table,
    scratch_dir,
    stored_rows,
    verdict,
)

from loom.adapters.eventstore.backends import EVENTS_TABLE, SQLiteBackend
from loom.adapters.eventstore.store import EventStore
from loom.domain.events import Event

APPEND_SINGLE_TARGET = 2_500.0
APPEND_BATCH_TARGET = 40_000.0
READ_TARGET_S = 1.0
BATCH = 100


# --- append ------------------------------------------------------------------


def loom_append(path: Path, events: Sequence[Event], batch: int) -> float:
    """Events/s appending ``events`` to a fresh store, ``batch`` per transaction."""
    store = EventStore(SQLiteBackend(path))
    parts = list(chunks(events, batch))
    try:
        start = time.perf_counter()
        for part in parts:
            store.append(part)
        elapsed = time.perf_counter() - start
    finally:
        store.close()
    return len(events) / elapsed


def plain_append(path: Path, rows: Sequence[Row], batch: int) -> float:
    """Events/s inserting the same stored rows with plain sqlite3."""
    connection = open_plain(path)
    parts = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    try:
        start = time.perf_counter()
        for part in parts:
            connection.execute("BEGIN")
            connection.executemany(PLAIN_INSERT, part)
            connection.execute("COMMIT")
        elapsed = time.perf_counter() - start
    finally:
        connection.close()
    return len(rows) / elapsed


# --- read --------------------------------------------------------------------


def loom_read(store: EventStore, page: int) -> int:
    """Read the whole log through ``EventStore.read_all``; return the count."""
    after = 0
    count = 0
    while True:
        found = store.read_all(after=after, limit=page)
        if not found:
            return count
        count += len(found)
        after = found[-1].position


def recorder_read(store: EventStore, page: int) -> int:
    """The library's recorder alone: notifications, no decoding to events."""
    recorder = store.backend.recorder
    after = 0
    count = 0
    while True:
        found = recorder.select_notifications(
            start=after, limit=page, inclusive_of_start=False
        )
        if not found:
            return count
        count += len(found)
        after = found[-1].id


def plain_read(connection: sqlite3.Connection, page: int) -> int:
    """The same rows with plain sqlite3 (tuples, no decoding)."""
    statement = (
        f"SELECT rowid, originator_id, originator_version, topic, state "
        f"FROM {EVENTS_TABLE} WHERE rowid>? ORDER BY rowid LIMIT ?"
    )
    after = 0
    count = 0
    while True:
        found = connection.execute(statement, (after, page)).fetchall()
        if not found:
            return count
        count += len(found)
        after = found[-1][0]


def timed(read: Callable[[], int], expected: int) -> float:
    start = time.perf_counter()
    count = read()
    elapsed = time.perf_counter() - start
    if count != expected:
        raise AssertionError(f"read {count} events, expected {expected}")
    return elapsed


# --- the runs ----------------------------------------------------------------


def bench_append(args: argparse.Namespace, root: Path) -> list[list[str]]:
    single_n = 300 if args.quick else 3_000
    batch_n = 5_000 if args.quick else 50_000
    singles = make_events(single_n, seed=1)
    interleaved = make_events(batch_n, seed=2)
    grouped = grouped_by_stream(interleaved)
    workloads: dict[str, tuple[Sequence[Event], int]] = {
        "1/txn": (singles, 1),
        f"{BATCH}/txn, interleaved streams": (interleaved, BATCH),
        f"{BATCH}/txn, one stream per batch": (grouped, BATCH),
    }
    rows_of = {name: stored_rows(events) for name, (events, _) in workloads.items()}
    loom: dict[str, list[float]] = {name: [] for name in workloads}
    plain: dict[str, list[float]] = {name: [] for name in workloads}
    run = 0
    for _ in range(args.reps):
        for name, (events, batch) in workloads.items():
            run += 1
            loom[name].append(loom_append(root / f"loom-{run}.db", events, batch))
            plain[name].append(
                plain_append(root / f"plain-{run}.db", rows_of[name], batch)
            )
    table: list[list[str]] = []
    for name, (events, batch) in workloads.items():
        target = APPEND_SINGLE_TARGET if batch == 1 else APPEND_BATCH_TARGET
        ours, ref = Spread.of(loom[name]), Spread.of(plain[name])
        table.append(
            [
                f"append {name} ({len(events):,} ev)",
                f">= {target:,.0f} ev/s",
                ours.fmt(),
                ref.fmt(),
                f"{ours.median / ref.median:.2f}",
                verdict(ours.median >= target),
            ]
        )
    return table


def bench_read(args: argparse.Namespace, root: Path) -> list[list[str]]:
    total = 10_000 if args.quick else 100_000
    path = root / "read.db"
    fill_store(path, make_events(total, seed=3))
    store = EventStore(SQLiteBackend(path))
    plain = sqlite3.connect(path)
    pages = (1000, 5000)
    samples: dict[str, list[float]] = {}
    readers: dict[str, Callable[[], int]] = {}
    for page in pages:
        readers[f"loom {page}"] = functools.partial(loom_read, store, page)
        readers[f"recorder {page}"] = functools.partial(recorder_read, store, page)
        readers[f"plain {page}"] = functools.partial(plain_read, plain, page)
    try:
        for read in readers.values():  # warm the page cache and the code paths
            timed(read, total)
        for _ in range(args.reps):
            for name, read in readers.items():
                samples.setdefault(name, []).append(timed(read, total))
    finally:
        plain.close()
        store.close()
    table: list[list[str]] = []
    for page in pages:
        ours = Spread.of(samples[f"loom {page}"])
        ref = Spread.of(samples[f"plain {page}"])
        lib = statistics.median(samples[f"recorder {page}"])
        table.append(
            [
                f"read_all {total:,} ev, page {page} (s)",
                f"<= {READ_TARGET_S:.1f} s",
                ours.fmt(3),
                ref.fmt(3),
                f"{ours.median / ref.median:.1f}",
                verdict(ours.median <= READ_TARGET_S * total / 100_000),
            ]
        )
        table.append(
            [
                f"  of which recorder, no decode, page {page} (s)",
                "-",
                f"{lib:.3f}",
                "-",
                f"{lib / ref.median:.1f}",
                "-",
            ]
        )
    return table


def profile(root: Path) -> None:
    """cProfile single and batched append runs and one full read."""
    runs = (
        ("2,000 appends, one per transaction", 2_000, 1),
        ("20,000 appends, 100 per transaction, interleaved", 20_000, BATCH),
    )
    for title, count, batch in runs:
        events = make_events(count, seed=4)
        profiler = cProfile.Profile()
        profiler.runcall(loom_append, root / f"profile-{batch}.db", events, batch)
        print(f"== cProfile: {title} (by cumulative time)")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(15)
    path = root / "profile-read.db"
    fill_store(path, make_events(100_000, seed=5))
    store = EventStore(SQLiteBackend(path))
    loom_read(store, 1000)
    profiler = cProfile.Profile()
    profiler.runcall(loom_read, store, 1000)
    store.close()
    print("== cProfile: read_all of 100,000 events, page 1000 (by own time)")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--reps", type=int, default=None, help="repetitions")
    parser.add_argument("--dir", default=None, help="parent of the scratch dir")
    parser.add_argument("--profile", action="store_true", help="print cProfile")
    args = parser.parse_args()
    if args.reps is None:
        args.reps = 2 if args.quick else 5
    print(machine())
    print(f"repetitions: {args.reps}; figures are median (min-max)\n")
    with scratch_dir(args.dir) as root:
        table = bench_append(args, root) + bench_read(args, root)
        print_table(
            ["figure", "target", "loom", "plain sqlite3", "loom/plain", "verdict"],
            table,
        )
        if args.profile:
            profile(root)


if __name__ == "__main__":
    main()
