"""Reading the task board: its row types and the queries ``loom tasks`` runs.

Private helper of :mod:`loom.projections.task_board`, which re-exports its
public names; the projection that writes the tables stays there. The table
names live here so that both modules share them. :func:`get_task` settles
each pending subtask at read time: ``blocked`` behind a failure, ``cancelled``
once its task stopped.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from loom.domain.ports import ViewStore

__all__ = [
    "FINISHED",
    "_SUBTASKS",
    "_TASKS",
    "SubtaskSummary",
    "TaskDetail",
    "TaskSummary",
    "get_task",
    "list_tasks",
    "match_task_ids",
]

FINISHED = frozenset({"completed", "failed", "cancelled"})
"""The statuses of a task that has ended."""

_TASKS = "task_board_tasks"
_SUBTASKS = "task_board_subtasks"
_BLOCKING = ("failed", "blocked")

_TASK_COLUMNS = (
    "task_id, goal, workspace, status, created_at, updated_at, subtasks_total, "
    "subtasks_done, subtasks_failed, prompt_tokens, completion_tokens, outcome, "
    "last_reason"
)
_SUBTASK_COLUMNS = (
    "subtask_id, description, depends_on, status, attempt, model, agent_stream, "
    "verdict_tier, verdict_passed, verdict_reasons, note"
)


@dataclass(frozen=True)
class TaskSummary:
    """One task's row: what ``loom tasks`` lists."""

    task_id: str
    goal: str
    workspace: str
    status: str
    created_at: str
    updated_at: str
    subtasks_total: int
    subtasks_done: int
    subtasks_failed: int
    prompt_tokens: int
    completion_tokens: int
    outcome: str
    last_reason: str

    @property
    def tokens(self) -> int:
        """Prompt and completion tokens of every model call the task made."""
        return self.prompt_tokens + self.completion_tokens

    @property
    def finished(self) -> bool:
        """Whether the task completed, failed or was cancelled."""
        return self.status in FINISHED

    def as_json(self) -> dict[str, Any]:
        """The row as a JSON-ready dict."""
        return {**asdict(self), "tokens": self.tokens}


@dataclass(frozen=True)
class SubtaskSummary:
    """One subtask of a task, with its latest attempt and verdict."""

    subtask_id: str
    description: str
    depends_on: tuple[str, ...]
    status: str
    attempt: int
    model: str
    agent_stream: str | None
    verdict_tier: int | None
    verdict_passed: bool | None
    verdict_reasons: str
    note: str

    @property
    def verdict(self) -> str:
        """The last verdict in a few words: ``tier 2 failed: no tests``."""
        if self.verdict_passed is None:
            return ""
        outcome = "passed" if self.verdict_passed else "failed"
        text = f"tier {self.verdict_tier} {outcome}"
        return f"{text}: {self.verdict_reasons}" if self.verdict_reasons else text

    def as_json(self) -> dict[str, Any]:
        """The row as a JSON-ready dict."""
        row = asdict(self)
        return {**row, "depends_on": list(self.depends_on), "verdict": self.verdict}


@dataclass(frozen=True)
class TaskDetail:
    """A task with its subtasks in plan order: what ``loom status`` shows."""

    task: TaskSummary
    subtasks: tuple[SubtaskSummary, ...]

    def as_json(self) -> dict[str, Any]:
        """The task as a JSON-ready dict, its subtasks under ``subtasks``."""
        return {**self.task.as_json(), "subtasks": [s.as_json() for s in self.subtasks]}


async def list_tasks(views: ViewStore) -> list[TaskSummary]:
    """Every task, the most recently created first."""
    rows = await views.fetchall(
        f"SELECT {_TASK_COLUMNS} FROM {_TASKS} ORDER BY position DESC"
    )
    return [_task(row) for row in rows]


async def get_task(views: ViewStore, task_id: str) -> TaskDetail | None:
    """One task (by its full stream name) with its subtasks in plan order.

    A pending subtask shows as ``blocked`` when a subtask it depends on failed
    (or is blocked), and as ``cancelled`` once its task failed or was cancelled.
    """
    rows = await views.fetchall(
        f"SELECT {_TASK_COLUMNS} FROM {_TASKS} WHERE task_id = ?", (task_id,)
    )
    if not rows:
        return None
    subtasks = await views.fetchall(
        f"SELECT {_SUBTASK_COLUMNS} FROM {_SUBTASKS} WHERE task_id = ? ORDER BY seq",
        (task_id,),
    )
    task = _task(rows[0])
    return TaskDetail(task, _settled([_subtask(row) for row in subtasks], task))


async def match_task_ids(views: ViewStore, key: str) -> list[str]:
    """The ids of the tasks ``key`` names, newest first.

    ``key`` is a task id with or without its ``task-`` prefix, or the start of
    one; an exact match wins over longer ids that start the same way.
    """
    full = key if key.startswith("task-") else f"task-{key}"
    rows = await views.fetchall(
        f"SELECT task_id FROM {_TASKS} WHERE substr(task_id, 1, ?) = ? "
        "ORDER BY position DESC",
        (len(full), full),
    )
    ids = [str(row[0]) for row in rows]
    return [full] if full in ids else ids


def _settled(
    subtasks: list[SubtaskSummary], task: TaskSummary
) -> tuple[SubtaskSummary, ...]:
    status = {s.subtask_id: s.status for s in subtasks}
    depends = {s.subtask_id: s.depends_on for s in subtasks}

    def settle(subtask_id: str, seen: frozenset[str]) -> str:
        if status[subtask_id] != "pending" or subtask_id in seen:
            return status[subtask_id]
        for dep in depends[subtask_id]:
            if dep in status and settle(dep, seen | {subtask_id}) in _BLOCKING:
                return "blocked"
        return "pending"

    stopped = task.status in ("failed", "cancelled")
    settled = []
    for subtask in subtasks:
        now = settle(subtask.subtask_id, frozenset())
        now = "cancelled" if now == "pending" and stopped else now
        settled.append(replace(subtask, status=now))
    return tuple(settled)


def _task(row: tuple[object, ...]) -> TaskSummary:
    number = [int(str(value)) for value in row[6:11]]
    return TaskSummary(
        task_id=str(row[0]),
        goal=str(row[1]),
        workspace=str(row[2]),
        status=str(row[3]),
        created_at=str(row[4]),
        updated_at=str(row[5]),
        subtasks_total=number[0],
        subtasks_done=number[1],
        subtasks_failed=number[2],
        prompt_tokens=number[3],
        completion_tokens=number[4],
        outcome=str(row[11]),
        last_reason=str(row[12]),
    )


def _subtask(row: tuple[object, ...]) -> SubtaskSummary:
    tier, passed = row[7], row[8]
    return SubtaskSummary(
        subtask_id=str(row[0]),
        description=str(row[1]),
        depends_on=tuple(json.loads(str(row[2]))),
        status=str(row[3]),
        attempt=int(str(row[4])),
        model=str(row[5]),
        agent_stream=None if row[6] is None else str(row[6]),
        verdict_tier=None if tier is None else int(str(tier)),
        verdict_passed=None if passed is None else bool(int(str(passed))),
        verdict_reasons=str(row[9]),
        note=str(row[10]),
    )
