"""Recording every model call as events, and answering calls from a recording.

``RecordingProvider`` wraps any provider: before the call it notes
``model.call.started`` with the request's fingerprint and the full request as
a blob; after it, ``model.call.completed`` (or ``failed``), plus one
``model.call.warned`` per warning. All but a failure are staged
(``Journal.note``): they commit while the model works, not before it is asked.
Credentials live only in the HTTP client's headers, never in the request, so
they never reach the log or the blobs.

``ReplayProvider`` answers calls from a recorded stream, in order, and raises
``ReplayMismatchError`` when a new request's fingerprint differs from the
recorded one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from loom.domain.errors import LoomError
from loom.domain.eventbase import Event
from loom.domain.events import (
    ModelCallCompleted,
    ModelCallFailed,
    ModelCallStarted,
    ModelCallWarned,
)
from loom.domain.models import (
    Capabilities,
    Completion,
    ModelError,
    ModelRequest,
    ModelResponseError,
    StreamItem,
    TextDelta,
    ThinkingDelta,
)
from loom.domain.ports import Journal, ModelProvider

__all__ = [
    "RecordedCall",
    "RecordingProvider",
    "ReplayMismatchError",
    "ReplayProvider",
    "recorded_calls",
    "replayed_items",
    "request_document",
]


def request_document(provider: ModelProvider, request: ModelRequest) -> bytes:
    """The bytes stored for a request: which model, and the request itself."""
    # Built around pydantic's own JSON (much faster than json.dumps of a dump,
    # and the request grows with the conversation); the field order is fixed,
    # so equal requests give equal bytes and fingerprints.
    return b'{"model":%s,"model_name":%s,"request":%s}' % (
        json.dumps(provider.model).encode(),
        json.dumps(provider.name).encode(),
        request.model_dump_json().encode(),
    )


def fingerprint_of(document: bytes) -> str:
    """The request's sha256 (hex), which is also its blob's digest."""
    return hashlib.sha256(document).hexdigest()


class RecordingProvider:
    """A ``ModelProvider`` that records each call through ``inner`` in a journal."""

    def __init__(self, inner: ModelProvider, journal: Journal, role: str) -> None:
        self.inner, self.role = inner, role
        self.name, self.model = inner.name, inner.model
        self._journal = journal

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        return self._stream(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def _stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        document = request_document(self.inner, request)
        call_id = self._journal.new_id()
        fingerprint = fingerprint_of(document)  # also the blob's sha256
        # Staged with its request blob: a model call changes nothing, so its
        # start commits while the model works instead of before it is asked.
        self._journal.note(
            ModelCallStarted,
            with_blobs=[document],
            call_id=call_id,
            role=self.role,
            model=self.name,
            request=fingerprint,
            fingerprint=fingerprint,
        )
        try:
            async for item in self.inner.stream(request):
                if isinstance(item, Completion):
                    await self._completed(call_id, item)
                yield item
        except (ModelError, asyncio.CancelledError) as error:
            await self._failed(call_id, error)
            raise

    async def _completed(self, call_id: str, completion: Completion) -> None:
        for warning in completion.warnings:
            self._journal.note(ModelCallWarned, call_id=call_id, warning=warning)
        self._journal.note(
            ModelCallCompleted,
            call_id=call_id,
            text=completion.text,
            thinking=completion.thinking,
            tool_calls=completion.tool_calls,
            usage=completion.usage,
            latency_ms=completion.latency_ms,
            finish_reason=completion.finish_reason,
        )

    async def _failed(self, call_id: str, error: BaseException) -> None:
        cancelled = isinstance(error, asyncio.CancelledError)
        await asyncio.shield(
            self._journal.record(
                ModelCallFailed,
                call_id=call_id,
                error="cancelled" if cancelled else str(error),
                retryable=getattr(error, "retryable", False),
            )
        )


class ReplayMismatchError(LoomError):
    """A replayed run sent a different request than the recorded one."""

    def __init__(
        self, index: int, recorded: ModelCallStarted | None, fingerprint: str
    ) -> None:
        self.index, self.recorded, self.fingerprint = index, recorded, fingerprint
        if recorded is None:
            message = f"model call {index + 1} was never made in the recording"
        else:
            message = (
                f"model call {index + 1} differs from the recording: recorded "
                f"request {recorded.fingerprint[:12]} (blob {recorded.request[:12]}), "
                f"new request {fingerprint[:12]}"
            )
        super().__init__(message)


class ReplayProvider:
    """Answers calls from a recorded stream's model-call events, in order."""

    def __init__(self, provider: ModelProvider, recorded: Sequence[Event]) -> None:
        self.name, self.model = provider.name, provider.model
        self.capabilities = provider.capabilities
        self._provider = provider
        self._calls = recorded_calls(recorded)
        self._next = 0

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        return self._stream(request)

    async def aclose(self) -> None:
        return None

    async def _stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        index = self._next
        if index >= len(self._calls):
            raise ReplayMismatchError(index, None, "")
        started, outcome = self._calls[index].started, self._calls[index].outcome
        self._next += 1
        fingerprint = fingerprint_of(request_document(self._provider, request))
        if fingerprint != started.fingerprint:
            raise ReplayMismatchError(index, started, fingerprint)
        if isinstance(outcome, ModelCallFailed) or outcome is None:
            reason = outcome.error if outcome else "the recording ends mid-call"
            raise ModelResponseError(f"recorded failure: {reason}")
        for item in replayed_items(outcome):
            yield item


def replayed_items(
    outcome: ModelCallCompleted, warnings: Sequence[str] = ()
) -> list[StreamItem]:
    """What a recorded call streams again: its thinking and text as deltas,
    then the completion as it was recorded."""
    items: list[StreamItem] = []
    if outcome.thinking:
        items.append(ThinkingDelta(outcome.thinking))
    if outcome.text:
        items.append(TextDelta(outcome.text))
    items.append(
        Completion(
            text=outcome.text,
            thinking=outcome.thinking,
            tool_calls=outcome.tool_calls,
            usage=outcome.usage,
            finish_reason=outcome.finish_reason,
            latency_ms=outcome.latency_ms,
            warnings=list(warnings),
        )
    )
    return items


@dataclass(frozen=True)
class RecordedCall:
    """One recorded model call: its start, its outcome (None when the
    recording ends mid-call) and the warnings it raised."""

    started: ModelCallStarted
    outcome: ModelCallCompleted | ModelCallFailed | None
    warnings: list[str]


def recorded_calls(events: Sequence[Event]) -> list[RecordedCall]:
    """The model calls of a recorded stream, in the order they were made."""
    starts: dict[str, ModelCallStarted] = {}
    outcomes: dict[str, ModelCallCompleted | ModelCallFailed] = {}
    warnings: dict[str, list[str]] = {}
    for event in events:
        if isinstance(event, ModelCallStarted):
            starts[event.call_id] = event
        elif isinstance(event, ModelCallCompleted | ModelCallFailed):
            outcomes[event.call_id] = event
        elif isinstance(event, ModelCallWarned):
            warnings.setdefault(event.call_id, []).append(event.warning)
    return [
        RecordedCall(start, outcomes.get(call_id), warnings.get(call_id, []))
        for call_id, start in starts.items()
    ]
