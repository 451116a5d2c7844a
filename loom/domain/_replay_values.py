"""How a replay's differences show values: absent sides, short forms, diffs.

Private helper of :mod:`loom.domain.replay_diff` (which re-exports
:data:`ABSENT`) and of :mod:`loom.domain._replay_request`. It holds the marker
for a side that lacks a key or list item, the JSON-safe copy of a value, the
one-line form of a value clipped to a length, and a unified diff capped at a
number of lines.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from typing import Any, Final

__all__ = ["ABSENT", "_capped_diff", "_clip", "_item", "_jsonable", "_short"]

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


def _item(items: Sequence[Any], index: int) -> object:
    return items[index] if index < len(items) else ABSENT


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
