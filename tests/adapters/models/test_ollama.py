"""OllamaProvider against an Ollama server played by ``httpx.MockTransport``.

The server's answers are Ollama's documented examples (tests/fixtures/ollama,
sources in its README); the handler checks each request it receives.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from loom.adapters.models._shared import RetryPolicy
from loom.adapters.models.ollama import (
    OllamaProvider,
    choose_num_ctx,
    estimate_prompt_tokens,
    model_context_length,
    truncation_warning,
)
from loom.domain.events import TokenUsage, ToolCall
from loom.domain.models import (
    ChatMessage,
    Completion,
    ModelParams,
    ModelRequest,
    ModelResponseError,
    ModelUnreachableError,
    ProbeResult,
    StreamItem,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolSpec,
)
from loom.domain.toolprompt import forced_call_schema

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ollama"
MODEL = "llama3.2"

# The tool of the docs' "Chat request (with tools)" example.
WEATHER = ToolSpec(
    name="get_current_weather",
    description="Get the current weather for a location",
    parameters={
        "type": "object",
        "properties": {
            "location": {
                "type": "string",
                "description": (
                    "The location to get the weather for, e.g. San Francisco, CA"
                ),
            },
            "format": {
                "type": "string",
                "description": (
                    "The format to return the weather in, e.g. 'celsius' or "
                    "'fahrenheit'"
                ),
                "enum": ["celsius", "fahrenheit"],
            },
        },
        "required": ["location", "format"],
    },
)
PARIS = {"format": "celsius", "location": "Paris, FR"}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture(name))
    return data


def ndjson(*chunks: dict[str, Any]) -> httpx.Response:
    body = "".join(json.dumps(chunk) + "\n" for chunk in chunks)
    return httpx.Response(200, content=body.encode())


def stream_reply(name: str, **final: Any) -> httpx.Response:
    """A documented NDJSON stream, with fields of its final chunk replaced."""
    chunks = [json.loads(line) for line in fixture(name).decode().splitlines()]
    chunks[-1].update(final)
    return ndjson(*chunks)


def json_reply(name: str) -> httpx.Response:
    return httpx.Response(200, content=fixture(name))


Reply = httpx.Response | Exception


class FakeOllama:
    """Answers ``/api/show`` and replays one reply per ``/api/chat`` call."""

    def __init__(self, *replies: Reply, show: dict[str, Any] | None = None) -> None:
        self.replies = list(replies)
        self.show = show if show is not None else fixture_json("show_llama3.2.json")
        self.chats: list[dict[str, Any]] = []
        self.shows = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["model"] == MODEL
        if request.url.path == "/api/show":
            self.shows += 1
            return self._reply(httpx.Response(200, json=self.show))
        assert request.url.path == "/api/chat"
        # Every chat request sizes the context window explicitly.
        num_ctx = body["options"]["num_ctx"]
        assert isinstance(num_ctx, int)
        assert num_ctx > 0
        self.chats.append(body)
        return self._reply(self.replies.pop(0))

    def _reply(self, reply: Reply) -> httpx.Response:
        if isinstance(reply, Exception):
            raise reply
        return reply


class FailingShow(FakeOllama):
    def __init__(self, reply: Reply) -> None:
        super().__init__()
        self.show_reply = reply

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/show":
            self.shows += 1
            return self._reply(self.show_reply)
        return super().__call__(request)


Make = Callable[..., OllamaProvider]


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    made: list[OllamaProvider] = []

    def factory(server: FakeOllama, **options: Any) -> OllamaProvider:
        provider = OllamaProvider(
            name="local",
            model=MODEL,
            transport=httpx.MockTransport(server),
            retry=RetryPolicy(attempts=3, base_delay=0),
            **options,
        )
        made.append(provider)
        return provider

    yield factory
    for provider in made:
        await provider.aclose()


def ask(
    content: str = "why is the sky blue?",
    *,
    tools: list[ToolSpec] | None = None,
    messages: list[ChatMessage] | None = None,
    **params: Any,
) -> ModelRequest:
    return ModelRequest(
        messages=messages or [ChatMessage(role="user", content=content)],
        tools=tools or [],
        params=ModelParams(**params),
    )


async def collect(
    provider: OllamaProvider, request: ModelRequest
) -> tuple[list[StreamItem], Completion]:
    items = [item async for item in provider.stream(request)]
    completions = [item for item in items if isinstance(item, Completion)]
    assert len(completions) == 1
    assert items[-1] is completions[0]
    return items[:-1], completions[0]


def text_of(items: list[StreamItem]) -> str:
    return "".join(item.text for item in items if isinstance(item, TextDelta))


# --- streaming text -------------------------------------------------------------


async def test_streams_text_and_sizes_the_context(make: Make) -> None:
    server = FakeOllama(stream_reply("chat_stream_gemma3.ndjson"))
    request = ask(max_tokens=256, temperature=0.2, stop=["\n\n"])

    items, completion = await collect(make(server), request)

    body = server.chats[0]
    assert body["stream"] is True
    assert "tools" not in body
    assert "format" not in body
    assert body["messages"] == [{"role": "user", "content": "why is the sky blue?"}]
    assert body["options"] == {
        "num_ctx": 2048,
        "num_predict": 256,
        "temperature": 0.2,
        "stop": ["\n\n"],
    }
    assert [i.text for i in items if isinstance(i, TextDelta)] == [
        "That",
        "'",
        "s",
        " a",
        " fantastic",
        " question",
        "!",
    ]
    assert text_of(items) == completion.text == "That's a fantastic question!"
    assert completion.finish_reason == "stop"
    assert completion.warnings == []


async def test_reports_usage_from_the_final_chunk(make: Make) -> None:
    server = FakeOllama(stream_reply("chat_stream.ndjson"))

    items, completion = await collect(make(server), ask())

    assert text_of(items) == completion.text == "The"
    assert completion.usage == TokenUsage(prompt_tokens=26, completion_tokens=282)


async def test_thinking_streams_apart_from_the_answer(make: Make) -> None:
    server = FakeOllama(stream_reply("chat_thinking_stream.ndjson"))
    times = "\N{MULTIPLICATION SIGN}"

    items, completion = await collect(make(server), ask(f"What is 17 {times} 23?"))

    thinking = [i.text for i in items if isinstance(i, ThinkingDelta)]
    first = f"17 {times} 23 = 17 {times} 20 + 17 {times} 3"
    assert thinking == [first, " = 340 + 51 = 391."]
    assert completion.thinking == f"{first} = 340 + 51 = 391."
    assert text_of(items) == completion.text == f"17 {times} 23 = 391"


async def test_an_error_mid_stream_is_raised_not_retried(make: Make) -> None:
    server = FakeOllama(stream_reply("chat_stream_error.ndjson"), ndjson())

    with pytest.raises(ModelResponseError, match="error was encountered while running"):
        await collect(make(server), ask())
    assert len(server.chats) == 1


# --- the context window ---------------------------------------------------------


async def test_num_ctx_follows_the_prompt_in_buckets(make: Make) -> None:
    server = FakeOllama(
        stream_reply("chat_stream.ndjson"),
        stream_reply("chat_stream.ndjson"),
        show=fixture_json("show_gemma4.json"),
    )
    provider = make(server)

    await collect(provider, ask("x" * 30_000, max_tokens=1024))
    await collect(provider, ask("x" * 31_000, max_tokens=1024))

    # About 8,600 prompt tokens plus 1,024 to answer, rounded up to 2048s; the
    # slightly longer prompt lands in the same bucket, so the model stays loaded.
    assert [chat["options"]["num_ctx"] for chat in server.chats] == [10240, 10240]
    assert server.shows == 1
    assert provider.capabilities.context_length == 131072


async def test_num_ctx_is_capped_at_the_models_maximum(make: Make) -> None:
    server = FakeOllama(stream_reply("chat_stream.ndjson"))
    provider = make(server)

    await collect(provider, ask("x" * 40_000))

    assert server.chats[0]["options"]["num_ctx"] == 8192
    assert provider.capabilities.context_length == 8192


async def test_probe_reports_context_and_tool_support(make: Make) -> None:
    gemma = make(FakeOllama(show=fixture_json("show_gemma4.json")))
    with_tools = fixture_json("show_gemma4.json") | {
        "capabilities": ["completion", "tools"]
    }

    assert await gemma.probe() == ProbeResult(
        reachable=True,
        native_tools=False,
        context_length=131072,
        detail="capabilities: completion, vision",
    )
    assert (await make(FakeOllama(show=with_tools)).probe()).native_tools is True
    assert gemma.capabilities.context_length == 131072


async def test_probe_without_a_capabilities_list_leaves_tools_open(
    make: Make,
) -> None:
    probe = await make(FakeOllama()).probe()

    assert probe == ProbeResult(reachable=True, native_tools=None, context_length=8192)


async def test_probe_reports_a_missing_model_instead_of_raising(make: Make) -> None:
    server = FailingShow(
        httpx.Response(404, content=fixture("error_model_not_found.json"))
    )

    probe = await make(server).probe()

    assert probe.reachable is False
    assert "`ollama pull llama3.2`" in probe.detail


async def test_configured_context_length_caps_or_stands_in(make: Make) -> None:
    gemma = fixture_json("show_gemma4.json")
    bare = {"capabilities": ["completion"]}

    capped = await make(FakeOllama(show=gemma), context_length=16384).probe()
    stand_in = await make(FakeOllama(show=bare), context_length=4096).probe()
    default = await make(FakeOllama(show=bare)).probe()

    assert capped.context_length == 16384
    assert stand_in.context_length == 4096
    assert default.context_length == 8192


def test_estimate_is_about_one_token_per_three_and_a_half_characters() -> None:
    message = {"role": "user", "content": "a" * 3500}
    tool = {"type": "function", "function": {"name": "t", "parameters": {}}}

    plain = estimate_prompt_tokens([message])

    assert 1000 < plain < 1030
    assert estimate_prompt_tokens([message], [tool]) > plain
    # Non-ASCII is counted escaped, erring high where tokens are dense.
    assert estimate_prompt_tokens([{"role": "user", "content": "語" * 100}]) >= 100


def test_num_ctx_rounds_up_to_buckets_and_caps() -> None:
    assert choose_num_ctx(100, 1024, 131072) == 2048
    assert choose_num_ctx(1024, 1024, 131072) == 2048
    assert choose_num_ctx(1025, 1024, 131072) == 4096
    assert choose_num_ctx(50_000, 1024, 8192) == 8192


def test_model_context_length_reads_the_architecture_key() -> None:
    assert model_context_length(fixture_json("show_llama3.2.json")) == 8192
    assert model_context_length(fixture_json("show_gemma4.json")) == 131072
    assert model_context_length({"model_info": {"general.architecture": "x"}}) is None
    assert model_context_length({}) is None


# --- truncation -----------------------------------------------------------------


async def test_warns_when_ollama_evaluated_a_cut_prompt(make: Make) -> None:
    server = FakeOllama(stream_reply("chat_stream.ndjson", prompt_eval_count=7100))

    _, completion = await collect(make(server), ask("x" * 40_000))

    assert len(completion.warnings) == 1
    warning = completion.warnings[0]
    assert warning.startswith("Ollama evaluated 7100 of about 1")
    assert "context window of 8192" in warning


async def test_no_warning_when_the_prompt_cache_makes_the_count_small(
    make: Make,
) -> None:
    server = FakeOllama(stream_reply("chat_stream.ndjson", prompt_eval_count=12))

    _, completion = await collect(make(server), ask("x" * 3000))

    assert completion.warnings == []


def test_truncation_warning_needs_an_overflow_and_a_short_count() -> None:
    def warn(evaluated: int | None, estimated: int) -> str | None:
        return truncation_warning(
            evaluated=evaluated, estimated=estimated, num_ctx=8192, maximum=8192
        )

    assert warn(8000, 12000) is not None
    assert warn(12, 6000) is None  # fits: a small count is the prompt cache
    assert warn(8100, 9000) is None  # the estimate was merely high
    assert warn(None, 12000) is None


# --- tools ----------------------------------------------------------------------


async def test_native_tool_calls_come_from_one_complete_answer(make: Make) -> None:
    server = FakeOllama(json_reply("chat_tools.json"))
    request = ask("What is the weather today in Paris?", tools=[WEATHER])

    items, completion = await collect(make(server), request)

    body = server.chats[0]
    assert body["stream"] is False
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": WEATHER.name,
                "description": WEATHER.description,
                "parameters": WEATHER.parameters,
            },
        }
    ]
    deltas = [i for i in items if isinstance(i, ToolCallDelta)]
    assert [(d.name, json.loads(d.arguments), d.id) for d in deltas] == [
        ("get_current_weather", PARIS, None)
    ]
    [call] = completion.tool_calls
    assert (call.name, call.arguments) == ("get_current_weather", PARIS)
    assert call.id
    assert completion.finish_reason == "tool_calls"
    assert text_of(items) == completion.text == ""


async def test_buffer_mode_streams_text_and_hands_calls_over_last(make: Make) -> None:
    server = FakeOllama(stream_reply("chat_tools_stream.ndjson"))
    provider = make(server, tool_streaming="buffer")
    request = ask("What is the weather today in Toronto?", tools=[WEATHER])

    items, completion = await collect(provider, request)

    assert server.chats[0]["stream"] is True
    assert "tools" in server.chats[0]
    assert isinstance(items[-1], ToolCallDelta)
    assert [i.text for i in items if isinstance(i, ThinkingDelta)] == ["celsius"]
    assert completion.tool_calls[0].arguments == {
        "format": "celsius",
        "location": "Toronto",
    }
    assert completion.usage == TokenUsage(prompt_tokens=201, completion_tokens=58)


async def test_hermes_tool_call_in_content_is_parsed(make: Make) -> None:
    server = FakeOllama(json_reply("chat_hermes_tool_call.json"))

    _, completion = await collect(make(server), ask(tools=[WEATHER]))

    [call] = completion.tool_calls
    assert (call.name, call.arguments) == ("get_current_weather", PARIS)
    assert completion.text == "Let me look that up."


async def test_without_native_tools_the_tools_go_in_the_prompt(make: Make) -> None:
    server = FakeOllama(ndjson(fixture_json("chat_hermes_tool_call.json")))
    history = [
        ChatMessage(role="user", content="Weather in Paris?"),
        ChatMessage(
            role="assistant",
            tool_calls=[ToolCall(id="c1", name=WEATHER.name, arguments=PARIS)],
        ),
        ChatMessage(role="tool", tool_call_id="c1", content="22°C"),
    ]
    provider = make(server, native_tools=False)

    _, completion = await collect(provider, ask(tools=[WEATHER], messages=history))

    body = server.chats[0]
    assert "tools" not in body
    assert body["stream"] is True
    system, _, call, result = body["messages"]
    assert system["role"] == "system"
    assert "get_current_weather" in system["content"]
    assert call["content"].startswith("<tool_call>")
    assert json.loads(call["content"][11:-12])["arguments"] == PARIS
    assert result == {
        "role": "user",
        "content": "<tool_response>\n22°C\n</tool_response>",
    }
    assert completion.tool_calls[0].name == WEATHER.name


def test_wire_messages_carry_tool_calls_and_named_results() -> None:
    provider = OllamaProvider(name="local", model=MODEL)
    history = [
        ChatMessage(role="user", content="What is the temperature in New York?"),
        ChatMessage(
            role="assistant",
            tool_calls=[
                ToolCall(
                    id="c1", name="get_temperature", arguments={"city": "New York"}
                )
            ],
        ),
        ChatMessage(role="tool", tool_call_id="c1", content="22°C"),
    ]

    messages = provider.request_body(ask(messages=history))["messages"]

    # The shape of the docs' "Generate a response with a single tool result".
    assert messages[1:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "function": {
                        "name": "get_temperature",
                        "arguments": {"city": "New York"},
                    }
                }
            ],
        },
        {"role": "tool", "content": "22°C", "tool_name": "get_temperature"},
    ]


# --- structured output ----------------------------------------------------------


async def test_json_schema_goes_in_format(make: Make) -> None:
    schema = {
        "type": "object",
        "properties": {"age": {"type": "integer"}, "available": {"type": "boolean"}},
        "required": ["age", "available"],
    }
    server = FakeOllama(ndjson(fixture_json("chat_structured.json")))

    items, completion = await collect(make(server), ask(json_schema=schema))

    assert server.chats[0]["format"] == schema
    assert text_of(items) == completion.text == '{"age": 22, "available": false}'


async def test_a_forced_tool_is_a_format_schema_and_comes_back_as_a_call(
    make: Make,
) -> None:
    server = FakeOllama(json_reply("chat_forced_tool.json"))
    request = ask(tools=[WEATHER], force_tool=WEATHER.name)

    items, completion = await collect(make(server), request)

    body = server.chats[0]
    assert body["stream"] is False
    assert "tools" not in body
    assert body["format"] == forced_call_schema(WEATHER)
    assert body["format"]["properties"] == {
        "name": {"type": "string", "enum": ["get_current_weather"]},
        "arguments": WEATHER.parameters,
    }
    assert body["format"]["required"] == ["name", "arguments"]
    assert body["messages"][0]["role"] == "system"
    assert "`get_current_weather`" in body["messages"][0]["content"]
    assert not [i for i in items if isinstance(i, TextDelta)]
    [call] = completion.tool_calls
    assert (call.name, call.arguments) == ("get_current_weather", PARIS)


# --- failures -------------------------------------------------------------------


async def test_a_server_error_is_retried(make: Make) -> None:
    server = FakeOllama(
        httpx.Response(500, content=fixture("error_500.json")),
        stream_reply("chat_stream.ndjson"),
    )

    _, completion = await collect(make(server), ask())

    assert completion.text == "The"
    assert len(server.chats) == 2


async def test_connection_refused_names_the_url_and_what_to_check(
    make: Make,
) -> None:
    attempts = 0

    def refuse(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    provider = OllamaProvider(
        name="local",
        model=MODEL,
        transport=httpx.MockTransport(refuse),
        retry=RetryPolicy(attempts=3, base_delay=0),
    )
    try:
        with pytest.raises(ModelUnreachableError) as raised:
            await collect(provider, ask())
    finally:
        await provider.aclose()

    message = str(raised.value)
    assert "http://localhost:11434" in message
    assert "Connection refused" in message
    assert "`ollama serve` is running" in message
    assert attempts == 3


async def test_a_missing_model_says_how_to_pull_it(make: Make) -> None:
    server = FailingShow(
        httpx.Response(404, content=fixture("error_model_not_found.json"))
    )

    with pytest.raises(ModelResponseError) as raised:
        await collect(make(server), ask())

    assert raised.value.status == 404
    assert "no model named 'llama3.2'" in str(raised.value)
    assert "`ollama pull llama3.2`" in str(raised.value)
    assert server.shows == 1


def test_estimate_matches_its_documented_rule() -> None:
    message = {"role": "user", "content": "hello"}
    expected = math.ceil(len(json.dumps(message)) / 3.5) + 4
    assert estimate_prompt_tokens([message]) == expected
