"""The stream index: one row per session or task stream.

Kind, title and status come from the lifecycle events; the event count, first
and last positions and times from every event. Each batch is reduced in memory
to one change per stream and merged into the rows with a single upsert, so a
rebuild over a long log costs one statement per stream per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loom.domain.events import (
    Event,
    SessionEnded,
    SessionResumed,
    SessionStarted,
    TaskCancelled,
    TaskCancelRequested,
    TaskCompleted,
    TaskCreated,
    TaskFailed,
    TaskStarted,
)
from loom.domain.ports import Recorded, ViewStore, ViewTransaction
from loom.projections.base import Projection

__all__ = ["StreamIndex", "StreamSummary", "get_stream", "list_streams"]

_TITLE_LENGTH = 200

_STATUS_BY_TYPE: dict[str, str] = {
    SessionStarted.type: "active",
    SessionResumed.type: "active",
    SessionEnded.type: "ended",
    TaskCreated.type: "created",
    TaskStarted.type: "running",
    TaskCancelRequested.type: "cancelling",
    TaskCompleted.type: "completed",
    TaskFailed.type: "failed",
    TaskCancelled.type: "cancelled",
}

_COLUMNS = (
    "stream, kind, title, status, event_count, "
    "first_position, last_position, first_at, last_at"
)


@dataclass(frozen=True)
class StreamSummary:
    """One row of the stream index."""

    stream: str
    kind: str
    title: str
    status: str
    event_count: int
    first_position: int
    last_position: int
    first_at: str
    last_at: str


@dataclass
class _Change:
    """What one batch says about one stream."""

    first: Recorded
    last: Recorded
    count: int = 0
    kind: str | None = None
    title: str | None = None
    status: str | None = None

    def add(self, recorded: Recorded) -> None:
        event = recorded.event
        self.last = recorded
        self.count += 1
        self.status = _STATUS_BY_TYPE.get(event.type, self.status)
        if isinstance(event, SessionStarted):
            self.kind, self.title = "session", event.title
        elif isinstance(event, TaskCreated):
            self.kind, self.title = "task", event.goal[:_TITLE_LENGTH]

    def row(self) -> tuple[object, ...]:
        stream = self.first.event.stream
        return (
            stream,
            self.kind or _kind_from_name(stream),
            self.title or "",
            self.status or "",
            self.count,
            self.first.position,
            self.last.position,
            _iso(self.first.event),
            _iso(self.last.event),
            self.kind,
            self.title,
            self.status,
        )


class StreamIndex(Projection):
    """Every stream with its kind, title, status, size and time span."""

    name = "stream_index"
    version = 1
    tables = ("stream_index",)

    def schema(self, dialect: str) -> list[str]:
        return [
            "CREATE TABLE stream_index ("
            "stream TEXT PRIMARY KEY, kind TEXT NOT NULL, title TEXT NOT NULL, "
            "status TEXT NOT NULL, event_count BIGINT NOT NULL, "
            "first_position BIGINT NOT NULL, last_position BIGINT NOT NULL, "
            "first_at TEXT NOT NULL, last_at TEXT NOT NULL)",
            "CREATE INDEX stream_index_last ON stream_index (last_position)",
        ]

    async def apply(self, tx: ViewTransaction, batch: Sequence[Recorded]) -> None:
        changes: dict[str, _Change] = {}
        for recorded in batch:
            stream = recorded.event.stream
            change = changes.get(stream)
            if change is None:
                change = changes[stream] = _Change(first=recorded, last=recorded)
            change.add(recorded)
        await tx.executemany(
            f"INSERT INTO stream_index ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (stream) DO UPDATE SET "
            "kind = COALESCE(?, stream_index.kind), "
            "title = COALESCE(?, stream_index.title), "
            "status = COALESCE(?, stream_index.status), "
            "event_count = stream_index.event_count + excluded.event_count, "
            "last_position = excluded.last_position, "
            "last_at = excluded.last_at",
            [change.row() for change in changes.values()],
        )


async def list_streams(views: ViewStore) -> list[StreamSummary]:
    """Every indexed stream, most recently active first."""
    rows = await views.fetchall(
        f"SELECT {_COLUMNS} FROM stream_index ORDER BY last_position DESC"
    )
    return [_summary(row) for row in rows]


async def get_stream(views: ViewStore, stream: str) -> StreamSummary | None:
    """One stream's row, or None when the index has not seen it."""
    rows = await views.fetchall(
        f"SELECT {_COLUMNS} FROM stream_index WHERE stream = ?", (stream,)
    )
    return _summary(rows[0]) if rows else None


def _summary(row: tuple[object, ...]) -> StreamSummary:
    return StreamSummary(
        stream=str(row[0]),
        kind=str(row[1]),
        title=str(row[2]),
        status=str(row[3]),
        event_count=int(str(row[4])),
        first_position=int(str(row[5])),
        last_position=int(str(row[6])),
        first_at=str(row[7]),
        last_at=str(row[8]),
    )


def _kind_from_name(stream: str) -> str:
    prefix = stream.split("-", 1)[0]
    return prefix if prefix in ("session", "task") else "other"


def _iso(event: Event) -> str:
    return event.at.isoformat()
