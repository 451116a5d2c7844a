"""Conversation memory: the projection contract, the turns it keeps, and search."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from loom.adapters.blobs import AsyncBlobStore
from loom.adapters.eventstore.backends import Backend
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.views import SQLiteViewStore, open_views
from loom.domain.eventbase import Context, Event, StreamCursor
from loom.domain.events import (
    ContextTrimmed,
    ModelCallCompleted,
    ModelCallFailed,
    ModelCallStarted,
    SessionStarted,
    TaskCreated,
    ToolCall,
    ToolCallCompleted,
    ToolCallDenied,
    ToolCallInterrupted,
    ToolCallRequested,
    UserMessaged,
)
from loom.domain.ports import ViewStore
from loom.projections import conversation
from loom.projections.conversation import (
    Conversation,
    ConversationStream,
    Hit,
    Turn,
    conversation_stream,
    last_turns,
    search,
    streams_of_workspace,
    tool_calls,
    turn_count,
    turns,
)
from loom.projections.runner import ProjectionRunner, fold


class Chat:
    """Makes the events of one stream's conversation, as the agent loop would."""

    def __init__(self, stream: str, context: Context, request: str) -> None:
        self.cursor = StreamCursor(stream, 0, context)
        self.digest = request
        self._ids = itertools.count(1)

    def start(self, workspace: str, title: str) -> list[Event]:
        if self.cursor.stream.startswith("task"):
            return [self.cursor.new(TaskCreated, goal=title, workspace=workspace)]
        return [self.cursor.new(SessionStarted, workspace=workspace, title=title)]

    def user(self, text: str) -> list[Event]:
        return [self.cursor.new(UserMessaged, text=text)]

    def call(self, role: str = "executor") -> tuple[str, list[Event]]:
        call_id = f"m{next(self._ids)}"
        started = self.cursor.new(
            ModelCallStarted,
            call_id=call_id,
            role=role,
            model="tiny",
            request=self.digest,
            fingerprint="f",
        )
        return call_id, [started]

    def answer(
        self,
        text: str,
        *calls: tuple[str, dict[str, Any]],
        role: str = "executor",
        thinking: str = "",
    ) -> tuple[list[str], list[Event]]:
        """A model call and its answer; returns the ids of the tool calls it made."""
        call_id, events = self.call(role)
        asked = [
            ToolCall(id=f"{call_id}-t{n}", name=name, arguments=arguments)
            for n, (name, arguments) in enumerate(calls)
        ]
        events.append(
            self.cursor.new(
                ModelCallCompleted,
                call_id=call_id,
                text=text,
                thinking=thinking,
                tool_calls=asked,
                latency_ms=5.0,
            )
        )
        return [c.id for c in asked], events

    def failed(self) -> list[Event]:
        call_id, events = self.call()
        return [*events, self.cursor.new(ModelCallFailed, call_id=call_id, error="x")]

    def request(
        self, call_id: str, tool: str, arguments: dict[str, Any]
    ) -> list[Event]:
        return [
            self.cursor.new(
                ToolCallRequested, call_id=call_id, tool=tool, arguments=arguments
            )
        ]

    def result(self, call_id: str, text: str, *, error: bool = False) -> list[Event]:
        return [
            self.cursor.new(
                ToolCallCompleted,
                call_id=call_id,
                result=text,
                is_error=error,
                duration_ms=1.0,
            )
        ]

    def deny(self, call_id: str, reason: str) -> list[Event]:
        return [
            self.cursor.new(ToolCallDenied, call_id=call_id, by="user", reason=reason)
        ]

    def interrupt(self, call_id: str) -> list[Event]:
        return [self.cursor.new(ToolCallInterrupted, call_id=call_id, reason="died")]

    def trim(self, *numbers: int) -> list[Event]:
        return [self.cursor.new(ContextTrimmed, turns=list(numbers))]

    def exchange(
        self, question: str, tool: str, arguments: dict[str, Any], result: str
    ) -> list[Event]:
        """A question, an answer calling one tool, its result and a final answer."""
        events = self.user(question)
        (call_id,), answer = self.answer("let me look", (tool, arguments))
        events += answer
        events += self.request(call_id, tool, arguments)
        events += self.result(call_id, result)
        return events + self.answer(f"done: {result[:20]}")[1]


async def request_blob(backend: Backend) -> str:
    return await AsyncBlobStore(backend).put(b'{"messages": []}')


