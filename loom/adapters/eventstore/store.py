"""The synchronous event store: Loom's events on an eventsourcing recorder.

This is the only place that calls the library's recorder. It checks expected
versions, refuses events that name missing blobs, maps events both ways and
translates the library's errors into Loom's. Async code uses it through
:class:`loom.adapters.eventstore.log.AsyncEventLog`, never directly.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from eventsourcing.persistence import IntegrityError, Notification, PersistenceError

from loom.adapters.eventstore.backends import Backend
from loom.adapters.eventstore.mapper import PydanticMapper
from loom.domain.errors import ConcurrencyError, DanglingBlobError, StoreError
from loom.domain.eventbase import Event
from loom.domain.ports import Recorded

__all__ = ["EventStore"]

_SCAN_PAGE = 1000


class EventStore:
    """Append, read and page through the log on one backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._recorder = backend.recorder
        self._mapper = PydanticMapper()

    def append(self, events: Sequence[Event]) -> list[int]:
        """Append ``events`` in one transaction; return their global positions."""
        if not events:
            return []
        firsts = _first_versions(events)
        self._check_blobs(events)
        if not self.backend.checks_versions_on_insert:
            self._check_expected_versions(firsts)
        stored = [self._mapper.to_stored_event(event) for event in events]
        try:
            positions = self._recorder.insert_events(stored, expected_firsts=firsts)
        except ConcurrencyError:
            raise
        except IntegrityError as error:
            raise self._clash(firsts) from error
        except PersistenceError as error:
            raise StoreError(f"could not append events: {error}") from error
        return [int(p) for p in positions or ()]

    def read_stream(
        self, stream: str, *, after: int = 0, upto: int | None = None
    ) -> list[Event]:
        """Events of one stream with ``after < version <= upto``."""
        try:
            stored = self._recorder.select_events(stream, gt=after or None, lte=upto)
        except PersistenceError as error:
            raise StoreError(f"could not read stream {stream!r}: {error}") from error
        return [
            self._mapper.to_domain_event(stream, s.originator_version, s.topic, s.state)
            for s in stored
        ]

    def stream_version(self, stream: str) -> int:
        """The last version of ``stream``, 0 when it has no events."""
        try:
            last = self._recorder.select_events(stream, desc=True, limit=1)
        except PersistenceError as error:
            raise StoreError(f"could not read stream {stream!r}: {error}") from error
        return last[0].originator_version if last else 0

    def read_all(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        upto: int | None = None,
        types: Collection[str] = (),
        streams: Collection[str] = (),
    ) -> list[Recorded]:
        """Up to ``limit`` events with ``after < position <= upto``, filtered.

        A stream filter is applied before decoding, paging on until ``limit``
        matches are found or the log (or ``upto``) runs out.
        """
        wanted = frozenset(streams)
        found: list[Recorded] = []
        while len(found) < limit:
            page_size = limit - len(found) if not wanted else _SCAN_PAGE
            page = self._select(after, page_size, upto, types)
            for n in page:
                if not wanted or n.originator_id in wanted:
                    found.append(self._decode(n))
                    if len(found) == limit:
                        break
            if len(page) < page_size:
                break
            after = page[-1].id
        return found

    def last_position(self) -> int:
        """The position of the newest event (0 for an empty log)."""
        try:
            return int(self._recorder.max_notification_id() or 0)
        except PersistenceError as error:
            raise StoreError(f"could not read the log: {error}") from error

    def close(self) -> None:
        self.backend.close()

    def _select(
        self, after: int, limit: int, upto: int | None, types: Collection[str]
    ) -> Sequence[Notification]:
        try:
            return self._recorder.select_notifications(
                start=after,
                limit=limit,
                stop=upto,
                topics=list(types),
                inclusive_of_start=False,
            )
        except PersistenceError as error:
            raise StoreError(f"could not read the log: {error}") from error

    def _decode(self, n: Notification) -> Recorded:
        event = self._mapper.to_domain_event(
            str(n.originator_id), n.originator_version, n.topic, n.state
        )
        return Recorded(position=n.id, event=event)

    def _check_blobs(self, events: Sequence[Event]) -> None:
        refs = {ref for event in events for ref in event.blob_refs()}
        if refs:
            missing = refs - self.backend.present_blobs(refs)
            if missing:
                raise DanglingBlobError(sorted(missing))

    def _check_expected_versions(self, firsts: dict[str, int]) -> None:
        # Versions only ever grow by contiguous appends, so a stream found at
        # exactly first-1 here can only have grown further by the time we
        # insert, and then the primary key clashes: no gap can ever appear.
        for stream, first in firsts.items():
            if first > 1 and self.stream_version(stream) != first - 1:
                raise ConcurrencyError(stream, first - 1)

    def _clash(self, firsts: dict[str, int]) -> ConcurrencyError:
        for stream, first in firsts.items():
            if self.stream_version(stream) != first - 1:
                return ConcurrencyError(stream, first - 1)
        stream, first = next(iter(firsts.items()))
        return ConcurrencyError(stream, first - 1)


def _first_versions(events: Sequence[Event]) -> dict[str, int]:
    """Each stream's first version in the batch; versions must be consecutive."""
    firsts: dict[str, int] = {}
    lasts: dict[str, int] = {}
    for event in events:
        previous = lasts.get(event.stream)
        if previous is not None and event.version != previous + 1:
            raise ValueError(
                f"events for stream {event.stream!r} must have consecutive "
                f"versions: {event.version} follows {previous}"
            )
        firsts.setdefault(event.stream, event.version)
        lasts[event.stream] = event.version
    return firsts
