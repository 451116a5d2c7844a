"""The task board: every autonomous task and its subtasks, as ``loom tasks`` shows them.

A task is its stream, ``task-<uuid>``. Its control stream (``task-<uuid>/control``)
and its agents' streams (``task-<uuid>/<subtask>/<attempt>``) share that prefix,
so an event is attributed to its task by its stream's name alone: no state is
needed to know where a model call's tokens belong. Events of a task that was
never created (no ``task.created`` before them) are ignored.

A task is ``planning`` until its plan, then ``running``, ``cancelling`` from a
cancel request until it ends ``completed``, ``failed`` or ``cancelled``. A
subtask is ``pending``, ``running``, ``verifying`` (its agent answered, or a
verdict came), ``retrying``, ``passed``, ``failed`` or ``cancelled``; ``get_task``
also shows ``blocked`` for one waiting on a failure.

Within a batch, tokens and the last activity time are summed per task in memory
and written with one statement per task at the end of the batch; everything else
is folded event by event, in log order.

The row types and the queries that read the board live in
``_task_board_queries``; their public names are re-exported here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import singledispatch

from loom.domain.events import (
    AgentFinished,
    Escalated,
    Event,
    ModelCallCompleted,
    PlannedSubtask,
    PlanProposed,
    Replanned,
    SubtaskCompleted,
    SubtaskFailed,
    SubtaskRetried,
    SubtaskStarted,
    TaskCancelled,
    TaskCancelRequested,
    TaskCompleted,
    TaskCreated,
    TaskFailed,
    TaskStarted,
    VerificationRecorded,
)
from loom.domain.ports import Recorded, ViewTransaction
from loom.projections._task_board_queries import (
    _SUBTASKS,
    _TASKS,
    FINISHED,
    SubtaskSummary,
    TaskDetail,
    TaskSummary,
    get_task,
    list_tasks,
    match_task_ids,
)
from loom.projections.base import Projection

__all__ = [
    "FINISHED",
    "SubtaskSummary",
    "TaskBoard",
    "TaskDetail",
    "TaskSummary",
    "get_task",
    "list_tasks",
    "match_task_ids",
    "task_of",
]

_UNFINISHED_SUBTASK = "('running', 'verifying', 'retrying')"

# A plan that names a subtask twice keeps the first place and the last words.
_PLAN_UPSERT = (
    f"INSERT INTO {_SUBTASKS} (task_id, subtask_id, seq, description, depends_on, "
    "status) VALUES (?, ?, ?, ?, ?, 'pending') "
    "ON CONFLICT (task_id, subtask_id) DO UPDATE SET "
    "description = excluded.description, depends_on = excluded.depends_on"
)


class TaskBoard(Projection):
    """Every task's status, progress and token spend, and its subtasks'."""

    name = "task_board"
    version = 1
    handles = frozenset(
        cls.type
        for cls in (
            TaskCreated, TaskStarted, PlanProposed, Replanned, TaskCancelRequested,
            TaskCompleted, TaskFailed, TaskCancelled, SubtaskStarted, SubtaskRetried,
            Escalated, SubtaskCompleted, SubtaskFailed, AgentFinished,
            VerificationRecorded, ModelCallCompleted,
        )
    )  # fmt: skip
    tables = (_TASKS, _SUBTASKS)

    def schema(self, dialect: str) -> list[str]:
        return [
            f"CREATE TABLE {_TASKS} (task_id TEXT PRIMARY KEY, goal TEXT NOT NULL, "
            "workspace TEXT NOT NULL, status TEXT NOT NULL, position BIGINT NOT NULL, "
            "created_at TEXT NOT NULL, updated_at TEXT NOT NULL, "
            "subtasks_total INTEGER NOT NULL DEFAULT 0, "
            "subtasks_done INTEGER NOT NULL DEFAULT 0, "
            "subtasks_failed INTEGER NOT NULL DEFAULT 0, "
            "prompt_tokens BIGINT NOT NULL DEFAULT 0, "
            "completion_tokens BIGINT NOT NULL DEFAULT 0, "
            "outcome TEXT NOT NULL DEFAULT '', last_reason TEXT NOT NULL DEFAULT '')",
            f"CREATE INDEX {_TASKS}_position ON {_TASKS} (position)",
            f"CREATE TABLE {_SUBTASKS} (task_id TEXT NOT NULL, "
            "subtask_id TEXT NOT NULL, seq INTEGER NOT NULL, "
            "description TEXT NOT NULL, depends_on TEXT NOT NULL, "
            "status TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, "
            "model TEXT NOT NULL DEFAULT '', agent_stream TEXT, verdict_tier INTEGER, "
            "verdict_passed INTEGER, verdict_reasons TEXT NOT NULL DEFAULT '', "
            "note TEXT NOT NULL DEFAULT '', PRIMARY KEY (task_id, subtask_id))",
            f"CREATE INDEX {_SUBTASKS}_agent ON {_SUBTASKS} (agent_stream)",
        ]

    async def apply(self, tx: ViewTransaction, batch: Sequence[Recorded]) -> None:
        activity: dict[str, _Activity] = {}
        for recorded in batch:
            event = recorded.event
            task_id = task_of(event.stream)
            if task_id is None:
                continue
            if isinstance(event, TaskCreated):
                # What came before the task existed is ignored, as it would be
                # had the batch ended just before this event.
                activity.pop(task_id, None)
            activity.setdefault(task_id, _Activity()).add(event)
            await _fold(event, _Target(tx, task_id, recorded.position))
        for task_id, seen in activity.items():
            await seen.write(tx, task_id)


def task_of(stream: str) -> str | None:
    """The task a stream belongs to (``task-<uuid>`` of ``task-<uuid>/...``)."""
    head = stream.split("/", 1)[0]
    return head if head.startswith("task-") else None


@dataclass
class _Activity:
    """What one batch adds to a task: tokens, and when it was last active."""

    at: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, event: Event) -> None:
        self.at = event.at.isoformat()
        if isinstance(event, ModelCallCompleted) and event.usage is not None:
            self.prompt_tokens += event.usage.prompt_tokens
            self.completion_tokens += event.usage.completion_tokens

    async def write(self, tx: ViewTransaction, task_id: str) -> None:
        count = f"(SELECT COUNT(*) FROM {_SUBTASKS} s WHERE s.task_id = ?"
        await tx.execute(
            f"UPDATE {_TASKS} SET updated_at = ?, "
            "prompt_tokens = prompt_tokens + ?, "
            "completion_tokens = completion_tokens + ?, "
            f"subtasks_total = {count}), "
            f"subtasks_done = {count} AND s.status = 'passed'), "
            f"subtasks_failed = {count} AND s.status = 'failed') "
            "WHERE task_id = ?",
            (self.at, self.prompt_tokens, self.completion_tokens, *[task_id] * 4),
        )


# --- folding one event ------------------------------------------------------

_ACTIVE = "status IN ('planning', 'running')"
_RUNNING = "status = CASE WHEN status = 'planning' THEN 'running' ELSE status END"


@dataclass(frozen=True)
class _Target:
    """Where one event folds: the transaction, its task, its log position."""

    tx: ViewTransaction
    task_id: str
    position: int

    async def update_task(self, assignments: str, params: Sequence[object]) -> None:
        await self.tx.execute(
            f"UPDATE {_TASKS} SET {assignments} WHERE task_id = ?",
            (*params, self.task_id),
        )

    async def update_subtask(
        self, subtask_id: str, assignments: str, params: Sequence[object]
    ) -> None:
        await self.tx.execute(
            f"UPDATE {_SUBTASKS} SET {assignments} "
            "WHERE task_id = ? AND subtask_id = ?",
            (*params, self.task_id, subtask_id),
        )

    async def plan(self, subtasks: Sequence[PlannedSubtask], first_seq: int) -> None:
        await self.tx.executemany(
            _PLAN_UPSERT,
            [
                (self.task_id, s.id, first_seq + n, s.description,
                 json.dumps(s.depends_on))
                for n, s in enumerate(subtasks)
            ],
        )  # fmt: skip

    async def finish(self, status: str, outcome: str) -> None:
        await self.update_task("status = ?, outcome = ?", (status, outcome))
        if status == "completed":
            return
        # Attempts under way stopped with the task (pending ones: see get_task).
        await self.tx.execute(
            f"UPDATE {_SUBTASKS} SET status = 'cancelled' WHERE task_id = ? "
            f"AND status IN {_UNFINISHED_SUBTASK}",
            (self.task_id,),
        )


@singledispatch
async def _fold(event: Event, to: _Target) -> None:
    """Events that only count as activity (model calls, ``task.started``)."""


@_fold.register
async def _created(event: TaskCreated, to: _Target) -> None:
    at = event.at.isoformat()
    await to.tx.execute(
        f"INSERT INTO {_TASKS} (task_id, goal, workspace, status, position, "
        "created_at, updated_at) VALUES (?, ?, ?, 'planning', ?, ?, ?) "
        "ON CONFLICT (task_id) DO NOTHING",
        (to.task_id, event.goal, event.workspace, to.position, at, at),
    )


@_fold.register
async def _planned(event: PlanProposed, to: _Target) -> None:
    await to.tx.execute(f"DELETE FROM {_SUBTASKS} WHERE task_id = ?", (to.task_id,))
    await to.plan(event.subtasks, first_seq=0)
    await to.update_task(_RUNNING, ())


@_fold.register
async def _replanned(event: Replanned, to: _Target) -> None:
    # A replan covers the remaining work: what passed or failed stays as
    # history; the rest, and whatever the new plan names again, is replaced.
    await to.tx.execute(
        f"DELETE FROM {_SUBTASKS} WHERE task_id = ? "
        "AND status NOT IN ('passed', 'failed')",
        (to.task_id,),
    )
    await to.tx.executemany(
        f"DELETE FROM {_SUBTASKS} WHERE task_id = ? AND subtask_id = ?",
        [(to.task_id, s.id) for s in event.subtasks],
    )
    rows = await to.tx.fetchall(
        f"SELECT COALESCE(MAX(seq), -1) FROM {_SUBTASKS} WHERE task_id = ?",
        (to.task_id,),
    )
    await to.plan(event.subtasks, first_seq=int(str(rows[0][0])) + 1)
    await to.update_task(f"{_RUNNING}, last_reason = ?", (event.reason,))


@_fold.register
async def _started(event: SubtaskStarted, to: _Target) -> None:
    # A subtask no plan named still shows, after the planned ones.
    await to.tx.execute(
        f"INSERT INTO {_SUBTASKS} (task_id, subtask_id, seq, description, "
        "depends_on, status, attempt, model, agent_stream) VALUES (?, ?, "
        f"(SELECT COALESCE(MAX(seq), -1) + 1 FROM {_SUBTASKS} WHERE task_id = ?), "
        "'', '[]', 'running', ?, ?, ?) "
        "ON CONFLICT (task_id, subtask_id) DO UPDATE SET status = 'running', "
        "attempt = excluded.attempt, note = '', "
        f"model = COALESCE(NULLIF(excluded.model, ''), {_SUBTASKS}.model), "
        f"agent_stream = COALESCE(excluded.agent_stream, {_SUBTASKS}.agent_stream)",
        (to.task_id, event.subtask_id, to.task_id, event.attempt, event.model,
         event.agent_stream),
    )  # fmt: skip
    await to.update_task(_RUNNING, ())


@_fold.register
async def _agent_finished(event: AgentFinished, to: _Target) -> None:
    if event.status != "answered":
        return
    # The agent answered: its subtask waits for the verifiers' verdict. An
    # attempt started without naming its stream is found by the stream's name,
    # ``task-<uuid>/<subtask>/<attempt>``; a delegate's stream matches neither.
    parts = event.stream.split("/")
    named = parts[1] if len(parts) == 3 else None
    await to.tx.execute(
        f"UPDATE {_SUBTASKS} SET status = 'verifying' WHERE task_id = ? "
        "AND status = 'running' AND (agent_stream = ? "
        "OR (agent_stream IS NULL AND subtask_id = ?))",
        (to.task_id, event.stream, named),
    )


@_fold.register
async def _verified(event: VerificationRecorded, to: _Target) -> None:
    # A verdict on an attempt older than the current one is stale.
    await to.tx.execute(
        f"UPDATE {_SUBTASKS} SET verdict_tier = ?, verdict_passed = ?, "
        "verdict_reasons = ?, "
        "status = CASE WHEN status = 'running' THEN 'verifying' ELSE status END "
        "WHERE task_id = ? AND subtask_id = ? AND attempt <= ?",
        (event.tier, int(event.passed), "; ".join(event.reasons), to.task_id,
         event.subtask_id, event.attempt),
    )  # fmt: skip


@_fold.register
async def _retried(event: SubtaskRetried, to: _Target) -> None:
    await to.update_subtask(
        event.subtask_id,
        "status = 'retrying', attempt = ?, note = ?",
        (event.attempt, event.feedback),
    )


@_fold.register
async def _escalated(event: Escalated, to: _Target) -> None:
    await to.update_subtask(event.subtask_id, "model = ?", (event.to_model,))


@_fold.register
async def _passed(event: SubtaskCompleted, to: _Target) -> None:
    await to.update_subtask(
        event.subtask_id, "status = 'passed', note = ?", (event.summary,)
    )


@_fold.register
async def _failed(event: SubtaskFailed, to: _Target) -> None:
    await to.update_subtask(
        event.subtask_id, "status = 'failed', note = ?", (event.reason,)
    )
    await to.update_task("last_reason = ?", (event.reason,))


@_fold.register
async def _cancel_requested(event: TaskCancelRequested, to: _Target) -> None:
    # A request that comes too late, or again, changes nothing.
    await to.update_task(
        f"status = CASE WHEN {_ACTIVE} THEN 'cancelling' ELSE status END, "
        f"last_reason = CASE WHEN {_ACTIVE} THEN ? ELSE last_reason END",
        (event.reason or "cancel requested",),
    )


@_fold.register
async def _completed(event: TaskCompleted, to: _Target) -> None:
    await to.finish("completed", event.summary)


@_fold.register
async def _gave_up(event: TaskFailed, to: _Target) -> None:
    await to.finish("failed", event.reason)
    await to.update_task("last_reason = ?", (event.reason,))


@_fold.register
async def _cancelled(event: TaskCancelled, to: _Target) -> None:
    await to.finish("cancelled", event.reason or "cancelled")
