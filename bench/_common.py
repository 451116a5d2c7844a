"""Shared pieces of the event-store benchmarks: workload, reference, statistics.

The workload is a deterministic mix of realistic events (user messages, tool
calls and results, model answers, subtask and file events) spread over a number
of session and task streams, with JSON payloads of about 200 bytes. The plain
``sqlite3`` reference writes and reads the very bytes Loom stores, in a table
of the same shape, at the same durability (WAL + synchronous=NORMAL).
"""

from __future__ import annotations

import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from importlib.metadata import version
from pathlib import Path

from loom.adapters.determinism import RandomIds, SystemClock, context_from
from loom.adapters.eventstore.backends import SQLITE_SYNCHRONOUS, SQLiteBackend
from loom.adapters.eventstore.mapper import PydanticMapper
from loom.adapters.eventstore.store import EventStore
from loom.domain.events import (
    Event,
    FileChanged,
    ModelCallCompleted,
    SessionStarted,
    StreamCursor,
    SubtaskCompleted,
    SubtaskStarted,
    TaskCreated,
    ToolCallCompleted,
    ToolCallRequested,
    UserMessaged,
)

Row = tuple[str, int, str, bytes]

PLAIN_TABLE = "plain_events"
PLAIN_DDL = (
    f"CREATE TABLE IF NOT EXISTS {PLAIN_TABLE} ("
    "originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB, "
    "PRIMARY KEY (originator_id, originator_version))"
)
PLAIN_INSERT = f"INSERT INTO {PLAIN_TABLE} VALUES (?,?,?,?)"

_WORDS = (
    *("the", "parser", "reads", "each", "token", "and", "the", "tree", "keeps"),
    *("its", "spans", "so", "a", "later", "pass", "can", "rewrite", "imports"),
    *("tests", "pass", "after", "the", "change", "file", "module", "error"),
    *("function", "returns", "value", "line", "column", "config", "path"),
    *("model", "tool", "result", "ok"),
)
_TOOLS = ("read_file", "write_file", "grep", "run_shell", "list_dir", "edit")


# --- workload ----------------------------------------------------------------


def _words(rng: random.Random, low: int, high: int) -> str:
    """Roughly ``low``..``high`` characters of plausible prose."""
    target = rng.randint(low, high)
    parts: list[str] = []
    size = 0
    while size < target:
        word = rng.choice(_WORDS)
        parts.append(word)
        size += len(word) + 1
    return " ".join(parts)[:target]


def _opening(cursor: StreamCursor, rng: random.Random) -> Event:
    workspace = f"/home/user/projects/demo-{rng.randint(1, 99):02d}"
    if cursor.stream.startswith("session-"):
        return cursor.new(
            SessionStarted, workspace=workspace, title=_words(rng, 20, 40)
        )
    return cursor.new(TaskCreated, goal=_words(rng, 60, 100), workspace=workspace)


def _body(cursor: StreamCursor, rng: random.Random, serial: int) -> Event:
    call_id = f"call-{serial:08d}"
    pick = rng.random()
    if pick < 0.15:
        return cursor.new(UserMessaged, text=_words(rng, 30, 100))
    if pick < 0.40:
        return cursor.new(
            ToolCallRequested,
            call_id=call_id,
            tool=rng.choice(_TOOLS),
            arguments={
                "path": f"src/pkg_{rng.randint(1, 40)}/mod_{rng.randint(1, 99)}.py",
                "start": rng.randint(1, 400),
            },
        )
    if pick < 0.65:
        return cursor.new(
            ToolCallCompleted,
            call_id=call_id,
            result=_words(rng, 10, 70),
            duration_ms=round(rng.uniform(0.5, 900.0), 3),
        )
    if pick < 0.85:
        return cursor.new(
            ModelCallCompleted,
            call_id=call_id,
            text=_words(rng, 5, 45),
            latency_ms=round(rng.uniform(200.0, 9000.0), 3),
            finish_reason="stop",
        )
    if pick < 0.90:
        return cursor.new(SubtaskStarted, subtask_id=f"st-{rng.randint(1, 12)}")
    if pick < 0.95:
        return cursor.new(
            SubtaskCompleted,
            subtask_id=f"st-{rng.randint(1, 12)}",
            summary=_words(rng, 20, 80),
        )
    return cursor.new(
        FileChanged,
        change_id=f"chg-{serial:08d}",
        path=f"src/pkg_{rng.randint(1, 40)}/mod_{rng.randint(1, 99)}.py",
        kind="modify",
    )


