"""task_tracker: every change is a todo.list.updated event with the whole list."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from loom.adapters.determinism import SequentialIds, SteppingClock, context_from
from loom.adapters.eventstore.journal import StreamJournal
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.tools import ToolContext, ToolRunner
from loom.adapters.tools.todo import TaskTracker
from loom.domain.events import TodoItem, TodoListUpdated

from .conftest import STREAM


@pytest.fixture
def logged(ctx: ToolContext, tool_log: AsyncEventLog) -> ToolRunner:
    """A runner whose context carries the event log (so it can catch up)."""
    return ToolRunner(dataclasses.replace(ctx, log=tool_log))


async def track(runner: ToolRunner, **arguments: Any) -> str:
    result = await runner.call("task_tracker", arguments)
    assert not result.is_error, result.text
    return result.text


async def lists(log: AsyncEventLog) -> list[list[tuple[str, str, str]]]:
    events = await log.read_stream(STREAM)
    return [
        [(i.id, i.text, i.status) for i in e.items]
        for e in events
        if isinstance(e, TodoListUpdated)
    ]


async def test_every_change_records_the_whole_list(
    logged: ToolRunner, tool_log: AsyncEventLog
) -> None:
    assert await track(logged, action="add", text="Write the parser") == (
        "added t1\nto-do (0 of 1 done):\nt1 [pending] Write the parser"
    )
    await track(logged, action="add", text="Test it")
    await track(logged, action="add", text="Ship it")
    await track(logged, action="update", id="t1", status="done")
    await track(
        logged, action="update", id="t2", status="in_progress", text="Test it well"
    )
    await track(logged, action="remove", id="t3")
    assert await lists(tool_log) == [
        [("t1", "Write the parser", "pending")],
        [("t1", "Write the parser", "pending"), ("t2", "Test it", "pending")],
        [
            ("t1", "Write the parser", "pending"),
            ("t2", "Test it", "pending"),
            ("t3", "Ship it", "pending"),
        ],
        [
            ("t1", "Write the parser", "done"),
            ("t2", "Test it", "pending"),
            ("t3", "Ship it", "pending"),
        ],
        [
            ("t1", "Write the parser", "done"),
            ("t2", "Test it well", "in_progress"),
            ("t3", "Ship it", "pending"),
        ],
        [("t1", "Write the parser", "done"), ("t2", "Test it well", "in_progress")],
    ]


async def test_list_shows_status_and_records_nothing(
    logged: ToolRunner, tool_log: AsyncEventLog
) -> None:
    assert await track(logged, action="list") == "the to-do list is empty"
    await track(logged, action="add", text="a")
    await track(logged, action="add", text="b")
    await track(logged, action="update", id="t2", status="cancelled")
    before = await tool_log.stream_version(STREAM)
    assert await track(logged, action="list") == (
        "to-do (0 of 2 done):\nt1 [pending] a\nt2 [cancelled] b"
    )
    assert await tool_log.stream_version(STREAM) == before


async def test_ids_are_never_reused(
    logged: ToolRunner, tool_log: AsyncEventLog
) -> None:
    await track(logged, action="add", text="a")
    await track(logged, action="add", text="b")
    await track(logged, action="remove", id="t2")
    assert (await track(logged, action="add", text="c")).startswith("added t3")


async def test_the_list_is_seeded_from_the_log(
    ctx: ToolContext, tool_log: AsyncEventLog
) -> None:
    await ctx.journal.record(
        TodoListUpdated,
        items=[
            TodoItem(id="t1", text="old", status="done"),
            TodoItem(id="t4", text="kept"),
        ],
    )
    await ctx.journal.record(TodoListUpdated, items=[TodoItem(id="t4", text="kept")])
    # A fresh journal on the same stream, as after a restart.
    journal = await StreamJournal.open(
        tool_log, STREAM, context_from(SteppingClock(), SequentialIds(start=100))
    )
    runner = ToolRunner(dataclasses.replace(ctx, journal=journal, log=tool_log))
    assert (
        await track(runner, action="list") == "to-do (0 of 1 done):\nt4 [pending] kept"
    )
    assert (await track(runner, action="add", text="new")).startswith("added t5")


async def test_changes_made_elsewhere_are_not_overwritten(
    logged: ToolRunner, ctx: ToolContext, tool_log: AsyncEventLog
) -> None:
    await track(logged, action="add", text="mine")
    # The user edits the list through another path on the same stream.
    await ctx.journal.record(
        TodoListUpdated,
        items=[
            TodoItem(id="t1", text="mine", status="done"),
            TodoItem(id="t2", text="theirs"),
        ],
    )
    text = await track(logged, action="add", text="next")
    assert text.endswith("t1 [done] mine\nt2 [pending] theirs\nt3 [pending] next")


async def test_without_the_log_the_list_lives_in_memory_per_journal(
    runner: ToolRunner, ctx: ToolContext, tool_log: AsyncEventLog
) -> None:
    await track(runner, action="add", text="a")
    other = ToolRunner(dataclasses.replace(ctx, subtask_id="sub-1"))  # same journal
    assert await track(other, action="list") == "to-do (0 of 1 done):\nt1 [pending] a"
    assert await lists(tool_log) == [[("t1", "a", "pending")]]


async def test_concurrent_adds_get_distinct_ids(
    logged: ToolRunner, tool_log: AsyncEventLog
) -> None:
    await asyncio.gather(
        *(track(logged, action="add", text=f"job {n}") for n in range(5))
    )
    final = (await lists(tool_log))[-1]
    assert sorted(i for i, _, _ in final) == ["t1", "t2", "t3", "t4", "t5"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"action": "add"}, "add needs 'text'"),
        (
            {"action": "update", "id": "t9", "status": "done"},
            "no to-do 't9'; the ids are: t1",
        ),
        ({"action": "update", "id": "t1"}, "needs a new 'status' or 'text'"),
        ({"action": "remove"}, "needs 'id'"),
        ({"action": "update", "id": "t1", "status": "finished"}, "invalid arguments"),
        ({"action": "clear"}, "invalid arguments"),
    ],
)
async def test_errors_are_clear(
    logged: ToolRunner, tool_log: AsyncEventLog, arguments: dict[str, Any], message: str
) -> None:
    await track(logged, action="add", text="a")
    result = await logged.call("task_tracker", arguments)
    assert result.is_error
    assert message in result.text
    assert len(await lists(tool_log)) == 1


def test_it_is_a_compute_tool() -> None:
    assert TaskTracker.kind == "compute"
