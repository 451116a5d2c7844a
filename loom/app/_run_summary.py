"""What a run did: its events folded into state, and the summary shown at its end.

:class:`RunState` is the fold both the live display and the end-of-run summary
read. It only holds facts the events state; what streams live (model output,
the tool being run) is the live display's own business. The file statistics
and the diffstat live in ``_run_files``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from loom.app._run_files import FileStat, _diffstat, file_stats
from loom.domain.eventbase import Event
from loom.domain.events import (
    AgentFinished,
    AgentStarted,
    ApprovalGranted,
    ApprovalRefused,
    ApprovalRequested,
    Escalated,
    ModelCallCompleted,
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

__all__ = [
    "FileStat",
    "Outcome",
    "RunState",
    "Status",
    "SubtaskState",
    "Verdict",
    "file_stats",
    "format_duration",
    "summary_of",
]

Status = Literal[
    "pending",
    "running",
    "verifying",
    "passed",
    "failed",
    "retrying",
    "blocked",
    "cancelled",
]
Outcome = Literal["running", "completed", "failed", "cancelled"]
_UNFINISHED: frozenset[Status] = frozenset(("running", "verifying", "retrying"))
_BLOCKING: frozenset[Status] = frozenset(("failed", "blocked"))


@dataclass(frozen=True)
class Verdict:
    """One verifier's verdict on one attempt of a subtask."""

    attempt: int
    tier: int
    verifier: str
    passed: bool
    reason: str = ""


@dataclass
class SubtaskState:
    """Where one planned subtask stands."""

    id: str
    description: str
    depends_on: tuple[str, ...] = ()
    status: Status = "pending"
    attempt: int = 0
    model: str = ""
    escalated_to: str = ""
    agent_stream: str | None = None
    reason: str = ""
    verdicts: list[Verdict] = field(default_factory=list)


class RunState:
    """A task's events (from all its streams, in order) folded into one picture."""

    def __init__(self) -> None:
        self.goal = ""
        self.task_id = ""
        self.subtasks: dict[str, SubtaskState] = {}
        self.streams: dict[str, str] = {}
        self.approvals: dict[str, str] = {}
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.replans = 0
        self.replan_reason = ""
        self.outcome: Outcome = "running"
        self.outcome_reason = ""
        self.first: Event | None = None
        self.last: Event | None = None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def apply(self, event: Event) -> None:
        """Take one more event into account."""
        self.first = self.first or event
        self.last = event
        if not self.task_id:
            self.task_id = event.stream.partition("/")[0]
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def subtask_of(self, stream: str) -> str | None:
        """The subtask an agent stream (``task-…/<subtask>/<attempt>``) works on."""
        found = self.streams.get(stream)
        if found is None:
            parts = stream.split("/")
            if len(parts) >= 3 and parts[1] in self.subtasks:
                found = parts[1]
        return found

    def status_of(self, subtask_id: str) -> Status:
        """The subtask's status, ``blocked`` when a dependency failed for good."""
        return self._status(subtask_id, set())

    def _status(self, subtask_id: str, seen: set[str]) -> Status:
        sub = self.subtasks[subtask_id]
        if sub.status != "pending" or subtask_id in seen:
            return sub.status
        seen.add(subtask_id)
        for dep in sub.depends_on:
            if dep in self.subtasks and self._status(dep, seen) in _BLOCKING:
                return "blocked"
        return "pending"

    def _plan(self, planned: Sequence[PlannedSubtask], replan: bool) -> None:
        # A replan covers the remaining work: what passed or failed stays as
        # history, what had not finished is replaced by the new plan.
        kept = {
            k: s
            for k, s in self.subtasks.items()
            if replan and s.status in ("passed", "failed")
        }
        for item in planned:
            kept.pop(item.id, None)
        self.subtasks = kept
        for item in planned:
            self.subtasks[item.id] = SubtaskState(
                item.id, item.description, tuple(item.depends_on)
            )

    def _sub(self, subtask_id: str) -> SubtaskState:
        found = self.subtasks.get(subtask_id)
        if found is None:  # an event about a subtask no plan named: show it anyway
            found = self.subtasks[subtask_id] = SubtaskState(subtask_id, "")
        return found

    def _finish(self, outcome: Outcome, reason: str) -> None:
        self.outcome, self.outcome_reason = outcome, reason
        if outcome == "completed":
            return
        for sub in self.subtasks.values():
            if sub.status in _UNFINISHED:
                sub.status = "cancelled"
        for sub in self.subtasks.values():
            if self.status_of(sub.id) == "blocked":
                sub.status = "blocked"
            elif sub.status == "pending":
                sub.status = "cancelled"


