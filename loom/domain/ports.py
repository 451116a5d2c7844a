"""The ports: what Loom's core needs from the outside world, as Protocols.

Adapters in :mod:`loom.adapters` implement them; the app wires them together.
Later capabilities add the model, tool and user-input ports here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar
from uuid import UUID

from loom.domain.eventbase import Event
from loom.domain.models import Capabilities, ModelRequest, StreamItem

E = TypeVar("E", bound=Event)

__all__ = [
    "ApprovalAnswer",
    "ApprovalPort",
    "ApprovalRequest",
    "BlobStore",
    "Clock",
    "EventLog",
    "IdGen",
    "Journal",
    "ModelProvider",
    "QuestionPort",
    "Recorded",
    "ViewStore",
    "ViewTransaction",
]


@dataclass(frozen=True, slots=True)
class Recorded:
    """An event with its position in the global log (1-based, increasing)."""

    position: int
    event: Event


class Clock(Protocol):
    """The source of time (replay supplies the recorded times)."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class IdGen(Protocol):
    """The source of fresh ids (replay supplies the recorded ids)."""

    def new_id(self) -> UUID:
        """A new unique id."""
        ...


class EventLog(Protocol):
    """The append-only log of every event: Loom's single source of truth."""

    async def append(
        self, events: Sequence[Event], blobs: Sequence[bytes] = ()
    ) -> list[int]:
        """Append events atomically and return their global positions.

        Each event carries its stream and version; the first event of a stream in
        the batch must directly follow that stream's current version (the
        expected version), else ``ConcurrencyError`` is raised and nothing is
        written. Blobs the events name must be in the blob store already or be
        among ``blobs``, which are stored first.
        """
        ...

    def stage(self, events: Sequence[Event], blobs: Sequence[bytes] = ()) -> None:
        """Queue ``events`` (and first the ``blobs`` they name) for appending,
        without waiting for the commit.

        Writes commit in the order they were staged or appended, each batch
        all or none, so an ``append`` that returns has also committed
        everything staged before it, and reads see everything staged before
        them. Checks that need the database happen at the commit; if a staged
        write fails there, the log refuses every later write.
        """
        ...

    async def flush(self) -> None:
        """Wait until every write made so far has committed; raise the error
        of a staged write that failed."""
        ...

    async def read_stream(
        self, stream: str, *, after: int = 0, upto: int | None = None
    ) -> list[Event]:
        """Events of one stream with ``after < version <= upto``, in order."""
        ...

    async def stream_version(self, stream: str) -> int:
        """The stream's last version (0 when it has no events)."""
        ...

    async def read_all(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        upto: int | None = None,
        types: Collection[str] = (),
        streams: Collection[str] = (),
    ) -> list[Recorded]:
        """Events in global order with ``after < position <= upto``, filtered."""
        ...

    async def last_position(self) -> int:
        """The position of the newest event (0 for an empty log)."""
        ...

    def tail(
        self,
        *,
        after: int = 0,
        types: Collection[str] = (),
        streams: Collection[str] = (),
    ) -> AsyncIterator[Recorded]:
        """Every event after ``after``, then each new one as it lands, forever."""
        ...


class BlobStore(Protocol):
    """Content-addressed, compressed, deduplicated storage for large payloads."""

    async def put(self, data: bytes) -> str:
        """Store ``data`` durably and return its sha256 (hex)."""
        ...

    async def get(self, digest: str) -> bytes:
        """The bytes stored under ``digest`` (``KeyError`` when absent)."""
        ...

    async def missing(self, digests: Collection[str]) -> set[str]:
        """Which of ``digests`` the store does not hold."""
        ...


class ViewTransaction(Protocol):
    """One transaction on the views database; SQL uses ``?`` placeholders."""

    async def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        """Run one statement."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one statement for each row of parameters."""
        ...

    async def fetchall(
        self, sql: str, params: Sequence[object] = ()
    ) -> list[tuple[object, ...]]:
        """Run a query and return its rows."""
        ...


class ViewStore(Protocol):
    """The disposable database that materialized projections live in."""

    dialect: str
    """``sqlite`` or ``postgresql``, for the rare statement that differs."""

    def transaction(self) -> AbstractAsyncContextManager[ViewTransaction]:
        """A transaction that commits on normal exit and rolls back on error."""
        ...

    async def fetchall(
        self, sql: str, params: Sequence[object] = ()
    ) -> list[tuple[object, ...]]:
        """Run a read-only query outside any explicit transaction."""
        ...

    async def close(self) -> None:
        """Release the connection."""
        ...


class Journal(Protocol):
    """Appends new events to one stream (a session or a task), in order."""

    stream: str

    @property
    def version(self) -> int:
        """The stream's version after the last event this journal appended."""
        ...

    def new_id(self) -> str:
        """A fresh id from the stream's ``IdGen`` (replayable)."""
        ...

    async def record(self, cls: type[E], **fields: Any) -> E:
        """Create the stream's next event of class ``cls`` and append it."""
        ...

    def note(
        self, cls: type[E], *, with_blobs: Sequence[bytes] = (), **fields: Any
    ) -> E:
        """Create the stream's next event and stage it (``EventLog.stage``):
        for facts that no side effect waits on, such as a model call starting.
        The next ``record`` commits it first."""
        ...

    async def flush(self) -> None:
        """Wait until every event of this journal so far has committed."""
        ...


@dataclass(frozen=True)
class ApprovalRequest:
    """A tool call waiting for a human's yes or no."""

    call_id: str
    tool: str
    arguments: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class ApprovalAnswer:
    """``approve`` once, ``deny`` (the reason goes to the model), or ``always``
    approve this tool for the rest of the session."""

    decision: Literal["approve", "deny", "always"]
    reason: str = ""
    by: Literal["policy", "user"] = "user"


class ApprovalPort(Protocol):
    """Whoever answers approval requests: the terminal, the TUI, the API."""

    async def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        """Wait for the answer to one request."""
        ...


class QuestionPort(Protocol):
    """Whoever answers the model's questions to the user (``ask_user``)."""

    async def ask(self, question: str) -> str:
        """Wait for the user's answer."""
        ...


class ModelProvider(Protocol):
    """One configured model behind one backend (Ollama, OpenAI-compatible, ...)."""

    name: str
    """The model's name in ``loom.toml`` (``[models.NAME]``)."""
    model: str
    """The backend's own model id."""

    @property
    def capabilities(self) -> Capabilities:
        """What the backend can do."""
        ...

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        """Yield deltas as they arrive, then exactly one ``Completion``.

        Raises ``ModelError`` subclasses; retryable failures before the first
        delta have already been retried with backoff.
        """
        ...

    async def aclose(self) -> None:
        """Release connections or the loaded model."""
        ...
