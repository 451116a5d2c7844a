"""The orchestrator: plan, schedule, verify, recover — all as events.

One task is one stream (``task-…``). The orchestrator alone writes it, one
decision at a time, so the stream's order is the order decisions were made:
the plan, each attempt's start, each settled attempt (passed, retried,
escalated, failed), a replan, the outcome. Attempts run concurrently on their
own streams; which finished attempt is handled next is asked of the adapters,
so a replay can hand them over in the recorded order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from loom.adapters.eventstore.journal import StreamJournal
from loom.adapters.models.recording import RecordingProvider
from loom.app.autonomy.agents import AgentRunner
from loom.app.autonomy.attempt import AttemptResult, AttemptRunner, Brief
from loom.app.autonomy.planner import (
    PlanningFailed,
    files_named_in,
    make_plan,
    subtasks_text,
)
from loom.app.autonomy.runtime import RunContext
from loom.app.autonomy.settings import agent_stream
from loom.domain.eventbase import Event
from loom.domain.events import (
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
    TaskStarted,
    WorkspaceSurveyed,
)
from loom.domain.models import ModelError
from loom.domain.plan import Plan
from loom.domain.ports import ModelProvider
from loom.domain.process import apply_process

__all__ = ["Orchestrator", "TaskOutcome"]

T = TypeVar("T")


@dataclass(frozen=True)
class TaskOutcome:
    """How a task ended: ``completed``, ``failed`` or ``cancelled``."""

    task_id: str
    status: str
    reason: str = ""


class _Cancelled(Exception):
    """The task was asked to stop."""


class _TaskJournal(StreamJournal):
    """The task stream's journal, telling the run's listeners of each event."""

    def __init__(self, run: RunContext, stream: str) -> None:
        super().__init__(run.log, stream, 0, run.adapters.context(stream, 0))
        self._run = run

    def _recorded(self, events: list[Event]) -> None:
        for event in events:
            self._run.notify(event)


@dataclass
class _Track:
    """A subtask's history in this task."""

    attempts: int = 0
    retries: int = 0
    escalated: bool = False
    feedback: tuple[str, ...] = ()
    summary: str = ""
    reason: str = ""


@dataclass
class _Board:
    plan: Plan
    done: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    running: dict[str, asyncio.Task[AttemptResult]] = field(default_factory=dict)
    tracks: dict[str, _Track] = field(default_factory=dict)

    def track(self, subtask_id: str) -> _Track:
        return self.tracks.setdefault(subtask_id, _Track())


