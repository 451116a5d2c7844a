"""Crash safety and multi-process use of the SQLite event store, with real processes."""

from __future__ import annotations

import collections
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loom.adapters.eventstore.backends import SQLiteBackend
from loom.adapters.eventstore.store import EventStore
from loom.domain.events import UserMessaged

CHILD = Path(__file__).with_name("appender_child.py")
KILLS = 50


def start_appender(
    url: str, stream: str, batches: int | None = None
) -> subprocess.Popen[str]:
    args = [sys.executable, str(CHILD), url, stream]
    if batches is not None:
        args.append(str(batches))
    child = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child


def finish(child: subprocess.Popen[str], timeout: float = 120) -> str:
    """The rest of the child's output (read through the same buffered pipe)."""
    assert child.stdout is not None
    output = child.stdout.read()
    child.stdout.close()
    child.wait(timeout)
    return output


def acknowledged(output: str) -> list[tuple[int, int, str, int]]:
    acks = []
    for line in output.splitlines():
        if line.startswith("acked "):
            _, first, last, batch, size = line.split()
            acks.append((int(first), int(last), batch, int(size)))
    return acks


def check_stream(path: Path, stream: str) -> list[UserMessaged]:
    store = EventStore(SQLiteBackend(path))
    try:
        events = store.read_stream(stream)
    finally:
        store.close()
    assert [e.version for e in events] == list(range(1, len(events) + 1)), "gap"
    assert all(isinstance(e, UserMessaged) for e in events)
    return events  # type: ignore[return-value]


def check_batches_whole(events: list[UserMessaged]) -> None:
    seen: dict[str, int] = collections.Counter()
    sizes: dict[str, int] = {}
    for event in events:
        batch, rest = event.text.split(":")
        sizes[batch] = int(rest.split("/")[1])
        seen[batch] += 1
    assert seen == sizes, "a batch was partly written"


@pytest.mark.slow
def test_acknowledged_events_survive_sigkill_at_random_moments(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    url = f"sqlite:///{path}"
    rng = random.Random(20261125)
    acked_total = 0
    for _ in range(KILLS):
        child = start_appender(url, "task-crash")
        time.sleep(rng.uniform(0.0, 0.05))
        child.send_signal(signal.SIGKILL)
        output = finish(child)
        acks = acknowledged(output)
        events = check_stream(path, "task-crash")
        last_acked = max((last for _, last, _, _ in acks), default=0)
        assert len(events) >= last_acked, "an acknowledged event was lost"
        check_batches_whole(events)
        acked_total += len(acks)
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert acked_total > KILLS, "the children were killed before appending anything"


@pytest.mark.slow
def test_two_processes_appending_to_different_streams_lose_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shared.db"
    url = f"sqlite:///{path}"
    SQLiteBackend(path).close()  # create the schema before the race starts
    children = {s: start_appender(url, s, batches=1000) for s in ("task-a", "task-b")}
    for stream, child in children.items():
        output = finish(child)
        assert child.returncode == 0
        acks = acknowledged(output)
        assert len(acks) == 1000
        events = check_stream(path, stream)
        assert len(events) == acks[-1][1]
        check_batches_whole(events)
    store = EventStore(SQLiteBackend(path))
    positions = [r.position for r in store.read_all(limit=10_000)]
    store.close()
    assert positions == sorted(set(positions))


JOURNAL_CHILD = Path(__file__).with_name("journal_child.py")


@pytest.mark.slow
def test_staged_events_are_lost_only_after_the_last_acknowledged_one(
    tmp_path: Path,
) -> None:
    # A kill may drop notes made after the last awaited record, never one
    # before it, never a version in the middle, never a snapshot's blob.
    path = tmp_path / "staged.db"
    url = f"sqlite:///{path}"
    rng = random.Random(20261126)
    acked_total = 0
    for _ in range(KILLS // 2):
        child = subprocess.Popen(
            [sys.executable, str(JOURNAL_CHILD), url, "task-staged"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.05))
        child.send_signal(signal.SIGKILL)
        acked = [int(line.split()[1]) for line in finish(child).splitlines()]
        store = EventStore(SQLiteBackend(path))
        try:
            events = store.read_stream("task-staged")
            refs = {ref for event in events for ref in event.blob_refs()}
            missing = refs - store.backend.present_blobs(refs)
        finally:
            store.close()
        assert [e.version for e in events] == list(range(1, len(events) + 1))
        assert len(events) >= max(acked, default=0), "an acknowledged event was lost"
        assert not missing, "an event names a blob that was never stored"
        acked_total += len(acked)
    assert acked_total > KILLS // 2, "the children were killed before recording"
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
