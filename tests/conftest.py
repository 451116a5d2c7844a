"""Shared fixtures: event store backends on a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from loom.adapters.determinism import SequentialIds, SteppingClock, context_from
from loom.adapters.eventstore.backends import Backend, open_backend
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.adapters.models.llamacpp import default_model_path
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


# --- a real llama.cpp server serving SmolLM2, started once per test run ------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def llama_server() -> Iterator[str]:
    """The base URL (ending in /v1) of a running ``llama_cpp.server``."""
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(default_model_path()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--chat_format",
            "chatml-function-calling",
            "--n_ctx",
            "4096",
            "--verbose",
            "false",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_up(server, base)
        yield base
    finally:
        server.terminate()
        try:
            server.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()


def _wait_until_up(server: subprocess.Popen[str], base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            _, errors = server.communicate()
            pytest.fail(f"llama_cpp.server exited: {errors[-2000:]}")
        try:
            if httpx.get(f"{base}/models", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    pytest.fail("llama_cpp.server did not start within 60 s")
