"""Runs projections: catch-up, rebuild, follow and time travel.

The runner reads the log from the projection's tracked position in batches and
applies each batch in one views transaction that also stores the new position,
so a crash between batches loses nothing and repeats nothing. When the stored
version of a projection differs from its class's, its tables are dropped and
rebuilt from the first event.
"""

from __future__ import annotations

from collections.abc import Callable

from loom.domain.ports import EventLog, ViewStore, ViewTransaction
from loom.projections.base import Projection

__all__ = ["POSITIONS_TABLE", "ProjectionRunner", "fold"]

POSITIONS_TABLE = "loom_projection_positions"


class ProjectionRunner:
    """Keeps one projection's rows in step with the log."""

    def __init__(
        self,
        log: EventLog,
        views: ViewStore,
        projection: Projection,
        *,
        batch_size: int = 2000,
    ) -> None:
        self.log = log
        self.views = views
        self.projection = projection
        self.batch_size = batch_size
        self._prepared = False

    async def position(self) -> int:
        """The log position the projection's rows reflect."""
        await self._prepare()
        rows = await self.views.fetchall(
            f"SELECT position FROM {POSITIONS_TABLE} WHERE name = ?",
            (self.projection.name,),
        )
        return int(str(rows[0][0])) if rows else 0

    async def catch_up(self, upto: int | None = None) -> int:
        """Apply every event after the tracked position (up to ``upto``)."""
        position = await self.position()
        while True:
            head = await self.log.last_position()
            target = head if upto is None else min(head, upto)
            if position >= target:
                return position
            position = await self._apply_next_batch(position, target)

    async def rebuild(self, upto: int | None = None) -> int:
        """Drop the projection's rows and fold the log again from the start."""
        await self._prepare()
        async with self.views.transaction() as tx:
            await self._reset(tx)
        return await self.catch_up(upto)

    async def follow(self, on_applied: Callable[[int], None] | None = None) -> None:
        """Catch up, then apply each new event as it lands (runs until cancelled)."""
        position = await self.catch_up()
        async for recorded in self.log.tail(
            after=position, types=self.projection.handles
        ):
            if recorded.position <= position:
                continue  # already applied by the catch-up below
            position = await self.catch_up()
            if on_applied is not None:
                on_applied(position)

    async def _apply_next_batch(self, position: int, target: int) -> int:
        batch = await self.log.read_all(
            after=position,
            upto=target,
            limit=self.batch_size,
            types=self.projection.handles,
        )
        # A short page means everything up to the target was scanned, even
        # events this projection does not handle.
        new_position = batch[-1].position if batch else target
        if len(batch) < self.batch_size:
            new_position = target
        async with self.views.transaction() as tx:
            if batch:
                await self.projection.apply(tx, batch)
            await self._store_position(tx, new_position)
        return new_position

    async def _prepare(self) -> None:
        if self._prepared:
            return
        async with self.views.transaction() as tx:
            await tx.execute(
                f"CREATE TABLE IF NOT EXISTS {POSITIONS_TABLE} ("
                "name TEXT PRIMARY KEY, version INTEGER NOT NULL, "
                "position BIGINT NOT NULL)"
            )
            rows = await tx.fetchall(
                f"SELECT version FROM {POSITIONS_TABLE} WHERE name = ?",
                (self.projection.name,),
            )
            if not rows or int(str(rows[0][0])) != self.projection.version:
                await self._reset(tx)
        self._prepared = True

    async def _reset(self, tx: ViewTransaction) -> None:
        for table in self.projection.tables:
            await tx.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in self.projection.schema(self.views.dialect):
            await tx.execute(statement)
        await self._store_position(tx, 0)

    async def _store_position(self, tx: ViewTransaction, position: int) -> None:
        await tx.execute(
            f"INSERT INTO {POSITIONS_TABLE} (name, version, position) "
            "VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "version = excluded.version, position = excluded.position",
            (self.projection.name, self.projection.version, position),
        )


async def fold(
    log: EventLog, projection: Projection, upto: int, views: ViewStore
) -> ViewStore:
    """Time travel: fold ``projection`` into fresh ``views`` up to position ``upto``.

    ``views`` should be empty (an in-memory SQLite store is typical); the rows it
    then holds are the projection as it stood when event ``upto`` was appended.
    """
    await ProjectionRunner(log, views, projection).rebuild(upto)
    return views
