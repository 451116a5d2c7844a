"""Clocks and id generators: real ones, and deterministic ones for tests and replay."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

from loom.domain.eventbase import Context
from loom.domain.ports import Clock, IdGen

__all__ = [
    "DerivedIds",
    "RandomIds",
    "SequentialIds",
    "SteppingClock",
    "SystemClock",
    "context_from",
    "stream_context",
]


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIds:
    """Random (version 4) UUIDs."""

    def new_id(self) -> UUID:
        return uuid.uuid4()


class SteppingClock:
    """A clock that starts at a fixed time and moves on by a fixed step per reading."""

    def __init__(
        self,
        start: datetime = datetime(2026, 1, 1, tzinfo=UTC),
        step: timedelta = timedelta(milliseconds=1),
    ) -> None:
        self._next = start
        self._step = step

    def now(self) -> datetime:
        current = self._next
        self._next += self._step
        return current


class SequentialIds:
    """UUIDs 00000000-...-000000000001, ...002 and so on."""

    def __init__(self, start: int = 1) -> None:
        self._counter = itertools.count(start)

    def new_id(self) -> UUID:
        return UUID(int=next(self._counter))


class DerivedIds:
    """Version-4-shaped UUIDs derived from a seed and a counter.

    Every stream of a run draws its ids from one of these, seeded with the
    stream's name and the version it was opened at. The sequence is then a
    function of what the stream did, so a replay that makes the same decisions
    draws the same ids without anything extra being recorded (ADR 0016).
    """

    def __init__(self, seed: str) -> None:
        self._seed = seed.encode()
        self._counter = itertools.count(1)

    def new_id(self) -> UUID:
        digest = hashlib.sha256(b"%s\0%d" % (self._seed, next(self._counter)))
        return UUID(bytes=digest.digest()[:16], version=4)


def stream_context(stream: str, opened_at: int, clock: Clock) -> Context:
    """The ``Context`` of a stream opened at version ``opened_at``."""
    return Context(now=clock.now, new_id=DerivedIds(f"{stream}@{opened_at}").new_id)


def context_from(clock: Clock, ids: IdGen) -> Context:
    """A domain ``Context`` reading from a clock and an id generator."""
    return Context(now=clock.now, new_id=ids.new_id)
