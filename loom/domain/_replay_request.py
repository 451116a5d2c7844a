"""Which part of a model request changed: the request-document comparison.

Private helper of :mod:`loom.domain.replay_diff`, which re-exports
:func:`describe_request_change`. The documents are the JSON blobs a
``model.call.started`` names; the comparison goes from the coarse to the fine:
the model, its parameters, the tools, the message count, then the first
differing message, named by the prompt section its change is in, with a
unified diff of its content.
"""

from __future__ import annotations

import json
from typing import Any, Final

from loom.domain._replay_values import ABSENT, _capped_diff, _clip, _item, _short

__all__ = ["describe_request_change"]


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