# Each handler takes its own event class; the table is looked up by type(event).
_Handler = Callable[[RunState, Any], None]


def _created(state: RunState, e: TaskCreated) -> None:
    state.goal, state.task_id = e.goal, e.stream


def _proposed(state: RunState, e: PlanProposed) -> None:
    state._plan(e.subtasks, replan=False)


def _replanned(state: RunState, e: Replanned) -> None:
    state.replans += 1
    state.replan_reason = e.reason
    state._plan(e.subtasks, replan=True)


def _started(state: RunState, e: SubtaskStarted) -> None:
    sub = state._sub(e.subtask_id)
    sub.status, sub.attempt, sub.reason = "running", e.attempt, ""
    sub.model = e.model or sub.model
    if e.agent_stream:
        sub.agent_stream = e.agent_stream
        state.streams[e.agent_stream] = e.subtask_id


def _agent_started(state: RunState, e: AgentStarted) -> None:
    # A delegate's work shows on the row of the subtask whose agent started it.
    parent = state.streams.get(e.parent_stream or "")
    state.streams[e.stream] = parent or e.subtask_id
    state.task_id = state.task_id or e.task_id


def _agent_finished(state: RunState, e: AgentFinished) -> None:
    sub = state.subtasks.get(state.subtask_of(e.stream) or "")
    current = sub is not None and sub.agent_stream in (None, e.stream)
    if sub and current and sub.status == "running" and e.status == "answered":
        sub.status = "verifying"


def _verified(state: RunState, e: VerificationRecorded) -> None:
    sub = state._sub(e.subtask_id)
    reason = e.reasons[0] if e.reasons else ""
    sub.verdicts.append(Verdict(e.attempt, e.tier, e.verifier, e.passed, reason))
    if sub.status == "running":
        sub.status = "verifying"


def _completed(state: RunState, e: SubtaskCompleted) -> None:
    state._sub(e.subtask_id).status = "passed"


def _failed(state: RunState, e: SubtaskFailed) -> None:
    sub = state._sub(e.subtask_id)
    sub.status, sub.reason = "failed", e.reason


def _retried(state: RunState, e: SubtaskRetried) -> None:
    sub = state._sub(e.subtask_id)
    sub.status, sub.attempt = "retrying", e.attempt
    sub.reason = e.feedback or sub.reason


def _escalated(state: RunState, e: Escalated) -> None:
    state._sub(e.subtask_id).escalated_to = e.to_model


def _model_completed(state: RunState, e: ModelCallCompleted) -> None:
    if e.usage is not None:
        state.prompt_tokens += e.usage.prompt_tokens
        state.completion_tokens += e.usage.completion_tokens


def _approval(state: RunState, e: ApprovalRequested) -> None:
    state.approvals[e.approval_id] = e.description


def _approval_answered(state: RunState, e: ApprovalGranted | ApprovalRefused) -> None:
    state.approvals.pop(e.approval_id, None)


def _task_completed(state: RunState, e: TaskCompleted) -> None:
    state._finish("completed", e.summary)


def _task_failed(state: RunState, e: TaskFailed) -> None:
    state._finish("failed", e.reason)


def _task_cancelled(state: RunState, e: TaskCancelled) -> None:
    state._finish("cancelled", e.reason)


