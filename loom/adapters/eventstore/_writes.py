"""The write queue behind ``AsyncEventLog``: ordered, batched, often unwaited.

Every write joins one queue in the order it was made, whether its maker awaits
the commit (``append``) or goes on at once (``stage``). One flush task at a
time takes everything queued and commits it on the writer thread: the writes'
blobs first (a blob is always stored before an event names it), then all of
their events in one transaction. Writes made while a commit is in flight wait
and share the next transaction, so a burst of parallel subtasks costs one
hand-off to the writer thread, not one per event.

A transaction is all or none. When a shared one fails, its writes are retried
one by one, so a version clash fails only the write that clashed. A staged
write has no one waiting for it: if it fails, the queue is broken and refuses
every later write with that error, because later events may build on the lost
ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from loom.adapters.blobs import SyncBlobStore
from loom.adapters.eventstore.store import EventStore
from loom.domain.errors import StoreError
from loom.domain.eventbase import Event

__all__ = ["WriteQueue"]

_Outcome = list[int] | Exception


@dataclass
class _Write:
    events: list[Event]
    blobs: tuple[bytes, ...]
    done: asyncio.Future[list[int]] | None
    """Settled with the events' positions; None for a staged write."""


class WriteQueue:
    """Commits writes in order on ``writer``; calls ``committed`` after each."""

    def __init__(
        self, store: EventStore, writer: Executor, committed: Callable[[], None]
    ) -> None:
        self._store, self._writer, self._committed = store, writer, committed
        self._blobs = SyncBlobStore(store.backend)
        self._queue: list[_Write] = []
        self._flusher: asyncio.Task[None] | None = None
        self._broken: StoreError | None = None

    async def append(
        self, events: Sequence[Event], blobs: Sequence[bytes]
    ) -> list[int]:
        done: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._enqueue(_Write(list(events), tuple(blobs), done))
        return await done

    def stage(self, events: Sequence[Event], blobs: Sequence[bytes]) -> None:
        self._enqueue(_Write(list(events), tuple(blobs), None))

    async def settled(self) -> None:
        """Return once every write queued before this call has committed (or
        failed); at once when none is pending."""
        if self._flushing() and self._broken is None:
            # Writes commit in order, so an empty write settles after them all.
            await self.append((), ())

    async def drain(self) -> None:
        """Wait for every queued write; raise if a staged write was lost."""
        while self._flushing():
            flusher = self._ensure_flusher()
            await asyncio.wait([flusher])  # its outcome is the writes', not ours
        if self._broken is not None:
            raise self._broken

    def _flushing(self) -> bool:
        return bool(self._queue) or self._live_flusher() is not None

    def _live_flusher(self) -> asyncio.Task[None] | None:
        flusher = self._flusher
        if flusher is None or flusher.done() or flusher.get_loop().is_closed():
            return None  # a loop that ended mid-flush will never finish it
        return flusher

    def _ensure_flusher(self) -> asyncio.Task[None]:
        flusher = self._live_flusher()
        if flusher is None:
            flusher = asyncio.get_running_loop().create_task(self._flush())
            self._flusher = flusher
        return flusher

    def _enqueue(self, write: _Write) -> None:
        if self._broken is not None:
            raise self._broken
        self._queue.append(write)
        self._ensure_flusher()

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                outcomes = await loop.run_in_executor(
                    self._writer, _commit, self._store, self._blobs, batch
                )
            except BaseException as error:  # the flush itself was cancelled
                self._settle(batch, [_as_exception(error)] * len(batch))
                raise
            self._settle(batch, outcomes)
            self._committed()

    def _settle(self, batch: list[_Write], outcomes: Sequence[_Outcome]) -> None:
        for write, outcome in zip(batch, outcomes, strict=True):
            if write.done is None:
                if isinstance(outcome, Exception) and self._broken is None:
                    self._broken = StoreError(
                        f"an event write that nothing waited for failed, so the "
                        f"log takes no more writes from this process: {outcome}"
                    )
                    self._broken.__cause__ = outcome
            elif write.done.done():
                continue  # its waiter was cancelled; the write stands regardless
            elif isinstance(outcome, Exception):
                write.done.set_exception(outcome)
            else:
                write.done.set_result(outcome)


def _as_exception(error: BaseException) -> Exception:
    if isinstance(error, Exception):
        return error
    return StoreError(f"the write was interrupted: {error!r}")


# --- on the writer thread ----------------------------------------------------


def _commit(
    store: EventStore, blobs: SyncBlobStore, batch: list[_Write]
) -> list[_Outcome]:
    if len(batch) > 1:
        try:
            return _commit_together(store, blobs, batch)
        except Exception:
            pass  # one of them is at fault: find which, one transaction each
    return [_commit_alone(store, blobs, write) for write in batch]


def _commit_together(
    store: EventStore, blobs: SyncBlobStore, batch: list[_Write]
) -> list[_Outcome]:
    for write in batch:
        for data in write.blobs:
            blobs.put(data)
    positions = store.append([event for write in batch for event in write.events])
    outcomes: list[_Outcome] = []
    start = 0
    for write in batch:
        outcomes.append(positions[start : start + len(write.events)])
        start += len(write.events)
    return outcomes


def _commit_alone(store: EventStore, blobs: SyncBlobStore, write: _Write) -> _Outcome:
    try:
        for data in write.blobs:
            blobs.put(data)
        return store.append(write.events)
    except Exception as error:
        return error
