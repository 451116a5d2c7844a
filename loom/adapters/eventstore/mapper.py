"""The pydantic mapper: domain events to the library's stored events and back.

The stored ``topic`` is the event's dotted wire name and the ``state`` is the
JSON payload without the envelope (stream and version live in their own
columns) but with the ``class_version`` it was written at, so an older payload
can be upcast when it is read.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from eventsourcing.persistence import StoredEvent
from pydantic import ValidationError

from loom.domain import events as _catalog  # registers every event type
from loom.domain.errors import EventDecodeError
from loom.domain.eventbase import ENVELOPE_FIELDS, Event, event_class

__all__ = ["PydanticMapper"]

assert _catalog.Event is Event


class PydanticMapper:
    """Turns Loom events into ``StoredEvent`` objects and back."""

    def __init__(self) -> None:
        # Reading the log decodes many events per stream: the JSON-encoded
        # stream names are cached (bounded) rather than encoded per event.
        self._envelopes: dict[str, bytes] = {}

    def to_stored_event(self, event: Event) -> StoredEvent:
        body = event.model_dump_json(exclude=ENVELOPE_FIELDS).encode()
        # The payload is always a non-empty JSON object (every event has an id
        # and a time), so the version can be spliced in as its first key
        # without parsing and re-serialising it.
        state = b'{"class_version":%d,%s' % (event.class_version, body[1:])
        return StoredEvent(
            originator_id=event.stream,
            originator_version=event.version,
            topic=event.type,
            state=state,
        )

    def to_domain_event(
        self, stream: str, version: int, topic: str, state: bytes
    ) -> Event:
        cls = event_class(topic)
        try:
            if state.startswith(_version_prefix(cls.class_version)):
                return self._decode_current(cls, stream, version, state)
            payload: dict[str, Any] = json.loads(state)
            stored_version = payload.pop("class_version", 1)
            if stored_version != cls.class_version:
                payload = cls.upcast(payload, stored_version)
            payload["stream"] = stream
            payload["version"] = version
            return cls.model_validate(payload)
        except (ValueError, ValidationError, AttributeError) as error:
            raise EventDecodeError(
                f"cannot decode event {stream}@{version} ({topic}): {error}"
            ) from error

    def _decode_current(
        self, cls: type[Event], stream: str, version: int, state: bytes
    ) -> Event:
        # Fast path for payloads already at the current version: swap the
        # version key for the envelope and let pydantic parse the JSON in one
        # pass, which reads the whole log about twice as fast as json.loads.
        rest = state[state.index(b",") + 1 :]
        return cls.model_validate_json(
            b'{"stream":%s,"version":%d,%s' % (self._stream_json(stream), version, rest)
        )

    def _stream_json(self, stream: str) -> bytes:
        encoded = self._envelopes.get(stream)
        if encoded is None:
            if len(self._envelopes) > 10_000:
                self._envelopes.clear()
            encoded = self._envelopes[stream] = json.dumps(stream).encode()
        return encoded


@functools.cache
def _version_prefix(class_version: int) -> bytes:
    return b'{"class_version":%d,' % class_version