def story(context: Context, request: str) -> list[list[Event]]:
    """Two sessions of one workspace and a task of another, interleaved."""
    a = Chat("session-a", context, request)
    b = Chat("session-b", context, request)
    c = Chat("task-c", context, request)
    batches = [a.start("/w/one", "first chat"), c.start("/w/two", "fix the build")]
    batches.append(
        a.exchange(
            "why does the parser fail?",
            "read_file",
            {"path": "src/parser.py"},
            "def parse(tokens): ...",
        )
    )
    batches.append(
        c.exchange(
            "run the tests",
            "run_shell",
            {"command": "pytest"},
            "3 failed: test_parser_unicode, test_lexer, test_café",
        )
    )
    batches.append(c.answer("a plan", role="planner")[1])  # not a conversation turn
    batches.append(a.failed())
    (write_id, read_id), answer = a.answer(
        "I will fix it",
        ("write_file", {"path": "src/parser.py", "content": "x"}),
        ("read_file", {"path": "README.md"}),
        thinking="the lexer is wrong",
    )
    batches.append(answer)
    batches.append(a.request(write_id, "write_file", {"path": "src/parser.py"}))
    batches.append(b.start("/w/one", "second chat"))
    batches.append(a.deny(write_id, "not now"))
    batches.append(a.request(read_id, "read_file", {"path": "README.md"}))
    batches.append(
        b.exchange(
            "what is the lexer for?",
            "grep",
            {"pattern": "lexer"},
            "src/lexer.py: the lexer splits tokens",
        )
    )
    batches.append(a.interrupt(read_id))
    batches.append(a.trim(1, 2, 3, 40))
    batches.append(a.user("naïve unicode: 日本語 and emoji 🚀 in the parser"))
    for n in range(6):
        batches.append(
            c.exchange(
                f"step {n}: check the lexer",
                "run_shell",
                {"command": f"make step{n}"},
                f"step {n} passed" if n % 2 else "error: lexer broke",
            )
        )
    return batches


async def write(log: AsyncEventLog, batches: Sequence[Sequence[Event]]) -> None:
    for batch in batches:
        await log.append(batch)


Snapshot = tuple[list[ConversationStream], dict[str, list[Turn]], list[list[Hit]]]
QUERIES = ("parser", "lexer tokens", "pars*", "README", "café", "run_shell")


async def snapshot(views: ViewStore) -> Snapshot:
    names = ["session-a", "session-b", "task-c"]
    streams = [s for n in names if (s := await conversation_stream(views, n))]
    everything = {s.stream: await turns(views, s.stream, 1, 10_000) for s in streams}
    hits = [await search(views, q, streams=None, limit=50) for q in QUERIES]
    return streams, everything, hits


@pytest.fixture
async def views(store_url: str, tmp_path: Path) -> AsyncIterator[ViewStore]:
    """Views on a SQLite file, or on PostgreSQL beside a PostgreSQL event store."""
    url = (
        store_url if store_url.startswith("postgres") else f"sqlite:///{tmp_path}/v.db"
    )
    opened = await open_views(url)
    yield opened
    await opened.close()


@pytest.fixture
async def memory() -> AsyncIterator[SQLiteViewStore]:
    views = await SQLiteViewStore.connect(":memory:")
    yield views
    await views.close()


@pytest.fixture
async def full(
    log: AsyncEventLog, backend: Backend, context: Context, views: ViewStore
) -> ViewStore:
    """The whole story, caught up into ``views``."""
    await write(log, story(context, await request_blob(backend)))
    await ProjectionRunner(log, views, Conversation()).catch_up()
    return views


# --- the contract ----------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7])
async def test_rebuild_equals_incremental_and_fold_equals_the_past(
    log: AsyncEventLog,
    backend: Backend,
    context: Context,
    views: ViewStore,
    batch_size: int,
) -> None:
    incremental = ProjectionRunner(log, views, Conversation(), batch_size=batch_size)
    past: list[tuple[int, Snapshot]] = []
    for batch in story(context, await request_blob(backend)):
        await log.append(batch)
        past.append((await incremental.catch_up(), await snapshot(views)))
    caught_up = await snapshot(views)
    assert sum(len(t) for t in caught_up[1].values()) == 40
    rebuilt = await SQLiteViewStore.connect(":memory:")
    await ProjectionRunner(log, rebuilt, Conversation()).rebuild()
    assert comparable(await snapshot(rebuilt), views) == comparable(caught_up, views)
    await rebuilt.close()
    await ProjectionRunner(log, views, Conversation(), batch_size=5).rebuild()
    assert await snapshot(views) == caught_up
    for position, then in past[::4]:
        folded = await fold(log, Conversation(), position, await _memory())
        assert comparable(await snapshot(folded), views) == comparable(then, views)
        await folded.close()


def comparable(state: Snapshot, views: ViewStore) -> Snapshot:
    """``state`` less its search hits when SQLite is compared with PostgreSQL.

    FTS5 and PostgreSQL's text search split words and rank differently, so only
    the turns themselves are the same across dialects.
    """
    return state if views.dialect == "sqlite" else (state[0], state[1], [])


