"""One attempt at one subtask: the agent's loop, then independent verification.

The executor never judges its own work. Tier 1 (always) checks the files, the
check commands and that every action the executor claims was really executed;
tier 2 adds a review by a verifier model; tier 3 a vote of several verifiers.
A higher tier runs only when tier 1 passed. Every verdict is an event on the
attempt's stream. Learning from a passed attempt happens afterwards, off the
critical path (:meth:`AttemptRunner.learn`).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field

from loom.adapters.models.recording import RecordingProvider
from loom.adapters.tools import ToolRunner, registered_tools
from loom.adapters.verification.deterministic import (
    syntax_problem,
    verify_deterministic,
)
from loom.app.autonomy.agents import AgentReport, AgentRunner
from loom.app.autonomy.runtime import RunContext
from loom.app.autonomy.settings import SMALL_CONTEXT, agent_stream
from loom.app.review import consensus, extract, plan_voters, review
from loom.app.session import ForcedCall
from loom.domain.eventbase import Event
from loom.domain.events import (
    FileChanged,
    PatternLearned,
    PlannedSubtask,
    ToolCallApproved,
    ToolCallCompleted,
    ToolCallRequested,
    VerificationRecorded,
)
from loom.domain.ports import ModelProvider
from loom.domain.review import Evidence, evidence_from
from loom.domain.verification import CheckResult, Verdict

__all__ = ["AttemptResult", "AttemptRunner", "Brief"]

_SUMMARY_CHARS = 600


@dataclass(frozen=True)
class Brief:
    """What an attempt is told beyond its subtask."""

    goal: str
    done_before: Sequence[tuple[str, str]] = ()
    feedback: Sequence[str] = ()


@dataclass(frozen=True)
class AttemptResult:
    """How an attempt ended: ``passed``, ``failed`` or ``cancelled``."""

    subtask_id: str
    attempt: int
    status: str
    stream: str
    reasons: tuple[str, ...] = ()
    answer: str = ""
    changed: tuple[str, ...] = field(default=())
    evidence: Evidence | None = None
    report: AgentReport | None = field(default=None, compare=False, repr=False)

    @property
    def summary(self) -> str:
        files = f" (files: {', '.join(self.changed)})" if self.changed else ""
        return (self.answer.strip()[:_SUMMARY_CHARS] or "done") + files


class AttemptRunner:
    """Runs attempts of one task's subtasks."""

    def __init__(self, run: RunContext, task_id: str, agents: AgentRunner) -> None:
        self._run, self._task_id, self._agents = run, task_id, agents

    async def attempt(
        self,
        subtask: PlannedSubtask,
        attempt: int,
        provider: ModelProvider,
        brief: Brief,
    ) -> AttemptResult:
        stream = agent_stream(self._task_id, subtask.id, attempt)
        text = brief_text(subtask, brief)
        report = await self._agents.run(
            stream,
            text,
            provider,
            subtask_id=subtask.id,
            attempt=attempt,
            force_first=await self._first_call(subtask, provider, brief.goal),
        )
        if report.status == "cancelled":
            return AttemptResult(subtask.id, attempt, "cancelled", stream)
        return await self._verify(subtask, attempt, brief.goal, report)

    async def learn(self, result: AttemptResult) -> None:
        """Record what the extractor model learned from a passed attempt."""
        extractor, report = self._run.models.extractor, result.report
        if extractor is None or result.evidence is None or report is None:
            return
        journal = report.engine.journal
        recording = self._recording(report, extractor, "extractor")
        for kind, text in await extract(recording, result.evidence):
            await journal.record(
                PatternLearned, kind=kind, text=text, subtask_id=result.subtask_id
            )

    async def _first_call(
        self, subtask: PlannedSubtask, provider: ModelProvider, goal: str
    ) -> ForcedCall | None:
        # A small model's first call is a write_file onto a file it must
        # produce, when one is missing or does not parse: the one step it
        # cannot skip, made valid by construction rather than hoped for. The
        # content is drafted as a code block, which such a model writes far
        # better than code inside JSON (docs/adr/0018).
        if provider.capabilities.context_length > SMALL_CONTEXT:
            return None
        probe = self._run.adapters.probe()
        unusable = []
        for path in subtask.expected_files:
            if path.endswith("/"):
                continue
            content = await probe.read(path)
            if content is None or syntax_problem(path, content) is not None:
                unusable.append(path)
        if not unusable:
            return None
        path = unusable[0]
        draft = (
            f"Goal: {goal}\nSubtask: {subtask.description}\n\n"
            f"Write the complete content of {path}."
        )
        return ForcedCall("write_file", {"path": [path]}, draft=draft)

    async def _verify(
        self, subtask: PlannedSubtask, attempt: int, goal: str, report: AgentReport
    ) -> AttemptResult:
        events = report.events
        tier1 = await verify_deterministic(
            subtask,
            # Earlier attempts count too: a retry may sum up what they did.
            [*await self._earlier(subtask.id, attempt), *events],
            report.answer,
            self._run.adapters.probe(),
            lambda command: self._run_check(report, command),
        )
        self._record(report, subtask, attempt, 1, "deterministic", tier1)
        changed = _changed_paths(events)
        diffs = await self._diffs(events)
        evidence = evidence_from(
            events, diffs, subtask=subtask, goal=goal, prior_verdicts=tier1.reasons
        )
        verdict = tier1
        if tier1.passed and subtask.verification_tier >= 2:
            verdict = await self._review(report, subtask, attempt, evidence)
        status = "passed" if verdict.passed else "failed"
        return AttemptResult(
            subtask.id,
            attempt,
            status,
            report.stream,
            tuple(verdict.reasons),
            report.answer,
            changed,
            evidence,
            report,
        )

    async def _review(
        self,
        report: AgentReport,
        subtask: PlannedSubtask,
        attempt: int,
        evidence: Evidence,
    ) -> Verdict:
        verifiers = [
            self._recording(report, v, "verifier") for v in self._run.models.verifiers
        ]
        if subtask.verification_tier == 2:
            passed, reasons = await review(verifiers[0], evidence)
            verdict = Verdict(passed, tuple(reasons))
            self._record(report, subtask, attempt, 2, verifiers[0].name, verdict)
            return verdict
        named = [(v.name, v) for v in verifiers]
        count = min(self._run.settings.votes, 3 * len(named))
        voters = plan_voters(named, count)
        quorum = min(self._run.settings.quorum, count)
        result, votes = await consensus(voters, evidence, quorum)
        for vote in votes:
            ballot = Verdict(vote.passed, tuple(vote.reasons))
            self._record(
                report,
                subtask,
                attempt,
                3,
                vote.voter.split("/")[0],
                ballot,
                vote.voter,
            )
        verdict = Verdict(result.passed, tuple(result.reasons))
        label = f"consensus {result.for_count}/{len(votes)} (quorum {quorum})"
        self._record(report, subtask, attempt, 3, label, verdict)
        return verdict

    async def _earlier(self, subtask_id: str, attempt: int) -> list[Event]:
        events: list[Event] = []
        for earlier in range(1, attempt):
            stream = agent_stream(self._task_id, subtask_id, earlier)
            events += await self._run.log.read_stream(stream)
        return events

    def _recording(
        self, report: AgentReport, provider: ModelProvider, role: str
    ) -> RecordingProvider:
        inner = self._run.adapters.provider(report.stream, provider)
        return RecordingProvider(inner, report.engine.journal, role)

    def _record(
        self,
        report: AgentReport,
        subtask: PlannedSubtask,
        attempt: int,
        tier: int,
        verifier: str,
        verdict: Verdict,
        vote: str | None = None,
    ) -> None:
        # Staged: nothing waits on a verdict's commit, and the task stream's
        # next awaited event commits it first.
        report.engine.journal.note(
            VerificationRecorded,
            subtask_id=subtask.id,
            tier=tier,
            verifier=verifier,
            passed=verdict.passed,
            reasons=list(verdict.reasons),
            attempt=attempt,
            vote=vote,
        )

    async def _run_check(self, report: AgentReport, command: str) -> CheckResult:
        """Run a check command as a recorded tool call on the attempt's stream."""
        journal, engine = report.engine.journal, report.engine
        subtask_id = engine.deps.subtask_id
        call_id = journal.new_id()
        arguments = {"command": command}
        await journal.record_many(
            (ToolCallRequested, {"call_id": call_id, "tool": "shell_execute",
                                 "arguments": arguments, "subtask_id": subtask_id}),
            (ToolCallApproved, {"call_id": call_id, "by": "policy"}),
        )  # fmt: skip
        tools = {"shell_execute": registered_tools()["shell_execute"]}
        factory = self._run.adapters.tool_runner(report.stream) or ToolRunner
        result = await factory(engine.tools.ctx, tools).call("shell_execute", arguments)
        await journal.record(
            ToolCallCompleted,
            call_id=call_id,
            result=result.text,
            is_error=result.is_error,
            duration_ms=result.duration_ms,
            full_output=result.full_output,
        )
        return CheckResult(
            ok=not result.is_error and _exit_ok(result.text), output=result.text
        )

    async def _diffs(self, events: Sequence[Event]) -> tuple[tuple[str, str], ...]:
        diffs = []
        for event in events:
            if isinstance(event, FileChanged) and event.kind != "rename":
                before = await self._text(event.before)
                after = await self._text(event.after)
                lines = difflib.unified_diff(
                    before.splitlines(keepends=True),
                    after.splitlines(keepends=True),
                    f"a/{event.path}",
                    f"b/{event.path}",
                )
                diffs.append((event.path, "".join(lines)))
        return tuple(diffs)

    async def _text(self, blob: str | None) -> str:
        if blob is None:
            return ""
        try:
            data = await self._run.blobs.get(blob)
        except KeyError:
            return ""
        return data.decode("utf-8", "replace")


def brief_text(subtask: PlannedSubtask, brief: Brief) -> str:
    """The user message an attempt starts with."""
    parts = [
        f"Goal: {brief.goal}",
        f"Your subtask ({subtask.id}): {subtask.description}",
    ]
    if subtask.acceptance_criteria:
        parts.append("It is done when:\n" + _bullets(subtask.acceptance_criteria))
    if subtask.expected_files:
        parts.append("Files to create or change: " + ", ".join(subtask.expected_files))
    if brief.done_before:
        done = [f"{sid}: {summary}" for sid, summary in brief.done_before]
        parts.append("Already done by earlier subtasks:\n" + _bullets(done))
    if brief.feedback:
        parts.append(
            "Your previous attempt failed verification. Fix this:\n"
            + _bullets(brief.feedback)
        )
    return "\n\n".join(parts)


def _bullets(items: Sequence[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def _changed_paths(events: Sequence[Event]) -> tuple[str, ...]:
    paths = [e.new_path or e.path for e in events if isinstance(e, FileChanged)]
    return tuple(dict.fromkeys(paths))


def _exit_ok(text: str) -> bool:
    return text.startswith("exit code 0 ")
