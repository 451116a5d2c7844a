"""Ollama's native API: ``/api/chat`` with NDJSON streaming and a sized context.

Three things set Ollama apart from the OpenAI-compatible path, and are why
this adapter exists:

- Ollama loads a model with a context window of ``options.num_ctx`` tokens
  (a small default) and silently drops the start of a longer prompt. Every
  request therefore sets ``num_ctx`` from the prompt's estimated size plus
  ``max_tokens``, rounded up to a bucket and capped at the model's maximum
  (read once from ``/api/show``); and when the final chunk's
  ``prompt_eval_count`` shows the prompt was cut anyway, the completion
  carries a warning saying so.
- Ollama drops tool calls while streaming, so a call with tools is made with
  ``stream: false`` (or, with ``tool_streaming="buffer"``, the text streams
  and the calls are collected from the chunks and handed over at the end).
- There is no ``tool_choice``. A forced tool is asked for with ``format`` set
  to the schema of ``{"name": <that tool>, "arguments": <its parameters>}``,
  so decoding can only produce that call, and the JSON answer is turned into
  the tool call.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from loom.adapters.models._shared import (
    RetryPolicy,
    ServerInfo,
    make_client,
    open_response,
    retrying,
)
from loom.domain.completions import CompletionBuilder, ThinkSplitter
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
from loom.domain.toolprompt import (
    forced_call_schema,
    forced_tool,
    with_tools_in_system_prompt,
)

__all__ = [
    "DEFAULT_CONTEXT_LENGTH",
    "OllamaProvider",
    "choose_num_ctx",
    "estimate_prompt_tokens",
    "model_context_length",
    "truncation_warning",
]

ToolStreaming = Literal["off", "buffer"]
_Delta = TextDelta | ThinkingDelta | ToolCallDelta

DEFAULT_CONTEXT_LENGTH = 8192
NUM_CTX_BUCKET = 2048
CHARS_PER_TOKEN = 3.5
MESSAGE_OVERHEAD_TOKENS = 4
TRUNCATION_RATIO = 0.85

_HINT = (
    "Check that `ollama serve` is running and that base_url is right "
    "(Ollama listens on http://localhost:11434 by default)."
)


def estimate_prompt_tokens(
    messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] = ()
) -> int:
    """About how many prompt tokens Ollama will see for these wire messages and tools.

    Counts the characters of the JSON that is sent (the chat template renders
    much the same text, tool schemas included) at 3.5 characters per token,
    a little below the ~4 of English prose so code and JSON are not
    underestimated, plus a few tokens per message for the template's role
    markers. Non-ASCII text is counted in its escaped form, which errs high
    for scripts that take a token or more per character. Erring high costs
    some memory; erring low truncates the prompt.
    """
    chars = sum(len(json.dumps(message)) for message in messages)
    if tools:
        chars += len(json.dumps(list(tools)))
    overhead = MESSAGE_OVERHEAD_TOKENS * len(messages)
    return math.ceil(chars / CHARS_PER_TOKEN) + overhead


def choose_num_ctx(prompt_tokens: int, max_tokens: int, maximum: int) -> int:
    """The ``num_ctx`` for one call: room for prompt and answer, bucketed, capped.

    Ollama reloads the model whenever ``num_ctx`` changes, so the size is
    rounded up to a multiple of 2048: the turns of a conversation mostly land
    in the same bucket and reuse the loaded model.
    """
    wanted = prompt_tokens + max_tokens
    bucketed = math.ceil(wanted / NUM_CTX_BUCKET) * NUM_CTX_BUCKET
    return max(1, min(bucketed, maximum))


def truncation_warning(
    *, evaluated: int | None, estimated: int, num_ctx: int, maximum: int
) -> str | None:
    """A warning when Ollama evaluated clearly less of the prompt than was sent.

    Ollama's prompt cache makes ``prompt_eval_count`` small whenever a prefix
    was already evaluated, so a small count alone means nothing. Only when the
    estimate did not fit the window that was set (which, with ``num_ctx``
    chosen by :func:`choose_num_ctx`, means it exceeded the model's maximum)
    and the count is below 85 % of it, was the prompt cut.
    """
    if evaluated is None or estimated <= num_ctx:
        return None
    if evaluated >= TRUNCATION_RATIO * estimated:
        return None
    limit = f" (the model's maximum is {maximum})" if num_ctx >= maximum else ""
    return (
        f"Ollama evaluated {evaluated} of about {estimated} prompt tokens: the "
        f"prompt was truncated to the context window of {num_ctx}{limit}, so the "
        "model did not see the start of the conversation. Shorten the "
        "conversation or the attached files, or use a model with a larger "
        "context window."
    )


def model_context_length(show: Mapping[str, Any]) -> int | None:
    """The maximum context in an ``/api/show`` answer, when it names one.

    The key is namespaced by architecture (``llama.context_length``,
    ``qwen2.context_length``), and the architecture is in
    ``general.architecture``.
    """
    info = show.get("model_info")
    if not isinstance(info, Mapping):
        return None
    value = info.get(f"{info.get('general.architecture')}.context_length")
    return value if isinstance(value, int) and value > 0 else None


@dataclass(frozen=True)
class _Prepared:
    body: dict[str, Any]
    estimated: int
    num_ctx: int


class OllamaProvider:
    """Implements ``ModelProvider`` for Ollama's native ``/api/chat``."""

    def __init__(
        self,
        *,
        name: str,
        model: str,
        base_url: str = "http://localhost:11434",
        context_length: int | None = None,
        native_tools: bool = True,
        tool_streaming: ToolStreaming = "off",
        timeout: float = 600.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name, self.model = name, model
        self.base_url = base_url.rstrip("/")
        self.capabilities = Capabilities(
            native_tools=native_tools,
            context_length=context_length or DEFAULT_CONTEXT_LENGTH,
            streams_tool_calls=False,
            constrained_output=True,
        )
        self._configured_context = context_length
        self._maximum: int | None = None
        self._tool_streaming = tool_streaming
        self._retry = retry or RetryPolicy()
        self._server = ServerInfo("Ollama", self.base_url, _HINT)
        self._client = make_client(self.base_url, timeout=timeout, transport=transport)

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        return retrying(lambda: self._stream_once(request), self._retry)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def probe(self) -> ProbeResult:
        """What ``/api/show`` says about the model, for ``loom models --check``.

        Failures are part of the answer (unreachable server, model not
        pulled), not raised: the check reports every model.
        """
        try:
            show = await self._show()
        except ModelError as error:
            return ProbeResult(reachable=False, detail=str(error))
        maximum = self._remember_maximum(show)
        listed = show.get("capabilities")
        if not isinstance(listed, list):
            # Older Ollama versions do not list capabilities.
            return ProbeResult(reachable=True, context_length=maximum)
        return ProbeResult(
            reachable=True,
            native_tools="tools" in listed,
            context_length=maximum,
            detail="capabilities: " + ", ".join(str(c) for c in listed),
        )

    async def max_context(self) -> int:
        """The model's maximum context, read from ``/api/show`` on first use."""
        if self._maximum is None:
            return self._remember_maximum(await self._show())
        return self._maximum

    def request_body(self, request: ModelRequest) -> dict[str, Any]:
        """The JSON body sent for ``request`` (also used by benchmarks)."""
        return self._prepare(request).body

    def _remember_maximum(self, show: Mapping[str, Any]) -> int:
        trained = model_context_length(show)
        configured = self._configured_context
        # A configured context_length is the user's ceiling (memory is finite);
        # it never raises the window above what the model was trained for.
        if trained and configured:
            maximum = min(trained, configured)
        else:
            maximum = trained or configured or DEFAULT_CONTEXT_LENGTH
        self._maximum = maximum
        self.capabilities = self.capabilities.model_copy(
            update={"context_length": maximum}
        )
        return maximum

    async def _show(self) -> dict[str, Any]:
        async with self._open("/api/show", {"model": self.model}) as response:
            await response.aread()
        return _parse_chunk(response.text)

    @asynccontextmanager
    async def _open(
        self, path: str, body: dict[str, Any]
    ) -> AsyncIterator[httpx.Response]:
        try:
            async with open_response(
                self._client, self._server, path, body
            ) as response:
                yield response
        except ModelResponseError as error:
            if error.status != 404:
                raise
            raise ModelResponseError(
                f"Ollama at {self.base_url} has no model named {self.model!r} "
                f"({error}). Download it with `ollama pull {self.model}`, or fix "
                "the model name in loom.toml.",
                status=404,
            ) from error

    def _prepare(self, request: ModelRequest) -> _Prepared:
        params = request.params
        native = self.capabilities.native_tools
        sends_tools = native and bool(request.tools) and not params.force_tool
        names = _call_names(request.messages)
        messages = [
            _wire_message(m, native, names) for m in self._conversation(request)
        ]
        tools = [_wire_tool(t) for t in request.tools] if sends_tools else []
        estimated = estimate_prompt_tokens(messages, tools)
        num_ctx = choose_num_ctx(
            estimated, params.max_tokens, self.capabilities.context_length
        )
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": self._streams(request, bool(tools)),
            "options": _options(request, num_ctx),
        }
        if tools:
            body["tools"] = tools
        answer_format = _answer_format(request)
        if answer_format is not None:
            body["format"] = answer_format
        return _Prepared(body, estimated, num_ctx)

    def _conversation(self, request: ModelRequest) -> list[ChatMessage]:
        force = request.params.force_tool
        if force:
            note = _forced_tool_note(force, request.tools)
            return _with_system_note(request.messages, note)
        if request.tools and not self.capabilities.native_tools:
            return with_tools_in_system_prompt(request.messages, request.tools)
        return list(request.messages)

    def _streams(self, request: ModelRequest, sends_tools: bool) -> bool:
        # A forced call's JSON answer is not text to show, and streamed tool
        # calls get lost: both are read from one complete answer instead.
        if request.params.force_tool:
            return False
        return not (sends_tools and self._tool_streaming == "off")

    async def _stream_once(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        started = time.perf_counter()
        await self.max_context()
        prepared = self._prepare(request)
        builder = CompletionBuilder(request.fingerprint()[:12], request.tools)
        reader = _ChatReader(request.params.force_tool)
        async with self._open("/api/chat", prepared.body) as response:
            async for chunk in _chunks(response, streaming=prepared.body["stream"]):
                for item in reader.feed(chunk):
                    builder.add(item)
                    yield item
        for item in reader.finish():
            builder.add(item)
            yield item
        yield builder.build(
            usage=reader.usage(),
            # Servers before done_reason existed end with just "done": true.
            finish_reason=str(reader.final.get("done_reason") or "stop"),
            latency_ms=(time.perf_counter() - started) * 1000,
            warnings=self._warnings(prepared, reader.final),
        )

    def _warnings(self, prepared: _Prepared, final: Mapping[str, Any]) -> list[str]:
        evaluated = final.get("prompt_eval_count")
        warning = truncation_warning(
            evaluated=evaluated if isinstance(evaluated, int) else None,
            estimated=prepared.estimated,
            num_ctx=prepared.num_ctx,
            maximum=self.capabilities.context_length,
        )
        return [warning] if warning else []


class _ChatReader:
    """Turns ``/api/chat`` chunks into stream items.

    Text and thinking go out as they arrive; tool calls are held until the
    end, because Ollama may send them in any chunk and the builder should get
    them whole.
    """

    def __init__(self, force_tool: str | None) -> None:
        self._splitter = ThinkSplitter()
        self._force_tool = force_tool
        self._answer: list[str] = []
        self._calls: list[Mapping[str, Any]] = []
        self.final: Mapping[str, Any] = {}

    def feed(self, chunk: Mapping[str, Any]) -> list[_Delta]:
        if chunk.get("done"):
            self.final = chunk
        message = chunk.get("message") or {}
        items: list[_Delta] = []
        if message.get("thinking"):
            items.append(ThinkingDelta(str(message["thinking"])))
        self._calls.extend(message.get("tool_calls") or [])
        content = str(message.get("content") or "")
        if self._force_tool:
            self._answer.append(content)
        elif content:
            items.extend(self._splitter.feed(content))
        return items

    def finish(self) -> list[_Delta]:
        items: list[_Delta] = list(self._splitter.flush())
        if self._force_tool and not self._calls:
            items.append(_forced_call(self._force_tool, "".join(self._answer)))
        items.extend(_call_delta(n, call) for n, call in enumerate(self._calls))
        return items

    def usage(self) -> TokenUsage | None:
        if "prompt_eval_count" not in self.final and "eval_count" not in self.final:
            return None
        return TokenUsage(
            prompt_tokens=int(self.final.get("prompt_eval_count") or 0),
            completion_tokens=int(self.final.get("eval_count") or 0),
        )


async def _chunks(
    response: httpx.Response, *, streaming: bool
) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects of an answer: one per NDJSON line, or one in all."""
    if not streaming:
        await response.aread()
        yield _parse_chunk(response.text)
        return
    async for line in response.aiter_lines():
        if line.strip():
            yield _parse_chunk(line)


def _parse_chunk(text: str) -> dict[str, Any]:
    try:
        chunk = json.loads(text)
    except ValueError as error:
        raise ModelResponseError(
            f"Ollama sent something that is not JSON: {text[:200]!r}"
        ) from error
    if not isinstance(chunk, dict):
        raise ModelResponseError(f"Ollama sent an unexpected answer: {text[:200]!r}")
    if "error" in chunk:
        raise ModelResponseError(f"Ollama reported an error: {chunk['error']}")
    return chunk


def _call_delta(index: int, call: Mapping[str, Any]) -> ToolCallDelta:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    # Ollama sends arguments as an object; the builder expects JSON text.
    text = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    return ToolCallDelta(
        index=index, id=call.get("id"), name=function.get("name"), arguments=text
    )


def _forced_call(name: str, answer: str) -> ToolCallDelta:
    """The forced tool call that a ``{"name", "arguments"}`` answer stands for."""
    try:
        value = repair_json(answer)
    except JsonRepairError:
        # Hand the raw answer on: the builder reports it as unreadable arguments.
        return ToolCallDelta(index=0, id=None, name=name, arguments=answer)
    arguments = value.get("arguments", value) if isinstance(value, dict) else value
    return ToolCallDelta(index=0, id=None, name=name, arguments=json.dumps(arguments))


def _options(request: ModelRequest, num_ctx: int) -> dict[str, Any]:
    params = request.params
    options: dict[str, Any] = {
        "num_ctx": num_ctx,
        "num_predict": params.max_tokens,
        "temperature": params.temperature,
    }
    if params.stop:
        options["stop"] = list(params.stop)
    return options


def _answer_format(request: ModelRequest) -> dict[str, Any] | None:
    params = request.params
    tool = forced_tool(request)
    if tool is not None:
        return forced_call_schema(tool)
    return params.json_schema


def _forced_tool_note(name: str, tools: Sequence[ToolSpec]) -> str:
    # Ollama's docs advise saying in the prompt that JSON is expected, or the
    # model may pad the constrained answer with whitespace.
    spec = next((tool for tool in tools if tool.name == name), None)
    purpose = f" ({spec.description})" if spec and spec.description else ""
    return (
        f"Call the tool `{name}`{purpose} now. Answer with only a JSON object "
        f'{{"name": "{name}", "arguments": {{...}}}} whose arguments match the '
        "tool's parameters."
    )


def _with_system_note(messages: Sequence[ChatMessage], note: str) -> list[ChatMessage]:
    if messages and messages[0].role == "system":
        first = messages[0]
        merged = first.model_copy(update={"content": f"{first.content}\n\n{note}"})
        return [merged, *messages[1:]]
    return [ChatMessage(role="system", content=note), *messages]


def _call_names(messages: Sequence[ChatMessage]) -> dict[str, str]:
    """Tool names by call id, to label tool results that do not carry one."""
    return {call.id: call.name for m in messages for call in m.tool_calls}


def _wire_message(
    message: ChatMessage, native: bool, names: Mapping[str, str]
) -> dict[str, Any]:
    if not native:
        return _text_wire_message(message)
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["tool_calls"] = [
            {"function": {"name": call.name, "arguments": call.arguments}}
            for call in message.tool_calls
        ]
    tool_name = message.name or names.get(message.tool_call_id or "")
    if message.role == "tool" and tool_name:
        wire["tool_name"] = tool_name
    return wire


def _text_wire_message(message: ChatMessage) -> dict[str, Any]:
    """A message for a model without native tools, calls and results as text.

    Templates without tool support drop ``tool`` messages, so results go in a
    user turn, and calls in the Hermes markup the tool prompt asks for.
    """
    if message.role == "tool":
        content = f"<tool_response>\n{message.content}\n</tool_response>"
        return {"role": "user", "content": content}
    calls = [
        "<tool_call>"
        + json.dumps({"name": call.name, "arguments": call.arguments})
        + "</tool_call>"
        for call in message.tool_calls
    ]
    content = "\n".join(part for part in (message.content, *calls) if part)
    return {"role": message.role, "content": content}


def _wire_tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }
