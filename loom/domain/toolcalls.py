"""Tool calls that models write as text, and checking calls against tools.

Weak local models often answer a tool prompt with the call written into their
text instead of a native tool call, and bend the format while doing so.
:func:`parse_text_tool_calls` reads the formats seen in practice:

* Hermes: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, any
  number of them, the last one possibly missing its closing tag;
* Qwen3-coder: ``<function=NAME><parameter=KEY>value</parameter></function>``,
  with or without a ``<tool_call>`` around it (and Llama 3.1's
  ``<function=NAME>{json}</function>``);
* code fences (````` ```tool_call ````` or ````` ```json `````) and bare JSON
  objects, or lists of them, shaped ``{"name", "arguments"}``,
  ``{"name", "parameters"}``, ``{"tool", "args"}`` or OpenAI's
  ``{"function": {"name", "arguments": "<json string>"}}``.

JSON inside any of them goes through :func:`loom.domain.jsonrepair.repair_json`.
:func:`validate_tool_call` then turns a call that does not fit the tools into a
:class:`ToolCallProblem` whose message a model can act on.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from loom.domain._toolcalls_markup import EXTRACTORS, HINT, Piece
from loom.domain._toolcalls_schema import (
    describe_parameters,
    object_problems,
    rank_by_similarity,
    required_missing,
)
from loom.domain.models import ToolSpec

__all__ = [
    "ParsedToolCall",
    "TextToolCalls",
    "ToolCallProblem",
    "ToolSpec",
    "parse_text_tool_calls",
    "validate_tool_call",
]

ProblemKind = Literal["unknown_tool", "missing_arguments", "invalid_arguments"]

_STRAY_MARKUP = re.compile(
    r"<\s*/?\s*tool_calls?\s*>|</function\s*>|</parameter\s*>", re.IGNORECASE
)
_STRAY_CLOSING = re.compile(r"</\s*(?:tool_calls?|function)\s*>", re.IGNORECASE)
_EMPTY_FENCE = re.compile(r"```[\w-]*\s*```")
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")


@dataclass(frozen=True)
class ParsedToolCall:
    """A tool call read from a model's text.

    Attributes:
        name: The tool the model asked for, as written (not yet checked).
        arguments: The arguments, decoded from JSON or parameter tags.
    """

    name: str
    arguments: dict[str, object]


@dataclass(frozen=True)
class TextToolCalls:
    """What :func:`parse_text_tool_calls` found in a model's text.

    Attributes:
        calls: The calls, in the order they appear.
        text: The answer text with the tool-call markup removed, stripped.
        errors: One message per piece of markup that looked like a tool call
            but could not be read, phrased to be sent back to the model.
    """

    calls: list[ParsedToolCall]
    text: str
    errors: list[str]


@dataclass(frozen=True)
class ToolCallProblem:
    """Why a call does not fit the offered tools.

    Attributes:
        kind: ``unknown_tool``, ``missing_arguments`` or ``invalid_arguments``.
        message: The problem and its fix, phrased to be sent to the model.
        valid_tools: For an unknown tool, every tool name, closest match first.
        missing: Required arguments the call left out.
        invalid: Paths of arguments with a wrong type or value, or not allowed.
    """

    kind: ProblemKind
    message: str
    valid_tools: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()


def parse_text_tool_calls(
    text: str, known_tools: Collection[str] | None = None
) -> TextToolCalls:
    """Read the tool calls a model wrote into its text.

    Explicit markup (``<tool_call>``, ``<function=...>``, ``tool_call``
    fences) always counts as a call attempt. JSON in a ``json`` fence or in
    prose counts only with both a name-like and an arguments-like key, and,
    when ``known_tools`` is given, only if every name in it is a known tool,
    so ordinary JSON in an answer is left alone.

    Args:
        text: The model's output.
        known_tools: Names of the offered tools, to filter unmarked JSON.

    Returns:
        The calls, the remaining answer text, and errors for call markup
        that could not be read. Never raises.
    """
    known = frozenset(known_tools) if known_tools is not None else None
    gaps = [(0, len(text))]
    pieces: list[Piece] = []
    for extract in EXTRACTORS:
        found = [
            _shifted(piece, start)
            for start, end in gaps
            for piece in extract(text[start:end], known)
        ]
        gaps = _without(gaps, found)
        pieces += found
    pieces.sort(key=lambda piece: piece.start)
    calls = [ParsedToolCall(name, args) for p in pieces for name, args in p.calls]
    errors = [error for piece in pieces for error in piece.errors]
    if not calls and not errors:
        errors = _stray_closing_tags(text, gaps)
    return TextToolCalls(
        calls=calls,
        text=_answer_text(text, [p for p in pieces if not p.keep]),
        errors=errors,
    )


def validate_tool_call(
    call: ParsedToolCall, tools: Sequence[ToolSpec]
) -> ToolCallProblem | None:
    """Check a call against the offered tools' names and JSON Schemas.

    Args:
        call: The call the model made.
        tools: The tools it was offered.

    Returns:
        ``None`` if the call fits, else the first kind of problem found:
        an unknown tool, missing required arguments (wrong types are named
        too), or wrongly typed or unexpected arguments. Never raises.
    """
    spec = next((tool for tool in tools if tool.name == call.name), None)
    if spec is None:
        return _unknown_tool(call.name, [tool.name for tool in tools])
    arguments = call.arguments if isinstance(call.arguments, dict) else {}
    missing = required_missing(arguments, spec.parameters)
    problems = object_problems(arguments, spec.parameters)
    if not missing and not problems:
        return None
    details = [f"{path!r} {what}" for path, what in problems]
    if missing:
        details.insert(0, f"missing required argument(s): {', '.join(missing)}")
    message = (
        f"Invalid call to tool {spec.name!r}: {'; '.join(details)}. "
        f"{spec.name} takes: {describe_parameters(spec.parameters)}. "
        "Call it again with corrected arguments."
    )
    return ToolCallProblem(
        kind="missing_arguments" if missing else "invalid_arguments",
        message=message,
        missing=tuple(missing),
        invalid=tuple(path for path, _ in problems),
    )


def _unknown_tool(name: str, names: list[str]) -> ToolCallProblem:
    if not names:
        message = f"Unknown tool {name!r}: no tools are available; answer in text."
        return ToolCallProblem(kind="unknown_tool", message=message)
    ranked, best = rank_by_similarity(name, names)
    guess = f" Did you mean {best!r}?" if best else ""
    message = (
        f"Unknown tool {name!r}.{guess} Valid tools: {', '.join(ranked)}. "
        "Call one of them by its exact name."
    )
    return ToolCallProblem(
        kind="unknown_tool", message=message, valid_tools=tuple(ranked)
    )


def _shifted(piece: Piece, offset: int) -> Piece:
    return replace(piece, start=piece.start + offset, end=piece.end + offset)


def _without(gaps: list[tuple[int, int]], pieces: list[Piece]) -> list[tuple[int, int]]:
    """``gaps`` minus the spans of ``pieces`` (each inside one gap)."""
    result: list[tuple[int, int]] = []
    for start, end in gaps:
        cursor = start
        inside = [p for p in pieces if p.start < p.end and start <= p.start < end]
        for piece in sorted(inside, key=lambda p: p.start):
            result.append((cursor, piece.start))
            cursor = max(cursor, piece.end)
        result.append((cursor, end))
    return [(s, e) for s, e in result if s < e]


def _stray_closing_tags(text: str, gaps: list[tuple[int, int]]) -> list[str]:
    # "list_dir()</function></tool_call>": the model meant a call but wrote
    # only its closing tags. Saying so beats silently taking it as an answer.
    for start, end in gaps:
        if tag := _STRAY_CLOSING.search(text, start, end):
            return [
                f"Found {tag.group()} without its opening tag, so no tool call "
                f"could be read. {HINT}"
            ]
    return []


def _answer_text(text: str, removed: list[Piece]) -> str:
    parts: list[str] = []
    for start, end in _without([(0, len(text))], removed):
        part = _STRAY_MARKUP.sub("", text[start:end])
        if parts:
            parts[-1], part = _seam(parts[-1], part)
        parts.append(part)
    joined = _EMPTY_FENCE.sub("", "".join(parts))
    return _BLANK_LINES.sub("\n\n", joined).strip()


def _seam(left: str, right: str) -> tuple[str, str]:
    """Close the gap left by removed markup: one space inside a line."""
    left, right = left.rstrip(" \t"), right.lstrip(" \t")
    if left.endswith("\n") and right.startswith("\n"):
        return left, right[1:]  # the markup's own line goes with it
    if left and right and "\n" not in (left[-1], right[0]):
        return left, " " + right
    return left, right