class Orchestrator:
    """Runs one task from goal to outcome."""

    def __init__(self, run: RunContext, task_id: str) -> None:
        self.run, self.task_id = run, task_id
        self.journal = _TaskJournal(run, task_id)
        self._agents = AgentRunner(run, task_id)
        self._attempts = AttemptRunner(run, task_id, self._agents)
        self._learning: list[asyncio.Task[None]] = []
        self._replans = 0
        self._goal = ""
        self._planning_error = ""

    async def run_goal(self, goal: str, process: str | None = None) -> TaskOutcome:
        """Plan ``goal``, run it to an outcome, and record every step."""
        self._goal = goal
        adapters = self.run.adapters
        await adapters.open(self.task_id)
        try:
            await self.journal.record(
                TaskCreated,
                goal=goal,
                workspace=str(self.run.workspace),
                process=process,
                settings=self.run.settings.model_dump(mode="json"),
            )
            return await self._run()
        finally:
            await adapters.close()

    async def _run(self) -> TaskOutcome:
        try:
            plan = await self._unless_cancelled(self._plan())
            if plan is None:
                why = f"the planner gave no usable plan: {self._planning_error}"
                return await self._fail(why)
            await self.journal.record(TaskStarted)
            return await self._schedule(_Board(plan))
        except _Cancelled:
            return await self._cancelled(None)

    # --- planning ---------------------------------------------------------

    async def _plan(self) -> Plan | None:
        planner = self._recording(self.run.models.planner, "planner")
        survey = await self._survey(planner)
        named = files_named_in(self._goal)
        brief = self._with_process(f"Goal: {self._goal}\n\n{survey}")
        if named:
            brief += "\n\nFiles the goal names: " + ", ".join(named)
        try:
            work = await make_plan(
                planner, brief, max_tokens=self._plan_tokens(), named=named
            )
        except (PlanningFailed, ModelError) as error:
            self._planning_error = str(error)
            return None
        plan = self._ruled(work.plan)
        await self.journal.record(
            PlanProposed, subtasks=list(plan.subtasks), repairs=work.repairs
        )
        return plan

    def _with_process(self, brief: str) -> str:
        process = self.run.settings.process
        return f"{process.planner_guidance()}\n\n{brief}" if process else brief

    def _ruled(self, plan: Plan) -> Plan:
        """The plan under the process's verification rules, if one is followed."""
        process = self.run.settings.process
        return apply_process(plan, process) if process else plan

    async def _survey(self, provider: ModelProvider) -> str:
        observations = self.run.adapters.observations(
            self.task_id, provider, lambda: self.journal.version + 1
        )
        summary = await observations.survey(self.run.workspace)
        if summary is not None:
            await self.journal.record(WorkspaceSurveyed, summary=summary)
        return summary or ""

    def _plan_tokens(self) -> int:
        return max(self.run.settings.max_tokens, 1024)

    # --- scheduling -------------------------------------------------------

    async def _schedule(self, board: _Board) -> TaskOutcome:
        try:
            while True:
                await self._launch_ready(board)
                if not board.running:
                    if board.failed and self._replans < self.run.settings.max_replans:
                        await self._unless_cancelled(self._replan(board))
                        continue
                    return await self._finish(board)
                finished = await self._unless_cancelled(
                    self.run.adapters.next_finished(board.running)
                )
                result = await board.running.pop(finished)
                await self._settle(board, result)
        except _Cancelled:
            return await self._cancelled(board)
        finally:
            await _abandon([*board.running.values(), *self._learning])

    async def _launch_ready(self, board: _Board) -> None:
        limit = self.run.settings.max_parallel_subtasks
        for subtask_id in board.plan.next_batch(
            board.done, list(board.running), board.failed, limit
        ):
            await self._launch(board, board.plan.subtask(subtask_id))

    async def _launch(self, board: _Board, subtask: PlannedSubtask) -> None:
        track = board.track(subtask.id)
        track.attempts += 1
        provider = self._executor_for(track)
        brief = Brief(self._goal, self._done_before(board, subtask), track.feedback)
        stream = agent_stream(self.task_id, subtask.id, track.attempts)
        # Staged, like the attempt's first events: they commit together while
        # the model works, before anything with a side effect.
        self.journal.note(
            SubtaskStarted,
            subtask_id=subtask.id,
            attempt=track.attempts,
            agent_stream=stream,
            model=provider.name,
        )
        board.running[subtask.id] = asyncio.create_task(
            self._attempts.attempt(subtask, track.attempts, provider, brief)
        )

    def _executor_for(self, track: _Track) -> ModelProvider:
        models = self.run.models
        if track.escalated and models.escalation is not None:
            return models.escalation
        return models.executor

    def _done_before(
        self, board: _Board, subtask: PlannedSubtask
    ) -> list[tuple[str, str]]:
        return [
            (dep, board.track(dep).summary)
            for dep in subtask.depends_on
            if dep in board.done
        ]

    async def _settle(self, board: _Board, result: AttemptResult) -> None:
        track = board.track(result.subtask_id)
        if result.status == "passed":
            track.summary = result.summary
            board.done.add(result.subtask_id)
            self.journal.note(
                SubtaskCompleted, subtask_id=result.subtask_id, summary=result.summary
            )
            self._learn(result)
        elif result.status == "failed":
            await self._recover(board, track, result)

    async def _recover(
        self, board: _Board, track: _Track, result: AttemptResult
    ) -> None:
        sid = result.subtask_id
        track.feedback = result.reasons or ("the attempt did not pass verification",)
        subtask = board.plan.subtask(sid)
        if track.retries < self.run.settings.max_subtask_retries:
            track.retries += 1
            await self.journal.record(
                SubtaskRetried,
                subtask_id=sid,
                attempt=track.attempts + 1,
                feedback="\n".join(track.feedback),
            )
            await self._launch(board, subtask)
        elif self.run.models.escalation is not None and not track.escalated:
            track.escalated, track.retries = True, 0
            await self.journal.record(
                Escalated, subtask_id=sid, to_model=self.run.models.escalation.name
            )
            await self._launch(board, subtask)
        else:
            track.reason = "; ".join(track.feedback)
            board.failed.add(sid)
            await self.journal.record(
                SubtaskFailed, subtask_id=sid, reason=track.reason
            )

    def _learn(self, result: AttemptResult) -> None:
        # Off the critical path: dependants start while the extractor reads.
        if self.run.settings.extract_learnings:
            self._learning.append(asyncio.create_task(self._attempts.learn(result)))

    # --- replanning -------------------------------------------------------

    async def _replan(self, board: _Board) -> None:
        self._replans += 1
        planner = self._recording(self.run.models.planner, "planner")
        account = self._account(board)
        brief = self._with_process(
            f"Goal: {self._goal}\n\nWhat happened so far:\n{account}\n\n"
            "Plan only the remaining work. Do not repeat what is done; "
            "take a different approach for what failed."
        )
        reason = "; ".join(f"{sid} failed" for sid in sorted(board.failed))
        try:
            work = await make_plan(
                planner,
                brief,
                max_tokens=self._plan_tokens(),
                named=files_named_in(self._goal),
            )
        except (PlanningFailed, ModelError) as error:
            await self.journal.record(
                Replanned, reason=f"{reason}; {error}", subtasks=[]
            )
            return
        fresh = [s for s in self._ruled(work.plan).subtasks if s.id not in board.done]
        await self.journal.record(Replanned, reason=reason, subtasks=fresh)
        if fresh:
            board.plan = _without_done_dependencies(fresh, board.done)
            board.failed = set()

    def _account(self, board: _Board) -> str:
        lines = []
        for sid, track in board.tracks.items():
            if sid in board.done:
                lines.append(f"- {sid} done: {track.summary}")
            elif sid in board.failed:
                lines.append(
                    f"- {sid} FAILED after {track.attempts} attempts: {track.reason}"
                )
        return (
            "\n".join(lines)
            + "\n\nThe plan was:\n"
            + subtasks_text(list(board.plan.subtasks))
        )

    # --- endings ----------------------------------------------------------

    async def _finish(self, board: _Board) -> TaskOutcome:
        await self._settle_learning()
        missing = [s.id for s in board.plan.subtasks if s.id not in board.done]
        if not missing:
            summary = f"{len(board.done)} subtask(s) passed verification"
            await self.journal.record(TaskCompleted, summary=summary)
            return TaskOutcome(self.task_id, "completed", summary)
        failed = sorted(board.failed)
        blocked = sorted(set(missing) - board.failed)
        reason = f"failed: {', '.join(failed) or 'none'}"
        if blocked:
            reason += f"; not run (blocked): {', '.join(blocked)}"
        return await self._fail(reason)

    async def _fail(self, reason: str) -> TaskOutcome:
        await self.journal.record(TaskFailed, reason=reason)
        return TaskOutcome(self.task_id, "failed", reason)

    async def _cancelled(self, board: _Board | None) -> TaskOutcome:
        running = list(board.running.values()) if board else []
        for task in [*running, *self._learning]:
            task.cancel()
        await asyncio.gather(*running, *self._learning, return_exceptions=True)
        reason = "cancelled on request (loom cancel)"
        await self.journal.record(TaskCancelled, reason=reason)
        return TaskOutcome(self.task_id, "cancelled", reason)

    async def _settle_learning(self) -> None:
        if self._learning:
            await asyncio.gather(*self._learning, return_exceptions=True)

    # --- helpers ----------------------------------------------------------

    def _recording(self, provider: ModelProvider, role: str) -> RecordingProvider:
        inner = self.run.adapters.provider(self.task_id, provider)
        return RecordingProvider(inner, self.journal, role)

    async def _unless_cancelled(self, work: Awaitable[T]) -> T:
        """Await ``work`` unless the task is cancelled first (then stop it)."""
        cancel = self.run.adapters.cancelled()
        job = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(cancel.wait())
        try:
            await asyncio.wait({job, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if job.done():
            return job.result()
        job.cancel()
        with contextlib.suppress(BaseException):
            await job
        raise _Cancelled


async def _abandon(tasks: list[asyncio.Task[Any]]) -> None:
    """Stop work left running when the schedule ends abnormally (a replay that
    diverged, a crash): nothing may outlive the task it belongs to."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(BaseException):
            await task


def _without_done_dependencies(subtasks: list[PlannedSubtask], done: set[str]) -> Plan:
    kept = [
        s.model_copy(update={"depends_on": [d for d in s.depends_on if d not in done]})
        for s in subtasks
    ]
    return Plan(tuple(kept))
