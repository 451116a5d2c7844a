"""conversation_recall on a real event log and a real SQLite views file."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from loom.adapters.blobs import AsyncBlobStore
from loom.adapters.determinism import SequentialIds, SteppingClock, context_from
from loom.adapters.eventstore.journal import StreamJournal
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.tools import ToolContext, ToolRunner
from loom.adapters.tools.recall import ConversationRecall
from loom.adapters.tools.workspace import Workspace
from loom.adapters.views import SQLiteViewStore
from loom.domain.eventbase import Context, Event
from tests.projections.test_conversation import Chat

NOW = "session-now"


def history(context: Context, request: str, workspace: str) -> list[list[Event]]:
    """A past session of this workspace, this session, and one elsewhere."""
    old = Chat("session-old", context, request)
    now = Chat(NOW, context, request)
    other = Chat("session-else", context, request)
    batches = [
        old.start(workspace, "yesterday"),
        old.exchange(
            "the tokenizer drops unicode",
            "read_file",
            {"path": "tok.py"},
            "def tokenize(text): return text.split()",
        ),
        other.start("/somewhere/else", "elsewhere"),
        other.exchange(
            "the tokenizer elsewhere", "grep", {"pattern": "tokenizer"}, "tokenizer.py"
        ),
        now.start(workspace, "today"),
        now.user("fix the lexer in src/lexer.py"),
    ]
    (first, second), answer = now.answer(
        "reading it",
        ("read_file", {"path": "src/lexer.py"}),
        ("run_shell", {"command": "pytest -q"}),
    )
    batches += [
        answer,
        now.request(first, "read_file", {"path": "src/lexer.py"}),
        now.result(first, "class Lexer:\n    def next_token(self): ..."),
        now.request(second, "run_shell", {"command": "pytest -q"}),
        now.result(second, "2 failed: test_lexer_unicode", error=True),
    ]
    for n in range(6):
        batches.append(
            now.exchange(f"step {n}", "run_shell", {"command": f"make s{n}"}, f"ok {n}")
        )
    return batches


@pytest.fixture
async def views(tmp_path: Path) -> AsyncIterator[SQLiteViewStore]:
    opened = await SQLiteViewStore.connect(str(tmp_path / "views.db"))
    yield opened
    await opened.close()


@pytest.fixture
async def ctx(
    tool_log: AsyncEventLog,
    workspace_dir: Path,
    tmp_path: Path,
    views: SQLiteViewStore,
) -> ToolContext:
    context = context_from(SteppingClock(), SequentialIds())
    request = await AsyncBlobStore(tool_log.store.backend).put(b"{}")
    for batch in history(context, request, str(workspace_dir)):
        await tool_log.append(batch)
    return ToolContext(
        workspace=Workspace(workspace_dir),
        journal=await StreamJournal.open(tool_log, NOW, context),
        blobs=AsyncBlobStore(tool_log.store.backend),
        log=tool_log,
        views=views,
    )


async def recall(ctx: ToolContext, **arguments: object) -> str:
    runner = ToolRunner(ctx, {ConversationRecall.name: ConversationRecall})
    result = await runner.call(ConversationRecall.name, dict(arguments))
    assert not result.is_error, result.text
    return result.text


async def recall_error(ctx: ToolContext, **arguments: object) -> str:
    runner = ToolRunner(ctx, {ConversationRecall.name: ConversationRecall})
    result = await runner.call(ConversationRecall.name, dict(arguments))
    assert result.is_error, result.text
    return result.text


def numbers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"turn (\d+) ·", text)]


async def test_last_turns_default_to_five(ctx: ToolContext) -> None:
    text = await recall(ctx, mode="last")
    assert numbers(text) == [24, 25, 26, 27, 28]
    assert text.splitlines()[:2] == [
        "[turn 24 · assistant] done: ok 4",
        "[turn 25 · user] step 5",
    ]
    assert numbers(await recall(ctx, mode="last", n=2)) == [27, 28]


async def test_turns_by_number_show_roles_calls_and_tool_results(
    ctx: ToolContext,
) -> None:
    assert await recall(ctx, mode="turns", first=1) == (
        "[turn 1 · user] fix the lexer in src/lexer.py"
    )
    text = await recall(ctx, mode="turns", first=2, last=4)
    assert text.splitlines() == [
        "[turn 2 · assistant] reading it",
        '  → read_file {"path": "src/lexer.py"}',
        '  → run_shell {"command": "pytest -q"}',
        '[turn 3 · tool read_file {"path": "src/lexer.py"}] class Lexer:',
        "    def next_token(self): ...",
        '[turn 4 · tool run_shell {"command": "pytest -q"} · error] '
        "2 failed: test_lexer_unicode",
    ]


async def test_turn_ranges_are_checked_and_capped(ctx: ToolContext) -> None:
    assert "needs first" in await recall_error(ctx, mode="turns")
    assert "comes before" in await recall_error(ctx, mode="turns", first=5, last=2)
    assert await recall(ctx, mode="turns", first=99) == "no turn 99 in session-now"
    text = await recall(ctx, mode="turns", first=20, last=500)
    assert numbers(text) == list(range(20, 29))
    assert "shown up to turn 28" in text


async def test_tool_calls_by_tool(ctx: ToolContext) -> None:
    shells = await recall(ctx, mode="tool_calls", tool="run_shell", n=3)
    assert numbers(shells) == [19, 23, 27]
    assert "make s5" in shells
    assert numbers(await recall(ctx, mode="tool_calls", tool="read_file")) == [3]
    assert "no grep calls" in await recall(ctx, mode="tool_calls", tool="grep")


async def test_search_in_this_session(ctx: ToolContext) -> None:
    text = await recall(ctx, mode="search", query="lexer unicode")
    assert text.splitlines()[1:] == [
        "[session-now · turn 4 · tool run_shell] 2 failed: test_**lexer**_**unicode**"
    ]
    assert "no turns in this session" in await recall(
        ctx, mode="search", query="tokenizer"
    )


async def test_workspace_search_reaches_past_sessions_of_this_workspace_only(
    ctx: ToolContext,
) -> None:
    text = await recall(ctx, mode="search", query="tokenizer", scope="workspace")
    assert "session-old · turn 1 · user] the **tokenizer** drops unicode" in text
    assert "session-else" not in text
    old = await recall(ctx, mode="turns", first=1, last=2, session="session-old")
    assert "the tokenizer drops unicode" in old
    refused = await recall_error(ctx, mode="last", session="session-else")
    assert "no session 'session-else' in this workspace" in refused


@pytest.mark.parametrize(
    "query",
    ['"', "AND OR", "*", "lexer*", '"lexer', "NEAR(", "日本語 ünïcode", "🚀", "a:b"],
)
async def test_odd_search_input_is_answered_not_raised(
    ctx: ToolContext, query: str
) -> None:
    text = await recall(ctx, mode="search", query=query, scope="workspace")
    assert text.startswith(("no turns", f"{len(text.splitlines()) - 1} turns"))


async def test_search_needs_a_query(ctx: ToolContext) -> None:
    assert "needs query" in await recall_error(ctx, mode="search", query="  ")


async def test_new_turns_are_seen_on_the_next_call(ctx: ToolContext) -> None:
    from loom.domain.events import UserMessaged

    assert numbers(await recall(ctx, mode="last", n=1)) == [28]
    await ctx.journal.record(UserMessaged, text="one more thing")
    assert await recall(ctx, mode="last", n=1) == "[turn 29 · user] one more thing"


async def test_long_turns_are_cut(ctx: ToolContext) -> None:
    from loom.domain.events import UserMessaged

    await ctx.journal.record(UserMessaged, text="x" * 50_000)
    one = await recall(ctx, mode="turns", first=29)
    assert one.endswith("… (30000 more characters)")
    several = await recall(ctx, mode="last", n=2)
    assert "(46000 more characters)" in several


async def test_without_views_it_says_so(ctx: ToolContext) -> None:
    ctx.views = None
    assert "no views database" in await recall_error(ctx, mode="last")
