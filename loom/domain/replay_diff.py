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
The request comparison lives in ``_replay_request``, the value helpers it
shares with this module in ``_replay_values``; public names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from loom.domain._replay_request import describe_request_change
from loom.domain._replay_values import (
    ABSENT,
    _capped_diff,
    _item,
    _jsonable,
    _short,
)
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


def _top_key(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


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
