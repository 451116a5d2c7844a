"""Model calls and tool results answered from a recorded stream."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any, NoReturn

from loom.adapters.models.recording import recorded_calls, replayed_items
from loom.adapters.tools import Tool, ToolContext, ToolResult, ToolRunner
from loom.app.autonomy.settings import ModelInfo
from loom.domain.eventbase import ENVELOPE_FIELDS, Event
from loom.domain.events import (
    ModelCallCompleted,
    ModelCallFailed,
    ToolCallCompleted,
    ToolCallInterrupted,
)
from loom.domain.models import (
    Capabilities,
    ModelError,
    ModelRequest,
    StreamItem,
)

__all__ = [
    "UNKNOWN_CAPABILITIES",
    "LiveTools",
    "Parking",
    "RecordedModelError",
    "ReplayedModel",
    "ReplayedTools",
    "StreamCalls",
    "payload_of",
    "recorded_run",
]

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_NOT_COPIED = {*ENVELOPE_FIELDS, "id", "at"}

UNKNOWN_CAPABILITIES = Capabilities(
    native_tools=False,
    context_length=8192,
    streams_tool_calls=False,
    constrained_output=False,
)
"""What a replay assumes of a model whose abilities were not recorded."""


class Parking:
    """Where replayed work waits when the recording has no more for it.

    A recording ends early where the run was cancelled or killed; the work
    that was in flight then waits here until the replay cancels it the way
    the run was cancelled, or gives up.
    """

    def __init__(self) -> None:
        self.parked: set[str] = set()

    async def park(self, stream: str) -> NoReturn:
        self.parked.add(stream)
        try:
            await asyncio.Future()
        finally:
            self.parked.discard(stream)
        raise AssertionError("unreachable")


class RecordedModelError(ModelError):
    """A model call that failed in the recording fails the same way."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class StreamCalls:
    """The recorded model calls of one stream, answered in order."""

    def __init__(self, stream: str, events: Sequence[Event], parking: Parking) -> None:
        self.stream, self._parking = stream, parking
        self._calls = recorded_calls(events)
        self._next = 0

    async def next(self) -> tuple[ModelCallCompleted, list[str]]:
        if self._next >= len(self._calls):
            await self._parking.park(self.stream)
        call = self._calls[self._next]
        outcome, warnings = call.outcome, call.warnings
        self._next += 1
        if outcome is None or (
            isinstance(outcome, ModelCallFailed) and outcome.error == "cancelled"
        ):
            await self._parking.park(self.stream)
        if isinstance(outcome, ModelCallFailed):
            raise RecordedModelError(outcome.error, outcome.retryable)
        assert outcome is not None
        return outcome, warnings


class ReplayedModel:
    """Stands in for a recorded model: same names and abilities, recorded answers."""

    def __init__(self, info: ModelInfo, calls: StreamCalls) -> None:
        self.name, self.model = info.name, info.model
        self.capabilities: Capabilities = info.capabilities
        self._calls = calls

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        return self._stream()

    async def aclose(self) -> None:
        return None

    async def _stream(self) -> AsyncIterator[StreamItem]:
        outcome, warnings = await self._calls.next()
        for item in replayed_items(outcome, warnings):
            yield item


class _FollowsRecording(ToolRunner):
    """A tool runner for one replayed stream, with its recorded events."""

    def __init__(
        self,
        ctx: ToolContext,
        tools: dict[str, type[Tool]],
        recorded: Sequence[Event],
        parking: Parking,
        stream: str,
    ) -> None:
        super().__init__(ctx, tools)
        self._recorded, self._parking, self._stream = recorded, parking, stream


class ReplayedTools(_FollowsRecording):
    """Answers tool calls with their recorded results and side events.

    What a tool recorded while it ran (snapshots, file changes, reads, to-do
    updates) is recorded again, in order, after drawing as many fresh ids as
    the tool drew (a change id, a question id), so the stream's ids line up.
    ``delegate_task`` is not a result to look up but decision code: it runs.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._known: set[str] = set()
        self._scanned = 0

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        start = self.ctx.journal.version
        if name == "delegate_task" and name in self.tools:
            return await self._delegate(start, arguments)
        side, end = recorded_run(self._recorded, start)
        if not isinstance(end, ToolCallCompleted):
            await self._parking.park(self._stream)
        assert isinstance(end, ToolCallCompleted)
        for index, event in enumerate(side, start=start):
            # The tool drew a fresh id (a change's, a question's) just before
            # recording the event that first names it; draw it the same way.
            for _ in range(self._fresh_ids(index, event)):
                self.ctx.journal.new_id()
            await self.ctx.journal.record(type(event), **payload_of(event))
        return ToolResult(end.result, end.is_error, end.duration_ms, end.full_output)

    async def _delegate(self, start: int, arguments: dict[str, Any]) -> ToolResult:
        # The sub-agent runs again and its report is compared; how long it
        # took is the wall clock's, so the recorded duration stands.
        result = await super().call("delegate_task", arguments)
        _, end = recorded_run(self._recorded, start)
        if isinstance(end, ToolCallCompleted):
            result = replace(result, duration_ms=end.duration_ms)
        return result

    def _fresh_ids(self, index: int, event: Event) -> int:
        for earlier in self._recorded[self._scanned : index]:
            self._known.update(_ids_in(earlier))
        self._scanned = max(self._scanned, index)
        fresh = {
            value
            for key, value in payload_of(event).items()
            if key.endswith("_id") and isinstance(value, str) and _UUID.match(value)
        } - self._known
        return len(fresh)


class LiveTools(_FollowsRecording):
    """Runs the real tools (``--live-tools``), but only for calls the recording
    saw finish: one the run was killed or cancelled in parks where the
    recording ends, as it does when results are replayed."""

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        _, end = recorded_run(self._recorded, self.ctx.journal.version)
        if not isinstance(end, ToolCallCompleted):
            await self._parking.park(self._stream)
        return await super().call(name, arguments)


def recorded_run(
    recorded: Sequence[Event], version: int
) -> tuple[list[Event], Event | None]:
    """What a tool call starting after ``version`` recorded while it ran, and
    how it ended (completed, interrupted, or None: the recording ends first)."""
    side: list[Event] = []
    for event in recorded[version:]:
        if isinstance(event, ToolCallCompleted | ToolCallInterrupted):
            return side, event
        side.append(event)
    return side, None


def payload_of(event: Event) -> dict[str, Any]:
    return {k: v for k, v in event.model_dump().items() if k not in _NOT_COPIED}


def _ids_in(event: Event) -> set[str]:
    found = {str(event.id)}
    for key, value in payload_of(event).items():
        if key.endswith("_id") and isinstance(value, str):
            found.add(value)
    return found
