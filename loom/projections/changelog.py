"""The changelog: every file change with its before and after blobs, by stream.

Rows are keyed by change id and grouped by stream (task or session) and
subtask; an undo marks the changes it reverted. ``loom changes`` reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loom.domain.events import ChangeReverted, FileChanged
from loom.domain.ports import Recorded, ViewStore, ViewTransaction
from loom.projections.base import Projection

__all__ = ["ChangeRow", "Changelog", "list_changes"]

_COLUMNS = (
    "change_id, stream, subtask_id, path, kind, before, after, new_path, cause, "
    "position, at, reverted"
)


@dataclass(frozen=True)
class ChangeRow:
    """One file change as listed by ``loom changes``."""

    change_id: str
    stream: str
    subtask_id: str | None
    path: str
    kind: str
    before: str | None
    after: str | None
    new_path: str | None
    cause: str
    position: int
    at: str
    reverted: bool


class Changelog(Projection):
    """Every ``file.changed``, and which of them were reverted."""

    name = "changelog"
    version = 1
    handles = frozenset({FileChanged.type, ChangeReverted.type})
    tables = ("changelog",)

    def schema(self, dialect: str) -> list[str]:
        return [
            "CREATE TABLE changelog (change_id TEXT PRIMARY KEY, stream TEXT NOT NULL, "
            "subtask_id TEXT, path TEXT NOT NULL, kind TEXT NOT NULL, before TEXT, "
            "after TEXT, new_path TEXT, cause TEXT NOT NULL, position BIGINT NOT NULL, "
            "at TEXT NOT NULL, reverted INTEGER NOT NULL DEFAULT 0)",
            "CREATE INDEX changelog_stream ON changelog (stream, position)",
            "CREATE INDEX changelog_subtask ON changelog (subtask_id)",
        ]

    async def apply(self, tx: ViewTransaction, batch: Sequence[Recorded]) -> None:
        for recorded in batch:
            event = recorded.event
            if isinstance(event, FileChanged):
                await tx.execute(
                    f"INSERT INTO changelog ({_COLUMNS}) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,0)",
                    _row(event, recorded.position),
                )
            elif isinstance(event, ChangeReverted):
                await tx.execute(
                    "UPDATE changelog SET reverted = 1 WHERE change_id = ?",
                    (event.change_id,),
                )


def _row(event: FileChanged, position: int) -> tuple[object, ...]:
    return (
        event.change_id,
        event.stream,
        event.subtask_id,
        event.path,
        event.kind,
        event.before,
        event.after,
        event.new_path,
        event.cause,
        position,
        event.at.isoformat(),
    )


async def list_changes(
    views: ViewStore, *, stream: str | None = None, change_id: str | None = None
) -> list[ChangeRow]:
    """Changes in log order, all or of one stream, or those whose id starts so."""
    where, params = "", []
    if stream is not None:
        where, params = "WHERE stream = ?", [stream]
    elif change_id is not None:
        where, params = "WHERE change_id LIKE ?", [f"{change_id}%"]
    rows = await views.fetchall(
        f"SELECT {_COLUMNS} FROM changelog {where} ORDER BY position", params
    )
    return [_change(row) for row in rows]


def _change(row: tuple[object, ...]) -> ChangeRow:
    def text(value: object) -> str | None:
        return None if value is None else str(value)

    return ChangeRow(
        change_id=str(row[0]),
        stream=str(row[1]),
        subtask_id=text(row[2]),
        path=str(row[3]),
        kind=str(row[4]),
        before=text(row[5]),
        after=text(row[6]),
        new_path=text(row[7]),
        cause=str(row[8]),
        position=int(str(row[9])),
        at=str(row[10]),
        reverted=bool(int(str(row[11]))),
    )
