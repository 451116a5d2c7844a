"""End to end: sessions against the real llama.cpp server serving SmolLM2.

SmolLM2-135M misbehaves often; these tests assert that Loom handles whatever it
does — every call and tool call accounted for in the log, cancellation, resume
after a SIGKILL, recall of turns that left the window — not that it is clever.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from loom.adapters.blobs import AsyncBlobStore
from loom.adapters.determinism import RandomIds, SystemClock, context_from
from loom.adapters.eventstore.backends import SQLiteBackend
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.adapters.models.openai_compatible import OpenAICompatibleProvider
from loom.adapters.views import SQLiteViewStore
from loom.app.session import SessionDeps, SessionEngine
from loom.domain.eventbase import Event
from loom.domain.events import (
    ModelCallCompleted,
    ModelCallFailed,
    ModelCallStarted,
    ToolCallApproved,
    ToolCallCompleted,
    ToolCallDenied,
    ToolCallInterrupted,
    ToolCallRequested,
    TurnCancelled,
)
from loom.domain.models import ModelRequest, StreamItem
from loom.domain.ports import ApprovalAnswer, ApprovalRequest, ModelProvider

CHILD = Path(__file__).with_name("session_child.py")


class Approve:
    def __init__(self) -> None:
        self.asked: list[ApprovalRequest] = []

    async def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        self.asked.append(request)
        return ApprovalAnswer("approve")


class Spy:
    """Passes calls through and remembers the requests."""

    def __init__(self, inner: ModelProvider) -> None:
        self.inner, self.name, self.model = inner, inner.name, inner.model
        self.capabilities = inner.capabilities
        self.requests: list[ModelRequest] = []

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        self.requests.append(request)
        return self.inner.stream(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[AsyncEventLog]:
    opened = AsyncEventLog(EventStore(SQLiteBackend(tmp_path / "loom.db")))
    yield opened
    await opened.close()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "README.md").write_text("# Demo\nA tiny project.\n")
    return root


def smollm(llama_server: str) -> Spy:
    provider = OpenAICompatibleProvider(
        name="smollm2",
        model="smollm2",
        base_url=llama_server,
        context_length=8192,
        structured_output="json_object",
    )
    return Spy(provider)


def deps(
    log: AsyncEventLog, provider: ModelProvider, approvals: Approve
) -> SessionDeps:
    return SessionDeps(
        log=log,
        blobs=AsyncBlobStore(log.store.backend),
        context=context_from(SystemClock(), RandomIds()),
        provider=provider,
        approvals=approvals,
        max_loop_iterations=4,
        max_tokens=128,
    )


def assert_accounted_for(events: list[Event]) -> None:
    """Every model call and every tool call in the log has an outcome."""
    started = {e.call_id for e in events if isinstance(e, ModelCallStarted)}
    ended = {
        e.call_id for e in events if isinstance(e, ModelCallCompleted | ModelCallFailed)
    }
    assert started == ended
    requested = {e.call_id for e in events if isinstance(e, ToolCallRequested)}
    outcomes = {
        e.call_id
        for e in events
        if isinstance(e, ToolCallCompleted | ToolCallDenied | ToolCallInterrupted)
    }
    assert requested == outcomes


async def test_a_session_with_the_real_model_accounts_for_everything(
    llama_server: str, log: AsyncEventLog, workspace: Path
) -> None:
    approvals = Approve()
    engine = await SessionEngine.start(
        deps(log, smollm(llama_server), approvals), workspace
    )
    first = await engine.send("Read README.md with the read_file tool.")
    second = await engine.send(
        "Now create hello.py that prints hello, using write_file."
    )
    assert first.status in ("answered", "loop_limit")
    assert second.status in ("answered", "loop_limit")
    events = await log.read_stream(engine.stream)
    assert_accounted_for(events)
    writes = [
        e for e in events if isinstance(e, ToolCallRequested) and e.tool == "write_file"
    ]
    assert len(approvals.asked) == len(writes)
    approved = {e.call_id for e in events if isinstance(e, ToolCallApproved)}
    assert {e.call_id for e in writes} <= approved


async def test_cancelling_a_real_model_call(
    llama_server: str, log: AsyncEventLog, workspace: Path
) -> None:
    session_deps = deps(log, smollm(llama_server), Approve())
    session_deps.max_tokens = 400
    engine = await SessionEngine.start(session_deps, workspace)
    turn = asyncio.create_task(engine.send("Write a long story about a lighthouse."))
    await asyncio.sleep(0.4)
    assert engine.cancel()
    assert (await turn).status == "cancelled"
    events = await log.read_stream(engine.stream)
    assert any(isinstance(e, TurnCancelled) for e in events)
    assert [e.error for e in events if isinstance(e, ModelCallFailed)] == ["cancelled"]
    session_deps.max_tokens = 32
    assert (await engine.send("Say hi.")).status in ("answered", "loop_limit")
    assert_accounted_for(await log.read_stream(engine.stream))


def kill_mid_tool(db: Path, workspace: Path) -> str:
    """Start the child session, SIGKILL it while its tool runs; its stream."""
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(db), str(workspace)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    stream = child.stdout.readline().strip()
    store = EventStore(SQLiteBackend(db))
    deadline = time.monotonic() + 30
    while not any(e.type == "tool.call.approved" for e in store.read_stream(stream)):
        assert time.monotonic() < deadline, "the child never started its tool"
        time.sleep(0.05)
    time.sleep(0.3)
    child.send_signal(signal.SIGKILL)
    child.communicate()
    store.close()
    return stream


async def test_resume_after_sigkill_mid_tool_tells_the_model(
    llama_server: str, tmp_path: Path, workspace: Path
) -> None:
    db = tmp_path / "killed.db"
    stream = await asyncio.to_thread(kill_mid_tool, db, workspace)
    log = AsyncEventLog(EventStore(SQLiteBackend(db)))
    try:
        spy = smollm(llama_server)
        engine = await SessionEngine.resume(deps(log, spy, Approve()), stream)
        events = await log.read_stream(stream)
        interrupted = [e for e in events if isinstance(e, ToolCallInterrupted)]
        assert [e.call_id for e in interrupted] == ["slow-1"]
        assert not any(isinstance(e, ToolCallCompleted) for e in events)
        await engine.send("What happened to the command?")
        tool_messages = [
            m.content for m in spy.requests[0].messages if m.role == "tool"
        ]
        assert any("interrupted, not run" in m for m in tool_messages)
    finally:
        await log.close()
        await asyncio.to_thread(
            # Only the orphaned command itself: an anchored, exact match.
            subprocess.run,
            ["pkill", "-x", "-f", r"sleep 21\.5"],
            check=False,
        )


async def test_a_turn_that_left_the_window_can_be_recalled(
    llama_server: str, log: AsyncEventLog, workspace: Path, tmp_path: Path
) -> None:
    views = await SQLiteViewStore.connect(str(tmp_path / "views.db"))
    provider = smollm(llama_server)
    provider.capabilities = provider.capabilities.model_copy(
        update={"context_length": 2600}
    )
    session_deps = deps(log, provider, Approve())
    session_deps.views = views
    session_deps.max_tokens = 48
    engine = await SessionEngine.start(session_deps, workspace)
    await engine.send("My secret word is pelican. " + "Filler sentence. " * 120)
    for n in range(3):
        await engine.send(f"Tell me about number {n}. " + "More filler. " * 120)
    events = await log.read_stream(engine.stream)
    trimmed = [t for e in events if e.type == "context.trimmed" for t in e.turns]  # type: ignore[attr-defined]
    assert 1 in trimmed
    recalled = await engine.tools.call(
        "conversation_recall", {"mode": "turns", "first": 1}
    )
    assert not recalled.is_error, recalled.text
    assert "pelican" in recalled.text
    found = await engine.tools.call(
        "conversation_recall", {"mode": "search", "query": "pelican"}
    )
    assert "pelican" in found.text
    await views.close()
