"""A stream's journal: stamps and appends events one after another."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, TypeVar

from loom.domain.eventbase import Context, Event, StreamCursor
from loom.domain.ports import EventLog

__all__ = ["StreamJournal"]

E = TypeVar("E", bound=Event)


class StreamJournal:
    """Implements ``loom.domain.ports.Journal`` for one stream of an ``EventLog``.

    Appends are serialised by a lock so concurrent tasks of one session or run
    never race each other for the next version. Subclasses hear of each new
    event through ``_recorded``.
    """

    def __init__(
        self, log: EventLog, stream: str, version: int, context: Context
    ) -> None:
        self.stream = stream
        self._log = log
        self._context = context
        self._cursor = StreamCursor(stream, version, context)
        self._lock = asyncio.Lock()
        self._unsure = False

    @classmethod
    async def open(cls, log: EventLog, stream: str, context: Context) -> StreamJournal:
        """A journal continuing ``stream`` from its current version."""
        return cls(log, stream, await log.stream_version(stream), context)

    @property
    def version(self) -> int:
        return self._cursor.version

    def new_id(self) -> str:
        return str(self._context.new_id())

    async def record(self, cls: type[E], **fields: Any) -> E:
        (event,) = await self.record_many((cls, fields))
        return event  # type: ignore[return-value]

    async def record_many(
        self, *specs: tuple[type[Event], dict[str, Any]]
    ) -> list[Event]:
        """Append several new events in one transaction (all or none)."""
        async with self._lock:
            if self._unsure:
                self._cursor.version = await self._log.stream_version(self.stream)
                self._unsure = False
            first = self._cursor.version
            events = [self._cursor.new(cls, **fields) for cls, fields in specs]
            try:
                await self._log.append(events)
            except asyncio.CancelledError:
                # The write is queued and will almost surely commit; the true
                # version is read back before the next awaited event.
                self._unsure = True
                raise
            except BaseException:
                self._cursor.version = first
                raise
        self._recorded(events)
        return events

    def note(
        self, cls: type[E], *, with_blobs: Sequence[bytes] = (), **fields: Any
    ) -> E:
        """Stage the stream's next event without waiting for its commit.

        Only for facts no side effect depends on (a model call starting, a
        verdict): the event commits in order, before anything recorded after
        it, but a killed process may lose it with everything after it.
        """
        # No lock: the cursor and the write queue both take events in call
        # order, so a note made while a record awaits its commit follows it.
        first = self._cursor.version
        event = self._cursor.new(cls, **fields)
        try:
            self._log.stage([event], with_blobs)
        except BaseException:
            self._cursor.version = first
            raise
        self._recorded([event])
        return event

    async def flush(self) -> None:
        """Wait until every event noted or recorded so far has committed."""
        await self._log.flush()

    def _recorded(self, events: list[Event]) -> None:
        """Called with each batch once it is appended or staged."""
