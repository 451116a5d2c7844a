"""What flows through the model-provider port: requests, stream items, completions.

A provider call takes a :class:`ModelRequest` and yields stream items — text,
thinking and tool-call fragments as the backend produces them — and then
exactly one :class:`Completion`. The request is a plain value so it can be
stored as a blob and fingerprinted for replay.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from loom.domain.errors import LoomError
from loom.domain.events import TokenUsage, ToolCall

__all__ = [
    "Capabilities",
    "ChatMessage",
    "Completion",
    "Delta",
    "ModelError",
    "ModelParams",
    "ModelRequest",
    "ModelResponseError",
    "ModelTimeoutError",
    "ModelUnreachableError",
    "ProbeResult",
    "StreamItem",
    "TextDelta",
    "ThinkingDelta",
    "ToolCallDelta",
    "ToolSpec",
]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Role = Literal["system", "user", "assistant", "tool"]


class ChatMessage(_Value):
    """One message of a conversation, in a provider-neutral shape."""

    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = Field(
        default_factory=list, description="Calls an assistant message made."
    )
    tool_call_id: str | None = Field(
        default=None, description="The call a tool message answers."
    )
    name: str | None = Field(default=None, description="The tool a result is from.")


class ToolSpec(_Value):
    """A tool as a model sees it: name, description and a JSON Schema."""

    name: str
    description: str
    parameters: dict[str, Any] = Field(description="JSON Schema of the arguments.")


class ModelParams(_Value):
    """Decoding parameters for one call."""

    max_tokens: int = Field(default=1024, ge=1)
    temperature: float = Field(default=0.1, ge=0)
    stop: list[str] = Field(default_factory=list)
    json_schema: dict[str, Any] | None = Field(
        default=None, description="Constrain the answer to JSON matching this schema."
    )
    force_tool: str | None = Field(
        default=None, description="Make the model call exactly this tool."
    )


class ModelRequest(_Value):
    """Everything a provider needs for one call."""

    messages: list[ChatMessage]
    tools: list[ToolSpec] = Field(default_factory=list)
    params: ModelParams = ModelParams()

    def fingerprint(self) -> str:
        """A stable hash of the request: equal requests, equal fingerprints."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


class Capabilities(_Value):
    """What a provider's backend can do."""

    native_tools: bool = Field(description="The backend returns structured calls.")
    context_length: int = Field(ge=1, description="Tokens of context available.")
    streams_tool_calls: bool = Field(
        description="Tool calls survive streaming (Ollama drops them)."
    )
    constrained_output: bool = Field(
        description="JSON Schema can be enforced while decoding."
    )


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer as it streams."""

    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    """A piece of reasoning, kept apart from the answer."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a natively streamed tool call."""

    index: int
    id: str | None
    name: str | None
    arguments: str


class Completion(_Value):
    """The final result of one call."""

    text: str = ""
    thinking: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: TokenUsage | None = None
    finish_reason: str = ""
    latency_ms: float = Field(default=0.0, ge=0)
    warnings: list[str] = Field(
        default_factory=list,
        description="Problems the user should hear about (e.g. truncated prompt).",
    )
    tool_call_errors: list[str] = Field(
        default_factory=list,
        description="Tool-call markup in the text that could not be parsed.",
    )


class ProbeResult(_Value):
    """What ``loom models --check`` learned about one model."""

    reachable: bool
    native_tools: bool | None = Field(
        default=None, description="None when it could not be determined."
    )
    context_length: int | None = None
    detail: str = ""


Delta = TextDelta | ThinkingDelta | ToolCallDelta
StreamItem = Delta | Completion


class ModelError(LoomError):
    """A model call failed."""

    retryable = False


class ModelUnreachableError(ModelError):
    """The server could not be reached at all."""

    retryable = True

    def __init__(self, provider: str, url: str, hint: str, cause: str) -> None:
        self.provider, self.url = provider, url
        super().__init__(
            f"cannot reach the {provider} server at {url}: {cause}. {hint}"
        )


class ModelTimeoutError(ModelError):
    """The server took longer than allowed."""

    retryable = True


class ModelResponseError(ModelError):
    """The server answered with an error or with something Loom cannot read."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        self.retryable = status is not None and (status >= 500 or status == 429)
        super().__init__(message)
