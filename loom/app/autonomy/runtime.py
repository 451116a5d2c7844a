"""What every part of a run shares: stores, models, settings and adapters.

The adapters are the run's seam between deciding and the world. ``loom run``
passes :class:`LiveAdapters`; ``loom replay`` passes adapters that answer from
the recording, so the same decision code runs either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from loom.adapters.determinism import SystemClock, stream_context
from loom.adapters.eventstore.journal import StreamJournal
from loom.adapters.verification.deterministic import DiskProbe
from loom.app.autonomy.approvals import PolicyApprovals
from loom.app.autonomy.settings import RunSettings, control_stream
from loom.app.observations import LiveObservations, Observations
from loom.app.session import ToolRunnerFactory
from loom.domain.eventbase import Context, Event
from loom.domain.events import TaskCancelRequested
from loom.domain.models import Delta
from loom.domain.ports import ApprovalPort, BlobStore, EventLog, ModelProvider
from loom.domain.verification import FileProbe

__all__ = [
    "LiveAdapters",
    "RunAdapters",
    "RunContext",
    "RunListener",
    "RunModels",
]

_CANCEL_POLL = 0.2


class RunListener(Protocol):
    """A live display of a run."""

    def on_event(self, event: Event) -> None: ...
    def on_delta(self, stream: str, delta: Delta) -> None: ...


@dataclass
class RunModels:
    """The providers of a run, by role."""

    planner: ModelProvider
    executor: ModelProvider
    verifiers: list[ModelProvider]
    extractor: ModelProvider | None = None
    escalation: ModelProvider | None = None

    def by_name(self) -> dict[str, ModelProvider]:
        found: dict[str, ModelProvider] = {}
        for provider in (self.planner, self.executor, *self.verifiers):
            found.setdefault(provider.name, provider)
        for extra in (self.extractor, self.escalation):
            if extra is not None:
                found.setdefault(extra.name, extra)
        return found

    def roles(self) -> dict[str, list[str]]:
        roles = {
            "planner": [self.planner.name],
            "executor": [self.executor.name],
            "verifier": [v.name for v in self.verifiers],
        }
        if self.extractor is not None:
            roles["extractor"] = [self.extractor.name]
        if self.escalation is not None:
            roles["escalation"] = [self.escalation.name]
        return roles


class RunAdapters(Protocol):
    """Where a run meets nondeterminism: live, or answered from a recording."""

    def context(self, stream: str, version: int) -> Context: ...
    def provider(self, stream: str, provider: ModelProvider) -> ModelProvider: ...
    def tool_runner(self, stream: str) -> ToolRunnerFactory | None: ...
    def observations(
        self, stream: str, provider: ModelProvider, next_version: Callable[[], int]
    ) -> Observations: ...
    def approvals(self, stream: str, journal: StreamJournal) -> ApprovalPort: ...
    def probe(self) -> FileProbe: ...
    async def next_finished(self, running: Mapping[str, asyncio.Task[Any]]) -> str:
        """The subtask whose attempt the orchestrator handles next."""
        ...

    def cancelled(self) -> asyncio.Event:
        """Set once the task is to stop."""
        ...

    async def open(self, task_id: str) -> None: ...
    async def close(self) -> None: ...


@dataclass
class RunContext:
    """Everything the orchestrator and its attempts share."""

    log: EventLog
    blobs: BlobStore
    workspace: Path
    settings: RunSettings
    models: RunModels
    adapters: RunAdapters
    loom_home: Path | None = None
    listeners: list[RunListener] = field(default_factory=list)

    def notify(self, event: Event) -> None:
        for listener in self.listeners:
            listener.on_event(event)


class LiveAdapters:
    """A real run: the wall clock, the disk, the models, the control stream."""

    def __init__(self, log: EventLog, workspace: Path, settings: RunSettings) -> None:
        self._log, self._workspace, self._settings = log, workspace, settings
        self._clock = SystemClock()
        self._cancel = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    def context(self, stream: str, version: int) -> Context:
        return stream_context(stream, version, self._clock)

    def provider(self, stream: str, provider: ModelProvider) -> ModelProvider:
        return provider

    def tool_runner(self, stream: str) -> ToolRunnerFactory | None:
        return None

    def observations(
        self, stream: str, provider: ModelProvider, next_version: Callable[[], int]
    ) -> Observations:
        return LiveObservations(provider)

    def approvals(self, stream: str, journal: StreamJournal) -> ApprovalPort:
        return PolicyApprovals(
            self._settings.approval_policy, journal, self._log, self._task
        )

    def probe(self) -> FileProbe:
        return DiskProbe(self._workspace)

    async def next_finished(self, running: Mapping[str, asyncio.Task[Any]]) -> str:
        # Several may finish together; the first in launch order goes first.
        await asyncio.wait(running.values(), return_when=asyncio.FIRST_COMPLETED)
        return next(sid for sid, task in running.items() if task.done())

    def cancelled(self) -> asyncio.Event:
        return self._cancel

    async def open(self, task_id: str) -> None:
        self._task = task_id
        self._watcher = asyncio.create_task(self._watch(control_stream(task_id)))

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)

    async def _watch(self, stream: str) -> None:
        # A poll, not a tail: it costs one indexed read per 0.2 s and works the
        # same on SQLite and PostgreSQL, well inside the one-second promise.
        while not self._cancel.is_set():
            events = await self._log.read_stream(stream)
            if any(isinstance(e, TaskCancelRequested) for e in events):
                self._cancel.set()
                return
            await asyncio.sleep(_CANCEL_POLL)
