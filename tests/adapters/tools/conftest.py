"""A real workspace directory, a real SQLite event store and a tool context on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from loom.adapters.blobs import AsyncBlobStore
from loom.adapters.determinism import SequentialIds, SteppingClock, context_from
from loom.adapters.eventstore.backends import SQLiteBackend
from loom.adapters.eventstore.journal import StreamJournal
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.adapters.tools import ToolContext, ToolRunner
from loom.adapters.tools.workspace import Workspace

STREAM = "task-tools"


@pytest.fixture
def workspace_dir(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
async def tool_log(tmp_path: Path) -> AsyncIterator[AsyncEventLog]:
    log = AsyncEventLog(EventStore(SQLiteBackend(tmp_path / "loom.db")))
    yield log
    await log.close()


@pytest.fixture
async def ctx(
    tool_log: AsyncEventLog, workspace_dir: Path, tmp_path: Path
) -> ToolContext:
    context = context_from(SteppingClock(), SequentialIds())
    journal = await StreamJournal.open(tool_log, STREAM, context)
    blobs = AsyncBlobStore(tool_log.store.backend)
    home = tmp_path / "loom-home"
    return ToolContext(
        workspace=Workspace(workspace_dir, loom_home=home),
        journal=journal,
        blobs=blobs,
        loom_home=home,
    )


@pytest.fixture
def runner(ctx: ToolContext) -> ToolRunner:
    return ToolRunner(ctx)
