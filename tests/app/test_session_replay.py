"""Replaying cowork sessions: turns, approvals, cancellation, a kill and a resume."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

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
from loom.app import session as session_module
from loom.app.replay.session import replay_session
from loom.app.session import SessionDeps, SessionEngine
from loom.domain.models import Completion
from loom.domain.ports import ApprovalAnswer
from loom.domain.prompt import PromptParts
from tests.app.test_session import ScriptedApprovals, answer, calls
from tests.app.test_session_e2e import kill_mid_tool


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[AsyncEventLog]:
    opened = AsyncEventLog(EventStore(SQLiteBackend(tmp_path / "loom.db")))
    yield opened
    await opened.close()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "notes.txt").write_text("remember the milk\n")
    return root


def deps(
    log: AsyncEventLog, answers: list[Completion], approvals: ScriptedApprovals
) -> SessionDeps:
    return SessionDeps(
        log=log,
        blobs=AsyncBlobStore(log.store.backend),
        context=context_from(SystemClock(), RandomIds()),
        provider=ScriptedProvider(answers, delay=0.01),
        approvals=approvals,
        contexts=lambda stream, version: stream_context(stream, version, SystemClock()),
    )


async def test_turns_with_reads_writes_and_answers_replay_as_identical_live_or_not(
    log: AsyncEventLog, workspace: Path
) -> None:
    answers = [
        calls(("read_file", {"path": "notes.txt"})),
        calls(("write_file", {"path": "todo.txt", "content": "milk\n"})),
        answer("Noted."),
        calls(("write_file", {"path": "todo.txt", "content": "eggs\n"})),
        answer("Changed."),
    ]
    approvals = ScriptedApprovals(
        ApprovalAnswer("approve"), ApprovalAnswer("deny", "no")
    )
    engine = await SessionEngine.start(deps(log, answers, approvals), workspace)
    await engine.send("read my notes and make a todo")
    await engine.send("now eggs")
    recorded = len(await log.read_stream(engine.stream))

    (workspace / "todo.txt").write_text("changed since the session\n")
    blobs = AsyncBlobStore(log.store.backend)

    report = await replay_session(log, blobs, engine.stream)
    live = await replay_session(log, blobs, engine.stream, live_tools=True)

    assert report.text() == f"identical: {recorded} events"
    # Live, the write ran again in a scratch copy restored to before the
    # session; the workspace itself kept what happened since.
    assert live.text() == f"identical: {recorded} events"
    assert (workspace / "todo.txt").read_text() == "changed since the session\n"


async def test_live_tools_report_a_tool_that_now_acts_differently(
    log: AsyncEventLog, workspace: Path
) -> None:
    answers = [calls(("read_file", {"path": "notes.txt"})), answer("Milk.")]
    engine = await SessionEngine.start(
        deps(log, answers, ScriptedApprovals()), workspace
    )
    await engine.send("what do my notes say?")
    # The read's file was never changed by the session, so the scratch copy
    # keeps today's content and the re-executed read returns something else.
    (workspace / "notes.txt").write_text("buy bread\n")

    live = await replay_session(
        log, AsyncBlobStore(log.store.backend), engine.stream, live_tools=True
    )

    assert not live.identical
    assert live.difference is not None
    assert live.difference.recorded_type in {"file.read", "tool.call.completed"}


async def test_a_cancelled_turn_replays_as_cancelled_at_the_same_point(
    log: AsyncEventLog, workspace: Path
) -> None:
    slow = calls(("shell_execute", {"command": "sleep 20"}))
    approvals = ScriptedApprovals(ApprovalAnswer("approve"))
    engine = await SessionEngine.start(
        deps(log, [slow, answer("after")], approvals), workspace
    )
    turn = asyncio.create_task(engine.send("go slow"))
    await until_approved(log, engine.stream)
    await asyncio.sleep(0.2)
    engine.cancel()
    assert (await turn).status == "cancelled"
    await engine.send("and now?")

    report = await replay_session(log, AsyncBlobStore(log.store.backend), engine.stream)

    assert report.identical, report.text()


async def test_a_killed_and_resumed_session_replays_as_identical(
    tmp_path: Path, workspace: Path
) -> None:
    db = tmp_path / "killed.db"
    stream = await asyncio.to_thread(kill_mid_tool, db, workspace)
    log = AsyncEventLog(EventStore(SQLiteBackend(db)))
    try:
        resumed = await SessionEngine.resume(
            deps(log, [answer("It was interrupted.")], ScriptedApprovals()), stream
        )
        await resumed.send("what happened?")

        blobs = AsyncBlobStore(log.store.backend)
        report = await replay_session(log, blobs, stream)
        live = await replay_session(log, blobs, stream, live_tools=True)

        assert report.identical, report.text()
        assert live.identical, live.text()
    finally:
        await log.close()


async def test_a_changed_prompt_shows_where_the_session_diverges(
    log: AsyncEventLog, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = await SessionEngine.start(
        deps(log, [answer("Hi.")], ScriptedApprovals()), workspace
    )
    await engine.send("hello")
    original = session_module.assemble

    def assemble_differently(parts: PromptParts, *args: Any, **kwargs: Any) -> Any:
        changed = replace(
            parts, tool_guidance=parts.tool_guidance + "\nUse tools wisely."
        )
        return original(changed, *args, **kwargs)

    monkeypatch.setattr(session_module, "assemble", assemble_differently)

    report = await replay_session(log, AsyncBlobStore(log.store.backend), engine.stream)

    assert not report.identical
    assert report.difference is not None
    assert report.difference.recorded_type == "model.call.started"
    assert report.request_change is not None
    assert any("Use tools wisely." in line for line in report.request_change)


async def until_approved(log: AsyncEventLog, stream: str) -> None:
    async for recorded in log.tail(streams=[stream]):
        if recorded.event.type == "tool.call.approved":
            return
