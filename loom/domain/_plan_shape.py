"""The plan's JSON Schema and the shape checks that mirror it.

Private helper of :mod:`loom.domain.plan`. The checks return problems as
strings addressed to the planner model (``subtasks[2].id: ...``) rather than
raising, so that every shape problem in one answer is reported in one re-ask.
"""

from __future__ import annotations

import json
import re
from typing import Any

from loom.domain.events import PlannedSubtask

__all__ = ["ID_PATTERN", "MAX_SUBTASKS", "PLAN_SCHEMA", "subtasks_from_data"]

ID_PATTERN = "^[a-z0-9][a-z0-9_-]{0,40}$"
MAX_SUBTASKS = 50
_MAX_LIST = 20
_ID_RE = re.compile(ID_PATTERN)
_LIST_FIELDS = ("depends_on", "acceptance_criteria", "expected_files", "checks")
_REQUIRED = ("id", "description", *_LIST_FIELDS[:3], "verification_tier")
_FIELDS = (*_REQUIRED, "checks")
_MISSING = object()


def _string_list(max_items: int, item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item, "maxItems": max_items}


# Every field is required so that constrained decoding never has to choose
# whether to emit one; the parser is more lenient (see ``_DEFAULTS``). No $ref,
# oneOf or anyOf: llama.cpp's schema-to-grammar converter must accept it.
PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "subtasks": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_SUBTASKS,
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "pattern": ID_PATTERN},
                    "description": {"type": "string", "minLength": 1},
                    "depends_on": _string_list(
                        MAX_SUBTASKS, {"type": "string", "pattern": ID_PATTERN}
                    ),
                    "acceptance_criteria": _string_list(_MAX_LIST, {"type": "string"}),
                    "expected_files": _string_list(MAX_SUBTASKS, {"type": "string"}),
                    "verification_tier": {"type": "integer", "enum": [1, 2, 3]},
                    "checks": _string_list(_MAX_LIST, {"type": "string"}),
                },
                # ``checks`` (commands that must pass) is optional: a small
                # model under the grammar should not be made to invent them.
                "required": list(_REQUIRED),
                "additionalProperties": False,
            },
        }
    },
    "required": ["subtasks"],
    "additionalProperties": False,
}

_DEFAULTS: dict[str, object] = {
    "depends_on": [],
    "acceptance_criteria": [],
    "expected_files": [],
    "verification_tier": 1,
    "checks": [],
}


def subtasks_from_data(data: object) -> tuple[list[PlannedSubtask], list[str]]:
    """Read the subtasks out of decoded (or raw JSON) planner output.

    Returns:
        The subtasks that had a valid shape, and the problems found.
    """
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError as error:
            return [], [f"the answer is not valid JSON: {error}"]
    items, problems = _subtask_items(data)
    subtasks: list[PlannedSubtask] = []
    for index, item in enumerate(items):
        subtask, item_problems = _subtask(index, item)
        problems.extend(item_problems)
        if subtask is not None:
            subtasks.append(subtask)
    return subtasks, problems


def _subtask_items(data: object) -> tuple[list[object], list[str]]:
    if not isinstance(data, dict):
        kind = _kind(data)
        return [], [f"expected an object with a 'subtasks' array, got {kind}"]
    extra = sorted(str(key) for key in data if key != "subtasks")
    problems = [f"unexpected top-level field(s): {', '.join(extra)}"] if extra else []
    items = data.get("subtasks")
    if not isinstance(items, list):
        return [], [*problems, f"'subtasks' must be an array, got {_kind(items)}"]
    if not items:
        return [], [*problems, "'subtasks' is empty: give at least one subtask"]
    if len(items) > MAX_SUBTASKS:
        count = len(items)
        tip = f"has {count} items; give at most {MAX_SUBTASKS} (merge small steps)"
        return [], [*problems, f"'subtasks' {tip}"]
    return items, problems


def _subtask(index: int, item: object) -> tuple[PlannedSubtask | None, list[str]]:
    where = f"subtasks[{index}]"
    if not isinstance(item, dict):
        return None, [f"{where}: expected an object, got {_kind(item)}"]
    problems = [
        f"{where}: unexpected field {key!r} (allowed: {', '.join(_FIELDS)})"
        for key in item
        if key not in _FIELDS
    ]
    values = {**_DEFAULTS, **{key: item[key] for key in _FIELDS if key in item}}
    problems += _id_problems(where, values.get("id", _MISSING))
    problems += _description_problems(where, values.get("description", _MISSING))
    for name in _LIST_FIELDS:
        problems += _list_problems(f"{where}.{name}", values[name], name)
    problems += _tier_problems(where, values["verification_tier"])
    if problems:
        return None, problems
    return PlannedSubtask.model_validate(values), []


def _id_problems(where: str, value: object) -> list[str]:
    if value is _MISSING:
        return [f"{where}: missing required field 'id'"]
    if not isinstance(value, str):
        return [f"{where}.id: expected a string, got {_kind(value)}"]
    if not _ID_RE.match(value):
        return [f"{where}.id: {value!r} does not match {ID_PATTERN}"]
    return []


def _description_problems(where: str, value: object) -> list[str]:
    if value is _MISSING:
        return [f"{where}: missing required field 'description'"]
    if not isinstance(value, str):
        return [f"{where}.description: expected a string, got {_kind(value)}"]
    if not value.strip():
        return [f"{where}.description: is empty; say what the subtask must do"]
    return []


def _list_problems(where: str, value: object, name: str) -> list[str]:
    if not isinstance(value, list):
        return [f"{where}: expected an array of strings, got {_kind(value)}"]
    problems = [
        f"{where}[{i}]: expected a string, got {_kind(entry)}"
        for i, entry in enumerate(value)
        if not isinstance(entry, str)
    ]
    limit = _MAX_LIST if name in ("acceptance_criteria", "checks") else MAX_SUBTASKS
    if len(value) > limit:
        problems.append(f"{where}: has {len(value)} items; give at most {limit}")
    return problems


def _tier_problems(where: str, value: object) -> list[str]:
    if not isinstance(value, int) or isinstance(value, bool) or value not in (1, 2, 3):
        return [f"{where}.verification_tier: expected 1, 2 or 3, got {value!r}"]
    return []


def _kind(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)