_HANDLERS: dict[type[Event], _Handler] = {
    TaskCreated: _created,
    PlanProposed: _proposed,
    Replanned: _replanned,
    SubtaskStarted: _started,
    AgentStarted: _agent_started,
    AgentFinished: _agent_finished,
    VerificationRecorded: _verified,
    SubtaskCompleted: _completed,
    SubtaskFailed: _failed,
    SubtaskRetried: _retried,
    Escalated: _escalated,
    ModelCallCompleted: _model_completed,
    ApprovalRequested: _approval,
    ApprovalGranted: _approval_answered,
    ApprovalRefused: _approval_answered,
    TaskCompleted: _task_completed,
    TaskFailed: _task_failed,
    TaskCancelled: _task_cancelled,
}


# --- the summary -------------------------------------------------------------


def format_duration(seconds: float) -> str:
    """``42s``, ``3m 05s`` or ``1h 02m``."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


_OUTCOMES: dict[Outcome, tuple[str, str]] = {
    "completed": ("✓ completed", "bold green"),
    "failed": ("✗ failed", "bold red"),
    "cancelled": ("■ cancelled", "bold yellow"),
    "running": ("… did not finish", "bold yellow"),
}


def summary_of(
    state: RunState, stats: Sequence[FileStat], elapsed: float | None
) -> RenderableType:
    """The end-of-run summary of a folded run (see ``run_view.render_summary``)."""
    if elapsed is None and state.first is not None and state.last is not None:
        elapsed = (state.last.at - state.first.at).total_seconds()
    parts: list[RenderableType] = [_outcome_line(state), _totals_line(state, elapsed)]
    if state.subtasks:
        parts += [Text(""), _subtask_table(state)]
    parts += [Text(""), *_diffstat(stats)]
    if stats and state.task_id:
        parts += [
            Text(f"inspect: loom changes {state.task_id}", style="dim"),
            Text(f"undo:    loom undo --task {state.task_id}", style="dim"),
        ]
    return Group(*parts)


def _outcome_line(state: RunState) -> Text:
    label, style = _OUTCOMES[state.outcome]
    line = Text().append(f"task {label}", style)
    if state.outcome_reason and state.outcome != "completed":
        line.append(f": {state.outcome_reason}", style=style)
    if state.goal:
        line.append(f"  {state.goal}")
    return line


def _totals_line(state: RunState, elapsed: float | None) -> Text:
    shown = [state.task_id] if state.task_id else []
    if elapsed is not None:
        shown.append(format_duration(elapsed))
    shown.append(
        f"{state.tokens:,} tokens ({state.prompt_tokens:,} prompt + "
        f"{state.completion_tokens:,} completion)"
    )
    if state.replans:
        shown.append(f"replans: {state.replans}")
    return Text(" · ".join(shown), style="dim")


_STATUS_STYLES: dict[Status, str] = {
    "passed": "green",
    "failed": "red",
    "blocked": "red",
    "cancelled": "yellow",
}


def _subtask_table(state: RunState) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("SUBTASK", "STATUS", "ATTEMPTS", "VERDICTS"):
        table.add_column(column, overflow="fold")
    for sub in state.subtasks.values():
        status = state.status_of(sub.id)
        shown = Text().append(status, _STATUS_STYLES.get(status, ""))
        if sub.escalated_to:
            shown.append(f" ⇧ {sub.escalated_to}", style="magenta")
        if status == "failed" and sub.reason:
            shown.append(f": {sub.reason}")
        table.add_row(sub.id, shown, str(sub.attempt), _verdicts(sub))
    return table


def _verdicts(sub: SubtaskState) -> Text:
    lines = Text()
    many = sub.attempt > 1
    for n, verdict in enumerate(sub.verdicts):
        if n:
            lines.append("\n")
        if many:
            lines.append(f"#{verdict.attempt} ")
        lines.append(f"tier {verdict.tier} {verdict.verifier} ")
        if verdict.passed:
            lines.append("✓ passed", style="green")
        else:
            lines.append("✗ failed", style="red")
        if verdict.reason:
            lines.append(f": {verdict.reason}")
    return lines