async def _memory() -> SQLiteViewStore:
    return await SQLiteViewStore.connect(":memory:")


async def test_catch_up_is_idempotent_and_resumes_after_a_restart(
    log: AsyncEventLog, backend: Backend, context: Context, views: ViewStore
) -> None:
    batches = story(context, await request_blob(backend))
    await write(log, batches[:9])
    first = ProjectionRunner(log, views, Conversation(), batch_size=4)
    position = await first.catch_up()
    before = await snapshot(views)
    assert await first.catch_up() == position
    assert await snapshot(views) == before
    await write(log, batches[9:])
    await ProjectionRunner(log, views, Conversation(), batch_size=4).catch_up()
    scratch = await _memory()
    await ProjectionRunner(log, scratch, Conversation()).rebuild()
    assert comparable(await snapshot(views), views) == comparable(
        await snapshot(scratch), views
    )
    await scratch.close()


async def test_the_full_text_index_matches_its_content(
    log: AsyncEventLog, backend: Backend, context: Context, memory: SQLiteViewStore
) -> None:
    await write(log, story(context, await request_blob(backend)))
    await ProjectionRunner(log, memory, Conversation(), batch_size=3).catch_up()
    async with memory.transaction() as tx:  # raises on any mismatch
        await tx.execute(
            "INSERT INTO conversation_fts (conversation_fts, rank) "
            "VALUES ('integrity-check', 1)"
        )


# --- what the turns hold ---------------------------------------------------------


async def test_turns_are_numbered_per_stream_with_their_roles(full: ViewStore) -> None:
    a = await turns(full, "session-a", 1, 100)
    assert [(t.number, t.role) for t in a] == [
        (1, "user"),
        (2, "assistant"),
        (3, "tool"),
        (4, "assistant"),
        (5, "assistant"),
        (6, "tool"),
        (7, "tool"),
        (8, "user"),
    ]
    assert a[0].content == "why does the parser fail?"
    assert [t.position for t in a] == sorted(t.position for t in a)
    assert await turn_count(full, "session-a") == 8
    assert await turn_count(full, "task-c") == 28
    assert await turn_count(full, "nowhere") == 0
    assert [t.number for t in await turns(full, "session-a", 4)] == [4]
    assert [t.number for t in await last_turns(full, "session-a", 3)] == [6, 7, 8]


async def test_assistant_turns_keep_text_thinking_and_tool_calls(
    full: ViewStore,
) -> None:
    (answer,) = await turns(full, "session-a", 5)
    assert answer.content == "I will fix it"
    assert answer.thinking == "the lexer is wrong"
    assert [(c.name, c.arguments) for c in answer.tool_calls] == [
        ("write_file", {"path": "src/parser.py", "content": "x"}),
        ("read_file", {"path": "README.md"}),
    ]
    (first,) = await turns(full, "session-a", 2)
    assert first.tool_calls[0].name == "read_file"


async def test_tool_turns_carry_the_request_and_how_they_ended(
    full: ViewStore,
) -> None:
    (done,) = await turns(full, "session-a", 3)
    denied, interrupted = await turns(full, "session-a", 6, 7)
    assert (done.tool_name, done.arguments, done.status) == (
        "read_file",
        {"path": "src/parser.py"},
        "ok",
    )
    assert done.content == "def parse(tokens): ..."
    assert done.tool_call_id == "m1-t0"
    assert (denied.tool_name, denied.status) == ("write_file", "denied")
    assert denied.content == "denied by user: not now"
    assert (interrupted.tool_name, interrupted.status) == ("read_file", "interrupted")
    assert interrupted.content == "interrupted: died"


async def test_tool_calls_by_tool_newest_last(full: ViewStore) -> None:
    shells = await tool_calls(full, "task-c", "run_shell", limit=3)
    assert [t.arguments for t in shells] == [
        {"command": "make step3"},
        {"command": "make step4"},
        {"command": "make step5"},
    ]
    every = await tool_calls(full, "session-a")
    assert [t.tool_name for t in every] == ["read_file", "write_file", "read_file"]
    assert await tool_calls(full, "session-a", "grep") == []


async def test_trimmed_turns_are_flagged_but_kept(full: ViewStore) -> None:
    flags = [t.trimmed for t in await turns(full, "session-a", 1, 8)]
    assert flags == [True, True, True, False, False, False, False, False]


async def test_streams_know_their_workspace_and_title(full: ViewStore) -> None:
    assert await streams_of_workspace(full, "/w/one") == ["session-a", "session-b"]
    assert await streams_of_workspace(full, "/w/two") == ["task-c"]
    assert await streams_of_workspace(full, "/w/none") == []
    assert await conversation_stream(full, "task-c") == ConversationStream(
        "task-c", "/w/two", "fix the build", 28
    )


# --- search ------------------------------------------------------------------------