def stream_names(streams: int, prefix: str = "") -> list[str]:
    """Half sessions, half tasks: ``session-0000``, ``task-0001``, ..."""
    return [
        f"{'session' if i % 2 == 0 else 'task'}-{prefix}{i:04d}" for i in range(streams)
    ]


def make_events(
    count: int, *, streams: int = 100, seed: int = 0, prefix: str = ""
) -> list[Event]:
    """``count`` events, interleaved at random over ``streams`` streams.

    Each stream opens with ``session.started`` or ``task.created``; versions
    are consecutive per stream, ids are random and times are the wall clock.
    """
    rng = random.Random(seed)
    context = context_from(SystemClock(), RandomIds())
    cursors = [StreamCursor(name, 0, context) for name in stream_names(streams, prefix)]
    events: list[Event] = [_opening(c, rng) for c in cursors[:count]]
    while len(events) < count:
        events.append(_body(rng.choice(cursors), rng, len(events)))
    return events


def grouped_by_stream(events: Sequence[Event]) -> list[Event]:
    """The same events reordered so each stream's events are contiguous."""
    order: dict[str, list[Event]] = {}
    for event in events:
        order.setdefault(event.stream, []).append(event)
    return [event for group in order.values() for event in group]


def stored_rows(events: Sequence[Event]) -> list[Row]:
    """The exact (stream, version, topic, state) rows Loom stores for ``events``."""
    mapper = PydanticMapper()
    rows: list[Row] = []
    for event in events:
        stored = mapper.to_stored_event(event)
        rows.append(
            (
                str(stored.originator_id),
                stored.originator_version,
                stored.topic,
                stored.state,
            )
        )
    return rows


def chunks(items: Sequence[Event], size: int) -> Iterator[Sequence[Event]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- databases ---------------------------------------------------------------


@contextmanager
def scratch_dir(parent: str | None) -> Iterator[Path]:
    """A temporary directory (under ``parent`` when given), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="loom-bench-", dir=parent) as name:
        yield Path(name)


def open_plain(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection at Loom's durability, with the reference table."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
    connection.execute(PLAIN_DDL)
    return connection


def fill_store(path: Path, events: Sequence[Event], batch: int = 1000) -> None:
    """Append ``events`` to a Loom store at ``path`` in batches."""
    store = EventStore(SQLiteBackend(path))
    try:
        for part in chunks(events, batch):
            store.append(part)
    finally:
        store.close()


# --- statistics and output ---------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """Median, minimum and maximum of repeated measurements."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    def fmt(self, digits: int = 0) -> str:
        return (
            f"{self.median:,.{digits}f} "
            f"({self.low:,.{digits}f}-{self.high:,.{digits}f})"
        )


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linearly interpolated."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [
        max(len(str(cell)) for cell in column)
        for column in zip(headers, *rows, strict=False)
    ]
    line = "  ".join(f"{h:<{w}}" for h, w in zip(headers, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(f"{c:<{w}}" for c, w in zip(row, widths, strict=True)))
    print()


def machine() -> str:
    """One line naming the machine, Python and SQLite versions and the date."""
    cpus = os.cpu_count()
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        nproc = cpus or 0
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    libraries = "  ".join(
        f"{name}={version(name)}" for name in ("eventsourcing", "pydantic", "aiosqlite")
    )
    return (
        f"{date.today().isoformat()}  nproc={nproc}  loadavg={load}  "
        f"python={platform.python_version()}  sqlite={sqlite3.sqlite_version}  "
        f"{libraries}  {platform.system()} {platform.machine()}  "
        f"argv={' '.join(sys.argv)}"
    )
