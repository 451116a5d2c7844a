"""Agent loops on their own streams: subtask attempts and delegated work.

An agent is a session engine with a different opening: its stream starts with
``agent.started`` (what it was told, for which task and subtask), its prompt
speaks to an executor working alone, it is offered tools scoped to its model,
and it ends with ``agent.finished``. ``delegate_task`` runs one more agent on a
child stream of the caller's and returns its report.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass

from loom.adapters.tools import Tool, registered_tools
from loom.app.autonomy.runtime import RunContext
from loom.app.autonomy.settings import SMALL_CONTEXT
from loom.app.autonomy.streams import delegate_stream
from loom.app.prompts import TOOL_GUIDANCE
from loom.app.session import ForcedCall, SessionDeps, SessionEngine
from loom.domain.eventbase import Event
from loom.domain.events import AgentFinished, AgentStarted
from loom.domain.models import Delta
from loom.domain.ports import (
    ApprovalAnswer,
    ApprovalPort,
    ApprovalRequest,
    ModelProvider,
)

__all__ = ["AGENT_IDENTITY", "AgentReport", "AgentRunner"]

AGENT_IDENTITY = """\
You are Loom's executor. You work alone on one subtask of a larger goal, in the
workspace, with tools. Nobody will answer questions: decide from what you see.
Rules:
- Do the work with tool calls; look before you change existing files.
- Paths are relative to the workspace root.
- When the subtask is done, answer in one or two sentences with what you did.
  Never claim an action you did not take with a tool: it is checked."""

_SMALL_TOOLS = (
    "read_file",
    "write_file",
    "edit_file",
    "list_directory",
    "shell_execute",
)
_NEVER = ("ask_user", "conversation_recall")
MAX_DELEGATION_DEPTH = 2


@dataclass(frozen=True)
class AgentReport:
    """How an agent's loop ended, and the engine (for follow-up steps)."""

    stream: str
    status: str
    answer: str
    engine: SessionEngine
    events: list[Event]
    """The stream's events up to ``agent.finished``, as recorded."""


class _LateApprovals:
    """Approvals that need the engine's journal, bound once the engine exists."""

    target: ApprovalPort | None = None

    async def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        assert self.target is not None
        return await self.target.ask(request)


class _StreamListener:
    """Forwards an engine's events and deltas to the run's listeners, and
    keeps the events (verification reads them without a trip to the store)."""

    def __init__(self, run: RunContext, stream: str) -> None:
        self._run, self._stream = run, stream
        self.events: list[Event] = []

    def on_delta(self, delta: Delta) -> None:
        for listener in self._run.listeners:
            listener.on_delta(self._stream, delta)

    def on_event(self, event: Event) -> None:
        self.events.append(event)
        self._run.notify(event)


class AgentRunner:
    """Starts agents for one task."""

    def __init__(self, run: RunContext, task_id: str) -> None:
        self._run, self._task_id = run, task_id
        self._children: defaultdict[str, itertools.count[int]] = defaultdict(
            lambda: itertools.count(1)
        )

    async def run(
        self,
        stream: str,
        brief: str,
        provider: ModelProvider,
        *,
        subtask_id: str,
        attempt: int = 1,
        parent: str | None = None,
        force_first: ForcedCall | None = None,
    ) -> AgentReport:
        """Run one agent loop on ``stream`` until it answers or hits a limit."""
        listener = _StreamListener(self._run, stream)
        engine = await self._begin(
            stream, brief, provider, subtask_id, attempt, parent, listener
        )
        engine.force_next = force_first
        outcome = await engine.send(brief)
        engine.journal.note(AgentFinished, status=outcome.status, answer=outcome.answer)
        events = list(listener.events)
        return AgentReport(stream, outcome.status, outcome.answer, engine, events)

    async def delegate(self, parent: str, task: str, context: str) -> str:
        """``delegate_task``: a sub-agent on a child stream of ``parent``."""
        stream = delegate_stream(parent, next(self._children[parent]))
        brief = task if not context else f"{task}\n\nContext:\n{context}"
        subtask_id = parent.split("/")[1] if "/" in parent else "delegate"
        report = await self.run(
            stream,
            brief,
            self._run.models.executor,
            subtask_id=subtask_id,
            parent=parent,
        )
        return f"sub-agent ({report.status}) on {stream}:\n{report.answer}"

    def tools_for(self, provider: ModelProvider, stream: str) -> dict[str, type[Tool]]:
        every = registered_tools()
        if allowed := self._run.settings.tools:
            every = {name: tool for name, tool in every.items() if name in allowed}
        process = self._run.settings.process
        if process is not None and process.tools:
            every = {n: t for n, t in every.items() if n in process.tools}
        if provider.capabilities.context_length <= SMALL_CONTEXT:
            return {name: every[name] for name in _SMALL_TOOLS if name in every}
        tools = {n: t for n, t in every.items() if n not in _NEVER}
        if stream.count("/delegate-") >= MAX_DELEGATION_DEPTH:
            tools.pop("delegate_task", None)
        return tools

    def _identity(self) -> str:
        process = self._run.settings.process
        return process.agent_identity(AGENT_IDENTITY) if process else AGENT_IDENTITY

    def _tool_guidance(self) -> str:
        process = self._run.settings.process
        return process.agent_tool_guidance(TOOL_GUIDANCE) if process else TOOL_GUIDANCE

    async def _begin(
        self,
        stream: str,
        brief: str,
        provider: ModelProvider,
        subtask_id: str,
        attempt: int,
        parent: str | None,
        listener: _StreamListener,
    ) -> SessionEngine:
        run = self._run
        approvals = _LateApprovals()
        deps = SessionDeps(
            log=run.log,
            blobs=run.blobs,
            context=run.adapters.context(stream, 0),
            provider=run.adapters.provider(stream, provider),
            approvals=approvals,
            loom_home=run.loom_home,
            auto_approve=frozenset(run.settings.auto_approve),
            max_loop_iterations=run.settings.max_loop_iterations,
            max_tokens=run.settings.max_tokens,
            temperature=0.0,
            listeners=[listener],
            contexts=run.adapters.context,
            identity=self._identity(),
            tool_guidance=self._tool_guidance(),
            tools=self.tools_for(provider, stream),
            tool_runner=run.adapters.tool_runner(stream),
            delegate=self.delegate,
            subtask_id=subtask_id,
            durable_turns=False,
        )
        opener = (
            AgentStarted,
            {
                "task_id": self._task_id,
                "subtask_id": subtask_id,
                "attempt": attempt,
                "model": provider.name,
                "workspace": str(run.workspace),
                "brief": brief,
                "parent_stream": parent,
            },
        )
        engine = await SessionEngine.begin(deps, stream, run.workspace, opener)
        approvals.target = run.adapters.approvals(stream, engine.journal)
        engine.observations = run.adapters.observations(
            stream, deps.provider, lambda: engine.journal.version + 1
        )
        return engine
