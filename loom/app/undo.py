"""Carrying out undo: restore before-states by appending new events.

The log is read for the stream's file changes (the changelog projection is only
for listing), the plan is made by :func:`loom.domain.undo.plan_undo`, and each
step goes through the same ``ChangeRecorder`` as the tools, so the content an
undo replaces is itself snapshotted and the undo can be undone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from pathlib import Path

from loom.adapters.blobs import digest_of
from loom.adapters.eventstore.journal import StreamJournal
from loom.adapters.tools.changes import ChangeRecorder, RecordedChange
from loom.adapters.tools.workspace import Workspace
from loom.app.autonomy.settings import control_stream
from loom.app.autonomy.streams import agent_streams
from loom.domain.errors import LoomError
from loom.domain.eventbase import Context, Event
from loom.domain.events import (
    AgentStarted,
    ChangeReverted,
    FileChanged,
    SessionStarted,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskFailed,
)
from loom.domain.ports import BlobStore, EventLog, Recorded
from loom.domain.undo import UndoStep, plan_undo
from loom.projections.file_knowledge import FileKnowledge
from loom.projections.task_board import task_of

__all__ = [
    "UndoError",
    "UndoReport",
    "file_changes",
    "find_change_stream",
    "find_subtask_stream",
    "undo_changes",
    "undo_task",
]

_TASK_ENDINGS = (TaskCompleted, TaskFailed, TaskCancelled)


class UndoError(LoomError):
    """The undo cannot be done as asked."""


@dataclass(frozen=True)
class UndoReport:
    """What an undo restored."""

    reverted: list[str]
    restored: list[RecordedChange]
    forced: bool


async def file_changes(log: EventLog) -> AsyncIterator[FileChanged]:
    """Every ``file.changed`` in the log, oldest first."""
    position = 0
    while page := await log.read_all(after=position, types=[FileChanged.type]):
        for recorded in page:
            if isinstance(recorded.event, FileChanged):
                yield recorded.event
        position = page[-1].position


async def find_subtask_stream(log: EventLog, subtask_id: str) -> str:
    """The task (or other stream) whose subtask ``subtask_id`` changed files.

    Subtask ids are the planner's (``s1``, ``tests``), so several tasks may
    have one: then the caller must say which task.
    """
    owners = {
        task_of(change.stream) or change.stream: None
        async for change in file_changes(log)
        if change.subtask_id == subtask_id
    }
    if not owners:
        raise UndoError(f"subtask {subtask_id!r} made no file changes")
    if len(owners) > 1:
        raise UndoError(
            f"several tasks have a subtask {subtask_id!r} that changed files: "
            f"{', '.join(owners)}; say which with --task ID --subtask {subtask_id}"
        )
    return next(iter(owners))


async def find_change_stream(log: EventLog, change_prefix: str) -> tuple[str, str]:
    """The stream and full id of the one change whose id starts with the prefix."""
    matches = {
        change.change_id: change.stream
        async for change in file_changes(log)
        if change.change_id.startswith(change_prefix)
    }
    if not matches:
        raise UndoError(f"no change with id {change_prefix!r}; see `loom changes`")
    if len(matches) > 1:
        raise UndoError(f"change id {change_prefix!r} is ambiguous: give more of it")
    change_id, stream = next(iter(matches.items()))
    return stream, change_id


async def undo_changes(
    log: EventLog,
    blobs: BlobStore,
    context: Context,
    stream: str,
    *,
    change_ids: Collection[str] | None = None,
    subtask_id: str | None = None,
    force: bool = False,
    workspace_root: Path | None = None,
) -> UndoReport:
    """Undo changes of ``stream``: the given ids, a subtask's, or all of them."""
    events = await log.read_stream(stream)
    changes = _selected(events, change_ids, subtask_id)
    if not changes:
        raise UndoError(f"nothing to undo in {stream}: no matching, unreverted change")
    workspace = Workspace(workspace_root or _workspace_of(events, stream))
    journal = StreamJournal(log, stream, len(events), context)
    knowledge = FileKnowledge.from_events(events)
    return await _undo(changes, workspace, journal, blobs, knowledge, force)


