"""``loom replay SESSION``: a cowork session, turn by turn, from its recording.

The session engine runs again with the recorded user messages, approvals,
model answers and tool results, on a comparing log. A turn that was
cancelled is cancelled at the same point; a turn the process died in is
abandoned there, and a resume is resumed, as they happened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from loom.adapters.tools import Tool, ToolContext, ToolRunner, registered_tools
from loom.app.autonomy.settings import ModelInfo
from loom.app.observations import RecordedObservations
from loom.app.replay.adapters import replay_context
from loom.app.replay.log import RecordedRun, ReplayBlobs, ReplayLog, ReplayStopped
from loom.app.replay.models import (
    UNKNOWN_CAPABILITIES,
    LiveTools,
    Parking,
    ReplayedModel,
    ReplayedTools,
    StreamCalls,
    payload_of,
)
from loom.app.replay.task import (
    ReplayReport,
    live_normalizer,
    report_of,
    restore_before_run,
    scratch_workspace,
    watch_quiescence,
)
from loom.app.session import SessionDeps, SessionEngine
from loom.domain.eventbase import Event
from loom.domain.events import (
    SessionResumed,
    SessionStarted,
    ToolCallApproved,
    ToolCallDenied,
    ToolCallInterrupted,
    TurnCancelled,
    UserMessaged,
)
from loom.domain.models import Capabilities
from loom.domain.ports import ApprovalAnswer, ApprovalRequest, BlobStore, EventLog

__all__ = ["replay_session"]


class _RecordedApprovals:
    """The user's recorded answers, given when the replay asks the same."""

    def __init__(self, events: Sequence[Event], parking: Parking, stream: str) -> None:
        self._events, self._parking, self._stream = events, parking, stream
        self.engine: SessionEngine | None = None

    async def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        assert self.engine is not None
        index = self.engine.journal.version
        answer = self._events[index] if index < len(self._events) else None
        if isinstance(answer, ToolCallDenied):
            return ApprovalAnswer("deny", answer.reason, by=answer.by)
        if isinstance(answer, ToolCallApproved):
            if answer.remember_for_session:
                return ApprovalAnswer("always", by=answer.by)
            return ApprovalAnswer("approve", by=answer.by)
        await self._parking.park(self._stream)


async def replay_session(
    log: EventLog,
    blobs: BlobStore,
    stream: str,
    *,
    until: int | None = None,
    live_tools: bool = False,
) -> ReplayReport:
    """Replay a recorded cowork session and compare every event.

    With ``live_tools`` the tools run again, in a scratch copy of the
    workspace with every file the session changed put back as it was first
    found; the workspace itself is never touched.
    """
    events = await log.read_stream(stream)
    if not events or not isinstance(events[0], SessionStarted):
        raise LookupError(f"no session named {stream!r}")
    recorded = RecordedRun({stream: events}, produced={stream})
    after = 0
    while page := await log.read_all(after=after, limit=5000, streams=[stream]):
        for item in page:
            recorded.positions[(stream, item.event.version)] = item.position
        after = page[-1].position
    original = Path(events[0].workspace)
    with scratch_workspace(original, live_tools) as workspace:
        normalize = None
        if live_tools:
            await restore_before_run(recorded, blobs, workspace)
            normalize = live_normalizer(original, workspace)
        replay_blobs = ReplayBlobs(blobs)
        replay_log = ReplayLog(
            recorded, until=until, normalize=normalize, blobs=replay_blobs
        )
        driver = _Driver(
            recorded, replay_log, replay_blobs, stream, workspace, live_tools
        )
        with contextlib.suppress(ReplayStopped):
            await driver.run()
        return await report_of(replay_log, blobs, driver.blobs, until)


