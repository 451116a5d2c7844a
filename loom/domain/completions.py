"""Turning what a backend streams into one clean ``Completion``.

Two things local models do are absorbed here for every provider alike:
reasoning wrapped in ``<think>...</think>`` inside the answer (split out and
kept as thinking), and tool calls written as text instead of native calls
(parsed, with the markup removed from the answer).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from loom.domain.events import TokenUsage, ToolCall
from loom.domain.jsonrepair import JsonRepairError, repair_json
from loom.domain.models import (
    Completion,
    Delta,
    TextDelta,
    ThinkingDelta,
    ToolSpec,
)
from loom.domain.toolcalls import parse_text_tool_calls

__all__ = ["CompletionBuilder", "ThinkSplitter"]

_OPEN, _CLOSE = "<think>", "</think>"


class ThinkSplitter:
    """Splits streamed text into answer and thinking at ``<think>`` tags.

    Tags may arrive cut across chunks, so a possible partial tag at the end of
    a chunk is held back until the next chunk decides it.
    """

    def __init__(self) -> None:
        self._thinking = False
        self._pending = ""

    def feed(self, chunk: str) -> Iterator[TextDelta | ThinkingDelta]:
        """The deltas that ``chunk`` completes."""
        buffer = self._pending + chunk
        self._pending = ""
        while buffer:
            tag = _CLOSE if self._thinking else _OPEN
            index = buffer.find(tag)
            if index >= 0:
                yield from self._emit(buffer[:index])
                buffer = buffer[index + len(tag) :]
                self._thinking = not self._thinking
                continue
            keep = _partial_suffix(buffer, tag)
            yield from self._emit(buffer[: len(buffer) - keep])
            self._pending = buffer[len(buffer) - keep :]
            return

    def flush(self) -> Iterator[TextDelta | ThinkingDelta]:
        """Whatever was held back, at the end of the stream."""
        pending, self._pending = self._pending, ""
        yield from self._emit(pending)

    def _emit(self, text: str) -> Iterator[TextDelta | ThinkingDelta]:
        if text:
            yield ThinkingDelta(text) if self._thinking else TextDelta(text)


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that starts ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


@dataclass
class _NativeCall:
    id: str | None = None
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class CompletionBuilder:
    """Accumulates one call's deltas and builds its ``Completion``.

    Args:
        call_prefix: prefix for ids of calls that arrive without one (parsed
            from text); derived from the request so ids are deterministic.
        tools: the tools offered; text is only searched for tool calls when
            there are some.
    """

    def __init__(self, call_prefix: str, tools: Sequence[ToolSpec]) -> None:
        self._prefix = call_prefix
        self._tools = tools
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._native: dict[int, _NativeCall] = {}

    def add(self, delta: Delta) -> None:
        """Record one delta."""
        if isinstance(delta, TextDelta):
            self._text.append(delta.text)
        elif isinstance(delta, ThinkingDelta):
            self._thinking.append(delta.text)
        else:
            call = self._native.setdefault(delta.index, _NativeCall())
            call.id = call.id or delta.id
            call.name = call.name or (delta.name or "")
            call.arguments.append(delta.arguments)

    def build(
        self,
        *,
        usage: TokenUsage | None,
        finish_reason: str,
        latency_ms: float,
        warnings: Sequence[str] = (),
    ) -> Completion:
        """The final completion, with text tool calls parsed when needed."""
        text = "".join(self._text)
        calls, errors = self._native_calls()
        if not calls and self._tools:
            parsed = parse_text_tool_calls(text)
            if parsed.calls or parsed.errors:
                text = parsed.text
            calls = [
                ToolCall(id=self._id(n), name=c.name, arguments=dict(c.arguments))
                for n, c in enumerate(parsed.calls)
            ]
            errors += parsed.errors
        return Completion(
            text=text.strip(),
            thinking="".join(self._thinking).strip(),
            tool_calls=calls,
            usage=usage,
            finish_reason="tool_calls" if calls else finish_reason,
            latency_ms=latency_ms,
            warnings=list(warnings),
            tool_call_errors=errors,
        )

    def _native_calls(self) -> tuple[list[ToolCall], list[str]]:
        calls: list[ToolCall] = []
        errors: list[str] = []
        for n, (_, native) in enumerate(sorted(self._native.items())):
            raw = "".join(native.arguments).strip() or "{}"
            try:
                arguments = repair_json(raw)
            except JsonRepairError as error:
                errors.append(f"arguments of {native.name!r} are not JSON: {error}")
                continue
            if not isinstance(arguments, dict):
                errors.append(f"arguments of {native.name!r} are not a JSON object")
                continue
            calls.append(
                ToolCall(
                    id=native.id or self._id(n), name=native.name, arguments=arguments
                )
            )
        return calls, errors

    def _id(self, n: int) -> str:
        return f"{self._prefix}-{n}"
