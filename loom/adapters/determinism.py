"""Clocks and id generators: real ones, and deterministic ones for tests and replay."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

from loom.domain.eventbase import Context
from loom.domain.ports import Clock, IdGen

__all__ = [
    "RandomIds",
    "SequentialIds",
    "SteppingClock",
    "SystemClock",
    "context_from",
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


def context_from(clock: Clock, ids: IdGen) -> Context:
    """A domain ``Context`` reading from a clock and an id generator."""
    return Context(now=clock.now, new_id=ids.new_id)
