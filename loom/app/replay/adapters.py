"""The run's adapters during a replay: everything answered from the recording."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from loom.adapters.determinism import DerivedIds
from loom.adapters.eventstore.journal import StreamJournal
from loom.adapters.tools import Tool, ToolContext, ToolRunner
from loom.adapters.verification.deterministic import DiskProbe
from loom.app.autonomy.approvals import PolicyApprovals
from loom.app.autonomy.settings import ModelInfo, RunSettings
from loom.app.observations import Observations, RecordedObservations
from loom.app.replay.log import RecordedRun, ReplayLog
from loom.app.replay.models import (
    LiveTools,
    Parking,
    ReplayedModel,
    ReplayedTools,
    StreamCalls,
)
from loom.app.session import ToolRunnerFactory
from loom.domain.eventbase import Context, Event
from loom.domain.events import (
    Escalated,
    FileChanged,
    FileSnapshotted,
    SubtaskCompleted,
    SubtaskFailed,
    SubtaskRetried,
)
from loom.domain.ports import ApprovalPort, BlobStore, ModelProvider
from loom.domain.verification import FileProbe

__all__ = ["LogProbe", "ReplayAdapters", "ReplayClock", "replay_context"]


class ReplayClock:
    """The recorded times of one stream's events, one per reading, in order."""

    def __init__(self, events: Sequence[Event], start: int) -> None:
        self._times = [e.at for e in events[start:]]
        self._next = 0

    def now(self) -> datetime:
        if self._next < len(self._times):
            self._next += 1
            return self._times[self._next - 1]
        last = self._times[-1] if self._times else datetime(2000, 1, 1)
        self._next += 1
        return last + timedelta(microseconds=self._next)


def replay_context(recorded: RecordedRun, stream: str, version: int) -> Context:
    """A stream's clock and ids as the run had them from ``version`` on."""
    clock = ReplayClock(recorded.streams.get(stream, []), version)
    return Context(now=clock.now, new_id=DerivedIds(f"{stream}@{version}").new_id)


class LogProbe:
    """Workspace files as the run saw them, rebuilt from events.

    A file the replay has changed reads as its latest replayed content; one
    the run changed later reads as it was before the run's first change; any
    other file was never touched by the run and is read from the disk.
    """

    def __init__(
        self,
        log: ReplayLog,
        blobs: BlobStore,
        before: dict[str, str | None],
        workspace: Path,
    ) -> None:
        self._log, self._blobs, self._disk = log, blobs, DiskProbe(workspace)
        self._before = before

    async def read(self, path: str) -> bytes | None:
        changed, content = await self._replayed(path)
        if changed:
            return content
        if path in self._before:
            blob = self._before[path]
            return await self._blobs.get(blob) if blob else None
        return await self._disk.read(path)

    async def _replayed(self, path: str) -> tuple[bool, bytes | None]:
        latest = self._log.file_changes.get(path)
        if latest is None:
            return False, None
        gone = latest.kind == "delete" or (
            latest.kind == "rename" and latest.path == path
        )
        if gone or latest.after is None:
            return True, None
        return True, await self._blobs.get(latest.after)


def first_before(recorded: RecordedRun) -> dict[str, str | None]:
    firsts: dict[str, tuple[datetime, str | None]] = {}
    for events in recorded.streams.values():
        for event in events:
            if isinstance(event, FileSnapshotted | FileChanged):
                seen = firsts.get(event.path)
                if seen is None or event.at < seen[0]:
                    firsts[event.path] = (event.at, event.before)
    return {path: before for path, (_, before) in firsts.items()}


class ReplayAdapters:
    """Implements ``RunAdapters`` from a recording."""

    def __init__(
        self,
        recorded: RecordedRun,
        log: ReplayLog,
        blobs: BlobStore,
        workspace: Path,
        settings: RunSettings,
        *,
        live_tools: bool = False,
    ) -> None:
        self.recorded, self._log, self._blobs = recorded, log, blobs
        self._workspace, self._settings = workspace, settings
        self._live_tools = live_tools
        self.parking = Parking()
        self._calls: dict[str, StreamCalls] = {}
        self._cancel = asyncio.Event()
        self._order: list[str] = []
        self._task = ""
        self._before: dict[str, str | None] | None = None

    # --- RunAdapters ------------------------------------------------------

    def context(self, stream: str, version: int) -> Context:
        return replay_context(self.recorded, stream, version)

    def provider(self, stream: str, provider: ModelProvider) -> ModelProvider:
        info = self._settings.models.get(provider.name) or ModelInfo.of(provider)
        return ReplayedModel(info, self._stream_calls(stream))

    def tool_runner(self, stream: str) -> ToolRunnerFactory | None:
        events = self.recorded.streams.get(stream, [])
        runner = LiveTools if self._live_tools else ReplayedTools

        def build(ctx: ToolContext, tools: dict[str, type[Tool]]) -> ToolRunner:
            return runner(ctx, tools, events, self.parking, stream)

        return build

    def observations(
        self, stream: str, provider: ModelProvider, next_version: Callable[[], int]
    ) -> Observations:
        return RecordedObservations(self.recorded.streams.get(stream, []), next_version)

    def approvals(self, stream: str, journal: StreamJournal) -> ApprovalPort:
        return PolicyApprovals(
            self._settings.approval_policy, journal, self._log, self._task
        )

    def probe(self) -> FileProbe:
        if self._live_tools:
            return DiskProbe(self._workspace)
        if self._before is None:
            self._before = first_before(self.recorded)
        return LogProbe(self._log, self._blobs, self._before, self._workspace)

    async def next_finished(self, running: Mapping[str, asyncio.Task[Any]]) -> str:
        # The recorded task stream says which attempt was handled next.
        if not self._order:
            await self.parking.park(self._task)
        subtask_id = self._order.pop(0)
        if subtask_id not in running:
            await self.parking.park(self._task)
        await asyncio.wait([running[subtask_id]])
        return subtask_id

    def cancelled(self) -> asyncio.Event:
        return self._cancel

    async def open(self, task_id: str) -> None:
        self._task = task_id
        settled = (SubtaskCompleted, SubtaskRetried, Escalated, SubtaskFailed)
        self._order = [
            e.subtask_id
            for e in self.recorded.streams.get(task_id, [])
            if isinstance(e, settled)
        ]

    async def close(self) -> None:
        return None

    def _stream_calls(self, stream: str) -> StreamCalls:
        if stream not in self._calls:
            events = self.recorded.streams.get(stream, [])
            self._calls[stream] = StreamCalls(stream, events, self.parking)
        return self._calls[stream]
