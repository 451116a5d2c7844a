"""The projection contract, for the stream index on SQLite and PostgreSQL views."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.adapters.views import SQLiteViewStore, open_views
from loom.domain.eventbase import Context, Event, StreamCursor
from loom.domain.events import (
    SessionEnded,
    SessionStarted,
    TaskCompleted,
    TaskCreated,
    TaskStarted,
    UserMessaged,
)
from loom.domain.ports import Recorded, ViewStore, ViewTransaction
from loom.projections.runner import ProjectionRunner, fold
from loom.projections.stream_index import (
    StreamIndex,
    StreamSummary,
    get_stream,
    list_streams,
)


@pytest.fixture
async def views(store_url: str, tmp_path: Path) -> AsyncIterator[ViewStore]:
    url = (
        store_url if store_url.startswith("postgres") else f"sqlite:///{tmp_path}/v.db"
    )
    opened = await open_views(url)
    yield opened
    await opened.close()


async def memory_views() -> SQLiteViewStore:
    return await SQLiteViewStore.connect(":memory:")


def story(context: Context, seed: int = 7) -> list[list[Event]]:
    """Append batches from interleaved sessions and tasks with lifecycle events."""
    rng = random.Random(seed)
    batches: list[list[Event]] = []
    cursors = {}
    for n in range(6):
        stream = f"session-{n}" if n % 2 else f"task-{n}"
        cursor = cursors[stream] = StreamCursor(stream, 0, context)
        if stream.startswith("session"):
            batches.append(
                [cursor.new(SessionStarted, workspace="/w", title=f"chat {n}")]
            )
        else:
            batches.append([cursor.new(TaskCreated, goal=f"goal {n}", workspace="/w")])
    for _ in range(120):
        stream = rng.choice(sorted(cursors))
        cursor = cursors[stream]
        batches.append(
            [cursor.new(UserMessaged, text="x") for _ in range(rng.randint(1, 4))]
        )
    batches.append(
        [cursors["task-0"].new(TaskStarted), cursors["task-0"].new(TaskCompleted)]
    )
    batches.append([cursors["session-1"].new(SessionEnded)])
    batches.append([StreamCursor("odd-stream", 0, context).new(UserMessaged, text="?")])
    return batches


async def write(log: AsyncEventLog, batches: Sequence[Sequence[Event]]) -> None:
    for batch in batches:
        await log.append(batch)


async def test_rebuild_from_zero_equals_incremental_catch_up(
    log: AsyncEventLog, views: ViewStore, context: Context
) -> None:
    batches = story(context)
    incremental = ProjectionRunner(log, views, StreamIndex(), batch_size=7)
    for start in range(0, len(batches), 25):
        await write(log, batches[start : start + 25])
        await incremental.catch_up()
    caught_up = await list_streams(views)
    scratch = await memory_views()
    await ProjectionRunner(log, scratch, StreamIndex()).rebuild()
    assert await list_streams(scratch) == caught_up
    await ProjectionRunner(log, views, StreamIndex()).rebuild()
    assert await list_streams(views) == caught_up
    await scratch.close()


async def test_catch_up_is_idempotent_and_resumes_after_a_restart(
    log: AsyncEventLog, views: ViewStore, context: Context
) -> None:
    batches = story(context)
    await write(log, batches[:60])
    first = ProjectionRunner(log, views, StreamIndex(), batch_size=10)
    position = await first.catch_up()
    rows = await list_streams(views)
    assert await first.catch_up() == position
    assert await list_streams(views) == rows
    await write(log, batches[60:])
    restarted = ProjectionRunner(log, views, StreamIndex(), batch_size=10)
    assert await restarted.position() == position
    await restarted.catch_up()
    scratch = await memory_views()
    await ProjectionRunner(log, scratch, StreamIndex()).rebuild()
    assert await list_streams(views) == await list_streams(scratch)
    await scratch.close()


async def test_fold_to_position_n_equals_a_log_truncated_at_n(
    log: AsyncEventLog, store: EventStore, context: Context, tmp_path: Path
) -> None:
    await write(log, story(context))
    everything = await log.read_all(limit=100_000)
    for n in (1, 7, len(everything) // 2, len(everything) - 1, len(everything)):
        upto = everything[n - 1].position
        folded = await fold(log, StreamIndex(), upto, await memory_views())
        truncated = await truncated_log(everything[:n], tmp_path / f"cut{n}.db")
        scratch = await memory_views()
        await ProjectionRunner(truncated, scratch, StreamIndex()).rebuild()
        assert await list_streams(folded) == await list_streams(scratch), n
        await truncated.close()
        await folded.close()
        await scratch.close()


async def truncated_log(prefix: Sequence[Recorded], path: Path) -> AsyncEventLog:
    from loom.adapters.eventstore.backends import SQLiteBackend

    copy = AsyncEventLog(EventStore(SQLiteBackend(path)))
    for recorded in prefix:
        await copy.append([recorded.event])
    return copy


async def test_the_index_describes_each_stream(
    log: AsyncEventLog, views: ViewStore, context: Context
) -> None:
    await write(log, story(context))
    await ProjectionRunner(log, views, StreamIndex()).catch_up()
    events: dict[str, list[Recorded]] = {}
    for recorded in await log.read_all(limit=10_000):
        events.setdefault(recorded.event.stream, []).append(recorded)
    task = await get_stream(views, "task-0")
    assert task is not None
    assert (task.kind, task.title, task.status) == ("task", "goal 0", "completed")
    assert task.event_count == len(events["task-0"])
    assert task.first_position == events["task-0"][0].position
    assert task.last_position == events["task-0"][-1].position
    assert task.first_at == events["task-0"][0].event.at.isoformat()
    session = await get_stream(views, "session-1")
    assert session == StreamSummary(
        stream="session-1",
        kind="session",
        title="chat 1",
        status="ended",
        event_count=len(events["session-1"]),
        first_position=events["session-1"][0].position,
        last_position=events["session-1"][-1].position,
        first_at=events["session-1"][0].event.at.isoformat(),
        last_at=events["session-1"][-1].event.at.isoformat(),
    )
    other = await get_stream(views, "odd-stream")
    assert other is not None
    assert (other.kind, other.status) == ("other", "")
    assert await get_stream(views, "nowhere") is None


class StreamIndexV2(StreamIndex):
    version = 2


async def test_a_new_projection_version_rebuilds_from_zero(
    log: AsyncEventLog, views: ViewStore, context: Context
) -> None:
    await write(log, story(context))
    await ProjectionRunner(log, views, StreamIndex()).catch_up()
    expected = await list_streams(views)
    async with views.transaction() as tx:
        await tx.execute("UPDATE stream_index SET event_count = 0, title = 'stale'")
    assert await list_streams(views) != expected
    runner = ProjectionRunner(log, views, StreamIndexV2())
    assert await runner.position() == 0
    await runner.catch_up()
    assert await list_streams(views) == expected


class Exploding(StreamIndex):
    """Fails on the first ``session.ended`` it meets."""

    async def apply(self, tx: ViewTransaction, batch: Sequence[Recorded]) -> None:
        await super().apply(tx, batch)
        if any(r.event.type == "session.ended" for r in batch):
            raise RuntimeError("boom")


async def test_a_failed_batch_leaves_rows_and_position_untouched(
    log: AsyncEventLog, views: ViewStore, context: Context
) -> None:
    await write(log, story(context))
    runner = ProjectionRunner(log, views, Exploding(), batch_size=5)
    with pytest.raises(RuntimeError, match="boom"):
        await runner.catch_up()
    position = await runner.position()
    assert position > 0
    applied = sum(s.event_count for s in await list_streams(views))
    assert applied == len(await log.read_all(upto=position, limit=100_000))


async def test_a_following_projection_sees_new_events(
    log: AsyncEventLog, views: ViewStore, context: Context
) -> None:
    runner = ProjectionRunner(log, views, StreamIndex())
    applied: asyncio.Queue[int] = asyncio.Queue()
    follower = asyncio.create_task(runner.follow(on_applied=applied.put_nowait))
    try:
        await asyncio.sleep(0.05)
        cursor = StreamCursor("task-live", 0, context)
        (position,) = await log.append(
            [cursor.new(TaskCreated, goal="live", workspace="/")]
        )
        async with asyncio.timeout(5):
            while await applied.get() < position:
                pass
        row = await get_stream(views, "task-live")
        assert row is not None
        assert row.title == "live"
    finally:
        follower.cancel()
        with pytest.raises(asyncio.CancelledError):
            await follower
