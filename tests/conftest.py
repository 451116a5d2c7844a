"""Shared fixtures: event store backends on a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from loom.adapters.determinism import SequentialIds, SteppingClock, context_from
from loom.adapters.eventstore.backends import Backend, PostgresBackend, SQLiteBackend
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.domain.eventbase import Context

POSTGRES_ENV = "LOOM_TEST_POSTGRES_URL"
_LOOM_TABLES = (
    "loom_events",
    "loom_blobs",
    "stream_index",
    "loom_projection_positions",
)


def postgres_url() -> str:
    """The test server's URL; CI must have one, elsewhere the tests skip."""
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{POSTGRES_ENV} is not set: .ci/run must start PostgreSQL")
    pytest.skip(f"set {POSTGRES_ENV} to run the PostgreSQL contract tests")


def reset_postgres(url: str) -> None:
    """Drop Loom's tables so each test starts from an empty database."""
    with psycopg.connect(url, autocommit=True) as connection:
        for table in _LOOM_TABLES:
            connection.execute(f"DROP TABLE IF EXISTS {table} CASCADE")


@pytest.fixture
def context() -> Context:
    return context_from(SteppingClock(), SequentialIds())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for an empty event store of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'loom.db'}"
    url = postgres_url()
    reset_postgres(url)
    return url


@pytest.fixture
def backend(store_url: str) -> Iterator[Backend]:
    from loom.adapters.eventstore.backends import open_backend

    opened = open_backend(store_url)
    yield opened
    opened.close()


@pytest.fixture
def store(backend: Backend) -> EventStore:
    return EventStore(backend)


@pytest.fixture
async def log(store: EventStore) -> AsyncIterator[AsyncEventLog]:
    opened = AsyncEventLog(store)
    yield opened
    opened._writer.shutdown(wait=True)


__all__ = ["PostgresBackend", "SQLiteBackend", "postgres_url", "reset_postgres"]
