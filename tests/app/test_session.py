"""Scenario tests of the session engine with a scripted (deterministic) model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from loom.adapters.blobs import AsyncBlobStore
from loom.adapters.determinism import SequentialIds, SteppingClock, context_from
from loom.adapters.eventstore.backends import SQLiteBackend
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.adapters.models.scripted import ScriptedProvider
from loom.app.session import SessionDeps, SessionEngine
from loom.domain.eventbase import Event
from loom.domain.events import (
    ContextTrimmed,
    DoomLoopDetected,
    ModelCallFailed,
    ToolCall,
    ToolCallApproved,
    ToolCallCompleted,
    ToolCallDenied,
    ToolCallInterrupted,
    ToolCallRequested,
    TurnCancelled,
)
from loom.domain.models import Completion, ModelRequest
from loom.domain.ports import ApprovalAnswer, ApprovalRequest


class ScriptedApprovals:
    def __init__(self, *answers: ApprovalAnswer) -> None:
        self.answers = list(answers)
        self.asked: list[ApprovalRequest] = []

    async def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        self.asked.append(request)
        return self.answers.pop(0)


def calls(*pairs: tuple[str, dict[str, Any]]) -> Completion:
    return Completion(
        tool_calls=[
            ToolCall(id=f"call-{n}-{name}", name=name, arguments=arguments)
            for n, (name, arguments) in enumerate(pairs)
        ],
        finish_reason="tool_calls",
    )


def answer(text: str) -> Completion:
    return Completion(text=text, finish_reason="stop")


class World:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.workspace = root / "ws"
        self.workspace.mkdir()
        (self.workspace / "notes.txt").write_text("remember the milk\n")
        self.log = AsyncEventLog(EventStore(SQLiteBackend(root / "loom.db")))
        self.blobs = AsyncBlobStore(self.log.store.backend)
        self.ids = SequentialIds()

    def deps(
        self, provider: ScriptedProvider, approvals: ScriptedApprovals | None = None
    ) -> SessionDeps:
        return SessionDeps(
            log=self.log,
            blobs=self.blobs,
            context=context_from(SteppingClock(), self.ids),
            provider=provider,
            approvals=approvals or ScriptedApprovals(),
            max_loop_iterations=6,
        )

    async def events(self, engine: SessionEngine) -> list[Event]:
        return await self.log.read_stream(engine.stream)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    made = World(tmp_path)
    yield made
    await made.log.close()


def kinds(events: list[Event], *types: type[Event]) -> list[str]:
    return [type(e).__name__ for e in events if isinstance(e, types)]


def tool_messages(request: ModelRequest) -> list[str]:
    return [m.content for m in request.messages if m.role == "tool"]


async def test_a_read_runs_without_asking_and_its_result_goes_back(
    world: World,
) -> None:
    model = ScriptedProvider(
        [calls(("read_file", {"path": "notes.txt"})), answer("Milk.")]
    )
    approvals = ScriptedApprovals()
    engine = await SessionEngine.start(world.deps(model, approvals), world.workspace)
    outcome = await engine.send("what do my notes say?")
    assert (outcome.status, outcome.answer) == ("answered", "Milk.")
    assert approvals.asked == []
    assert "remember the milk" in tool_messages(model.requests[1])[0]
    events = await world.events(engine)
    assert kinds(events, ToolCallRequested, ToolCallApproved, ToolCallCompleted) == [
        "ToolCallRequested",
        "ToolCallApproved",
        "ToolCallCompleted",
    ]
    approved = next(e for e in events if isinstance(e, ToolCallApproved))
    assert approved.by == "policy"


async def test_a_session_and_each_answered_turn_are_committed_on_return(
    world: World,
) -> None:
    # Another store on the same file stands in for another process: it sees
    # only what has committed, though the engine stages most of a turn.
    other = EventStore(SQLiteBackend(world.root / "loom.db"))
    engine = await SessionEngine.start(
        world.deps(ScriptedProvider([answer("Hello.")])), world.workspace
    )
    assert [e.type for e in other.read_stream(engine.stream)] == ["session.started"]
    await engine.send("hi")
    committed = other.read_stream(engine.stream)
    other.close()
    assert committed == await world.events(engine)
    assert committed[-1].type == "model.call.completed"


async def test_a_denied_write_tells_the_model_why(world: World) -> None:
    model = ScriptedProvider(
        [
            calls(("write_file", {"path": "x.py", "content": "1"})),
            answer("OK, I won't."),
        ]
    )
    approvals = ScriptedApprovals(ApprovalAnswer("deny", "not now"))
    engine = await SessionEngine.start(world.deps(model, approvals), world.workspace)
    await engine.send("write x.py")
    assert approvals.asked[0].tool == "write_file"
    assert not (world.workspace / "x.py").exists()
    assert tool_messages(model.requests[1]) == ["denied by the user: not now"]
    denied = [e for e in await world.events(engine) if isinstance(e, ToolCallDenied)]
    assert denied[0].reason == "not now"


async def test_always_approve_lasts_for_the_session_and_its_resume(
    world: World,
) -> None:
    write = ("write_file", {"path": "a.txt", "content": "a"})
    model = ScriptedProvider(
        [calls(write), answer("done"), calls(write), answer("again")]
    )
    approvals = ScriptedApprovals(ApprovalAnswer("always"))
    engine = await SessionEngine.start(world.deps(model, approvals), world.workspace)
    await engine.send("write a")
    resumed = await SessionEngine.resume(world.deps(model, approvals), engine.stream)
    await resumed.send("write a again")
    assert len(approvals.asked) == 1
    approved = [
        e for e in await world.events(engine) if isinstance(e, ToolCallApproved)
    ]
    assert [(e.by, e.remember_for_session) for e in approved] == [
        ("user", True),
        ("policy", False),
    ]


async def test_the_same_call_three_times_in_a_row_is_stopped(world: World) -> None:
    read = ("read_file", {"path": "notes.txt"})
    model = ScriptedProvider([calls(read), calls(read), calls(read), answer("sorry")])
    engine = await SessionEngine.start(world.deps(model), world.workspace)
    await engine.send("read it")
    events = await world.events(engine)
    assert kinds(events, DoomLoopDetected) == ["DoomLoopDetected"]
    completed = [e for e in events if isinstance(e, ToolCallCompleted)]
    assert len(completed) == 3
    assert "3 times in a row" in completed[-1].result
    assert "remember the milk" in completed[-1].result
    reads = [e for e in events if e.type == "file.read"]
    assert len(reads) == 2


async def test_cancelling_a_model_call_leaves_the_session_usable(world: World) -> None:
    model = ScriptedProvider([answer("too slow")], delay=5)
    engine = await SessionEngine.start(world.deps(model), world.workspace)
    turn = asyncio.create_task(engine.send("hello"))
    await asyncio.sleep(0.2)
    assert engine.cancel()
    outcome = await turn
    assert outcome.status == "cancelled"
    events = await world.events(engine)
    failed = [e for e in events if isinstance(e, ModelCallFailed)]
    assert failed[0].error == "cancelled"
    assert kinds(events, TurnCancelled) == ["TurnCancelled"]
    model._delay = 0
    model._answers.append(answer("hi again"))
    assert (await engine.send("hello?")).answer == "hi again"


async def test_a_call_that_never_finished_is_marked_interrupted_on_resume(
    world: World,
) -> None:
    model = ScriptedProvider([answer("first")])
    engine = await SessionEngine.start(world.deps(model), world.workspace)
    await engine.send("start")
    pending = calls(("shell_execute", {"command": "sleep 100"}))
    # The process "died" after the model asked for a call and it was requested.
    await engine.journal.record(
        ModelCallFailed, call_id="ignored", error="placeholder", retryable=False
    )
    from loom.domain.events import ModelCallCompleted, ModelCallStarted

    await engine.journal.record(
        ModelCallStarted,
        call_id="m9",
        role="executor",
        model="scripted",
        request=await world.blobs.put(b"{}"),
        fingerprint="f",
    )
    await engine.journal.record(
        ModelCallCompleted, call_id="m9", tool_calls=pending.tool_calls, latency_ms=1
    )
    await engine.journal.record(
        ToolCallRequested, call_id=pending.tool_calls[0].id, tool="shell_execute",
        arguments={"command": "sleep 100"},
    )  # fmt: skip
    follow = ScriptedProvider([answer("I see it was interrupted.")])
    resumed = await SessionEngine.resume(world.deps(follow), engine.stream)
    interrupted = [
        e for e in await world.events(engine) if isinstance(e, ToolCallInterrupted)
    ]
    assert [e.call_id for e in interrupted] == [pending.tool_calls[0].id]
    await resumed.send("what happened?")
    assert "interrupted, not run" in tool_messages(follow.requests[0])[0]


async def test_the_loop_limit_ends_a_runaway_turn(world: World) -> None:
    model = ScriptedProvider(
        [calls(("read_file", {"path": f"f{n}"})) for n in range(6)]
    )
    engine = await SessionEngine.start(world.deps(model), world.workspace)
    assert (await engine.send("go")).status == "loop_limit"


async def test_turns_that_leave_the_window_are_recorded(world: World) -> None:
    words = "word " * 600
    model = ScriptedProvider([answer(words) for _ in range(6)], context_length=7000)
    deps = world.deps(model)
    deps.max_tokens = 256
    engine = await SessionEngine.start(deps, world.workspace)
    for n in range(6):
        await engine.send(f"message {n}: {words}")
    trimmed = [e for e in await world.events(engine) if isinstance(e, ContextTrimmed)]
    assert trimmed
    assert trimmed[0].turns[0] == 1
    last_request = model.requests[-1]
    assert "conversation_recall" in last_request.messages[0].content


class ScriptedQuestions:
    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.asked: list[str] = []

    async def ask(self, question: str) -> str:
        self.asked.append(question)
        return self.answer


async def test_ask_user_goes_through_the_question_port(world: World) -> None:
    model = ScriptedProvider(
        [calls(("ask_user", {"question": "Tabs or spaces?"})), answer("Spaces it is.")]
    )
    deps = world.deps(model)
    deps.questions = questions = ScriptedQuestions("spaces")
    engine = await SessionEngine.start(deps, world.workspace)
    await engine.send("format the file")
    assert questions.asked == ["Tabs or spaces?"]
    assert tool_messages(model.requests[1]) == ["The user answered: spaces"]
    types = [e.type for e in await world.events(engine)]
    assert "user.question.asked" in types
    assert "user.question.answered" in types


async def test_the_memory_index_and_recall_use_the_same_numbers(world: World) -> None:
    from loom.adapters.views import SQLiteViewStore
    from loom.projections.conversation import Conversation, turns
    from loom.projections.runner import ProjectionRunner

    filler = "word " * 600
    script: list[Completion] = []
    for n in range(4):
        script += [calls(("read_file", {"path": "notes.txt"})), answer(f"{n} {filler}")]
    model = ScriptedProvider(script, context_length=7000)
    deps = world.deps(model)
    deps.max_tokens = 256
    engine = await SessionEngine.start(deps, world.workspace)
    for n in range(4):
        await engine.send(f"question {n}: {filler}")
    events = await world.events(engine)
    trimmed = sorted(
        {t for e in events if isinstance(e, ContextTrimmed) for t in e.turns}
    )
    assert trimmed == list(range(1, trimmed[-1] + 1))
    system = model.requests[-1].messages[0].content
    views = await SQLiteViewStore.connect(":memory:")
    await ProjectionRunner(world.log, views, Conversation()).catch_up()
    recalled = await turns(views, engine.stream, 1, trimmed[-1])
    await views.close()
    # Every trimmed number is a real recall turn, the last one ends a group
    # (the next recall turn is a new user message or answer), and the index
    # names exactly that range.
    assert [t.number for t in recalled] == trimmed
    assert f"Turns 1-{trimmed[-1]} " in system
    assert recalled[0].role == "user"
    assert recalled[0].content.startswith("question 0")
