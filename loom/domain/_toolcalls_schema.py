"""Checking tool arguments against the JSON Schema subset tools use.

Private helper of :mod:`loom.domain.toolcalls`. Covers ``type`` (one or a
list), ``enum``, ``properties``, ``required``, ``additionalProperties: false``
and ``items``, which is what tool definitions use in practice. Schemas come
from tool authors and MCP servers, so malformed parts are skipped, never
raised about.
"""

from __future__ import annotations

import json
from difflib import SequenceMatcher, get_close_matches

__all__ = [
    "Problem",
    "describe_parameters",
    "object_problems",
    "rank_by_similarity",
    "required_missing",
]

Problem = tuple[str, str]
"""An argument path and what is wrong with it."""

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}
# Deeper schemas are rare in tools; the bound keeps a self-referencing
# schema from recursing forever.
_MAX_DEPTH = 16


def required_missing(arguments: dict[str, object], schema: object) -> list[str]:
    """The required top-level properties absent from ``arguments``."""
    required = _mapping(schema).get("required")
    if not isinstance(required, list):
        return []
    return [k for k in required if isinstance(k, str) and k not in arguments]


def object_problems(
    arguments: dict[str, object], schema: object, prefix: str = "", depth: int = 0
) -> list[Problem]:
    """Wrongly typed and (when forbidden) unexpected properties, recursively."""
    schema = _mapping(schema)
    properties = _mapping(schema.get("properties"))
    problems: list[Problem] = []
    if prefix:
        problems += [
            (f"{prefix}.{k}", "is required")
            for k in required_missing(arguments, schema)
        ]
    for key, value in arguments.items():
        path = f"{prefix}.{key}" if prefix else key
        if key in properties:
            problems += value_problems(value, properties[key], path, depth + 1)
        elif schema.get("additionalProperties") is False:
            allowed = ", ".join(properties) or "none"
            problems.append(
                (path, f"is not an argument of this tool (allowed: {allowed})")
            )
    return problems


def value_problems(
    value: object, schema: object, path: str, depth: int
) -> list[Problem]:
    """What is wrong with one value under its property schema."""
    schema = _mapping(schema)
    if depth > _MAX_DEPTH or not schema:
        return []
    enum = schema.get("enum")
    if isinstance(enum, list) and not any(_same_json(value, e) for e in enum):
        return [(path, f"must be one of {_show(enum)} (got {_show(value)})")]
    types = _types(schema.get("type"))
    if types and not any(_is_type(value, t) for t in types):
        expected = " or ".join(types)
        got = f"{_json_type(value)} {_show(value)}"
        return [(path, f"must be of JSON type {expected} (got {got})")]
    if isinstance(value, dict):
        return object_problems(value, schema, path, depth)
    items = schema.get("items")
    if isinstance(value, list) and isinstance(items, dict):
        return [
            p
            for i, v in enumerate(value)
            for p in value_problems(v, items, f"{path}[{i}]", depth + 1)
        ]
    return []


def describe_parameters(schema: object) -> str:
    """``path (string, required), limit (integer)`` for a tool's schema."""
    schema = _mapping(schema)
    required = set(required_missing({}, schema))
    parts = []
    for key, sub in _mapping(schema.get("properties")).items():
        kind = _describe_type(_mapping(sub))
        parts.append(f"{key} ({kind}{', required' if key in required else ''})")
    return ", ".join(parts) or "no arguments"


def rank_by_similarity(
    name: str, candidates: list[str]
) -> tuple[list[str], str | None]:
    """``candidates`` most similar to ``name`` first, and a close match if any."""

    def score(candidate: str) -> float:
        return SequenceMatcher(None, name.lower(), candidate.lower()).ratio()

    ranked = sorted(candidates, key=score, reverse=True)
    close = get_close_matches(name.lower(), [c.lower() for c in ranked], n=1)
    best = next((c for c in ranked if close and c.lower() == close[0]), None)
    return ranked, best


def _describe_type(schema: dict[str, object]) -> str:
    enum = schema.get("enum")
    if isinstance(enum, list):
        return "one of " + " | ".join(_show(member) for member in enum)
    return " or ".join(_types(schema.get("type"))) or "any type"


def _is_type(value: object, json_type: str) -> bool:
    if json_type not in _JSON_TYPES:
        return True  # a type we do not know is not ours to reject
    if isinstance(value, bool) and json_type != "boolean":
        return False  # bool subclasses int in Python, never in JSON
    if json_type == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _JSON_TYPES[json_type])


def _json_type(value: object) -> str:
    for name in ("boolean", "integer", "number", "string", "array", "object", "null"):
        if _is_type(value, name) and not (
            name == "integer" and isinstance(value, float)
        ):
            return name
    return type(value).__name__


def _types(declared: object) -> list[str]:
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [t for t in declared if isinstance(t, str)]
    return []


def _same_json(value: object, member: object) -> bool:
    return value == member and isinstance(value, bool) == isinstance(member, bool)


def _mapping(value: object) -> dict[str, object]:
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    return {}


def _show(value: object) -> str:
    try:
        shown = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."
