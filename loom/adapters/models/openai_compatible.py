"""OpenAI-compatible servers: LM Studio, vLLM, llama.cpp's server, and others.

Speaks ``/v1/chat/completions`` with server-sent events, including streamed
tool-call fragments and ``reasoning_content``. Structured output is asked for
with ``response_format``: the ``json_schema`` form (vLLM, LM Studio, OpenAI)
or the ``json_object`` + ``schema`` form (llama-cpp-python's server).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx

from loom.adapters.models._shared import (
    RetryPolicy,
    ServerInfo,
    iter_sse_data,
    make_client,
    open_response,
    retrying,
)
from loom.domain.completions import CompletionBuilder, ThinkSplitter
from loom.domain.events import TokenUsage
from loom.domain.models import (
    Capabilities,
    ChatMessage,
    Delta,
    ModelParams,
    ModelRequest,
    ModelResponseError,
    ProbeResult,
    StreamItem,
    ThinkingDelta,
    ToolCallDelta,
    ToolSpec,
)
from loom.domain.toolprompt import with_tools_in_system_prompt

__all__ = ["OpenAICompatibleProvider", "probe_openai_compatible"]

StructuredOutput = Literal["json_schema", "json_object", "none"]


class OpenAICompatibleProvider:
    """Implements ``ModelProvider`` for ``/v1/chat/completions`` servers."""

    def __init__(
        self,
        *,
        name: str,
        model: str,
        base_url: str,
        api_key: str | None = None,
        context_length: int = 8192,
        native_tools: bool = True,
        structured_output: StructuredOutput = "json_schema",
        timeout: float = 600.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name, self.model = name, model
        self.base_url = base_url.rstrip("/")
        self.capabilities = Capabilities(
            native_tools=native_tools,
            context_length=context_length,
            streams_tool_calls=native_tools,
            constrained_output=structured_output != "none",
        )
        self._structured = structured_output
        self._retry = retry or RetryPolicy()
        self._server = ServerInfo(
            "OpenAI-compatible",
            self.base_url,
            "Check that the server is running and that base_url (including any "
            "/v1 suffix) is right.",
        )
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        self._client = make_client(
            self.base_url, timeout=timeout, headers=headers, transport=transport
        )

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        return retrying(lambda: self._stream_once(request), self._retry)

    async def aclose(self) -> None:
        await self._client.aclose()

    def request_body(self, request: ModelRequest) -> dict[str, Any]:
        """The JSON body sent for ``request`` (also used by benchmarks)."""
        params = request.params
        native = self.capabilities.native_tools
        messages = request.messages
        if request.tools and not native:
            messages = with_tools_in_system_prompt(messages, request.tools)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [_wire_message(m) for m in messages],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.stop:
            body["stop"] = params.stop
        if request.tools and native:
            body["tools"] = [
                _wire_tool(t.name, t.description, t.parameters) for t in request.tools
            ]
            if params.force_tool:
                body["tool_choice"] = {
                    "type": "function",
                    "function": {"name": params.force_tool},
                }
        if params.json_schema is not None and self._structured != "none":
            body["response_format"] = self._response_format(params.json_schema)
        return body

    def _response_format(self, schema: dict[str, Any]) -> dict[str, Any]:
        if self._structured == "json_object":
            return {"type": "json_object", "schema": schema}
        return {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": schema, "strict": True},
        }

    async def _stream_once(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        started = time.perf_counter()
        builder = CompletionBuilder(request.fingerprint()[:12], request.tools)
        splitter = ThinkSplitter()
        usage: TokenUsage | None = None
        finish = ""
        async with open_response(
            self._client, self._server, self._path(), self.request_body(request)
        ) as response:
            async for data in iter_sse_data(response):
                if data.strip() == "[DONE]":
                    break
                chunk = _json(data)
                usage = _usage(chunk) or usage
                for choice in chunk.get("choices") or []:
                    finish = choice.get("finish_reason") or finish
                    for item in _deltas(choice.get("delta") or {}, splitter):
                        builder.add(item)
                        yield item
        for item in splitter.flush():
            builder.add(item)
            yield item
        latency = (time.perf_counter() - started) * 1000
        yield builder.build(usage=usage, finish_reason=finish, latency_ms=latency)

    async def probe(self) -> ProbeResult:
        """What ``loom models --check`` reports for this server."""
        return await probe_openai_compatible(self)

    def _path(self) -> str:
        return (
            "/chat/completions"
            if self.base_url.endswith("/v1")
            else "/v1/chat/completions"
        )

    def _models_path(self) -> str:
        return "/models" if self.base_url.endswith("/v1") else "/v1/models"


def _deltas(delta: dict[str, Any], splitter: ThinkSplitter) -> list[Delta]:
    items: list[Delta] = []
    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
    if reasoning:
        items.append(ThinkingDelta(reasoning))
    if delta.get("content"):
        items.extend(splitter.feed(delta["content"]))
    for call in delta.get("tool_calls") or []:
        function = call.get("function") or {}
        items.append(
            ToolCallDelta(
                index=int(call.get("index", 0)),
                id=call.get("id"),
                name=function.get("name"),
                arguments=function.get("arguments") or "",
            )
        )
    return items


def _json(data: str) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except ValueError as error:
        raise ModelResponseError(
            f"the server sent a malformed stream chunk: {data[:200]!r}"
        ) from error
    if not isinstance(chunk, dict):
        raise ModelResponseError(f"the server sent an unexpected chunk: {data[:200]!r}")
    if "error" in chunk:
        raise ModelResponseError(
            f"the server reported an error mid-stream: {chunk['error']}"
        )
    return chunk


def _usage(chunk: dict[str, Any]) -> TokenUsage | None:
    usage = chunk.get("usage")
    if not usage:
        return None
    return TokenUsage(
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
    )


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": json.dumps(call.arguments),
                },
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id:
        wire["tool_call_id"] = message.tool_call_id
    return wire


def _wire_tool(
    name: str, description: str, parameters: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": parameters,
        },
    }


async def probe_openai_compatible(provider: OpenAICompatibleProvider) -> ProbeResult:
    """Reachability, real context length and native tool calls of a server."""
    client = provider._client
    try:
        listed = await client.get(provider._models_path())
        listed.raise_for_status()
    except httpx.HTTPError as error:
        return ProbeResult(reachable=False, detail=f"{provider.base_url}: {error}")
    context = _context_from_models(listed.json(), provider.model)
    if context is None:
        context = await _context_from_props(client)
    tools = await _answers_with_a_tool_call(provider)
    return ProbeResult(reachable=True, native_tools=tools, context_length=context)


def _context_from_models(listing: Any, model: str) -> int | None:
    for entry in listing.get("data", []) if isinstance(listing, dict) else []:
        if model in ("", entry.get("id")):
            for key in ("max_model_len", "context_length", "n_ctx"):
                if isinstance(entry.get(key), int):
                    return int(entry[key])
            meta = entry.get("meta") or {}
            if isinstance(meta.get("n_ctx_train"), int):
                return int(meta["n_ctx_train"])
    return None


async def _context_from_props(client: httpx.AsyncClient) -> int | None:
    # llama.cpp's own server reports its context size here.
    try:
        props = (await client.get("/props")).json()
    except (httpx.HTTPError, ValueError):
        return None
    settings = (
        props.get("default_generation_settings", {}) if isinstance(props, dict) else {}
    )
    n_ctx = settings.get(
        "n_ctx", props.get("n_ctx") if isinstance(props, dict) else None
    )
    return int(n_ctx) if isinstance(n_ctx, int) else None


_PING_TOOL = ToolSpec(
    name="ping",
    description="Answer the ping.",
    parameters={
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
    },
)


async def _answers_with_a_tool_call(provider: OpenAICompatibleProvider) -> bool | None:
    request = ModelRequest(
        messages=[ChatMessage(role="user", content="Call the ping tool.")],
        tools=[_PING_TOOL],
        params=ModelParams(max_tokens=48, temperature=0, force_tool="ping"),
    )
    body = provider.request_body(request) | {"stream": False}
    body.pop("stream_options", None)
    try:
        response = await provider._client.post(provider._path(), json=body)
        response.raise_for_status()
        message = response.json()["choices"][0]["message"]
    except (httpx.HTTPError, ValueError, KeyError, IndexError):
        return None
    return bool(message.get("tool_calls"))
