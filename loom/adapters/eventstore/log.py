"""The async event log: the ``EventLog`` port over the synchronous store.

The eventsourcing library is synchronous, so every write goes to one writer
thread and reads go to worker threads; the event loop never waits on the
database. Writes queue in the order they were made: an awaited ``append`` and
a staged write (``stage``, not waited for) alike. One flush at a time takes
everything queued into one transaction, so writes made while a commit is in
flight share the next one (see ``_writes.py``). Reads first wait for the
writes queued before them, so a process always reads its own writes. Tailing
follows the log from any process: on SQLite by polling the log head every few
milliseconds (and at once when this process appended), on PostgreSQL through
the library's LISTEN/NOTIFY subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from loom.adapters.eventstore._writes import WriteQueue
from loom.adapters.eventstore.mapper import PydanticMapper
from loom.adapters.eventstore.store import EventStore
from loom.domain.eventbase import Event
from loom.domain.ports import Recorded

__all__ = ["AsyncEventLog"]

_TAIL_PAGE = 500


class AsyncEventLog:
    """Implements ``loom.domain.ports.EventLog``."""

    def __init__(self, store: EventStore, *, poll_interval: float = 0.005) -> None:
        self.store = store
        self.poll_interval = poll_interval
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="loom-writer")
        self._wakeups: set[asyncio.Event] = set()
        self._writes = WriteQueue(store, self._writer, self._woken)

    async def append(
        self, events: Sequence[Event], blobs: Sequence[bytes] = ()
    ) -> list[int]:
        return await self._writes.append(events, blobs)

    def stage(self, events: Sequence[Event], blobs: Sequence[bytes] = ()) -> None:
        self._writes.stage(events, blobs)

    async def flush(self) -> None:
        await self._writes.drain()

    async def read_stream(
        self, stream: str, *, after: int = 0, upto: int | None = None
    ) -> list[Event]:
        await self._writes.settled()
        return await asyncio.to_thread(
            self.store.read_stream, stream, after=after, upto=upto
        )

    async def stream_version(self, stream: str) -> int:
        await self._writes.settled()
        return await asyncio.to_thread(self.store.stream_version, stream)

    async def read_all(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        upto: int | None = None,
        types: Collection[str] = (),
        streams: Collection[str] = (),
    ) -> list[Recorded]:
        await self._writes.settled()
        return await asyncio.to_thread(
            self.store.read_all,
            after=after,
            limit=limit,
            upto=upto,
            types=types,
            streams=streams,
        )

    async def last_position(self) -> int:
        await self._writes.settled()
        return await asyncio.to_thread(self.store.last_position)

    def tail(
        self,
        *,
        after: int = 0,
        types: Collection[str] = (),
        streams: Collection[str] = (),
    ) -> AsyncIterator[Recorded]:
        if self.store.backend.kind == "postgresql":
            return self._subscribe(after, types, streams)
        return self._poll(after, types, streams)

    async def close(self) -> None:
        await self._writes.drain()
        self._writer.shutdown(wait=True)
        await asyncio.to_thread(self.store.close)

    def _woken(self) -> None:
        for wakeup in self._wakeups:
            wakeup.set()

    async def _poll(
        self, after: int, types: Collection[str], streams: Collection[str]
    ) -> AsyncIterator[Recorded]:
        wakeup = asyncio.Event()
        self._wakeups.add(wakeup)
        try:
            position = after
            while True:
                # Read the head first: everything up to it is committed, so
                # once it has been scanned no event below it can appear later.
                head = await self.last_position()
                if head > position:
                    page = await self.read_all(
                        after=position,
                        upto=head,
                        limit=_TAIL_PAGE,
                        types=types,
                        streams=streams,
                    )
                    for recorded in page:
                        yield recorded
                        position = recorded.position
                    if len(page) < _TAIL_PAGE:
                        position = head
                    continue
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can
                # swallow a cancellation that lands as the wait finishes, and
                # a cancelled tail would then poll forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_interval):
                        await wakeup.wait()
                wakeup.clear()
        finally:
            self._wakeups.discard(wakeup)

    async def _subscribe(
        self, after: int, types: Collection[str], streams: Collection[str]
    ) -> AsyncIterator[Recorded]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Recorded | BaseException] = asyncio.Queue(1000)
        subscription = self.store.backend.recorder.subscribe(
            gt=after or None, topics=list(types)
        )
        stopped = threading.Event()
        thread = threading.Thread(
            target=_pump,
            args=(subscription, frozenset(streams), queue, loop, stopped),
            name="loom-subscription",
            daemon=True,
        )
        thread.start()
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stopped.set()
            subscription.stop()
            await asyncio.to_thread(thread.join, 5)


def _pump(
    subscription: Any,
    streams: frozenset[str],
    queue: asyncio.Queue[Recorded | BaseException],
    loop: asyncio.AbstractEventLoop,
    stopped: threading.Event,
) -> None:
    """Move notifications from the library's blocking iterator into asyncio."""
    mapper = PydanticMapper()
    try:
        for n in subscription:
            if streams and n.originator_id not in streams:
                continue
            event = mapper.to_domain_event(
                str(n.originator_id), n.originator_version, n.topic, n.state
            )
            _put(queue, loop, stopped, Recorded(position=n.id, event=event))
    except BaseException as error:  # handed to the consumer, which re-raises it
        _put(queue, loop, stopped, error)


def _put(
    queue: asyncio.Queue[Recorded | BaseException],
    loop: asyncio.AbstractEventLoop,
    stopped: threading.Event,
    item: Recorded | BaseException,
) -> None:
    # The queue is bounded so a slow consumer holds the subscription back; the
    # timeout lets the thread notice that the consumer has gone away.
    while not stopped.is_set():
        try:
            future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
        except RuntimeError:  # the event loop is closed
            return
        try:
            future.result(timeout=0.1)
            return
        except TimeoutError:
            future.cancel()
