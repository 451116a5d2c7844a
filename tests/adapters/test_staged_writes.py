"""Staged writes (``EventLog.stage``, ``Journal.note``) on a real SQLite file and
a real PostgreSQL: their order, their batching, their failures and their
durability at close."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from loom.adapters.blobs import AsyncBlobStore, digest_of
from loom.adapters.eventstore.backends import Backend, open_backend
from loom.adapters.eventstore.journal import StreamJournal
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.domain.errors import ConcurrencyError, StoreError
from loom.domain.eventbase import Context, Event, StreamCursor
from loom.domain.events import FileSnapshotted, UserMessaged


def messages(cursor: StreamCursor, count: int, tag: str = "m") -> list[Event]:
    return [cursor.new(UserMessaged, text=f"{tag}{n}") for n in range(count)]


def texts(events: Sequence[Event]) -> list[str]:
    return [e.text for e in events]  # type: ignore[attr-defined]


async def test_staged_and_appended_writes_commit_in_the_order_made(
    log: AsyncEventLog, context: Context
) -> None:
    cursor = StreamCursor("s", 0, context)
    log.stage(messages(cursor, 2, "staged"))
    await log.append(messages(cursor, 1, "appended"))
    log.stage(messages(cursor, 1, "later"))
    assert texts(await log.read_stream("s")) == [
        "staged0",
        "staged1",
        "appended0",
        "later0",
    ]
    positions = [r.position for r in await log.read_all()]
    assert positions == sorted(positions)


async def test_an_append_returns_only_after_what_was_staged_before_it(
    store_url: str, log: AsyncEventLog, context: Context
) -> None:
    # Another backend stands in for another process: it sees only commits.
    log.stage(messages(StreamCursor("a", 0, context), 3))
    await log.append(messages(StreamCursor("b", 0, context), 1))
    other = EventStore(open_backend(store_url))
    try:
        assert len(other.read_stream("a")) == 3
    finally:
        other.close()


async def test_writes_made_during_a_commit_share_the_next_transaction(
    log: AsyncEventLog, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    first_commit_started = threading.Event()
    real_append = log.store.append

    def slow_append(events: Sequence[Event]) -> list[int]:
        calls.append(len(events))
        if len(calls) == 1:
            first_commit_started.set()
            time.sleep(0.2)
        return real_append(events)

    monkeypatch.setattr(log.store, "append", slow_append)
    log.stage(messages(StreamCursor("first", 0, context), 1))
    await asyncio.to_thread(first_commit_started.wait, 5)
    for n in range(10):
        log.stage(messages(StreamCursor(f"s{n}", 0, context), 2))
    await log.flush()
    assert calls == [1, 20]


async def test_a_clash_in_a_shared_transaction_fails_only_its_own_write(
    log: AsyncEventLog, context: Context
) -> None:
    await log.append(messages(StreamCursor("s", 0, context), 1))
    log.stage(messages(StreamCursor("before", 0, context), 1))
    outcomes = await asyncio.gather(
        log.append(messages(StreamCursor("s", 0, context), 1)),
        log.append(messages(StreamCursor("after", 0, context), 1)),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], ConcurrencyError)
    assert isinstance(outcomes[1], list)
    assert await log.stream_version("before") == 1
    assert await log.stream_version("after") == 1
    await log.flush()  # no staged write failed


async def test_a_failed_staged_write_stops_every_later_write(
    log: AsyncEventLog, context: Context
) -> None:
    await log.append(messages(StreamCursor("s", 0, context), 1))
    log.stage(messages(StreamCursor("s", 0, context), 1))  # clashes at commit
    with pytest.raises(StoreError, match="nothing waited for failed") as failed:
        await log.flush()
    assert isinstance(failed.value.__cause__, ConcurrencyError)
    with pytest.raises(StoreError, match="nothing waited for failed"):
        log.stage(messages(StreamCursor("t", 0, context), 1))
    with pytest.raises(StoreError, match="nothing waited for failed"):
        await log.append(messages(StreamCursor("t", 0, context), 1))
    # Reading still works: what did commit can be inspected.
    assert await log.stream_version("s") == 1
    assert await log.stream_version("t") == 0


async def test_blobs_staged_with_an_event_are_stored_before_it(
    log: AsyncEventLog, backend: Backend, context: Context
) -> None:
    data = b"the file before the change"
    digest = digest_of(data)
    snapshot = StreamCursor("t", 0, context).new(
        FileSnapshotted, path="a.py", before=digest
    )
    log.stage([snapshot], [data])
    assert (await log.read_stream("t"))[0].blob_refs() == [digest]
    assert await AsyncBlobStore(backend).get(digest) == data


async def test_close_commits_what_was_staged(
    store_url: str, log: AsyncEventLog, context: Context
) -> None:
    closing = AsyncEventLog(EventStore(open_backend(store_url)))
    closing.stage(messages(StreamCursor("s", 0, context), 3))
    await closing.close()
    assert len(await log.read_stream("s")) == 3


class _Heard(StreamJournal):
    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.heard: list[str] = []

    def _recorded(self, events: list[Event]) -> None:
        self.heard += texts(events)


async def test_notes_and_records_share_one_version_sequence(
    log: AsyncEventLog, context: Context
) -> None:
    journal = _Heard(log, "session-j", 0, context)
    first = journal.note(UserMessaged, text="one")
    second = await journal.record(UserMessaged, text="two")
    third = journal.note(UserMessaged, text="three")
    assert [first.version, second.version, third.version] == [1, 2, 3]
    assert journal.heard == ["one", "two", "three"]
    await journal.flush()
    assert texts(await log.read_stream("session-j")) == ["one", "two", "three"]


async def test_a_note_refused_by_the_log_leaves_the_version_unused(
    log: AsyncEventLog, context: Context
) -> None:
    await log.append(messages(StreamCursor("clash", 0, context), 1))
    log.stage(messages(StreamCursor("clash", 0, context), 1))
    with pytest.raises(StoreError):
        await log.flush()
    journal = _Heard(log, "session-k", 0, context)
    with pytest.raises(StoreError):
        journal.note(UserMessaged, text="refused")
    assert journal.version == 0
    assert journal.heard == []


async def test_a_cancelled_record_still_commits_and_the_journal_goes_on(
    log: AsyncEventLog, context: Context
) -> None:
    journal = StreamJournal(log, "session-c", 0, context)
    recording = asyncio.create_task(journal.record(UserMessaged, text="cancelled"))
    await asyncio.sleep(0)  # the write is queued
    recording.cancel()
    with pytest.raises(asyncio.CancelledError):
        await recording
    await journal.record(UserMessaged, text="next")
    assert texts(await log.read_stream("session-c")) == ["cancelled", "next"]
