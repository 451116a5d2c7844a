"""The cowork session engine: one conversation, its tools, approvals and memory.

UI-agnostic and async: a client sends a user message with :meth:`send`, the
executor model is called with the assembled prompt, its tool calls are checked
against the approval policy, run, and their results sent back, until the model
answers without tool calls or the loop limit is hit. Every step is an event on
the session's stream; deltas and events go live to listeners. Resuming folds
the stored stream into the same state, and a tool call that was requested but
never finished is recorded as interrupted and never re-run silently. What the
engine is given and gives back (``SessionDeps``, ``TurnOutcome``, ...) is in
:mod:`loom.app.session_deps`, re-exported here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loom.adapters.eventstore.journal import StreamJournal
from loom.adapters.models.recording import RecordingProvider
from loom.adapters.models.whole_file import WholeFileDraft
from loom.adapters.tools import ToolContext, ToolRunner
from loom.adapters.tools.base import registered_tools
from loom.adapters.tools.workspace import Workspace
from loom.app.observations import LiveObservations
from loom.app.session_deps import (
    ContextFactory,
    Delegate,
    ForcedCall,
    SessionDeps,
    SessionListener,
    ToolRunnerFactory,
    TurnOutcome,
)
from loom.domain.conversation import DOOM_LOOP_REPEATS, ConversationState
from loom.domain.eventbase import Event
from loom.domain.events import (
    ContextTrimmed,
    DoomLoopDetected,
    SessionResumed,
    SessionStarted,
    TokenizerCalibrated,
    ToolCall,
    ToolCallApproved,
    ToolCallCompleted,
    ToolCallDenied,
    ToolCallInterrupted,
    ToolCallRequested,
    TurnCancelled,
    UserMessaged,
    WorkspaceSurveyed,
)
from loom.domain.models import (
    Completion,
    ModelError,
    ModelParams,
    ModelRequest,
    ToolSpec,
)
from loom.domain.ports import (
    ApprovalRequest,
    ModelProvider,
)
from loom.domain.prompt import EstimatedCounter, PromptParts, TokenMemo, assemble
from loom.projections.file_knowledge import FileKnowledge

__all__ = [
    "ContextFactory",
    "Delegate",
    "ForcedCall",
    "SessionDeps",
    "SessionEngine",
    "SessionListener",
    "ToolRunnerFactory",
    "TurnOutcome",
]


class _ObservedJournal(StreamJournal):
    """A journal that also tells the listeners and the state about each event."""

    def __init__(self, engine: SessionEngine, *args: Any) -> None:
        super().__init__(*args)
        self._engine = engine

    def _recorded(self, events: list[Event]) -> None:
        for event in events:
            self._engine._observe(event)


class SessionEngine:
    """One cowork session."""

    def __init__(
        self, deps: SessionDeps, stream: str, workspace: Path, events: Sequence[Event]
    ) -> None:
        self.deps, self.stream, self.workspace = deps, stream, workspace
        self.state = ConversationState.from_events(events)
        context = deps.contexts(stream, len(events)) if deps.contexts else deps.context
        self.journal = _ObservedJournal(self, deps.log, stream, len(events), context)
        self.tools = self._tool_runner(events)
        self.provider = RecordingProvider(deps.provider, self.journal, deps.role)
        self.observations = deps.observations or LiveObservations(deps.provider)
        self.force_next: ForcedCall | None = None
        self._drafting: ForcedCall | None = None
        self._surveyed = _last_survey(events)
        self._memo = TokenMemo(EstimatedCounter())
        self._trimmed: set[int] = set()
        self._summary = ""
        self._specs_tokens: int | None = None
        self._calibrated = False
        self._turn: asyncio.Task[TurnOutcome] | None = None

    @classmethod
    async def start(
        cls, deps: SessionDeps, workspace: Path, *, title: str = ""
    ) -> SessionEngine:
        """A new session in ``workspace`` (an absolute, resolved path)."""
        stream = f"session-{deps.context.new_id()}"
        opener = (SessionStarted, {"workspace": str(workspace), "title": title})
        engine = await cls.begin(deps, stream, workspace, opener, **_model_fields(deps))
        await engine.journal.flush()  # a session someone started exists at once
        return engine

    @classmethod
    async def begin(
        cls,
        deps: SessionDeps,
        stream: str,
        workspace: Path,
        opener: tuple[type[Event], dict[str, Any]],
        **more: Any,
    ) -> SessionEngine:
        """A new engine on ``stream``, whose first event is ``opener``."""
        engine = cls(deps, stream, workspace, [])
        cls_, fields = opener
        engine.journal.note(cls_, **fields, **more)
        return engine

    @classmethod
    async def resume(
        cls, deps: SessionDeps, stream: str, *, workspace: Path | None = None
    ) -> SessionEngine:
        """Continue ``stream`` exactly where it stopped (in ``workspace`` when
        given: a replay's scratch copy, instead of the recorded one)."""
        events = await deps.log.read_stream(stream)
        started = next((e for e in events if isinstance(e, SessionStarted)), None)
        if started is None:
            raise LookupError(f"no session named {stream!r}")
        where = workspace or Path(started.workspace)
        engine = cls(deps, stream, where, events)
        for call in list(engine.state.pending.values()):
            await engine.journal.record(
                ToolCallInterrupted,
                call_id=call.call_id,
                reason="Loom stopped before this call finished; it was not re-run",
            )
        await engine.journal.record(SessionResumed, **_model_fields(deps))
        return engine

    async def send(self, text: str) -> TurnOutcome:
        """Run one turn for the user's ``text``; cancel it with :meth:`cancel`."""
        self._turn = asyncio.current_task()
        try:
            # The turn's opening facts are staged: they commit while the model
            # works, and before any tool can act.
            self.journal.note(UserMessaged, text=text)
            await self._survey()
            await self._calibrate()
            outcome = await self._loop()
            if self.deps.durable_turns:
                await self.journal.flush()
            return outcome
        except asyncio.CancelledError:
            await asyncio.shield(self._cancelled())
            return TurnOutcome("cancelled")
        except ModelError as error:
            # Already recorded as model.call.failed; the session stays usable.
            return TurnOutcome("failed", str(error))
        finally:
            self._turn = None

    def use_provider(self, provider: ModelProvider) -> None:
        """Switch the executor model (``/model NAME``) from the next call on."""
        self.deps.provider = provider
        self.provider = RecordingProvider(provider, self.journal, self.deps.role)

    def cancel(self) -> bool:
        """Stop the current model call or tool; the session stays usable."""
        if self._turn is None:
            return False
        self._turn.cancel()
        return True

    async def _loop(self) -> TurnOutcome:
        for _ in range(self.deps.max_loop_iterations):
            completion = await self._call_model()
            if not completion.tool_calls:
                return TurnOutcome("answered", completion.text)
            for call in completion.tool_calls:
                await self._handle(call)
        return TurnOutcome("loop_limit")

    async def _call_model(self) -> Completion:
        request = await self._request()
        completion: Completion | None = None
        async for item in self._provider_for_call().stream(request):
            if isinstance(item, Completion):
                completion = item
            else:
                for listener in self.deps.listeners:
                    listener.on_delta(item)
        assert completion is not None
        return completion

    def _provider_for_call(self) -> ModelProvider:
        drafting, self._drafting = self._drafting, None
        if drafting is None or drafting.draft is None:
            return self.provider
        (path,) = drafting.choices["path"]
        draft = WholeFileDraft(self.deps.provider, drafting.draft, path)
        return RecordingProvider(draft, self.journal, self.deps.role)

    async def _request(self) -> ModelRequest:
        capabilities = self.provider.capabilities
        budget = capabilities.context_length - self.deps.max_tokens
        parts = PromptParts(
            identity=self.deps.identity,
            tool_guidance=self.deps.tool_guidance,
            workspace=self._summary,
            history=self.state.turns,
            recall_numbers=self.state.recall_numbers,
        )
        specs = self.tools.specs()
        forced, self.force_next = self.force_next, None
        self._drafting = forced if forced and forced.draft else None
        if forced is not None:
            specs = [forced.narrow(spec) for spec in specs]
        prompt = assemble(
            parts,
            budget,
            self._memo.counter,
            reserve=self._tool_tokens(specs),
            memo=self._memo,
        )
        newly = sorted(set(prompt.dropped_turns) - self._trimmed)
        if newly:
            self._trimmed.update(newly)
            self.journal.note(ContextTrimmed, turns=self._recall_range(newly))
        params = ModelParams(
            max_tokens=self.deps.max_tokens,
            temperature=self.deps.temperature,
            force_tool=forced.tool if forced else None,
        )
        return ModelRequest(messages=prompt.messages, tools=specs, params=params)

    def _recall_range(self, turns: list[int]) -> list[int]:
        """The recall numbers of every message of the given turns."""
        numbers = self.state.recall_numbers
        found: list[int] = []
        for turn in turns:
            first = numbers[turn - 2] + 1 if turn > 1 else 1
            found.extend(range(first, numbers[turn - 1] + 1))
        return found

    def _tool_tokens(self, specs: list[ToolSpec]) -> int:
        # Tool definitions travel with every request (as native tools or in
        # the system prompt), so their tokens are kept out of the history.
        if self._specs_tokens is None:
            text = _specs_json(specs)
            self._specs_tokens = self._memo.counter.count(text) + 16 * len(specs)
        return self._specs_tokens

    async def _survey(self) -> None:
        # Once per turn: the model's own changes show in its tool results.
        summary = await self.observations.survey(self.workspace)
        if summary is not None and summary != self._surveyed:
            self.journal.note(WorkspaceSurveyed, summary=summary)
            self._surveyed = summary
        self._summary = self._surveyed or ""

    async def _calibrate(self) -> None:
        """Fit the token estimate to the model's own tokenizer, when it has one."""
        if self._calibrated:
            return
        self._calibrated = True
        specs = _specs_json(self.tools.specs())
        samples = [self.deps.identity, self.deps.tool_guidance, self._summary, specs]
        counts = await self.observations.token_counts(samples)
        if counts is None:
            return
        self.journal.note(TokenizerCalibrated, counts=counts)
        counter = EstimatedCounter.calibrated(zip(samples, counts, strict=True))
        self._memo = TokenMemo(counter)
        self._specs_tokens = None

    async def _handle(self, call: ToolCall) -> None:
        requested = (
            ToolCallRequested,
            {
                "call_id": call.id,
                "tool": call.name,
                "arguments": call.arguments,
                "subtask_id": self.deps.subtask_id,
            },
        )
        repeats = self.state.repeats_of(call.name, call.arguments) + 1
        if repeats >= DOOM_LOOP_REPEATS:
            await self.journal.record_many(requested)
            await self._doom_loop(call, repeats)
        elif self._auto_approved(call):
            # One transaction for the request and the policy's approval.
            approved = (ToolCallApproved, {"call_id": call.id, "by": "policy"})
            await self.journal.record_many(requested, approved)
            await self._run(call)
        else:
            await self.journal.record_many(requested)
            if await self._approved(call):
                await self._run(call)

    def _auto_approved(self, call: ToolCall) -> bool:
        tool = self.tools.tools.get(call.name)
        return (
            tool is None
            or tool.kind in self.deps.auto_approve
            or call.name in self.state.always_approved
        )

    async def _approved(self, call: ToolCall) -> bool:
        tool = self.tools.tools[call.name]
        answer = await self.deps.approvals.ask(
            ApprovalRequest(call.id, call.name, call.arguments, f"{tool.kind} tool")
        )
        if answer.decision == "deny":
            await self.journal.record(
                ToolCallDenied, call_id=call.id, by=answer.by, reason=answer.reason
            )
            return False
        await self.journal.record(
            ToolCallApproved,
            call_id=call.id,
            by=answer.by,
            remember_for_session=answer.decision == "always",
        )
        return True

    async def _run(self, call: ToolCall) -> None:
        try:
            result = await self.tools.call(call.name, call.arguments)
        except asyncio.CancelledError:
            await asyncio.shield(
                self.journal.record(
                    ToolCallInterrupted, call_id=call.id, reason="cancelled by the user"
                )
            )
            raise
        await self.journal.record(
            ToolCallCompleted,
            call_id=call.id,
            result=result.text,
            is_error=result.is_error,
            duration_ms=result.duration_ms,
            full_output=result.full_output,
        )

    async def _doom_loop(self, call: ToolCall, repeats: int) -> None:
        earlier = self.state.last_result_of(call.name, call.arguments)
        await self.journal.record(
            DoomLoopDetected,
            call_id=call.id,
            tool=call.name,
            arguments=call.arguments,
            repeats=repeats,
        )
        await self.journal.record(
            ToolCallCompleted,
            call_id=call.id,
            result=(
                f"You have called {call.name} with these same arguments "
                f"{repeats} times in a row; it was not run again. Its result "
                f"was:\n{earlier}\nDo something different."
            ),
            is_error=True,
            duration_ms=0.0,
        )

    async def _cancelled(self) -> None:
        for call in list(self.state.pending.values()):
            await self.journal.record(
                ToolCallInterrupted,
                call_id=call.call_id,
                reason="cancelled by the user",
            )
        await self.journal.record(TurnCancelled, reason="cancelled by the user")

    def _observe(self, event: Event) -> None:
        self.state.apply(event)
        for listener in self.deps.listeners:
            listener.on_event(event)

    def _tool_runner(self, events: Sequence[Event]) -> ToolRunner:
        ctx = self._tool_context(events)
        tools = self.deps.tools if self.deps.tools is not None else registered_tools()
        if self.deps.tool_runner is not None:
            return self.deps.tool_runner(ctx, tools)
        return ToolRunner(ctx, tools)

    def _tool_context(self, events: Sequence[Event]) -> ToolContext:
        return ToolContext(
            workspace=Workspace(self.workspace, loom_home=self.deps.loom_home),
            journal=self.journal,
            blobs=self.deps.blobs,
            knowledge=FileKnowledge.from_events(events),
            subtask_id=self.deps.subtask_id,
            loom_home=self.deps.loom_home,
            approve=self._approve_action,
            log=self.deps.log,
            views=self.deps.views,
            questions=self.deps.questions,
            delegate=self._delegate if self.deps.delegate else None,
        )

    async def _delegate(self, task: str, context: str) -> str:
        assert self.deps.delegate is not None
        return await self.deps.delegate(self.stream, task, context)

    async def _approve_action(self, what: str, why: str) -> bool:
        answer = await self.deps.approvals.ask(ApprovalRequest("", what, {}, why))
        return answer.decision != "deny"


def _last_survey(events: Sequence[Event]) -> str | None:
    for event in reversed(events):
        if isinstance(event, WorkspaceSurveyed):
            return event.summary
    return None


def _model_fields(deps: SessionDeps) -> dict[str, Any]:
    provider = deps.provider
    return {
        "model": provider.name,
        "model_id": provider.model,
        "capabilities": provider.capabilities.model_dump(),
        "settings": {
            "auto_approve": sorted(deps.auto_approve),
            "max_loop_iterations": deps.max_loop_iterations,
            "max_tokens": deps.max_tokens,
            "temperature": deps.temperature,
            # The tools offered, by name: the registry may hold more (plugins,
            # tests) when the session is replayed.
            "tools": sorted(
                deps.tools if deps.tools is not None else registered_tools()
            ),
        },
    }


_SPECS_JSON: dict[tuple[str, ...], str] = {}


def _specs_json(specs: list[ToolSpec]) -> str:
    # Every engine (each subtask attempt is one) measures the same tool
    # definitions; encoding them once per tool set keeps that off each
    # attempt. A tool's spec never changes (``Tool.spec`` is cached too).
    key = tuple(spec.name for spec in specs)
    if key not in _SPECS_JSON:
        _SPECS_JSON[key] = json.dumps([spec.model_dump() for spec in specs])
    return _SPECS_JSON[key]
