"""Views in PostgreSQL, for when the event store is PostgreSQL too."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import psycopg

__all__ = ["PostgresViewStore"]


def _dialect(sql: str) -> str:
    """Projections write ``?`` placeholders; psycopg wants ``%s``."""
    return sql.replace("%", "%%").replace("?", "%s")


class _Transaction:
    def __init__(self, connection: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        self._connection = connection

    async def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        await self._connection.execute(_dialect(sql), params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        async with self._connection.cursor() as cursor:
            await cursor.executemany(_dialect(sql), rows)

    async def fetchall(
        self, sql: str, params: Sequence[object] = ()
    ) -> list[tuple[object, ...]]:
        async with self._connection.cursor() as cursor:
            await cursor.execute(_dialect(sql), params)
            return list(await cursor.fetchall())


class PostgresViewStore:
    """Implements ``loom.domain.ports.ViewStore`` on one psycopg connection."""

    dialect = "postgresql"

    def __init__(self, connection: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        self._connection = connection

    @classmethod
    async def connect(cls, url: str) -> PostgresViewStore:
        connection = await psycopg.AsyncConnection.connect(url, autocommit=True)
        return cls(connection)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Transaction]:
        async with self._connection.transaction():
            yield _Transaction(self._connection)

    async def fetchall(
        self, sql: str, params: Sequence[object] = ()
    ) -> list[tuple[object, ...]]:
        return await _Transaction(self._connection).fetchall(sql, params)

    async def close(self) -> None:
        await self._connection.close()