async def test_search_ranks_highlights_and_scopes(full: ViewStore) -> None:
    hits = await search(full, "parser", streams=["session-a"])
    assert {(h.stream, h.number) for h in hits} == {
        ("session-a", 1),
        ("session-a", 3),
        ("session-a", 6),
        ("session-a", 8),
    }
    user = next(h for h in hits if h.number == 1)
    assert user.role == "user"
    assert "**parser**" in user.snippet
    everywhere = await search(full, "lexer", limit=50)
    assert {h.stream for h in everywhere} == {"session-b", "task-c"}
    assert {h.stream for h in await search(full, "lexer", streams=["task-c"])} == {
        "task-c"
    }
    assert len(await search(full, "lexer", limit=2)) == 2


async def test_search_needs_every_word_before_it_settles_for_any(
    full: ViewStore,
) -> None:
    both = await search(full, "lexer splits", streams=["session-b"])
    assert [(h.number, h.role) for h in both] == [(3, "tool")]
    either = await search(full, "splits nonsenseword", streams=["session-b"])
    assert [h.number for h in either] == [3]


async def test_search_finds_tool_names_arguments_prefixes_and_accents(
    full: ViewStore,
) -> None:
    readme = await search(full, "README.md", streams=["session-a"])
    assert [h.number for h in readme] == [7]  # the tool turn, not the call
    assert {h.tool_name for h in await search(full, "grep")} == {"grep"}
    prefixed = await search(full, "pars*", streams=["session-a"])
    assert {h.number for h in prefixed} >= {1, 3}
    assert [h.number for h in await search(full, "café", streams=["task-c"])] == [3]
    if full.dialect == "sqlite":  # PostgreSQL's 'simple' configuration keeps accents
        accented = await search(full, "cafe", streams=["task-c"])
        assert [h.number for h in accented] == [3]
    assert [h.number for h in await search(full, "日本語")] == [8]


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '"parser',
        "AND OR",
        "NOT",
        "*",
        "**",
        "parser*",
        "NEAR(parser lexer)",
        "content: parser",
        "{scope}: zs1",
        "(parser",
        "parser -lexer",
        "' OR 1=1 --",
        "🚀",
        "日本語 naïve",
        "",
        "   ",
        "^parser",
        "a" * 5000,
    ],
)
async def test_odd_queries_never_raise(full: ViewStore, query: str) -> None:
    hits = await search(full, query, streams=["session-a", "task-c"])
    assert all(h.stream in ("session-a", "task-c") for h in hits)


async def test_search_in_unknown_or_no_streams_finds_nothing(full: ViewStore) -> None:
    assert await search(full, "parser", streams=[]) == []
    assert await search(full, "parser", streams=["session-zzz"]) == []
    assert await search(full, "zs1") == []


async def ranked(
    log: AsyncEventLog, views: ViewStore, context: Context, *texts: str
) -> ViewStore:
    """``views`` caught up with one session whose user turns are ``texts``."""
    chat = Chat("session-r", context, "")
    await write(log, [chat.start("/w/r", "ranking"), *(chat.user(t) for t in texts)])
    await ProjectionRunner(log, views, Conversation()).catch_up()
    return views


async def test_more_and_denser_matches_rank_first(
    log: AsyncEventLog, views: ViewStore, context: Context
) -> None:
    filler = " ".join(["words"] * 40)
    await ranked(
        log,
        views,
        context,
        f"lexer {filler}",
        "lexer lexer lexer",
        "lexer and more",
        "nothing here",
    )
    hits = await search(views, "lexer", streams=["session-r"])
    assert [h.number for h in hits] == [2, 3, 1]


async def test_the_rarer_word_wins_when_any_word_will_do(
    log: AsyncEventLog, memory: SQLiteViewStore, context: Context
) -> None:
    """bm25's inverse document frequency (PostgreSQL's ts_rank has none)."""
    await ranked(log, memory, context, "common", "common", "common", "rare", "common")
    hits = await search(memory, "common rare", streams=["session-r"])
    assert hits[0].number == 4
    assert len(hits) == 5


async def test_only_the_newest_candidates_are_ranked(
    log: AsyncEventLog,
    memory: SQLiteViewStore,
    context: Context,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(conversation, "CANDIDATES", 3)
    await ranked(log, memory, context, "x x x x", "x", "x", "x")
    assert [h.number for h in await search(memory, "x", limit=10)] == [4, 3, 2]


async def test_short_prefixes_are_whole_words(
    log: AsyncEventLog, memory: SQLiteViewStore, context: Context
) -> None:
    await ranked(log, memory, context, "parser", "par", "parsing")
    assert [h.number for h in await search(memory, "par*")] == [2]
    assert {h.number for h in await search(memory, "pars*")} == {1, 3}
