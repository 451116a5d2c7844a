"""The changelog projection: contract (rebuild == incremental, fold) and queries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from loom.adapters.blobs import AsyncBlobStore
from loom.adapters.eventstore.backends import Backend
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.views import SQLiteViewStore
from loom.domain.eventbase import Context, Event, StreamCursor
from loom.domain.events import ChangeReverted, FileChanged, UserMessaged
from loom.projections.changelog import Changelog, ChangeRow, list_changes
from loom.projections.runner import ProjectionRunner, fold


async def stored_digests(backend: Backend) -> list[str]:
    blobs = AsyncBlobStore(backend)
    return [await blobs.put(f"version {n}\n".encode()) for n in range(40)]


def history(context: Context, digests: list[str]) -> list[list[Event]]:
    a, b = StreamCursor("task-a", 0, context), StreamCursor("session-b", 0, context)
    batches: list[list[Event]] = []
    for n in range(30):
        cursor = a if n % 3 else b
        batches.append(
            [
                cursor.new(UserMessaged, text="noise"),
                cursor.new(
                    FileChanged,
                    change_id=f"c{n}",
                    path=f"f{n % 4}.py",
                    kind="modify",
                    before=digests[n],
                    after=digests[n + 1],
                    subtask_id=f"s{n % 2}",
                ),
            ]
        )
        if n % 7 == 6:
            batches.append([cursor.new(ChangeReverted, change_id=f"c{n - 1}")])
    return batches


@pytest.fixture
async def memory() -> AsyncIterator[SQLiteViewStore]:
    views = await SQLiteViewStore.connect(":memory:")
    yield views
    await views.close()


async def test_rebuild_equals_incremental_and_fold_equals_the_past(
    log: AsyncEventLog, backend: Backend, context: Context, memory: SQLiteViewStore
) -> None:
    incremental = ProjectionRunner(log, memory, Changelog(), batch_size=3)
    past: list[tuple[int, list[ChangeRow]]] = []
    for batch in history(context, await stored_digests(backend)):
        await log.append(batch)
        position = await incremental.catch_up()
        past.append((position, await list_changes(memory)))
    rows = await list_changes(memory)
    rebuilt = await SQLiteViewStore.connect(":memory:")
    await ProjectionRunner(log, rebuilt, Changelog()).rebuild()
    assert await list_changes(rebuilt) == rows
    await rebuilt.close()
    assert [r.change_id for r in rows if r.reverted] == ["c5", "c12", "c19", "c26"]
    for position, then in past[::6]:
        scratch = await SQLiteViewStore.connect(":memory:")
        folded = await fold(log, Changelog(), position, scratch)
        assert await list_changes(folded) == then, position
        await folded.close()


async def test_queries_by_stream_and_id_prefix(
    log: AsyncEventLog, backend: Backend, context: Context, memory: SQLiteViewStore
) -> None:
    for batch in history(context, await stored_digests(backend)):
        await log.append(batch)
    await ProjectionRunner(log, memory, Changelog()).catch_up()
    session = await list_changes(memory, stream="session-b")
    assert {r.stream for r in session} == {"session-b"}
    assert len(session) == 10
    assert [r.change_id for r in await list_changes(memory, change_id="c2")] == [
        "c2",
        "c20",
        "c21",
        "c22",
        "c23",
        "c24",
        "c25",
        "c26",
        "c27",
        "c28",
        "c29",
    ]
