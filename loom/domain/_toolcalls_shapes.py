"""Reading tool calls out of parsed JSON values and Qwen-style parameter tags.

Private helper of :mod:`loom.domain.toolcalls`. A call is returned as a plain
``(name, arguments)`` pair so this module need not import the public types.

Every reader answers one of three things: ``None`` (this is not a tool call,
leave it alone), a ``str`` (it is meant as a tool call but cannot be read: the
reason), or a list of calls.
"""

from __future__ import annotations

import json
import re

from loom.domain.jsonrepair import JsonRepairError, repair_json

__all__ = ["RawCall", "Reading", "calls_from_value", "function_arguments"]

RawCall = tuple[str, dict[str, object]]
Reading = list[RawCall] | str | None

_NAME_KEYS = ("name", "tool", "tool_name", "function", "function_name")
_ARGUMENT_KEYS = ("arguments", "parameters", "args", "input", "params")
_METADATA_KEYS = frozenset({"type", "id", "call_id", "index"})
_PARAMETER = re.compile(
    r"<parameter=\s*[\"']?([^<>\"'\s]+)[\"']?\s*>(.*?)"
    r"(</parameter>|(?=<parameter=)|\Z)",
    re.DOTALL,
)


def calls_from_value(value: object, *, explicit: bool) -> Reading:
    """Read the calls a JSON value stands for.

    Args:
        value: A parsed JSON value.
        explicit: The value sat in tool-call markup (``<tool_call>`` or a
            ``tool_call`` fence), so it is meant as a call: a bare name with
            no arguments key is accepted, and anything else is a reason.
            Outside markup a value needs both a name and an arguments key.
    """
    if isinstance(value, list):
        return _calls_from_list(value, explicit=explicit)
    if not isinstance(value, dict):
        return _not_a_call(explicit, "expected a JSON object with name and arguments")
    nested = value.get("function", value.get("tool_calls"))
    if isinstance(nested, dict | list) and nested:
        # OpenAI shapes: {"type": "function", "function": {...}} and
        # {"tool_calls": [...]}.
        return calls_from_value(nested, explicit=explicit)
    return _call_from_object(value, explicit=explicit)


def function_arguments(body: str, *, closed: bool) -> dict[str, object] | str:
    """Read the arguments inside a ``<function=NAME>...</function>`` block.

    Qwen3-coder writes ``<parameter=KEY>value</parameter>`` tags; Llama 3.1
    writes a JSON object. ``closed`` says whether ``</function>`` ended the
    body. Returns the arguments, or a reason they are unreadable.
    """
    if "<parameter=" in body:
        return _parameters(body, closed=closed)
    if not body.strip():
        return {}
    return _arguments_object(body)


def _parameters(body: str, *, closed: bool) -> dict[str, object] | str:
    arguments: dict[str, object] = {}
    for match in _PARAMETER.finditer(body):
        key, raw, ending = match.groups()
        if not closed and not ending and match.end() == len(body):
            # Neither </parameter> nor </function>: the value runs to the end
            # of the output, which is either cut off or prose the model went
            # on with. Running it, e.g. writing a file with it, would be wrong.
            return f"the parameter {key!r} is not closed with </parameter>"
        arguments[key] = _parameter_value(raw)
    return arguments


def _calls_from_list(items: list[object], *, explicit: bool) -> Reading:
    if not items:
        return _not_a_call(explicit, "the list of tool calls is empty")
    calls: list[RawCall] = []
    for item in items:
        reading = calls_from_value(item, explicit=explicit)
        if not isinstance(reading, list):
            return reading
        calls.extend(reading)
    return calls


def _call_from_object(value: dict[str, object], *, explicit: bool) -> Reading:
    name_key = next((k for k in _NAME_KEYS if isinstance(value.get(k), str)), None)
    arguments_key = next((k for k in _ARGUMENT_KEYS if k in value), None)
    if name_key is None or (arguments_key is None and not explicit):
        return _not_a_call(
            explicit, "expected a string 'name' and an 'arguments' object"
        )
    name = str(value[name_key]).strip()
    if not name:
        return "the tool name is empty"
    if arguments_key is None:
        # Inside markup, {"name": "read_file", "path": "x"} flattened the
        # arguments into the call; the remaining keys are what it said.
        flattened = {k: v for k, v in value.items() if k not in _METADATA_KEYS}
        return [(name, {k: v for k, v in flattened.items() if k != name_key})]
    if _is_schema_echo(value, value[arguments_key]):
        return _not_a_call(explicit, "this is a tool's definition, not a call to it")
    arguments = _arguments(value[arguments_key])
    if isinstance(arguments, dict):
        return [(name, arguments)]
    # Outside markup, {"name": "build", "args": ["--release"]} is data.
    return _not_a_call(explicit, arguments)


def _arguments(raw: object) -> dict[str, object] | str:
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        # OpenAI's wire format sends arguments as a JSON-encoded string.
        return _arguments_object(raw) if raw.strip() else {}
    return f"'arguments' must be a JSON object, not {type(raw).__name__}"


def _arguments_object(text: str) -> dict[str, object] | str:
    try:
        value = repair_json(text)
    except JsonRepairError as error:
        return f"the arguments are not valid JSON ({error})"
    if isinstance(value, dict):
        return value
    return "the arguments must be a JSON object"


def _is_schema_echo(call: dict[str, object], arguments: object) -> bool:
    # Small models often repeat the tool definitions from their prompt;
    # {"name": ..., "description": ..., "parameters": {"type": "object", ...}}
    # describes a tool rather than calling it.
    if not isinstance(arguments, dict):
        return False
    is_schema = arguments.get("type") == "object" and "properties" in arguments
    return is_schema or ("description" in call and "parameters" in call)


def _parameter_value(raw: str) -> object:
    value = raw.removeprefix("\n").removesuffix("\n")
    stripped = value.strip()
    if not stripped or stripped[0] in "\"'":
        # A quoted value stays text: in file contents the quotes are content.
        return value
    try:
        return json.loads(stripped)
    except ValueError:
        return value


def _not_a_call(explicit: bool, reason: str) -> str | None:
    return reason if explicit else None
