"""Finding tool-call markup in model text.

Private helper of :mod:`loom.domain.toolcalls`. Each extractor reads one kind
of markup out of a stretch of text and returns :class:`Piece`s: the span the
markup occupies (removed from the answer text) and the calls or errors in it.
A zero-width piece reports an error without removing anything; a ``keep``
piece (a code fence that is not a call) stays in the answer but is not
scanned again for bare JSON, since JSON inside code is code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from loom.domain._toolcalls_shapes import (
    RawCall,
    Reading,
    calls_from_value,
    function_arguments,
)
from loom.domain.jsonrepair import (
    JsonFailure,
    JsonFound,
    JsonRepairError,
    read_json_at,
    repair_json,
    scan_json,
)

__all__ = [
    "EXTRACTORS",
    "HINT",
    "Piece",
    "bare_json",
    "fenced_blocks",
    "function_blocks",
    "tool_call_blocks",
]

Known = Collection[str] | None

_OPEN = re.compile(r"<\s*tool_calls?\s*>", re.IGNORECASE)
_CLOSE = re.compile(r"<\s*/\s*tool_calls?\s*>", re.IGNORECASE)
_FUNCTION = re.compile(r"<function=\s*[\"']?([^<>\"'\s]+)[\"']?\s*>")
_FUNCTION_END = re.compile(r"</function\s*>")
# The info string excludes backticks so a run of them fails fast.
_FENCE = re.compile(r"```[ \t]*([\w-]*)[^\n`]*\n(.*?)(?:```|\Z)", re.DOTALL)
_CALL_LANGS = frozenset(
    {"tool_call", "tool_calls", "tool", "function", "function_call"}
)
_JSON_LANGS = frozenset({"", "json", "jsonc", "json5", "javascript", "js"})
# Broken JSON counts as a call attempt when it opens with a name key and has
# an arguments key somewhere; ordinary JSON rarely starts with "name".
_NAME_KEY = re.compile(r"\{\s*[\"'\u201c]?(?:name|tool|function)[\"'\u201d]?\s*:")
_ARGUMENTS_KEY = re.compile(
    r"[\"'\u201c]?(?:arguments|parameters|args|input|params)[\"'\u201d]?\s*:"
)
HINT = (
    'Write each call as <tool_call>{"name": "TOOL", "arguments": {...}}'
    "</tool_call> with valid JSON."
)


@dataclass(frozen=True)
class Piece:
    """Markup found at ``[start, end)``, with the calls or errors it holds."""

    start: int
    end: int
    calls: list[RawCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    keep: bool = False


def tool_call_blocks(text: str, known: Known) -> list[Piece]:
    """Hermes ``<tool_call>...</tool_call>`` blocks, closing tag optional.

    An unclosed block runs to the next ``<tool_call>`` or the end of text.
    """
    pieces: list[Piece] = []
    pos = 0
    strings = _JsonStrings(text)
    while (opening := _OPEN.search(text, pos)) is not None:
        if strings.hold(opening.start()):
            pos = opening.end()
            continue
        body_end, end = _tool_call_extent(text, opening.end())
        body = text[opening.end() : body_end]
        piece = _body_piece(body, opening.end(), label="<tool_call> block")
        if end is None:
            # Without a closing tag, prose after the call is still the answer.
            end = max(piece.end, opening.end())
        pieces.append(Piece(opening.start(), end, piece.calls, piece.errors))
        pos = end
    return pieces


def function_blocks(text: str, known: Known) -> list[Piece]:
    """Qwen3-coder / Llama 3.1 ``<function=NAME>...</function>`` blocks."""
    pieces: list[Piece] = []
    strings = _JsonStrings(text)
    for opening in _FUNCTION.finditer(text):
        if strings.hold(opening.start()):
            continue
        following = _FUNCTION.search(text, opening.end())
        limit = following.start() if following else len(text)
        close = _FUNCTION_END.search(text, opening.end(), limit)
        body = text[opening.end() : close.start() if close else limit]
        end = close.end() if close else limit
        arguments = function_arguments(body, closed=close is not None)
        if isinstance(arguments, str):
            error = _error(f"<function={opening.group(1)}>", arguments)
            pieces.append(Piece(opening.start(), end, errors=[error]))
        else:
            calls = [(opening.group(1), arguments)]
            pieces.append(Piece(opening.start(), end, calls=calls))
    return pieces


def fenced_blocks(text: str, known: Known) -> list[Piece]:
    """Code fences: ``tool_call`` fences, JSON fences holding calls, and the
    rest, which stay in the answer but are shielded from the bare-JSON scan."""
    pieces: list[Piece] = []
    pos = 0
    while (fence := _FENCE.search(text, pos)) is not None:
        lang = fence.group(1).lower()
        body_end, end = fence.end(2), fence.end()
        if lang in _CALL_LANGS or lang in _JSON_LANGS:
            body_end, end = _fence_json_extent(text, fence) or (body_end, end)
        body = text[fence.start(2) : body_end]
        pieces.append(_fence_piece(body, lang, fence.start(), end, known))
        pos = end
    return pieces


def _fence_piece(body: str, lang: str, start: int, end: int, known: Known) -> Piece:
    if lang in _CALL_LANGS:
        piece = _body_piece(body, 0, label=f"```{lang} block")
        return Piece(start, end, piece.calls, piece.errors)
    reading = _json_reading(body, known) if lang in _JSON_LANGS else None
    if reading is None:
        return Piece(start, end, keep=True)
    return _reading_piece(start, end, reading)


def bare_json(text: str, known: Known) -> list[Piece]:
    """JSON objects in prose that have both a name and an arguments key."""
    pieces: list[Piece] = []
    for result in scan_json(text):
        if isinstance(result, JsonFound):
            reading = _known_only(_calls_from(result, explicit=False), known)
            if reading is not None:
                pieces.append(_reading_piece(result.start, result.end, reading))
        elif _looks_like_call(text[result.start : result.end + 200]):
            error = _error("JSON tool call", result.reason)
            pieces.append(Piece(result.start, result.start, errors=[error]))
    return pieces


EXTRACTORS: tuple[Callable[[str, Known], list[Piece]], ...] = (
    tool_call_blocks,
    function_blocks,
    fenced_blocks,
    bare_json,
)


class _JsonStrings:
    """Tells, for increasing positions, whether each is inside a string of a
    complete JSON object or array that starts before it: a tag there is data
    (a file's content, a key), not markup. A value cut off or broken does not
    count, so a model's garbled JSON never hides a real tag after it. One
    lexical pass over the text (braces and quotes outside strings), and each
    value is read once, so pathological text stays linear."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._index = self._depth = 0
        self._start: int | None = None
        self._in_string = self._escaped = False
        self._ends: dict[int, int | None] = {}

    def hold(self, pos: int) -> bool:
        self._advance(pos)
        if not self._in_string or self._start is None:
            return False
        end = self._value_end(self._start)
        return end is not None and end > pos

    def _advance(self, pos: int) -> None:
        for index in range(self._index, pos):
            char = self._text[index]
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif char == "\\":
                    self._escaped = True
                elif char == '"':
                    self._in_string = False
            elif char in "{[":
                self._start = index if self._depth == 0 else self._start
                self._depth += 1
            elif char in "}]" and self._depth:
                self._depth -= 1
            elif char == '"' and self._depth:
                self._in_string = True
        self._index = max(self._index, pos)

    def _value_end(self, start: int) -> int | None:
        if start not in self._ends:
            found = read_json_at(self._text, start)
            self._ends[start] = found.end if isinstance(found, JsonFound) else None
        return self._ends[start]


def _tool_call_extent(text: str, body_start: int) -> tuple[int, int | None]:
    """Where a ``<tool_call>`` body ends, and its closing tag's end if closed."""
    value_end = _json_end(text, body_start)
    if value_end is not None:
        after = _skip_space(text, value_end)
        if close := _CLOSE.match(text, after):
            return value_end, close.end()
        if after == len(text) or _OPEN.match(text, after):
            return value_end, None
    following = _OPEN.search(text, body_start)
    limit = following.start() if following else len(text)
    close = _CLOSE.search(text, body_start, limit)
    return (close.start(), close.end()) if close else (limit, None)


def _fence_json_extent(text: str, fence: re.Match[str]) -> tuple[int, int] | None:
    """A JSON fence's body and fence end, when a JSON value fills the body."""
    value_end = _json_end(text, fence.start(2))
    if value_end is None:
        return None
    after = _skip_space(text, value_end)
    return (value_end, after + 3) if text.startswith("```", after) else None


def _json_end(text: str, pos: int) -> int | None:
    """End of the complete JSON value at ``pos``, read past any tags or fences
    inside its strings; ``None`` unless it ends before the text does (one cut
    off is left to the tag-delimited reading, which will not let a broken
    string swallow the closing tag)."""
    start = _skip_space(text, pos)
    if text[start : start + 1] not in ("{", "["):
        return None
    found = read_json_at(text, start)
    if isinstance(found, JsonFound) and found.end < len(text):
        return found.end
    return None


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _body_piece(body: str, offset: int, *, label: str) -> Piece:
    """Read markup that is meant as a call; ``end`` is where its content ends."""
    found = function_blocks(body, None) if "<function=" in body else []
    if found:
        calls = [call for piece in found for call in piece.calls]
        errors = [error for piece in found for error in piece.errors]
        return Piece(offset, offset + found[-1].end, calls, errors)
    results = _through_first_failure(scan_json(body))
    readings = [
        _calls_from(r, explicit=True) if isinstance(r, JsonFound) else r.reason
        for r in results
    ]
    if not readings:
        readings = [_no_json_reason(body)]
    calls = [call for r in readings if isinstance(r, list) for call in r]
    errors = [_error(label, r) for r in readings if isinstance(r, str)]
    last_end = results[-1].end if results and not errors else len(body)
    return Piece(offset, offset + last_end, calls, errors)


def _through_first_failure(
    results: list[JsonFound | JsonFailure],
) -> list[JsonFound | JsonFailure]:
    # Fragments after broken JSON are pieces of it, not further calls.
    failures = [i for i, r in enumerate(results) if isinstance(r, JsonFailure)]
    return results[: failures[0] + 1] if failures else results


def _json_reading(body: str, known: Known) -> Reading:
    results = scan_json(body)
    found = [r for r in results if isinstance(r, JsonFound)]
    failures = [r for r in results if isinstance(r, JsonFailure)]
    if failures:
        return failures[0].reason if _looks_like_call(body) else None
    readings = [_known_only(_calls_from(r, explicit=False), known) for r in found]
    if not readings or any(r is None for r in readings):
        return None
    reasons = [r for r in readings if isinstance(r, str)]
    if reasons:
        return reasons[0]
    return [call for r in readings if isinstance(r, list) for call in r]


def _calls_from(found: JsonFound, *, explicit: bool) -> Reading:
    reading = calls_from_value(found.value, explicit=explicit)
    if isinstance(reading, list) and found.cut_off:
        # A call cut off mid-string or after a comma is a prefix of the call
        # meant (max_tokens, usually): running it could write half a file.
        return "it stops inside a string or after a comma, so it looks cut off"
    return reading


def _reading_piece(start: int, end: int, reading: list[RawCall] | str) -> Piece:
    if isinstance(reading, str):
        return Piece(start, end, errors=[_error("JSON tool call", reading)])
    return Piece(start, end, calls=reading)


def _known_only(reading: Reading, known: Known) -> Reading:
    if known is None or not isinstance(reading, list):
        return reading
    return reading if all(name in known for name, _ in reading) else None


def _looks_like_call(snippet: str) -> bool:
    return bool(_NAME_KEY.match(snippet.lstrip()) and _ARGUMENTS_KEY.search(snippet))


def _no_json_reason(body: str) -> str:
    if not body.strip():
        return "it is empty"
    try:
        repair_json(body)
    except JsonRepairError as error:
        return str(error)
    return "expected a JSON object with name and arguments"


def _error(label: str, reason: str) -> str:
    return f"Could not read the {label}: {reason}. {HINT}"
