"""``loom tasks`` and ``loom status ID``: autonomous tasks, read from the task board.

Both catch the board up with the log before they read it, so they show what
the log holds now, whether or not a run is still going.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import NoReturn, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from loom.app.config import load_config
from loom.app.wiring import Stores, open_stores
from loom.domain.errors import ConfigError, LoomError
from loom.domain.ports import ViewStore
from loom.projections.runner import ProjectionRunner
from loom.projections.task_board import (
    SubtaskSummary,
    TaskBoard,
    TaskDetail,
    TaskSummary,
    get_task,
    list_tasks,
    match_task_ids,
)

__all__ = [
    "UnknownTaskError",
    "age",
    "find_task",
    "headline",
    "load_tasks",
    "register",
    "render_task",
    "render_tasks",
]

EXIT_USAGE = 2
_WIDTH = 200

T = TypeVar("T")


class UnknownTaskError(LoomError):
    """No task, or more than one, matches the id the user gave."""


def register(cli_group: click.Group) -> None:
    """Add ``tasks`` and ``status`` to the ``loom`` group."""
    cli_group.add_command(tasks_command)
    cli_group.add_command(status_command)


@click.command("tasks")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def tasks_command(as_json: bool) -> None:
    """List autonomous tasks, newest first."""
    tasks = _run(load_tasks)
    if as_json:
        for task in tasks:
            click.echo(json.dumps(task.as_json(), ensure_ascii=False))
    elif tasks:
        click.echo(render_tasks(tasks, datetime.now(UTC)))
    else:
        click.echo("no tasks yet: start one with loom run GOAL")


@click.command("status")
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True, help="The task as one JSON object.")
def status_command(task_id: str, as_json: bool) -> None:
    """Show one task: its goal, status, subtasks, tokens and outcome.

    TASK_ID is the task's id, with or without "task-", or the start of one.
    """
    detail = _run(lambda stores: find_task(stores, task_id))
    if as_json:
        click.echo(json.dumps(detail.as_json(), ensure_ascii=False))
    else:
        click.echo(render_task(detail, datetime.now(UTC)))


# --- reading the board ------------------------------------------------------


async def load_tasks(stores: Stores) -> list[TaskSummary]:
    """Every task, newest first."""
    async with _board(stores) as views:
        return await list_tasks(views)


async def find_task(stores: Stores, key: str) -> TaskDetail:
    """The one task ``key`` names; ``UnknownTaskError`` when none or several do."""
    async with _board(stores) as views:
        ids = await match_task_ids(views, key)
        if len(ids) > 1:
            listed = ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")
            raise UnknownTaskError(
                f"{key!r} matches {len(ids)} tasks ({listed}): give more of the id"
            )
        detail = await get_task(views, ids[0]) if ids else None
    if detail is None:
        raise UnknownTaskError(f"no task matches {key!r} (loom tasks lists them)")
    return detail


@asynccontextmanager
async def _board(stores: Stores) -> AsyncIterator[ViewStore]:
    views = await stores.open_views()
    try:
        await ProjectionRunner(stores.log, views, TaskBoard()).catch_up()
        yield views
    finally:
        await views.close()


# --- rendering --------------------------------------------------------------


def render_tasks(tasks: Sequence[TaskSummary], now: datetime) -> str:
    """The ``loom tasks`` table."""
    table = _table("ID", "STATUS", "SUBTASKS", "TOKENS", "AGE", "GOAL")
    for task in tasks:
        _add_row(
            table,
            task.task_id,
            task.status,
            f"{task.subtasks_done}/{task.subtasks_total}",
            f"{task.tokens:,}",
            age(task.created_at, now),
            headline(task.goal, 80),
        )
    return _printed(table)


def render_task(detail: TaskDetail, now: datetime) -> str:
    """What ``loom status ID`` prints."""
    task = detail.task
    facts = _table("", "")
    for name, value in _facts(task, now):
        _add_row(facts, name, value)
    parts = [task.task_id, _printed(facts)]
    if detail.subtasks:
        parts.append(_printed(_subtask_table(detail.subtasks)))
    if task.finished:
        parts.append(f"outcome: {task.outcome or '-'}")
    return "\n\n".join(parts)


def _facts(task: TaskSummary, now: datetime) -> list[tuple[str, str]]:
    done = f"{task.subtasks_done}/{task.subtasks_total} passed"
    if task.subtasks_failed:
        done += f", {task.subtasks_failed} failed"
    tokens = (
        f"{task.tokens:,} ({task.prompt_tokens:,} prompt, "
        f"{task.completion_tokens:,} completion)"
    )
    facts = [
        ("goal", task.goal),
        ("status", task.status),
        ("workspace", task.workspace),
        ("subtasks", done),
        ("tokens", tokens),
        ("created", f"{_when(task.created_at)} ({age(task.created_at, now)} ago)"),
        ("updated", _when(task.updated_at)),
    ]
    if task.last_reason and not task.finished:
        facts.append(("last reason", task.last_reason))
    return facts


def _subtask_table(subtasks: Sequence[SubtaskSummary]) -> Table:
    table = _table(
        "SUBTASK", "STATUS", "ATTEMPT", "MODEL", "VERDICT", "NOTE", "DESCRIPTION"
    )
    for subtask in subtasks:
        _add_row(
            table,
            subtask.subtask_id,
            subtask.status,
            str(subtask.attempt or "-"),
            subtask.model or "-",
            headline(subtask.verdict, 50) or "-",
            headline(subtask.note, 50) or "-",
            headline(subtask.description, 50),
        )
    return table


def age(at: str, now: datetime) -> str:
    """How long before ``now`` the ISO time ``at`` was, in its largest unit."""
    then = datetime.fromisoformat(at)
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _when(at: str) -> str:
    return at[:19].replace("T", " ")


def headline(text: str, width: int) -> str:
    """The first line that says something, shortened to ``width``: a code
    fence, which small models often open their answer with, says nothing."""
    lines = (line.strip() for line in text.splitlines())
    line = next((x for x in lines if x and not x.startswith("```")), "")
    return line if len(line) <= width else line[: width - 3] + "..."


def _table(*columns: str) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.show_header = any(columns)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _add_row(table: Table, *cells: str) -> None:
    # Text cells, so brackets in a goal are printed, not read as markup.
    table.add_row(*(Text(cell) for cell in cells))


def _printed(table: Table) -> str:
    console = Console(width=_WIDTH, color_system=None)
    with console.capture() as captured:
        console.print(table)
    return "\n".join(line.rstrip() for line in captured.get().rstrip().splitlines())


# --- running ----------------------------------------------------------------


def _run(job: Callable[[Stores], Awaitable[T]]) -> T:
    try:
        return asyncio.run(_with_stores(job))
    except KeyboardInterrupt:
        sys.exit(130)
    except (ConfigError, UnknownTaskError) as error:
        _fail(error, EXIT_USAGE)
    except LoomError as error:
        _fail(error, 1)


async def _with_stores(job: Callable[[Stores], Awaitable[T]]) -> T:
    stores = open_stores(load_config())
    try:
        return await job(stores)
    finally:
        await stores.close()


def _fail(error: LoomError, code: int) -> NoReturn:
    click.echo(f"error: {error}", err=True)
    sys.exit(code)
