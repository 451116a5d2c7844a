"""Describing tools in the prompt, for backends without native tool calls.

The model is asked to answer with Hermes-style ``<tool_call>`` blocks, the
format small instruction-tuned models have seen most; whatever it writes is
parsed by :mod:`loom.domain.toolcalls`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from loom.domain.models import ChatMessage, ModelError, ModelRequest, ToolSpec

__all__ = [
    "forced_call_schema",
    "forced_tool",
    "tools_as_text",
    "with_tools_in_system_prompt",
]


def tools_as_text(tools: Sequence[ToolSpec]) -> str:
    """Instructions and signatures for calling ``tools`` in plain text."""
    signatures = "\n".join(
        json.dumps(
            {"name": t.name, "description": t.description, "parameters": t.parameters}
        )
        for t in tools
    )
    return (
        "You can call these tools:\n<tools>\n"
        f"{signatures}\n</tools>\n"
        "To call a tool, answer with exactly:\n"
        '<tool_call>{"name": "TOOL_NAME", "arguments": {...}}</tool_call>'
    )


def with_tools_in_system_prompt(
    messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
) -> list[ChatMessage]:
    """``messages`` with the tool instructions appended to the system message."""
    if not tools:
        return list(messages)
    block = tools_as_text(tools)
    if messages and messages[0].role == "system":
        first = messages[0]
        merged = first.model_copy(update={"content": f"{first.content}\n\n{block}"})
        return [merged, *messages[1:]]
    return [ChatMessage(role="system", content=block), *messages]


def forced_tool(request: ModelRequest) -> ToolSpec | None:
    """The tool ``request`` forces the model to call, if any."""
    name = request.params.force_tool
    if name is None:
        return None
    for tool in request.tools:
        if tool.name == name:
            return tool
    raise ModelError(
        f"force_tool names {name!r}, which is not among the request's tools"
    )


def forced_call_schema(tool: ToolSpec) -> dict[str, object]:
    """A JSON Schema whose only valid answers are calls of ``tool``.

    Backends that can constrain decoding to a schema but have no native
    ``tool_choice`` use it to force a call even from a weak model.
    """
    return {
        "type": "object",
        "properties": {
            "name": {"type": "string", "enum": [tool.name]},
            "arguments": tool.parameters,
        },
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }
