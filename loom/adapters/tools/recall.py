"""Recalling earlier turns of the conversation, verbatim, from the event log.

Turns that left the model's context window are not lost: the conversation
projection keeps every one, and this tool reads them back by number, by tool,
as the last few, or by full-text search (in this session, or in every past
session of the same workspace).
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field

from loom.adapters.tools.base import Tool, ToolArgs, ToolContext, ToolError
from loom.domain.ports import ViewStore
from loom.projections.conversation import (
    Conversation,
    Hit,
    Turn,
    conversation_stream,
    last_turns,
    search,
    streams_of_workspace,
    tool_calls,
    turns,
)
from loom.projections.runner import ProjectionRunner

__all__ = ["ConversationRecall", "format_hit", "format_turn"]

_MAX_TURNS = 40
_OUTPUT_CHARS = 20_000
_TURN_CHARS = 4_000
_ARGUMENT_CHARS = 200
_DEFAULT_N = {"last": 5, "tool_calls": 10, "search": 10}

Mode = Literal["turns", "tool_calls", "search", "last"]


class RecallArgs(ToolArgs):
    mode: Mode = Field(
        description=(
            "turns: turns first..last by number; last: the last n turns; "
            "tool_calls: the last n tool results (of one tool when named); "
            "search: turns matching words in query."
        )
    )
    first: int | None = Field(
        default=None, ge=1, description="turns: the first turn number."
    )
    last: int | None = Field(
        default=None,
        ge=1,
        description="turns: the last turn number (omit it for one turn).",
    )
    tool: str | None = Field(default=None, description="tool_calls: only this tool.")
    query: str | None = Field(
        default=None,
        description="search: words to find (all of them first, else any); "
        "end a word of four or more letters with * to match its prefix.",
    )
    n: int | None = Field(
        default=None,
        ge=1,
        le=_MAX_TURNS,
        description="last, tool_calls, search: how many (5, 10, 10 when omitted).",
    )
    scope: Literal["session", "workspace"] = Field(
        default="session",
        description="search: this session, or every session of this workspace.",
    )
    session: str | None = Field(
        default=None,
        description="turns, last, tool_calls: another session of this workspace "
        "(as named in a search hit) instead of this one.",
    )


class ConversationRecall(Tool):
    name = "conversation_recall"
    description = (
        "Read earlier turns of the conversation exactly as they were, including "
        "those no longer in your context: by turn number, the last few, past tool "
        "results, or a full-text search of this session or this workspace's past "
        "sessions."
    )
    kind = "read"
    Args = RecallArgs

    async def run(self, args: RecallArgs, ctx: ToolContext) -> str:
        views = await _caught_up(ctx)
        stream = await _stream(views, ctx.journal.stream, args.session)
        if args.mode == "search":
            return await _search(views, stream, args)
        n = args.n or _DEFAULT_N.get(args.mode, 0)
        if args.mode == "turns":
            found = await _numbered(views, stream, args.first, args.last)
        elif args.mode == "last":
            found = await last_turns(views, stream, n)
        else:
            found = await tool_calls(views, stream, args.tool, n)
        return _listing(found, stream, args)


async def _caught_up(ctx: ToolContext) -> ViewStore:
    if ctx.log is None or ctx.views is None:
        raise ToolError(
            "conversation_recall needs the event log and the views database, "
            "and this run has no views database"
        )
    await ProjectionRunner(ctx.log, ctx.views, Conversation()).catch_up()
    return ctx.views


async def _stream(views: ViewStore, current: str, other: str | None) -> str:
    """The stream to read: the current one, or another of its workspace."""
    if other is None or other == current:
        return current
    if other not in await _workspace_streams(views, current):
        raise ToolError(
            f"no session {other!r} in this workspace; search with "
            "scope='workspace' to find past sessions"
        )
    return other


async def _workspace_streams(views: ViewStore, stream: str) -> list[str]:
    found = await conversation_stream(views, stream)
    if found is None or not found.workspace:
        return [stream]
    return await streams_of_workspace(views, found.workspace)


async def _numbered(
    views: ViewStore, stream: str, first: int | None, last: int | None
) -> list[Turn]:
    if first is None:
        raise ToolError("mode 'turns' needs first (and last for a range)")
    if last is not None and last < first:
        raise ToolError(f"last ({last}) comes before first ({first})")
    end = first if last is None else min(last, first + _MAX_TURNS - 1)
    return await turns(views, stream, first, end)


async def _search(views: ViewStore, stream: str, args: RecallArgs) -> str:
    if not args.query or not args.query.strip():
        raise ToolError("mode 'search' needs query: the words to look for")
    streams = [stream]
    if args.scope == "workspace":
        streams = await _workspace_streams(views, stream)
    hits = await search(
        views, args.query, streams=streams, limit=args.n or _DEFAULT_N["search"]
    )
    where = "this session" if args.scope == "session" else "this workspace"
    if not hits:
        return f"no turns in {where} match {args.query!r}"
    lines = [f"{len(hits)} turns in {where} match {args.query!r}, best first:"]
    return _capped([*lines, *(format_hit(hit) for hit in hits)])


def _listing(found: list[Turn], stream: str, args: RecallArgs) -> str:
    if not found:
        what = {
            "turns": f"no turn {args.first}" + (f"-{args.last}" if args.last else ""),
            "last": "no turns yet",
            "tool_calls": f"no {args.tool or 'tool'} calls",
        }[args.mode]
        return f"{what} in {stream}"
    limit = _OUTPUT_CHARS if len(found) == 1 else _TURN_CHARS
    text = _capped([format_turn(turn, limit) for turn in found])
    if args.mode == "turns" and args.last and found[-1].number < args.last:
        text += f"\n(shown up to turn {found[-1].number}; ask again from there)"
    return text


def _capped(blocks: list[str]) -> str:
    """``blocks`` joined, stopping before the output grows past the limit."""
    shown: list[str] = []
    size = 0
    for block in blocks:
        if shown and size + len(block) > _OUTPUT_CHARS:
            shown.append(f"({len(blocks) - len(shown)} more not shown; ask for fewer)")
            break
        shown.append(block)
        size += len(block) + 1
    return "\n".join(shown)


def format_turn(turn: Turn, limit: int = _TURN_CHARS) -> str:
    """``[turn 12 · user] text``, with a tool turn's call and an answer's calls."""
    head = f"turn {turn.number} · {turn.role}"
    if turn.role == "tool":
        head += f" {turn.tool_name or '?'} {_arguments(turn.arguments)}"
        if turn.status != "ok":
            head += f" · {turn.status}"
    lines = [f"[{head}] {_cut(turn.content, limit)}"]
    lines += [f"  → {c.name} {_arguments(c.arguments)}" for c in turn.tool_calls]
    return "\n".join(lines)


def format_hit(hit: Hit) -> str:
    """``[session-1 · turn 12 · tool grep] snippet with **matches**``."""
    role = hit.role if hit.tool_name is None else f"{hit.role} {hit.tool_name}"
    snippet = " ".join(hit.snippet.split()) or "(matched the call, not the text)"
    return f"[{hit.stream} · turn {hit.number} · {role}] {snippet}"


def _arguments(arguments: dict[str, object] | None) -> str:
    text = json.dumps(arguments or {}, ensure_ascii=False)
    return _cut(text, _ARGUMENT_CHARS)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"
