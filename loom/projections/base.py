"""What a materialized projection is.

A projection has a name, a version (bumping it makes the runner drop its tables
and rebuild them from the first event), the event types it handles, the tables
it owns, and an ``apply`` step that folds a batch of events into its rows
inside the runner's transaction. It reads nothing but the events it is given
and its own rows, so rebuilding from zero always gives the same rows as
catching up incrementally.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from loom.domain.ports import Recorded, ViewTransaction

__all__ = ["Projection"]


class Projection(ABC):
    """Base class of every materialized projection.

    Attributes:
        name: a stable identifier, used to track the projection's position.
        version: raise it whenever ``schema`` or ``apply`` changes meaning.
        handles: the event types it folds; empty means every event.
        tables: the tables it owns (dropped on rebuild).
    """

    name: ClassVar[str]
    version: ClassVar[int]
    handles: ClassVar[frozenset[str]] = frozenset()
    tables: ClassVar[tuple[str, ...]]

    @abstractmethod
    def schema(self, dialect: str) -> list[str]:
        """The statements that create the projection's tables and indexes."""

    @abstractmethod
    async def apply(self, tx: ViewTransaction, batch: Sequence[Recorded]) -> None:
        """Fold ``batch`` (in log order) into the projection's rows."""