class _Driver:
    """Feeds the recorded session to a fresh engine, event boundary by boundary."""

    def __init__(
        self,
        recorded: RecordedRun,
        log: ReplayLog,
        blobs: ReplayBlobs,
        stream: str,
        workspace: Path,
        live_tools: bool,
    ) -> None:
        self.recorded, self.log, self.blobs, self.stream = recorded, log, blobs, stream
        self.workspace = workspace
        self.live_tools = live_tools
        """Run the real tools (in ``workspace``, a scratch copy) instead of
        answering from the recording."""
        self.events = recorded.streams[stream]
        self.parking = Parking()
        self.approvals = _RecordedApprovals(self.events, self.parking, stream)
        self.deps = self._deps(self.events[0])
        self.engine: SessionEngine | None = None

    async def run(self) -> None:
        started = self.events[0]
        assert isinstance(started, SessionStarted)
        opener = (SessionStarted, payload_of(started))
        self._bind(
            await SessionEngine.begin(self.deps, self.stream, self.workspace, opener)
        )
        for index, event in enumerate(self.events):
            if isinstance(event, UserMessaged):
                await self._turn(index, event.text)
            elif isinstance(event, SessionResumed):
                # A resume may run with other settings (a changed loom.toml,
                # another Loom): the recorded ones apply from here on.
                self.deps = self._with_settings(event.settings)
                self._bind(
                    await SessionEngine.resume(
                        self.deps, self.stream, workspace=self.workspace
                    )
                )

    async def _turn(self, index: int, text: str) -> None:
        engine = self.engine
        assert engine is not None
        end = self._turn_end(index)
        cancelled = any(isinstance(e, TurnCancelled) for e in self.events[index:end])

        def step_in() -> bool:
            if cancelled:
                return engine.cancel()
            if len(self.log.written.get(self.stream, [])) >= end:
                self.log.freeze(True)  # the process died here: record nothing more
                return self._abandon()
            return False

        await watch_quiescence(engine.send(text), self.log, self.parking, step_in)
        self.log.freeze(False)

    def _abandon(self) -> bool:
        assert self.engine is not None
        return self.engine.cancel()

    def _turn_end(self, index: int) -> int:
        """Where the turn's own events end: at the next message, or at the
        calls a resume marked interrupted just before ``session.resumed``."""
        for later in range(index + 1, len(self.events)):
            event = self.events[later]
            if isinstance(event, UserMessaged):
                return later
            if isinstance(event, SessionResumed):
                while later > index and isinstance(
                    self.events[later - 1], ToolCallInterrupted
                ):
                    later -= 1
                return later
        return len(self.events)

    def _bind(self, engine: SessionEngine) -> None:
        self.engine = self.approvals.engine = engine
        engine.observations = RecordedObservations(
            self.events, lambda: engine.journal.version + 1
        )

    def _deps(self, started: Event) -> SessionDeps:
        assert isinstance(started, SessionStarted)
        settings: dict[str, Any] = started.settings
        info = ModelInfo(
            name=started.model,
            model=started.model_id or started.model,
            capabilities=(
                Capabilities.model_validate(started.capabilities)
                if started.capabilities
                else UNKNOWN_CAPABILITIES
            ),
        )
        calls = StreamCalls(self.stream, self.events, self.parking)
        return SessionDeps(
            log=self.log,
            blobs=self.blobs,
            context=replay_context(self.recorded, self.stream, 0),
            provider=ReplayedModel(info, calls),
            approvals=self.approvals,
            auto_approve=frozenset(settings.get("auto_approve", ("read", "compute"))),
            max_loop_iterations=settings.get("max_loop_iterations", 25),
            max_tokens=settings.get("max_tokens", 1024),
            temperature=settings.get("temperature", 0.1),
            contexts=lambda s, v: replay_context(self.recorded, s, v),
            tool_runner=self._tools,
            tools=_offered(settings),
        )

    def _with_settings(self, settings: dict[str, Any]) -> SessionDeps:
        if not settings:
            return self.deps
        return replace(
            self.deps,
            auto_approve=frozenset(
                settings.get("auto_approve", self.deps.auto_approve)
            ),
            max_loop_iterations=settings.get(
                "max_loop_iterations", self.deps.max_loop_iterations
            ),
            max_tokens=settings.get("max_tokens", self.deps.max_tokens),
            temperature=settings.get("temperature", self.deps.temperature),
            tools=_offered(settings),
        )

    def _tools(self, ctx: ToolContext, tools: dict[str, type[Tool]]) -> ToolRunner:
        runner = LiveTools if self.live_tools else ReplayedTools
        return runner(ctx, tools, self.events, self.parking, self.stream)


def _offered(settings: dict[str, Any]) -> dict[str, type[Tool]] | None:
    names = settings.get("tools")
    if names is None:
        return None
    every = registered_tools()
    missing = [n for n in names if n not in every]
    if missing:
        raise LookupError(f"the session used tools this Loom does not have: {missing}")
    return {name: every[name] for name in names}
