"""The replay's event log: it checks each new event against the recording.

A replay writes to a :class:`ReplayLog` instead of the real store. Each append
is compared with the recorded event at the same stream and version; the first
difference stops the replay (every later append raises too, so code that
catches errors on the way up cannot carry on past it). Reads answer from what
the replay itself wrote, except for streams the run only ever reads (the
control stream other processes write to), which answer from the recording.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from loom.adapters.blobs import digest_of
from loom.domain.eventbase import Event
from loom.domain.events import FileChanged
from loom.domain.ports import BlobStore, Recorded
from loom.domain.replay_diff import EventDifference, compare_events

__all__ = [
    "Diverged",
    "RecordedRun",
    "ReplayBlobs",
    "ReplayLog",
    "ReplayStopped",
    "ReplayUntilReached",
]

Normalizer = Callable[[Event, Event], Event]


class ReplayStopped(BaseException):
    """Ends a replay from deep inside the run.

    A ``BaseException`` on purpose: the run's code turns ordinary exceptions
    into results (a tool's error, a failed turn) and must not absorb this.
    """


class Diverged(ReplayStopped):
    """The replay produced an event different from the recorded one."""

    def __init__(self, difference: EventDifference | None, problem: str) -> None:
        super().__init__(problem)
        self.difference, self.problem = difference, problem


class ReplayUntilReached(ReplayStopped):
    """Every recorded event up to ``--until`` was reproduced."""


@dataclass
class RecordedRun:
    """The recorded streams of a run, with their global positions."""

    streams: dict[str, list[Event]]
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    produced: set[str] = field(default_factory=set)
    """Streams the run writes (compared); the others are only read."""

    def event(self, stream: str, version: int) -> Event | None:
        events = self.streams.get(stream, [])
        return events[version - 1] if 0 < version <= len(events) else None

    def total(self, until: int | None = None) -> int:
        return sum(
            1
            for stream in self.produced
            for event in self.streams.get(stream, [])
            if until is None or self.positions.get((stream, event.version), 0) <= until
        )


class ReplayLog:
    """Implements ``EventLog`` for a replay, comparing as it goes."""

    def __init__(
        self,
        recorded: RecordedRun,
        *,
        until: int | None = None,
        normalize: Normalizer | None = None,
        blobs: ReplayBlobs | None = None,
    ) -> None:
        self.recorded, self._until, self._normalize = recorded, until, normalize
        self.blobs = blobs
        """Where blobs written with events go, for the report's request diff."""
        self.written: dict[str, list[Event]] = {}
        self.file_changes: dict[str, FileChanged] = {}
        """The latest replayed change to each path (source or rename target)."""
        self.matched = 0
        self.divergence: Diverged | None = None
        self.last_append = time.monotonic()
        self._positions = 0
        self._goal = recorded.total(until) if until is not None else None
        self._frozen = False

    def freeze(self, frozen: bool) -> None:
        """While frozen, appends are refused without counting as a divergence:
        work abandoned the way a killed process abandoned it records nothing."""
        self._frozen = frozen

    async def append(
        self, events: Sequence[Event], blobs: Sequence[bytes] = ()
    ) -> list[int]:
        self._keep(blobs)
        return self._compare(events)

    def stage(self, events: Sequence[Event], blobs: Sequence[bytes] = ()) -> None:
        # Compared at once, so a divergence stops the run where it was made.
        self._keep(blobs)
        self._compare(events)

    def _keep(self, blobs: Sequence[bytes]) -> None:
        if self.blobs is not None:
            for data in blobs:
                self.blobs.keep(data)

    async def flush(self) -> None:
        return None

    def _compare(self, events: Sequence[Event]) -> list[int]:
        if self.divergence is not None:
            raise self.divergence
        if self._frozen:
            raise ReplayStopped("the process this work ran in was killed here")
        positions = []
        for event in events:
            self._check(event)
            self.written.setdefault(event.stream, []).append(event)
            if isinstance(event, FileChanged):
                self.file_changes[event.path] = event
                if event.new_path:
                    self.file_changes[event.new_path] = event
            self._positions += 1
            positions.append(self._positions)
        self.last_append = time.monotonic()
        if self._goal is not None and self.matched >= self._goal:
            raise ReplayUntilReached(f"reached position {self._until}")
        return positions

    def _check(self, event: Event) -> None:
        recorded = self.recorded.event(event.stream, event.version)
        if recorded is None:
            self._diverge(None, _extra(event))
        assert recorded is not None
        candidate = self._normalize(recorded, event) if self._normalize else event
        difference = compare_events(recorded, candidate)
        if difference is not None:
            self._diverge(difference, f"event {event.stream} v{event.version} differs")
        if self._counted(event):
            self.matched += 1

    def _counted(self, event: Event) -> bool:
        if self._until is None:
            return True
        position = self.recorded.positions.get((event.stream, event.version), 0)
        return position <= self._until

    def _diverge(self, difference: EventDifference | None, problem: str) -> None:
        self.divergence = Diverged(difference, problem)
        raise self.divergence

    async def read_stream(
        self, stream: str, *, after: int = 0, upto: int | None = None
    ) -> list[Event]:
        source = (
            self.written if stream in self.recorded.produced else self.recorded.streams
        )
        events = source.get(stream, [])
        return [
            e
            for e in events
            if e.version > after and (upto is None or e.version <= upto)
        ]

    async def stream_version(self, stream: str) -> int:
        return len(await self.read_stream(stream))

    async def read_all(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        upto: int | None = None,
        types: Collection[str] = (),
        streams: Collection[str] = (),
    ) -> list[Recorded]:
        found = [
            Recorded(position, event)
            for position, event in enumerate(self._in_order(), start=1)
            if position > after
            and (upto is None or position <= upto)
            and (not types or event.type in types)
            and (not streams or event.stream in streams)
        ]
        return found[:limit]

    async def last_position(self) -> int:
        return self._positions

    async def tail(
        self,
        *,
        after: int = 0,
        types: Collection[str] = (),
        streams: Collection[str] = (),
    ) -> AsyncIterator[Recorded]:
        seen = after
        while True:
            for recorded in await self.read_all(
                after=seen, types=types, streams=streams
            ):
                seen = recorded.position
                yield recorded
            await asyncio.sleep(0.01)

    def _in_order(self) -> list[Event]:
        every = [e for events in self.written.values() for e in events]
        return sorted(every, key=lambda e: (e.at, e.stream, e.version))

    def shortfall(self) -> list[tuple[str, Event]]:
        """Recorded events of produced streams the replay never reproduced."""
        missing = []
        for stream in sorted(self.recorded.produced):
            recorded = self.recorded.streams.get(stream, [])
            made = len(self.written.get(stream, []))
            if made < len(recorded):
                missing.append((stream, recorded[made]))
        return missing


def _extra(event: Event) -> str:
    return (
        f"the replay recorded {event.type} as {event.stream} v{event.version}, "
        "past the end of the recorded stream"
    )


class ReplayBlobs:
    """A blob store that keeps the replay's blobs in memory over the real ones."""

    def __init__(self, real: BlobStore) -> None:
        self._real = real
        self._made: dict[str, bytes] = {}

    async def put(self, data: bytes) -> str:
        return self.keep(data)

    def keep(self, data: bytes) -> str:
        digest = digest_of(data)
        self._made[digest] = data
        return digest

    async def get(self, digest: str) -> bytes:
        if digest in self._made:
            return self._made[digest]
        return await self._real.get(digest)

    async def missing(self, digests: Collection[str]) -> set[str]:
        absent = {d for d in digests if d not in self._made}
        return await self._real.missing(absent) if absent else set()


def by_stream(events: Sequence[Event]) -> Mapping[str, list[Event]]:
    grouped: dict[str, list[Event]] = {}
    for event in events:
        grouped.setdefault(event.stream, []).append(event)
    return grouped
