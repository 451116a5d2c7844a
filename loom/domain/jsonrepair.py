"""Tolerant JSON for what weak local models write instead of JSON.

Small models break JSON in a handful of recurring ways: trailing commas,
Python-style quotes and literals, unquoted keys, raw newlines inside strings,
comments, smart quotes, prose or code fences around the object, and output
cut off before the closing brackets. :func:`repair_json` reads all of those
with a small recursive-descent parser that accepts a superset of JSON.

It repairs only what has one reading. It never guesses a missing comma, an
unquoted value or a missing value, and it refuses text holding two JSON
values rather than picking one: the caller (for instance the tool-call parser)
decides what several values mean, using :func:`scan_json`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from loom.domain.errors import LoomError

__all__ = [
    "JsonFailure",
    "JsonFound",
    "JsonRepairError",
    "read_json_at",
    "repair_json",
    "scan_json",
]

# A `[` in prose only starts a JSON candidate when structure follows it, so
# footnotes like "[1]" and markdown links like "[see](url)" stay prose.
_CANDIDATE = re.compile(r"\{|\[(?=\s*[\[{\"'\u201c\u2018\]])")
_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:```|\Z)", re.DOTALL)


class JsonRepairError(LoomError):
    """The text holds no JSON value that can be read without guessing."""


@dataclass(frozen=True)
class JsonFound:
    """A JSON value found in text by :func:`scan_json`.

    Attributes:
        start: Offset of the value's first character.
        end: Offset just past the value's last character.
        value: The parsed value.
        cut_off: The text ended inside a string or just after a comma, so
            the value is probably a truncated prefix of what was meant.
    """

    start: int
    end: int
    value: object
    cut_off: bool = False


@dataclass(frozen=True)
class JsonFailure:
    """Text where a JSON value begins but cannot be read.

    :func:`scan_json` reports only those that broke after their first member
    (earlier breaks are taken for prose); :func:`read_json_at` reports any.

    Attributes:
        start: Offset of the opening bracket.
        end: Offset where reading stopped.
        reason: Why it stopped, phrased for a model to act on.
    """

    start: int
    end: int
    reason: str


def repair_json(text: str) -> object:
    """Parse ``text`` as JSON, repairing the common ways models break it.

    Strict JSON is tried first. Then the whole text is read tolerantly; then
    exactly one object or array is looked for inside surrounding prose or
    code fences.

    Args:
        text: What the model wrote.

    Returns:
        The parsed value (dict, list, str, int, float, bool or None).

    Raises:
        JsonRepairError: No value can be read without guessing, or the text
            holds more than one JSON value.
    """
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    stripped = text.strip().lstrip("\ufeff")
    try:
        return _Parser(stripped).parse_whole()
    except _Stop as stop:
        whole_text_stop = stop
    results = scan_json(stripped)
    found = _single_value(results)
    if found is None and "```" in stripped:
        found = _single_value(_scan_fences(stripped))
    if found is None:
        raise JsonRepairError(_no_value_reason(results, whole_text_stop))
    return found.value


def scan_json(text: str) -> list[JsonFound | JsonFailure]:
    """Find the JSON objects and arrays embedded in prose, in order.

    Each ``{`` (and each ``[`` followed by structure) starts a candidate that
    is read tolerantly, as :func:`repair_json` reads it; output cut off at the
    end of ``text`` is closed. A candidate that breaks before its first member
    is taken for prose and skipped; one that breaks later is reported as a
    :class:`JsonFailure`. Scanning resumes after each candidate, so the inner
    objects of a broken outer one are never offered as values.

    Args:
        text: Text that may contain JSON.

    Returns:
        Found values and failures, ordered by their start offset.
    """
    results: list[JsonFound | JsonFailure] = []
    pos = 0
    while (match := _CANDIDATE.search(text, pos)) is not None:
        parser = _Parser(text, match.start())
        try:
            value = parser.parse_value()
        except _Stop as stop:
            if stop.members_read:
                results.append(JsonFailure(match.start(), stop.pos, stop.reason))
            pos = max(stop.pos, match.start() + 1)
            continue
        results.append(JsonFound(match.start(), parser.pos, value, parser.cut_off))
        pos = parser.pos
    return results


def read_json_at(text: str, start: int) -> JsonFound | JsonFailure:
    """Read one JSON value tolerantly, beginning exactly at ``start``.

    Reading runs as far as the value does, so markup that appears inside its
    strings (a ``</tool_call>`` in file contents) does not end it early.

    Args:
        text: The whole text.
        start: Offset where the value begins.

    Returns:
        The value and where it ends, or why it could not be read.
    """
    parser = _Parser(text, start)
    try:
        value = parser.parse_value()
    except _Stop as stop:
        return JsonFailure(start, stop.pos, stop.reason)
    return JsonFound(start, parser.pos, value, parser.cut_off)


def _scan_fences(text: str) -> list[JsonFound | JsonFailure]:
    # A fence body ends where its closing fence starts, so output cut off
    # inside a fence is closed there instead of colliding with the backticks.
    results: list[JsonFound | JsonFailure] = []
    for fence in _FENCE.finditer(text):
        results.extend(scan_json(fence.group(1)))
    return results


def _single_value(results: list[JsonFound | JsonFailure]) -> JsonFound | None:
    found = [r for r in results if isinstance(r, JsonFound)]
    if len(found) > 1:
        raise JsonRepairError(
            f"found {len(found)} separate JSON values; expected exactly one"
        )
    if len(found) == 1 and len(results) == 1:
        return found[0]
    return None


def _no_value_reason(results: list[JsonFound | JsonFailure], whole: _Stop) -> str:
    # Only failures can be left here: a lone value would have been returned.
    failures = [r for r in results if isinstance(r, JsonFailure)]
    if failures:
        first = failures[0]
        return f"invalid JSON at offset {first.end}: {first.reason}"
    if whole.members_read or _CANDIDATE.match(whole.text):
        return f"invalid JSON at offset {whole.pos}: {whole.reason}"
    return "no JSON object or array found in the text"


_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_$][\w$-]*")
_SKIP = re.compile(r"(?:\s+|//[^\n]*|/\*.*?(?:\*/|\Z))*", re.DOTALL)
_LITERALS: dict[str, object] = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
}
# Opening quote -> the characters that close it. Smart quotes come from chat
# front-ends and from models trained on typeset text.
_QUOTES = {
    '"': '"',
    "'": "'",
    "\u201c": "\u201d\u201c",
    "\u201d": "\u201d",
    "\u2018": "\u2019",
}
_RUNS = {
    opener: re.compile("[^" + re.escape(closers) + "\\\\]+")
    for opener, closers in _QUOTES.items()
}
_ESCAPES = {
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
# An unterminated string that ends like this probably swallowed the structure
# after a mismatched quote, so closing it would invent a value.
_SWALLOWED_TAIL = ('"', "}", "]", ",", ":")
# Three Python frames per level; stays well inside the default recursion limit.
_MAX_DEPTH = 128


class _Stop(Exception):
    """The tolerant parser met text it will not guess about."""

    def __init__(self, text: str, pos: int, reason: str, members_read: bool) -> None:
        super().__init__(reason)
        self.text = text
        self.pos = pos
        self.reason = reason
        self.members_read = members_read


class _Parser:
    """Recursive descent over a superset of JSON, starting at ``pos``."""

    def __init__(self, text: str, pos: int = 0) -> None:
        self.text = text
        self.pos = pos
        self.depth = 0
        self.members = 0
        self.cut_off = False

    def parse_whole(self) -> object:
        value = self.parse_value()
        self._skip()
        if self.pos != len(self.text):
            raise self._stop("unexpected text after the JSON value")
        return value

    def parse_value(self) -> object:
        self._skip()
        char = self.text[self.pos : self.pos + 1]
        if char == "{":
            return self._nested(self._object)
        if char == "[":
            return self._nested(self._array)
        if char in _QUOTES and char:
            return self._string()
        return self._scalar()

    def _nested(self, read: Callable[[], object]) -> object:
        if self.depth >= _MAX_DEPTH:
            # Counted as broken JSON, so no scan resumes inside and returns
            # an inner fragment as if it were the whole value.
            raise _Stop(self.text, self.pos, "JSON nested too deeply", True)
        self.depth += 1
        try:
            return read()
        finally:
            self.depth -= 1

    def _object(self) -> dict[str, object]:
        self.pos += 1
        result: dict[str, object] = {}
        while not self._close_at("}"):
            key = self._key()
            self._skip()
            if not self.text.startswith(":", self.pos):
                raise self._stop(f"expected ':' after the key {key!r}")
            self.pos += 1
            result[key] = self.parse_value()
            self.members += 1
            self._separator("}")
        return result

    def _array(self) -> list[object]:
        self.pos += 1
        result: list[object] = []
        while not self._close_at("]"):
            result.append(self.parse_value())
            self.members += 1
            self._separator("]")
        return result

    def _close_at(self, closer: str) -> bool:
        """Consume ``closer`` (or accept the end of cut-off output) if next."""
        self._skip()
        if self.pos >= len(self.text):
            if not self.members:
                raise self._stop("the text ends before the JSON value does")
            ends_with_comma = self.text[: self.pos].rstrip().endswith(",")
            self.cut_off = self.cut_off or ends_with_comma
            return True
        if self.text[self.pos] == closer:
            self.pos += 1
            return True
        return False

    def _separator(self, closer: str) -> None:
        # A comma before the closer is the trailing comma models love; the
        # next _close_at then consumes the closer.
        self._skip()
        char = self.text[self.pos : self.pos + 1]
        if char == ",":
            self.pos += 1
        elif char not in (closer, ""):
            raise self._stop(f"expected ',' or {closer!r}")

    def _key(self) -> str:
        if self.text[self.pos] in _QUOTES:
            return self._string()
        match = _WORD.match(self.text, self.pos)
        if match is None:
            raise self._stop("expected a property name")
        self.pos = match.end()
        return match.group()

    def _string(self) -> str:
        opener = self.text[self.pos]
        closers, runs = _QUOTES[opener], _RUNS[opener]
        start = self.pos
        self.pos += 1
        parts: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in closers:
                self.pos += 1
                return "".join(parts)
            if char == "\\":
                parts.append(self._escape())
                continue
            run = runs.match(self.text, self.pos)
            assert run is not None  # char is neither a closer nor a backslash
            parts.append(run.group())
            self.pos = run.end()
        return self._unterminated("".join(parts), start)

    def _unterminated(self, content: str, start: int) -> str:
        if content.rstrip().endswith(_SWALLOWED_TAIL):
            self.pos = start
            raise self._stop("unterminated string")
        self.cut_off = True
        return content

    def _escape(self) -> str:
        nxt = self.text[self.pos + 1 : self.pos + 2]
        if nxt == "u" and _HEX4.fullmatch(self.text, self.pos + 2, self.pos + 6):
            self.pos += 6
            return self._code_point(int(self.text[self.pos - 4 : self.pos], 16))
        if nxt in _ESCAPES and nxt:
            self.pos += 2
            return _ESCAPES[nxt]
        # An unknown escape such as "\d" in a regex: the backslash was meant.
        self.pos += 1
        return "\\"

    def _code_point(self, code: int) -> str:
        low = self.text[self.pos + 2 : self.pos + 6]
        is_pair = 0xD800 <= code < 0xDC00 and self.text.startswith("\\u", self.pos)
        if is_pair and _HEX4.fullmatch(low) and 0xDC00 <= int(low, 16) < 0xE000:
            self.pos += 6
            return chr(0x10000 + ((code - 0xD800) << 10) + (int(low, 16) - 0xDC00))
        return chr(code)

    def _scalar(self) -> object:
        number = _NUMBER.match(self.text, self.pos)
        word = _WORD.match(self.text, self.pos)
        if number is not None and not _WORD.match(self.text, number.end()):
            self.pos = number.end()
            token = number.group()
            is_float = any(c in token for c in ".eE")
            return float(token) if is_float else int(token)
        if word is not None and word.group() in _LITERALS:
            self.pos = word.end()
            return _LITERALS[word.group()]
        if word is not None:
            raise self._stop(f"unquoted text {word.group()!r} (strings need quotes)")
        if self.pos >= len(self.text):
            raise self._stop("expected a value, found the end of the text")
        raise self._stop(f"unexpected character {self.text[self.pos]!r}")

    def _skip(self) -> None:
        match = _SKIP.match(self.text, self.pos)
        assert match is not None  # the pattern also matches the empty string
        self.pos = match.end()

    def _stop(self, reason: str) -> _Stop:
        return _Stop(self.text, self.pos, reason, self.members > 0)
