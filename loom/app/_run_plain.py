"""The plain display of ``loom run``: one line per significant event, for logs.

Private helper of :mod:`loom.app.run_view`. When the console is not a terminal
(CI logs, a pipe) :class:`~loom.app.run_view.RunView` prints these lines instead
of redrawing a live view, so a log reads top to bottom. :func:`_first_line` is
shared with the live view, which also shows only a reason's first line.
"""

from __future__ import annotations

from collections.abc import Sequence

from loom.domain.eventbase import Event
from loom.domain.events import (
    ApprovalRequested,
    Escalated,
    PlannedSubtask,
    PlanProposed,
    Replanned,
    SubtaskCompleted,
    SubtaskFailed,
    SubtaskRetried,
    SubtaskStarted,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskFailed,
    VerificationRecorded,
)

__all__ = ["_first_line", "_plain_lines"]


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0]


def _plain_lines(event: Event) -> list[str]:
    match event:
        case TaskCreated():
            return [f"task {event.stream}: {event.goal}"]
        case PlanProposed():
            return [f"plan: {len(event.subtasks)} subtasks", *_listed(event.subtasks)]
        case Replanned():
            head = f"replanned ({_first_line(event.reason)}): {len(event.subtasks)}"
            return [f"{head} subtasks", *_listed(event.subtasks)]
        case SubtaskStarted():
            model = f", {event.model}" if event.model else ""
            return [f"{event.subtask_id} started (attempt {event.attempt}{model})"]
        case VerificationRecorded():
            return [_verdict_line(event)]
        case SubtaskCompleted():
            return [f"{event.subtask_id} passed"]
        case SubtaskFailed():
            return [f"{event.subtask_id} failed: {_first_line(event.reason)}"]
        case SubtaskRetried():
            feedback = f": {_first_line(event.feedback)}" if event.feedback else ""
            return [f"{event.subtask_id} retrying (attempt {event.attempt}){feedback}"]
        case Escalated():
            return [f"{event.subtask_id} escalated to {event.to_model}"]
        case ApprovalRequested():
            return [f"waiting for approval: {event.description}"]
        case TaskCompleted():
            return ["task completed"]
        case TaskFailed():
            return [f"task failed: {event.reason}"]
        case TaskCancelled():
            return [f"task cancelled{': ' + event.reason if event.reason else ''}"]
    return []


def _listed(subtasks: Sequence[PlannedSubtask]) -> list[str]:
    return [
        f"  {s.id}: {_first_line(s.description)}"
        + (f" (after: {', '.join(s.depends_on)})" if s.depends_on else "")
        for s in subtasks
    ]


def _verdict_line(event: VerificationRecorded) -> str:
    verdict = "passed" if event.passed else "failed"
    reason = f": {event.reasons[0]}" if event.reasons and not event.passed else ""
    who = f"tier {event.tier}, {event.verifier}"
    return f"{event.subtask_id} verification ({who}) {verdict}{reason}"
