"""Explaining where a replay diverged from its recording, in plain words.

``loom replay`` re-runs a recorded run and compares each new event with the
recorded event at the same position of the same stream. :func:`compare_events`
finds the differing fields (payload first, then the envelope: a replay
reproduces ids and times, so a different id or time is a divergence too).
When the divergence is a ``model.call.started`` whose request changed,
:func:`describe_request_change` says which part of the prompt changed: the
model, a parameter, a tool, or a message and the prompt section it is in.
:func:`render_difference` and :func:`difference_as_json` present the result.

Everything here is pure: request documents arrive as bytes read by the caller.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from loom.domain.eventbase import ENVELOPE_FIELDS, Event

__all__ = [
    "ABSENT",
    "EventDifference",
    "FieldDifference",
    "compare_events",
    "describe_request_change",
    "difference_as_json",
    "render_difference",
]

_ENVELOPE: Final = frozenset(ENVELOPE_FIELDS | {"id", "at"})
_DIFF_CONTEXT: Final = 2
_DIFF_CAP: Final = 60
_SHORT_CAP: Final = 120


class _Absent:
    """The value of a key or list item that one side does not have."""

    def __repr__(self) -> str:
        return "(absent)"

    __str__ = __repr__


ABSENT: Final = _Absent()
"""Stands for a key or list item missing on one side; renders as ``(absent)``."""


@dataclass(frozen=True)
class FieldDifference:
    """One differing value inside two events' JSON.

    Attributes:
        path: where it is, dotted and indexed, e.g. ``tool_calls[0].arguments.path``.
        recorded: the recorded value, or :data:`ABSENT`.
        new: the replayed value, or :data:`ABSENT`.
    """

    path: str
    recorded: object
    new: object


@dataclass(frozen=True)
class EventDifference:
    """How a replayed event differs from the recorded one at its position.

    Attributes:
        stream: the stream both events are in (the recorded event's).
        version: their position in it (the recorded event's).
        recorded_type: the recorded event's wire name.
        new_type: the replayed event's wire name.
        fields: the differing values, payload before envelope.
    """

    stream: str
    version: int
    recorded_type: str
    new_type: str
    fields: tuple[FieldDifference, ...]


def compare_events(recorded: Event, new: Event) -> EventDifference | None:
    """Compare a recorded event with the replayed event at the same position.

    Args:
        recorded: the event in the recording.
        new: the event the replay produced.

    Returns:
        None when type and every field (envelope included) are equal, otherwise
        the differences, payload fields first and envelope fields after them.
    """
    found = list(
        _walk("", recorded.model_dump(mode="json"), new.model_dump(mode="json"))
    )
    if type(recorded).type == type(new).type and not found:
        return None
    ordered = sorted(found, key=lambda d: _top_key(d.path) in _ENVELOPE)
    return EventDifference(
        stream=recorded.stream,
        version=recorded.version,
        recorded_type=type(recorded).type,
        new_type=type(new).type,
        fields=tuple(ordered),
    )


def _walk(path: str, recorded: object, new: object) -> Iterator[FieldDifference]:
    if isinstance(recorded, dict) and isinstance(new, dict):
        yield from _walk_dict(path, recorded, new)
    elif isinstance(recorded, list) and isinstance(new, list):
        yield from _walk_list(path, recorded, new)
    elif type(recorded) is not type(new) or recorded != new:
        yield FieldDifference(path, recorded, new)


def _walk_dict(
    path: str, recorded: dict[str, Any], new: dict[str, Any]
) -> Iterator[FieldDifference]:
    keys = [*recorded, *(key for key in new if key not in recorded)]
    for key in keys:
        child = f"{path}.{key}" if path else str(key)
        yield from _walk(child, recorded.get(key, ABSENT), new.get(key, ABSENT))


def _walk_list(
    path: str, recorded: list[Any], new: list[Any]
) -> Iterator[FieldDifference]:
    for index in range(max(len(recorded), len(new))):
        yield from _walk(f"{path}[{index}]", _item(recorded, index), _item(new, index))


def _item(items: Sequence[Any], index: int) -> object:
    return items[index] if index < len(items) else ABSENT


def _top_key(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def describe_request_change(recorded_document: bytes, new_document: bytes) -> list[str]:
    """Say in plain words which part of a model request changed.

    The documents are the blobs a ``model.call.started`` names: JSON of
    ``{"model", "model_name", "request"}`` as recording writes them.

    Args:
        recorded_document: the recorded request document.
        new_document: the request document the replay built.

    Returns:
        Lines, most useful first: model, params, tools, message count, then the
        first differing message (index, role, prompt section and a unified diff
        of its content) and a count of later differing messages. Empty when the
        documents are equal.
    """
    try:
        recorded, new = json.loads(recorded_document), json.loads(new_document)
    except (ValueError, UnicodeDecodeError):
        return [] if recorded_document == new_document else [_UNREADABLE]
    if not isinstance(recorded, dict) or not isinstance(new, dict):
        return [] if recorded == new else [_UNREADABLE]
    old_request, new_request = _as_dict(recorded, "request"), _as_dict(new, "request")
    return [
        *_model_lines(recorded, new),
        *_params_lines(old_request, new_request),
        *_tools_lines(old_request, new_request),
        *_messages_lines(old_request, new_request),
    ]


_UNREADABLE: Final = "the request documents differ and are not readable as JSON"


def _model_lines(recorded: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [
        f"{key} changed: {_short(recorded.get(key))} → {_short(new.get(key))}"
        for key in ("model", "model_name")
        if recorded.get(key) != new.get(key)
    ]


def _params_lines(recorded: dict[str, Any], new: dict[str, Any]) -> list[str]:
    old_params, new_params = _as_dict(recorded, "params"), _as_dict(new, "params")
    return [
        f"param {key} changed: {_short(old)} → {_short(value)}"
        for key, old, value in _changed_items(old_params, new_params)
    ]


def _changed_items(
    recorded: dict[str, Any], new: dict[str, Any]
) -> list[tuple[str, object, object]]:
    keys = [*recorded, *(key for key in new if key not in recorded)]
    return [
        (key, recorded.get(key, ABSENT), new.get(key, ABSENT))
        for key in keys
        if recorded.get(key, ABSENT) != new.get(key, ABSENT)
    ]


def _changed_keys(recorded: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [key for key, _, _ in _changed_items(recorded, new)]


def _tools_lines(recorded: dict[str, Any], new: dict[str, Any]) -> list[str]:
    old_tools, new_tools = _tools_by_name(recorded), _tools_by_name(new)
    added = [name for name in new_tools if name not in old_tools]
    removed = [name for name in old_tools if name not in new_tools]
    lines = [f"tools added: {', '.join(added)}"] if added else []
    lines += [f"tools removed: {', '.join(removed)}"] if removed else []
    for name in (name for name in old_tools if name in new_tools):
        changed = _changed_keys(old_tools[name], new_tools[name])
        lines += [f"tool {name} changed: {', '.join(changed)}"] if changed else []
    if not lines and recorded.get("tools") != new.get("tools"):
        lines.append("tools reordered")
    return lines


def _tools_by_name(request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    tools = request.get("tools")
    if not isinstance(tools, list):
        return {}
    return {str(t.get("name")): t for t in tools if isinstance(t, dict)}


def _messages_lines(recorded: dict[str, Any], new: dict[str, Any]) -> list[str]:
    old_messages, new_messages = _messages(recorded), _messages(new)
    lines = []
    if len(old_messages) != len(new_messages):
        lines.append(
            f"message count changed: {len(old_messages)} → {len(new_messages)}"
        )
    differing = _differing_indices(old_messages, new_messages)
    if not differing:
        return lines
    first = differing[0]
    lines += _message_change(
        first, _item(old_messages, first), _item(new_messages, first)
    )
    # Messages only one side has are already told by the count above.
    shared = min(len(old_messages), len(new_messages))
    later = sum(1 for index in differing[1:] if index < shared)
    if later:
        lines.append(f"and {later} more message{'s' if later > 1 else ''} differ")
    return lines


def _differing_indices(
    recorded: list[dict[str, Any]], new: list[dict[str, Any]]
) -> list[int]:
    return [
        index
        for index in range(max(len(recorded), len(new)))
        if _item(recorded, index) != _item(new, index)
    ]


def _messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    messages = request.get("messages")
    if not isinstance(messages, list):
        return []
    return [m if isinstance(m, dict) else {"content": str(m)} for m in messages]


def _message_change(index: int, recorded: object, new: object) -> list[str]:
    if not isinstance(recorded, dict):
        return _extra_message(index, new, replayed=True)
    if not isinstance(new, dict):
        return _extra_message(index, recorded, replayed=False)
    head = f"message {index} ({_role(recorded, new)})"
    others = [key for key in _changed_keys(recorded, new) if key != "content"]
    old_text, new_text = _content(recorded), _content(new)
    if old_text == new_text:
        return [f"{head} changed: {', '.join(others)}"]
    section = _section_label(old_text, new_text)
    also = f"; also changed: {', '.join(others)}" if others else ""
    return [f"{head} changed in {section}{also}", *_capped_diff(old_text, new_text)]


def _extra_message(index: int, message: object, *, replayed: bool) -> list[str]:
    found = message if isinstance(message, dict) else {}
    what = "is new in the replay" if replayed else "is missing from the replay"
    text = _content(found)
    diff = _capped_diff("", text) if replayed else _capped_diff(text, "")
    return [f"message {index} ({found.get('role', '?')}) {what}", *diff]


def _role(recorded: dict[str, Any], new: dict[str, Any]) -> str:
    old_role, new_role = recorded.get("role", "?"), new.get("role", "?")
    return str(old_role) if old_role == new_role else f"{old_role} → {new_role}"


def _content(message: dict[str, Any]) -> str:
    content = message.get("content", "")
    return content if isinstance(content, str) else json.dumps(content)


def _as_dict(document: dict[str, Any], key: str) -> dict[str, Any]:
    value = document.get(key)
    return value if isinstance(value, dict) else {}


def _section_label(recorded: str, new: str) -> str:
    """Name the prompt section of the first line where two texts differ.

    Loom's system prompt is assembled from sections with markdown headings, so
    the nearest heading above the change names it; without one, the first line
    of the paragraph the change is in does.
    """
    old_lines, new_lines = recorded.splitlines(), new.splitlines()
    at = _first_differing_line(old_lines, new_lines)
    lines = old_lines if at < len(old_lines) else new_lines
    heading = _heading_above(lines, at)
    if heading is not None:
        return f'section "{_clip(heading, 80)}"'
    return f'the paragraph starting "{_clip(_paragraph_start(lines, at), 80)}"'


def _first_differing_line(recorded: list[str], new: list[str]) -> int:
    for index, (old, line) in enumerate(zip(recorded, new, strict=False)):
        if old != line:
            return index
    return min(len(recorded), len(new))


def _heading_above(lines: list[str], at: int) -> str | None:
    for line in reversed(lines[: at + 1]):
        if _is_heading(line):
            return line.strip()
    return None


def _is_heading(line: str) -> bool:
    stripped = line.lstrip()
    marks = len(stripped) - len(stripped.lstrip("#"))
    return 1 <= marks <= 6 and stripped[marks : marks + 1] in (" ", "")


def _paragraph_start(lines: list[str], at: int) -> str:
    start = min(at, len(lines) - 1)
    while start > 0 and lines[start - 1].strip():
        start -= 1
    return lines[start].strip() if lines else ""


def render_difference(
    diff: EventDifference, request_change: list[str] | None = None
) -> str:
    """The text ``loom replay`` prints for the first divergence.

    Args:
        diff: the difference found by :func:`compare_events`.
        request_change: lines from :func:`describe_request_change`, if any.

    Returns:
        A header naming the position and both types, one entry per differing
        field (short values as ``path: recorded → new``, multi-line text as a
        unified diff), then the request-change lines.
    """
    lines = [
        f"diverged at {diff.stream} v{diff.version} "
        f"(recorded {diff.recorded_type}, replayed {diff.new_type})"
    ]
    for field in diff.fields:
        lines += _render_field(field)
    if request_change:
        lines.append("  request change:")
        lines += [f"    {line}" for line in request_change]
    return "\n".join(lines)


def _render_field(field: FieldDifference) -> list[str]:
    if _is_multiline(field.recorded) or _is_multiline(field.new):
        diff = _capped_diff(_text(field.recorded), _text(field.new))
        return [f"  {field.path}:", *(f"    {line}" for line in diff)]
    shown = f"{_short(field.recorded)} → {_short(field.new)}"
    return [f"  {field.path or '(event)'}: {shown}"]


def _is_multiline(value: object) -> bool:
    return isinstance(value, str) and "\n" in value


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def difference_as_json(
    diff: EventDifference, request_change: list[str] | None = None
) -> dict[str, Any]:
    """The divergence as a JSON-serialisable dict, for ``loom replay --json``.

    Args:
        diff: the difference found by :func:`compare_events`.
        request_change: lines from :func:`describe_request_change`, if any.

    Returns:
        ``stream``, ``version``, ``recorded_type``, ``new_type``, ``fields`` (a
        list of ``{path, recorded, new}``) and ``request_change`` (a list or
        None). Values JSON cannot hold are given as ``str()``; a missing side
        is ``"(absent)"``.
    """
    return {
        "stream": diff.stream,
        "version": diff.version,
        "recorded_type": diff.recorded_type,
        "new_type": diff.new_type,
        "fields": [
            {"path": f.path, "recorded": _jsonable(f.recorded), "new": _jsonable(f.new)}
            for f in diff.fields
        ],
        "request_change": list(request_change) if request_change is not None else None,
    }


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return str(value)


def _capped_diff(recorded: str, new: str) -> list[str]:
    lines = list(
        difflib.unified_diff(
            recorded.splitlines(),
            new.splitlines(),
            "recorded",
            "replayed",
            n=_DIFF_CONTEXT,
            lineterm="",
        )
    )
    if len(lines) <= _DIFF_CAP:
        return lines
    return [*lines[:_DIFF_CAP], f"… {len(lines) - _DIFF_CAP} more lines"]


def _short(value: object) -> str:
    if value is ABSENT:
        return str(ABSENT)
    text = json.dumps(_jsonable(value), ensure_ascii=False)
    return _clip(text, _SHORT_CAP)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
