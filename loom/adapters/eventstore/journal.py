"""A stream's journal: stamps and appends events one after another."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from loom.domain.eventbase import Context, Event, StreamCursor
from loom.domain.ports import EventLog

__all__ = ["StreamJournal"]

E = TypeVar("E", bound=Event)


class StreamJournal:
    """Implements ``loom.domain.ports.Journal`` for one stream of an ``EventLog``.

    Appends are serialised by a lock so concurrent tasks of one session or run
    never race each other for the next version.
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
            except BaseException:
                # A cancelled await may still have committed on the writer
                # thread, so the true version is read back before the next event.
                self._cursor.version = first
                self._unsure = True
                raise
            return events