async def undo_task(
    log: EventLog,
    blobs: BlobStore,
    context: Context,
    task_id: str,
    *,
    subtask_id: str | None = None,
    force: bool = False,
) -> UndoReport:
    """Undo what a task's agents changed (or one subtask's attempts), newest
    first, as one plan.

    The changes live on the agents' streams (``task-…/<subtask>/<attempt>``
    and their delegates'), so they are gathered from those in log order. The
    undo is recorded on the task's control stream, the one stream of a task
    that other processes write.
    """
    task = await log.read_stream(task_id)
    if not task or not isinstance(task[0], TaskCreated):
        raise UndoError(f"no task named {task_id!r}")
    if not force and not any(isinstance(e, _TASK_ENDINGS) for e in task):
        raise UndoError(
            f"{task_id} has not ended (stop it with: loom cancel {task_id}); "
            "use --force to undo its changes anyway"
        )
    control = control_stream(task_id)
    streams = [task_id, *await agent_streams(log, task), control]
    events = [r.event async for r in _changes_in(log, streams)]
    changes = _selected(events, None, subtask_id)
    if not changes:
        which = f"subtask {subtask_id} of {task_id}" if subtask_id else task_id
        raise UndoError(f"nothing to undo in {which}: no unreverted change")
    workspace = Workspace(Path(task[0].workspace))
    journal = StreamJournal(log, control, await log.stream_version(control), context)
    knowledge = FileKnowledge.from_events(events)
    return await _undo(changes, workspace, journal, blobs, knowledge, force)


async def _changes_in(log: EventLog, streams: list[str]) -> AsyncIterator[Recorded]:
    after = 0
    types = [FileChanged.type, ChangeReverted.type]
    while page := await log.read_all(after=after, types=types, streams=streams):
        for recorded in page:
            yield recorded
        after = page[-1].position


async def _undo(
    changes: list[FileChanged],
    workspace: Workspace,
    journal: StreamJournal,
    blobs: BlobStore,
    knowledge: FileKnowledge,
    force: bool,
) -> UndoReport:
    current = await asyncio.to_thread(_current_digests, workspace, changes)
    plan = plan_undo(changes, current)
    if plan.unrestorable:
        paths = ", ".join(sorted({c.path for c in plan.unrestorable}))
        raise UndoError(
            f"cannot undo: no copy of the earlier content of {paths} was kept "
            "(changed by a command, too large to keep); nothing was changed"
        )
    if plan.conflicts and not force:
        details = "\n  ".join(c.describe() for c in plan.conflicts)
        raise UndoError(
            f"refusing to undo: files changed since\n  {details}\n"
            "Use --force to undo anyway (the current content is snapshotted first)."
        )
    recorder = ChangeRecorder(workspace, journal, blobs, knowledge, cause="undo")
    restored = [r for step in plan.steps if (r := await _run(step, recorder, blobs))]
    for change in changes:
        await journal.record(ChangeReverted, change_id=change.change_id, forced=force)
    return UndoReport([c.change_id for c in changes], restored, force)


def _selected(
    events: list[Event], ids: Collection[str] | None, subtask_id: str | None
) -> list[FileChanged]:
    reverted = {e.change_id for e in events if isinstance(e, ChangeReverted)}
    chosen = []
    for event in events:
        if not isinstance(event, FileChanged) or event.change_id in reverted:
            continue
        if ids is not None:
            if event.change_id in ids:
                chosen.append(event)
        elif event.cause != "undo" and subtask_id in (None, event.subtask_id):
            chosen.append(event)
    return chosen


def _workspace_of(events: list[Event], stream: str) -> Path:
    for event in events:
        if isinstance(event, SessionStarted | TaskCreated | AgentStarted):
            return Path(event.workspace)
    raise UndoError(f"{stream} does not say which workspace it worked in")


def _current_digests(
    workspace: Workspace, changes: list[FileChanged]
) -> dict[str, str | None]:
    paths = {c.path for c in changes} | {c.new_path for c in changes if c.new_path}
    digests: dict[str, str | None] = {}
    for path in paths:
        real = workspace.resolve(path)
        digests[path] = digest_of(real.read_bytes()) if real.is_file() else None
    return digests


async def _run(
    step: UndoStep, recorder: ChangeRecorder, blobs: BlobStore
) -> RecordedChange | None:
    workspace = recorder.workspace
    real = workspace.resolve(step.path, for_write=True)
    if step.action == "write":
        assert step.content is not None
        return await recorder.write(real, await blobs.get(step.content))
    if step.action == "delete":
        return await recorder.delete(real) if real.exists() else None
    assert step.source is not None
    source = workspace.resolve(step.source, for_write=True)
    if not source.exists():
        return None
    if real.exists():  # forced over a file that appeared since: keep it as a snapshot
        await recorder.delete(real)
    return await recorder.move(source, real)
