"""Repairing a planner's output before it is validated.

Small models constrained to the plan schema produce valid JSON with
degenerate content: the same dependency repeated, a subtask depending on
itself, dependencies on ids that do not exist. Where the intent is
unambiguous the harness repairs it (and says what it did) so only real
problems — duplicate ids, cycles between different subtasks, missing
descriptions — go back to the model in a re-ask.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["repair_plan"]

_LISTS = ("acceptance_criteria", "expected_files")


def repair_plan(
    data: object, *, drop_reused_ids: bool = False
) -> tuple[object, list[str]]:
    """``data`` with unambiguous mistakes fixed, and a note for each fix.

    Anything that is not a plan-shaped object is returned unchanged, for
    :func:`loom.domain.plan.parse_plan` to reject with its own message.

    Args:
        data: The decoded planner answer.
        drop_reused_ids: Also drop every later subtask that reuses an earlier
            one's id. Not unambiguous (the model may have meant two different
            subtasks), so it is the last resort once re-asking has failed.
    """
    if not isinstance(data, dict) or not isinstance(data.get("subtasks"), list):
        return data, []
    notes: list[str] = []
    subtasks = _without_copies(data["subtasks"], notes)
    if drop_reused_ids:
        subtasks = _without_reused_ids(subtasks, notes)
    ids = {s.get("id") for s in subtasks if isinstance(s, dict)}
    repaired = [
        _repair_subtask(s, ids, notes) if isinstance(s, dict) else s for s in subtasks
    ]
    return {**data, "subtasks": repaired}, notes


def _without_copies(subtasks: list[object], notes: list[str]) -> list[object]:
    """The subtasks without exact copies of an earlier one (same id, same
    everything): a small model repeats a whole subtask until the list limit."""
    kept: list[object] = []
    copies: dict[object, int] = {}
    for subtask in subtasks:
        if isinstance(subtask, dict) and subtask in kept:
            copies[subtask.get("id")] = copies.get(subtask.get("id"), 0) + 1
        else:
            kept.append(subtask)
    for own, count in copies.items():
        notes.append(f"dropped {count} exact copies of subtask {own!r}")
    return kept


def _without_reused_ids(subtasks: list[object], notes: list[str]) -> list[object]:
    kept: list[object] = []
    seen: set[object] = set()
    for subtask in subtasks:
        own = subtask.get("id") if isinstance(subtask, dict) else None
        if own is not None and own in seen:
            notes.append(f"dropped a later subtask that reused the id {own!r}")
            continue
        seen.add(own)
        kept.append(subtask)
    return kept


def _repair_subtask(
    subtask: dict[str, Any], ids: set[object], notes: list[str]
) -> dict[str, Any]:
    fixed = dict(subtask)
    own = subtask.get("id")
    depends = subtask.get("depends_on")
    if isinstance(depends, list):
        unique = _unique(depends)
        if own in unique:
            notes.append(f"dropped the dependency of subtask {own!r} on itself")
        unknown = [d for d in unique if d not in ids]
        if unknown:
            notes.append(f"dropped unknown dependencies {unknown} of subtask {own!r}")
        fixed["depends_on"] = [d for d in unique if d != own and d in ids]
    for key in _LISTS:
        value = subtask.get(key)
        if isinstance(value, list):
            fixed[key] = _unique(value)
    if isinstance(subtask.get("description"), str):
        fixed["description"] = subtask["description"].strip()
    return fixed


def _unique(values: Iterable[object]) -> list[Any]:
    """``values`` without repeats (hashable ones), in first-seen order."""
    seen: set[object] = set()
    kept: list[Any] = []
    for value in values:
        key = value if isinstance(value, str | int | float | bool) else repr(value)
        if key not in seen:
            seen.add(key)
            kept.append(value)
    return kept
