"""The two databases the event store runs on: SQLite (embedded) and PostgreSQL.

Each backend owns a datastore and an ``ApplicationRecorder`` from the
eventsourcing library (streams with optimistic concurrency and a global,
commit-ordered notification log), plus a blob table in the same database.
Driver errors are translated into Loom's errors here and in the store, once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from eventsourcing.persistence import ApplicationRecorder, PersistenceError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
)
from psycopg.conninfo import conninfo_to_dict

from loom.domain.errors import ConcurrencyError, StoreError

__all__ = [
    "EVENTS_TABLE",
    "SQLITE_SYNCHRONOUS",
    "Backend",
    "PostgresBackend",
    "SQLiteBackend",
    "open_backend",
]

EVENTS_TABLE = "loom_events"
BLOBS_TABLE = "loom_blobs"

SQLITE_SYNCHRONOUS = "NORMAL"
"""In WAL mode, NORMAL makes a commit durable against a killed process (the WAL
is written before commit returns) without an fsync per transaction; only a
power loss can drop the last commits. See docs/adr/0007-sqlite-durability.md."""

SQLITE_LOCK_TIMEOUT_S = 30


class Backend(Protocol):
    """What the event and blob stores need from a database."""

    kind: str
    recorder: ApplicationRecorder
    checks_versions_on_insert: bool

    def put_blob(self, digest: str, size: int, data: bytes) -> None: ...
    def get_blob(self, digest: str) -> bytes | None: ...
    def present_blobs(self, digests: Collection[str]) -> set[str]: ...
    def close(self) -> None: ...


class _DurableSQLitePool(SQLiteConnectionPool):
    """The library's pool, with Loom's durability setting on every connection."""

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        raw: sqlite3.Connection = connection._sqlite_conn
        raw.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
        return connection


class _CheckedSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's recorder, also checking expected versions in the insert's
    own transaction (one transaction per append instead of one per stream)."""

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Insert first: the insert takes the write lock, so the check below
        # reads the latest committed state. Reading first would start a
        # read snapshot that SQLite refuses to upgrade (SQLITE_BUSY_SNAPSHOT)
        # when another process committed in between.
        positions = super()._insert_events(c, stored_events, **kwargs)
        for stream, first in kwargs.get("expected_firsts", {}).items():
            if first > 1 and self._version_below(c, stream, first) != first - 1:
                raise ConcurrencyError(stream, first - 1)
        return positions

    def _version_below(self, c: SQLiteCursor, stream: str, first: int) -> int:
        c.execute(
            f"SELECT MAX(originator_version) FROM {self.events_table_name} "
            "WHERE originator_id=? AND originator_version<?",
            (stream, first),
        )
        found = c.fetchone()[0]
        return int(found or 0)


class _LoomSQLiteDatastore(SQLiteDatastore):
    def __init__(self, db_name: str) -> None:
        super().__init__(
            db_name,
            lock_timeout=SQLITE_LOCK_TIMEOUT_S,
            originator_id_type="text",
        )
        self.pool.close()
        self.pool = _DurableSQLitePool(
            db_name=db_name, lock_timeout=SQLITE_LOCK_TIMEOUT_S
        )


class SQLiteBackend:
    """The embedded default: one SQLite file in WAL mode holds events and blobs."""

    kind = "sqlite"
    checks_versions_on_insert = True

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with _translated():
            self.datastore = _LoomSQLiteDatastore(str(path))
            self.recorder: ApplicationRecorder = _CheckedSQLiteRecorder(
                self.datastore, events_table_name=EVENTS_TABLE
            )
            self.recorder.create_table()
            with self.datastore.transaction(commit=True) as cursor:
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {BLOBS_TABLE} ("
                    "digest TEXT PRIMARY KEY, size INTEGER NOT NULL, "
                    "data BLOB NOT NULL) WITHOUT ROWID"
                )

    def put_blob(self, digest: str, size: int, data: bytes) -> None:
        with _translated(), self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"INSERT OR IGNORE INTO {BLOBS_TABLE} VALUES (?,?,?)",
                (digest, size, data),
            )

    def get_blob(self, digest: str) -> bytes | None:
        with _translated(), self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT data FROM {BLOBS_TABLE} WHERE digest=?", (digest,))
            row = cursor.fetchone()
        return None if row is None else bytes(row[0])

    def present_blobs(self, digests: Collection[str]) -> set[str]:
        wanted = list(digests)
        found: set[str] = set()
        with _translated(), self.datastore.transaction(commit=False) as cursor:
            for chunk in _chunks(wanted, 500):
                marks = ",".join("?" * len(chunk))
                cursor.execute(
                    f"SELECT digest FROM {BLOBS_TABLE} WHERE digest IN ({marks})",
                    chunk,
                )
                found.update(row[0] for row in cursor.fetchall())
        return found

    def close(self) -> None:
        self.datastore.close()


class PostgresBackend:
    """The scale-out path: events and blobs in one PostgreSQL database."""

    kind = "postgresql"
    checks_versions_on_insert = False

    def __init__(self, url: str) -> None:
        self.url = url
        params = conninfo_to_dict(url)
        try:
            self._connect(params)
        except StoreError as error:
            where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
            raise StoreError(
                f"cannot use the PostgreSQL event store at {where} "
                f"(database {params.get('dbname', 'postgres')!r}): {error}. Check that "
                "the server is running and that [store] url in loom.toml is right."
            ) from error

    def _connect(self, params: dict[str, Any]) -> None:
        with _translated():
            self.datastore = PostgresDatastore(
                dbname=str(params.get("dbname", "postgres")),
                host=str(params.get("host", "localhost")),
                port=str(params.get("port", 5432)),
                user=str(params.get("user", "postgres")),
                password=str(params.get("password", "")),
                pool_size=2,
                max_overflow=8,
                originator_id_type="text",
            )
            self.recorder: ApplicationRecorder = PostgresApplicationRecorder(
                self.datastore, events_table_name=EVENTS_TABLE
            )
            self.recorder.create_table()
            with self.datastore.transaction(commit=True) as cursor:
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {BLOBS_TABLE} ("
                    "digest text PRIMARY KEY, size bigint NOT NULL, "
                    "data bytea NOT NULL)"
                )

    def put_blob(self, digest: str, size: int, data: bytes) -> None:
        with _translated(), self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"INSERT INTO {BLOBS_TABLE} VALUES (%s,%s,%s) "
                "ON CONFLICT (digest) DO NOTHING",
                (digest, size, data),
            )

    def get_blob(self, digest: str) -> bytes | None:
        with _translated(), self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT data FROM {BLOBS_TABLE} WHERE digest=%s", (digest,))
            row: Any = cursor.fetchone()
        return None if row is None else bytes(row["data"])

    def present_blobs(self, digests: Collection[str]) -> set[str]:
        with _translated(), self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT digest FROM {BLOBS_TABLE} WHERE digest = ANY(%s)",
                (list(digests),),
            )
            rows: list[Any] = cursor.fetchall()
        return {row["digest"] for row in rows}

    def close(self) -> None:
        self.datastore.close()


def open_backend(url: str) -> Backend:
    """Open ``sqlite:///path/to/file.db`` or ``postgresql://...``."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresBackend(url)
    if url.startswith("sqlite:///"):
        return SQLiteBackend(Path(url.removeprefix("sqlite:///")).expanduser())
    raise StoreError(
        f"unsupported store url {url!r}: use sqlite:///PATH or postgresql://..."
    )


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except PersistenceError as error:
        raise StoreError(f"event store error: {error}") from error
    except sqlite3.Error as error:
        raise StoreError(f"SQLite error: {error}") from error


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
