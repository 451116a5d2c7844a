"""The EventLog contract, run against a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from loom.adapters.blobs import AsyncBlobStore
from loom.adapters.eventstore.backends import Backend, open_backend
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.domain.errors import ConcurrencyError, DanglingBlobError
from loom.domain.eventbase import Context, Event, StreamCursor
from loom.domain.events import (
    FileSnapshotted,
    SessionStarted,
    TaskCreated,
    ToolCallRequested,
    UserMessaged,
)
from loom.domain.ports import Recorded


def messages(cursor: StreamCursor, count: int) -> list[Event]:
    return [cursor.new(UserMessaged, text=f"message {n}") for n in range(count)]


async def take(tail: AsyncIterator[Recorded], count: int) -> list[Recorded]:
    taken: list[Recorded] = []
    async with asyncio.timeout(10):
        async for recorded in tail:
            taken.append(recorded)
            if len(taken) == count:
                break
    return taken


async def test_append_returns_increasing_positions_and_reads_back(
    log: AsyncEventLog, context: Context
) -> None:
    cursor = StreamCursor("session-a", 0, context)
    events = [
        cursor.new(SessionStarted, workspace="/w", title="t"),
        *messages(cursor, 3),
    ]
    positions = await log.append(events)
    assert positions == sorted(positions)
    assert len(set(positions)) == 4
    assert await log.read_stream("session-a") == events
    assert await log.stream_version("session-a") == 4
    assert await log.last_position() == positions[-1]


async def test_read_stream_bounds(log: AsyncEventLog, context: Context) -> None:
    events = messages(StreamCursor("s", 0, context), 5)
    await log.append(events)
    assert await log.read_stream("s", after=2) == events[2:]
    assert await log.read_stream("s", after=1, upto=3) == events[1:3]


async def test_an_unknown_stream_is_empty(log: AsyncEventLog) -> None:
    assert await log.read_stream("nobody") == []
    assert await log.stream_version("nobody") == 0


async def test_a_version_clash_raises_and_writes_nothing(
    log: AsyncEventLog, context: Context
) -> None:
    await log.append(messages(StreamCursor("s", 0, context), 2))
    before = await log.last_position()
    other = StreamCursor("other", 0, context)
    stale = [
        other.new(UserMessaged, text="x"),
        *messages(StreamCursor("s", 1, context), 1),
    ]
    with pytest.raises(ConcurrencyError, match=r"'s' is no longer at version 1"):
        await log.append(stale)
    assert await log.last_position() == before
    assert await log.read_stream("other") == []


async def test_concurrent_appends_each_get_their_own_outcome(
    log: AsyncEventLog, context: Context
) -> None:
    # Appends queued together are committed together; one that clashes must
    # fail alone and take nothing else down with it.
    await log.append(messages(StreamCursor("s", 0, context), 1))
    batches = [messages(StreamCursor(f"p{n}", 0, context), 2) for n in range(8)]
    clash = messages(StreamCursor("s", 0, context), 1)
    outcomes = await asyncio.gather(
        *(log.append(b) for b in batches[:4]),
        log.append(clash),
        *(log.append(b) for b in batches[4:]),
        return_exceptions=True,
    )

    assert isinstance(outcomes[4], ConcurrencyError)
    positions = [p for o in outcomes if isinstance(o, list) for p in o]
    assert len(positions) == 16
    assert len(set(positions)) == 16
    for n in range(8):
        assert [e.text for e in await log.read_stream(f"p{n}")] == [  # type: ignore[attr-defined]
            "message 0",
            "message 1",
        ]
    assert await log.stream_version("s") == 1


async def test_an_expected_version_ahead_of_the_stream_is_refused(
    log: AsyncEventLog, context: Context
) -> None:
    await log.append(messages(StreamCursor("s", 0, context), 2))
    with pytest.raises(ConcurrencyError):
        await log.append(messages(StreamCursor("s", 5, context), 1))
    assert await log.stream_version("s") == 2


async def test_versions_in_a_batch_must_be_consecutive(
    log: AsyncEventLog, context: Context
) -> None:
    first, _, third = messages(StreamCursor("s", 0, context), 3)
    with pytest.raises(ValueError, match="consecutive"):
        await log.append([first, third])


async def test_concurrent_writers_to_one_stream_get_one_winner_per_version(
    log: AsyncEventLog, context: Context
) -> None:
    async def attempt(n: int) -> bool:
        try:
            await log.append(messages(StreamCursor("race", 0, context), 1))
        except ConcurrencyError:
            return False
        return True

    results = await asyncio.gather(*(attempt(n) for n in range(8)))
    assert results.count(True) == 1
    assert await log.stream_version("race") == 1


async def test_read_all_filters_and_bounds(
    log: AsyncEventLog, context: Context
) -> None:
    a, b = StreamCursor("session-a", 0, context), StreamCursor("task-b", 0, context)
    await log.append([a.new(SessionStarted, workspace="/w")])
    await log.append([b.new(TaskCreated, goal="g", workspace="/w")])
    await log.append(messages(a, 2) + messages(b, 2))
    everything = await log.read_all()
    assert [r.event.stream for r in everything] == [
        "session-a",
        "task-b",
        "session-a",
        "session-a",
        "task-b",
        "task-b",
    ]
    positions = [r.position for r in everything]
    assert positions == sorted(positions)
    assert await log.read_all(after=positions[1], limit=2) == everything[2:4]
    assert await log.read_all(upto=positions[2]) == everything[:3]
    only_tasks = await log.read_all(types=["task.created"])
    assert [r.event.type for r in only_tasks] == ["task.created"]
    only_b = await log.read_all(streams=["task-b"], limit=2)
    assert [r.event.version for r in only_b] == [1, 2]


async def test_read_all_with_a_stream_filter_pages_past_other_streams(
    log: AsyncEventLog, context: Context
) -> None:
    noise = StreamCursor("noise", 0, context)
    for _ in range(3):
        await log.append(messages(noise, 600))
    await log.append(messages(StreamCursor("needle", 0, context), 1))
    found = await log.read_all(streams=["needle"], limit=10)
    assert [r.event.stream for r in found] == ["needle"]


async def test_tail_yields_the_past_then_new_events(
    log: AsyncEventLog, context: Context
) -> None:
    cursor = StreamCursor("s", 0, context)
    await log.append(messages(cursor, 2))
    tail = log.tail()

    async def later() -> None:
        await asyncio.sleep(0.05)
        await log.append(messages(cursor, 2))

    writer = asyncio.create_task(later())
    taken = await take(tail, 4)
    await writer
    assert [r.event.version for r in taken] == [1, 2, 3, 4]


async def test_tail_after_a_position_and_filtered_by_stream(
    log: AsyncEventLog, context: Context
) -> None:
    a, b = StreamCursor("a", 0, context), StreamCursor("b", 0, context)
    positions = await log.append(messages(a, 2) + messages(b, 2))
    tail = log.tail(after=positions[0], streams=["a"])
    writer = asyncio.create_task(log.append(messages(b, 3) + messages(a, 1)))
    taken = await take(tail, 2)
    await writer
    assert [(r.event.stream, r.event.version) for r in taken] == [("a", 2), ("a", 3)]


async def test_a_second_process_sees_appends_through_its_own_tail(
    store_url: str, log: AsyncEventLog, context: Context
) -> None:
    # A separate backend and log stand in for another process: nothing is
    # shared with the writer but the database itself.
    reader_backend: Backend = open_backend(store_url)
    reader = AsyncEventLog(EventStore(reader_backend))
    try:
        tail = reader.tail()
        first = asyncio.create_task(take(tail, 3))
        await asyncio.sleep(0.1)
        await log.append(messages(StreamCursor("s", 0, context), 3))
        taken = await first
        assert [r.event.version for r in taken] == [1, 2, 3]
    finally:
        await reader.close()


async def test_events_naming_a_missing_blob_are_refused(
    log: AsyncEventLog, backend: Backend, context: Context
) -> None:
    blobs = AsyncBlobStore(backend)
    digest = "0" * 64
    snapshot = StreamCursor("t", 0, context).new(
        FileSnapshotted, path="a", before=digest
    )
    with pytest.raises(DanglingBlobError, match=digest):
        await log.append([snapshot])
    stored = await blobs.put(b"before")
    ok = StreamCursor("t", 0, context).new(FileSnapshotted, path="a", before=stored)
    await log.append([ok])
    assert (await log.read_stream("t"))[0].blob_refs() == [stored]


async def test_payloads_round_trip_exactly(
    log: AsyncEventLog, context: Context
) -> None:
    event = StreamCursor("s", 0, context).new(
        ToolCallRequested,
        call_id="c",
        tool="edit_file",
        arguments={"path": "ü.py", "edits": [{"old": "a\n\tb", "new": None}], "n": 1.5},
    )
    await log.append([event])
    assert (await log.read_all())[0].event == event
