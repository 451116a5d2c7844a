"""A child process running a session whose model asks for a long shell command.

Usage: python session_child.py DB_PATH WORKSPACE

Prints the session's stream id, then runs the turn; the parent kills this
process with SIGKILL while the tool is running.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from loom.adapters.blobs import AsyncBlobStore
from loom.adapters.determinism import (
    RandomIds,
    SystemClock,
    context_from,
    stream_context,
)
from loom.adapters.eventstore.backends import SQLiteBackend
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.adapters.models.scripted import ScriptedProvider
from loom.app.session import SessionDeps, SessionEngine
from loom.domain.events import ToolCall
from loom.domain.models import Completion
from loom.domain.ports import ApprovalAnswer, ApprovalRequest


class Yes:
    async def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        return ApprovalAnswer("approve")


async def main(db: Path, workspace: Path) -> None:
    log = AsyncEventLog(EventStore(SQLiteBackend(db)))
    call = ToolCall(
        id="slow-1", name="shell_execute", arguments={"command": "sleep 21.5"}
    )
    deps = SessionDeps(
        log=log,
        blobs=AsyncBlobStore(log.store.backend),
        context=context_from(SystemClock(), RandomIds()),
        provider=ScriptedProvider([Completion(tool_calls=[call])]),
        approvals=Yes(),
        contexts=lambda stream, version: stream_context(stream, version, SystemClock()),
    )
    engine = await SessionEngine.start(deps, workspace)
    print(engine.stream, flush=True)
    await engine.send("run the slow command")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
