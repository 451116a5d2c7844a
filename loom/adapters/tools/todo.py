"""The session's (or task's) to-do list, kept as events.

Every change records ``todo.list.updated`` with the whole list, so the latest
such event in the stream *is* the list. The tool keeps that list in memory per
journal (one per stream) and, when the context carries the event log, catches
up on events recorded since it last looked before each call; so a list edited
elsewhere (by the user, or before a restart) is never overwritten with a stale
copy. Ids are ``t1``, ``t2``, ... and never reused, even after a removal.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from loom.adapters.tools.base import Tool, ToolArgs, ToolContext, ToolError
from loom.domain.eventbase import Event
from loom.domain.events import TodoItem, TodoListUpdated

__all__ = ["TaskTracker"]

Status = Literal["pending", "in_progress", "done", "cancelled"]
_ID = re.compile(r"^t(\d+)$")


@dataclass
class _TodoState:
    """The list as last seen, and how far into the stream that was."""

    items: list[TodoItem] = field(default_factory=list)
    highest: int = 0
    seen_version: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def apply(self, event: Event) -> None:
        """Fold one event of the stream."""
        self.seen_version = max(self.seen_version, event.version)
        if isinstance(event, TodoListUpdated):
            self.take(event.items)

    def take(self, items: list[TodoItem]) -> None:
        """Adopt ``items`` as the list (ids seen are never handed out again)."""
        self.items = list(items)
        self.highest = max([self.highest, *(_number(i.id) for i in items)])

    def next_id(self) -> str:
        self.highest += 1
        return f"t{self.highest}"


# Keyed by journal (one per stream) so every context on a stream shares a list.
_STATES: weakref.WeakKeyDictionary[object, _TodoState] = weakref.WeakKeyDictionary()


class TaskTrackerArgs(ToolArgs):
    action: Literal["add", "update", "remove", "list"] = Field(
        description="add a to-do, update its status or text, remove it, or list all."
    )
    text: str | None = Field(
        default=None, min_length=1, description="add: the to-do; update: new text."
    )
    id: str | None = Field(
        default=None, description="update/remove: the id, like 't2'."
    )
    status: Status | None = Field(
        default=None, description="update: pending, in_progress, done or cancelled."
    )


class TaskTracker(Tool):
    name = "task_tracker"
    description = (
        "Keep a to-do list for the current work: add steps, mark them in_progress, "
        "done or cancelled, and list them. Use it to plan multi-step work."
    )
    kind = "compute"
    Args = TaskTrackerArgs

    async def run(self, args: TaskTrackerArgs, ctx: ToolContext) -> str:
        state = _state(ctx)
        async with state.lock:
            await _catch_up(state, ctx)
            if args.action == "list":
                return _render(state.items)
            items, what = _changed(state, args)
            await ctx.journal.record(TodoListUpdated, items=items)
            # seen_version stays put: the next catch-up folds this event again
            # (harmlessly) and anything another writer slipped in around it.
            state.take(items)
            return f"{what}\n{_render(state.items)}"


def _state(ctx: ToolContext) -> _TodoState:
    try:
        state = _STATES.get(ctx.journal)
        if state is None:
            state = _STATES[ctx.journal] = _TodoState()
    except TypeError:  # a journal that can't be weakly referenced: no cache
        state = _TodoState()
    return state


async def _catch_up(state: _TodoState, ctx: ToolContext) -> None:
    """Fold the events recorded since the state was last brought up to date."""
    if ctx.log is None:
        return
    for event in await ctx.log.read_stream(
        ctx.journal.stream, after=state.seen_version
    ):
        state.apply(event)


def _changed(state: _TodoState, args: TaskTrackerArgs) -> tuple[list[TodoItem], str]:
    items = list(state.items)
    if args.action == "add":
        if not args.text:
            raise ToolError("add needs 'text', the to-do")
        item = TodoItem(
            id=state.next_id(), text=args.text, status=args.status or "pending"
        )
        return [*items, item], f"added {item.id}"
    index = _find(items, args.id)
    if args.action == "remove":
        removed = items.pop(index)
        return items, f"removed {removed.id}"
    if args.status is None and args.text is None:
        raise ToolError("update needs a new 'status' or 'text'")
    old = items[index]
    items[index] = TodoItem(
        id=old.id, text=args.text or old.text, status=args.status or old.status
    )
    return items, f"updated {old.id}"


def _find(items: list[TodoItem], wanted: str | None) -> int:
    if not wanted:
        raise ToolError("this action needs 'id', like 't1'")
    for index, item in enumerate(items):
        if item.id == wanted.strip():
            return index
    known = ", ".join(i.id for i in items) or "none"
    raise ToolError(f"no to-do {wanted!r}; the ids are: {known}")


def _number(item_id: str) -> int:
    match = _ID.match(item_id)
    return int(match.group(1)) if match else 0


def _render(items: list[TodoItem]) -> str:
    if not items:
        return "the to-do list is empty"
    done = sum(1 for i in items if i.status == "done")
    lines = [f"to-do ({done} of {len(items)} done):"]
    lines += [f"{i.id} [{i.status.replace('_', ' ')}] {i.text}" for i in items]
    return "\n".join(lines)
