"""Anthropic's Messages API (``/v1/messages``), streamed as server-sent events.

Loom's provider-neutral conversation maps onto Anthropic's shape like this:
system messages become the top-level ``system``; an assistant's tool calls
become ``tool_use`` blocks and tool results ``tool_result`` blocks in a user
turn; consecutive turns of the same role are merged, since the API wants
user and assistant to alternate.

Anthropic cannot constrain free text to a JSON Schema, so structured output
is asked for as a forced call of a tool named ``respond`` whose input schema
is the requested schema, and that tool's input is returned as the answer text
(JSON). Forcing shapes the answer but is not schema-enforced decoding, so
``constrained_output`` is reported as false.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx

from loom.adapters.models._shared import (
    RetryPolicy,
    ServerInfo,
    iter_sse_data,
    make_client,
    open_response,
    retrying,
)
from loom.domain.completions import CompletionBuilder
from loom.domain.events import TokenUsage
from loom.domain.jsonrepair import JsonRepairError, repair_json
from loom.domain.models import (
    Capabilities,
    ChatMessage,
    ModelError,
    ModelRequest,
    ModelResponseError,
    ProbeResult,
    StreamItem,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolSpec,
)

__all__ = ["API_VERSION", "RESPOND_TOOL", "AnthropicProvider"]

_Delta = TextDelta | ThinkingDelta | ToolCallDelta

API_VERSION = "2023-06-01"
RESPOND_TOOL = "respond"

_HINT = (
    "Check the network connection and base_url (https://api.anthropic.com by "
    "default); https://status.anthropic.com reports outages."
)

# HTTP statuses of the documented error types, so an error event mid-stream
# is as retryable as the same error would be before it.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

_STATUS_HINT = {
    401: "Check the API key configured for this model in loom.toml.",
    403: "The API key lacks permission for this model or feature.",
    404: "Check the model id in loom.toml (for example claude-sonnet-4-5).",
}

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


class AnthropicProvider:
    """Implements ``ModelProvider`` for Anthropic's ``/v1/messages``."""

    def __init__(
        self,
        *,
        name: str,
        model: str,
        api_key: str,
        base_url: str = "https://api.anthropic.com",
        context_length: int = 200000,
        timeout: float = 600.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name, self.model = name, model
        self.base_url = base_url.rstrip("/")
        self.capabilities = Capabilities(
            native_tools=True,
            context_length=context_length,
            streams_tool_calls=True,
            constrained_output=False,
        )
        self._api_key = api_key
        self._retry = retry or RetryPolicy()
        self._server = ServerInfo("Anthropic", self.base_url, _HINT)
        headers = {
            "x-api-key": api_key,
            "anthropic-version": API_VERSION,
            "content-type": "application/json",
        }
        self._client = make_client(
            self.base_url, timeout=timeout, headers=headers, transport=transport
        )

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        return retrying(lambda: self._stream_once(request), self._retry)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def probe(self) -> ProbeResult:
        """Check key and model for ``loom models --check``, spending no tokens.

        Counting the tokens of a one-word message is free, and fails the way
        a real call would on a wrong key, model id or URL.
        """
        body = {"model": self.model, "messages": [{"role": "user", "content": "ping"}]}
        try:
            async with self._post("/v1/messages/count_tokens", body) as response:
                await response.aread()
        except ModelError as error:
            _redact(error, self._api_key)
            return ProbeResult(reachable=False, detail=str(error))
        return ProbeResult(
            reachable=True,
            native_tools=True,
            context_length=self.capabilities.context_length,
            detail="API key and model accepted",
        )

    def request_body(self, request: ModelRequest) -> dict[str, Any]:
        """The JSON body sent for ``request`` (also used by benchmarks)."""
        params = request.params
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.max_tokens,
            # Anthropic accepts 0..1; Loom's parameter is only bounded below.
            "temperature": min(params.temperature, 1.0),
            "messages": _wire_messages(request.messages),
            "stream": True,
        }
        if system:
            body["system"] = system
        if params.stop:
            body["stop_sequences"] = list(params.stop)
        body.update(_tools_and_choice(request))
        return body

    async def _stream_once(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        try:
            async for item in self._stream_unguarded(request):
                yield item
        except ModelError as error:
            _redact(error, self._api_key)
            raise

    async def _stream_unguarded(
        self, request: ModelRequest
    ) -> AsyncIterator[StreamItem]:
        started = time.perf_counter()
        builder = CompletionBuilder(request.fingerprint()[:12], request.tools)
        reader = _EventReader(request.params.json_schema)
        async with self._open(request) as response:
            async for data in iter_sse_data(response):
                for item in reader.feed(_event(data)):
                    builder.add(item)
                    yield item
                if reader.stopped:
                    break
        yield builder.build(
            usage=reader.usage(),
            finish_reason=reader.finish_reason(),
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def _open(
        self, request: ModelRequest
    ) -> AbstractAsyncContextManager[httpx.Response]:
        return self._post("/v1/messages", self.request_body(request))

    @asynccontextmanager
    async def _post(
        self, path: str, body: dict[str, Any]
    ) -> AsyncIterator[httpx.Response]:
        try:
            async with open_response(
                self._client, self._server, path, body
            ) as response:
                yield response
        except ModelResponseError as error:
            hinted = _with_hint(error)
            if hinted is error:
                raise
            raise hinted from error


def _with_hint(error: ModelResponseError) -> ModelResponseError:
    hint = _STATUS_HINT.get(error.status or 0)
    if hint is None:
        return error
    return ModelResponseError(f"{error} {hint}", status=error.status)


def _redact(error: BaseException, secret: str) -> None:
    """Remove the API key from an error and its causes, should anything echo it.

    The causes matter too: tracebacks and logs print the whole chain.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while secret and current is not None and id(current) not in seen:
        seen.add(id(current))
        if secret in str(current):
            current.args = (str(current).replace(secret, "[redacted API key]"),)
        current = current.__cause__ or current.__context__


def _event(data: str) -> dict[str, Any]:
    try:
        event = json.loads(data)
    except ValueError as error:
        raise ModelResponseError(
            f"Anthropic sent a malformed stream event: {data[:200]!r}"
        ) from error
    if not isinstance(event, dict):
        raise ModelResponseError(f"Anthropic sent an unexpected event: {data[:200]!r}")
    return event


class _EventReader:
    """Turns Messages-API stream events into stream items.

    Tool-call fragments keep the content block's index, which is how the
    builder puts each call's ``partial_json`` pieces back together. In
    structured-output mode the ``respond`` tool's input is the answer, so its
    fragments become text instead.
    """

    def __init__(self, json_schema: Mapping[str, Any] | None) -> None:
        self._structured = json_schema is not None
        self._wrapped = json_schema is not None and not _is_object(json_schema)
        self._answer_blocks: dict[int, list[str]] = {}
        self._input = 0
        self._output = 0
        self._usage_seen = False
        self._stop_reason = ""
        self.stopped = False
        self._handlers: dict[str, Callable[[dict[str, Any]], list[_Delta]]] = {
            "message_start": self._message_start,
            "content_block_start": self._block_start,
            "content_block_delta": self._block_delta,
            "content_block_stop": self._block_stop,
            "message_delta": self._message_delta,
            "message_stop": self._message_stop,
            "error": _raise_error,
        }

    def feed(self, event: dict[str, Any]) -> list[_Delta]:
        # Unknown event types (and ``ping``) are ignored, as the docs ask.
        handler = self._handlers.get(str(event.get("type")))
        return handler(event) if handler else []

    def usage(self) -> TokenUsage | None:
        if not self._usage_seen:
            return None
        return TokenUsage(prompt_tokens=self._input, completion_tokens=self._output)

    def finish_reason(self) -> str:
        if self._structured and self._stop_reason == "tool_use":
            return "stop"
        return _FINISH.get(self._stop_reason, self._stop_reason)

    def _message_start(self, event: dict[str, Any]) -> list[_Delta]:
        self._count(event.get("message", {}).get("usage"))
        return []

    def _message_delta(self, event: dict[str, Any]) -> list[_Delta]:
        self._stop_reason = str(event.get("delta", {}).get("stop_reason") or "")
        self._count(event.get("usage"))
        return []

    def _message_stop(self, event: dict[str, Any]) -> list[_Delta]:
        self.stopped = True
        return []

    def _count(self, usage: Mapping[str, Any] | None) -> None:
        # Counts are cumulative; the prompt is everything read, cached or not.
        if not usage:
            return
        self._usage_seen = True
        prompt_keys = (
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
        )
        if any(key in usage for key in prompt_keys):
            self._input = sum(int(usage.get(key) or 0) for key in prompt_keys)
        self._output = int(usage.get("output_tokens") or self._output)

    def _block_start(self, event: dict[str, Any]) -> list[_Delta]:
        index = int(event.get("index", 0))
        block = event.get("content_block") or {}
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return [TextDelta(str(block["text"]))]
        if kind == "thinking" and block.get("thinking"):
            return [ThinkingDelta(str(block["thinking"]))]
        if kind != "tool_use":
            return []
        if self._structured and block.get("name") == RESPOND_TOOL:
            self._answer_blocks[index] = []
            return []
        return [ToolCallDelta(index, block.get("id"), block.get("name"), "")]

    def _block_delta(self, event: dict[str, Any]) -> list[_Delta]:
        index = int(event.get("index", 0))
        delta = event.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            return [TextDelta(str(delta.get("text", "")))]
        if kind == "thinking_delta":
            return [ThinkingDelta(str(delta.get("thinking", "")))]
        if kind != "input_json_delta":
            return []
        fragment = str(delta.get("partial_json", ""))
        if index not in self._answer_blocks:
            return [ToolCallDelta(index, None, None, fragment)]
        if self._wrapped:
            self._answer_blocks[index].append(fragment)
            return []
        return [TextDelta(fragment)] if fragment else []

    def _block_stop(self, event: dict[str, Any]) -> list[_Delta]:
        parts = self._answer_blocks.get(int(event.get("index", 0)))
        if not self._wrapped or parts is None:
            return []
        return [TextDelta(_unwrap("".join(parts)))]


def _raise_error(event: dict[str, Any]) -> list[_Delta]:
    error = event.get("error") or {}
    kind = str(error.get("type") or "error")
    raise ModelResponseError(
        f"Anthropic reported {kind} mid-stream: {error.get('message', '')}",
        status=_ERROR_STATUS.get(kind),
    )


def _is_object(schema: Mapping[str, Any]) -> bool:
    return schema.get("type") == "object"


def _unwrap(text: str) -> str:
    """The answer inside a wrapped ``{"value": ...}`` input, as JSON text."""
    try:
        value = repair_json(text)
    except JsonRepairError:
        return text
    if isinstance(value, dict) and "value" in value:
        return json.dumps(value["value"])
    return text


def _tools_and_choice(request: ModelRequest) -> dict[str, Any]:
    params = request.params
    tools = [_wire_tool(t) for t in request.tools]
    choice: dict[str, Any] | None = None
    if params.force_tool:
        choice = {"type": "tool", "name": params.force_tool}
    if params.json_schema is not None:
        tools.append(_respond_tool(params.json_schema))
        choice = {"type": "tool", "name": RESPOND_TOOL}
    wire: dict[str, Any] = {"tools": tools} if tools else {}
    if choice:
        wire["tool_choice"] = choice
    return wire


def _respond_tool(schema: Mapping[str, Any]) -> dict[str, Any]:
    # A tool's input must be an object; any other schema is wrapped in one
    # and unwrapped again when the answer arrives.
    input_schema = (
        dict(schema)
        if _is_object(schema)
        else {"type": "object", "properties": {"value": schema}, "required": ["value"]}
    )
    return {
        "name": RESPOND_TOOL,
        "description": "Give the final answer as JSON matching the input schema.",
        "input_schema": input_schema,
    }


def _wire_tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "name": tool.name,
        "description": tool.description,
        "input_schema": tool.parameters,
    }


def _wire_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Loom's messages as alternating Anthropic turns (system messages left out)."""
    turns: list[dict[str, Any]] = []
    for message in messages:
        role, blocks = _blocks(message)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] = _results_first([*turns[-1]["content"], *blocks])
        else:
            turns.append({"role": role, "content": blocks})
    return turns


def _blocks(message: ChatMessage) -> tuple[str, list[dict[str, Any]]]:
    if message.role == "system":
        return "system", []
    if message.role == "tool":
        result = {
            "type": "tool_result",
            "tool_use_id": message.tool_call_id or "",
            "content": message.content,
        }
        return "user", [result]
    # Anthropic rejects empty or whitespace-only text blocks.
    blocks: list[dict[str, Any]] = []
    if message.content.strip():
        blocks.append({"type": "text", "text": message.content})
    blocks += [
        {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
        for call in message.tool_calls
    ]
    return message.role, blocks


def _results_first(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # In a user turn, tool results must come before any text.
    results = [b for b in blocks if b["type"] == "tool_result"]
    return results + [b for b in blocks if b["type"] != "tool_result"]
