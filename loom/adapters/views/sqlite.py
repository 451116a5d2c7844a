"""The default views database: a SQLite file (or memory) through aiosqlite."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from loom.domain.errors import StoreError

__all__ = ["SQLiteViewStore"]


class _Transaction:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    async def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        await self._connection.execute(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        await self._connection.executemany(sql, rows)

    async def fetchall(
        self, sql: str, params: Sequence[object] = ()
    ) -> list[tuple[object, ...]]:
        async with self._connection.execute(sql, params) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]


def _prepare_file(path: str) -> str:
    file = Path(path).expanduser()
    file.parent.mkdir(parents=True, exist_ok=True)
    return str(file)


class SQLiteViewStore:
    """Implements ``loom.domain.ports.ViewStore`` on one aiosqlite connection."""

    dialect = "sqlite"

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    @classmethod
    async def connect(cls, path: str) -> SQLiteViewStore:
        if path != ":memory:":
            path = await asyncio.to_thread(_prepare_file, path)
        connection = await aiosqlite.connect(path, isolation_level=None)
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.execute("PRAGMA synchronous=NORMAL")
        await connection.execute("PRAGMA busy_timeout=30000")
        return cls(connection)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Transaction]:
        try:
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise StoreError(f"views database: {error}") from error
        try:
            yield _Transaction(self._connection)
        except BaseException:
            await self._connection.rollback()
            raise
        await self._connection.commit()

    async def fetchall(
        self, sql: str, params: Sequence[object] = ()
    ) -> list[tuple[object, ...]]:
        return await _Transaction(self._connection).fetchall(sql, params)

    async def close(self) -> None:
        await self._connection.close()
