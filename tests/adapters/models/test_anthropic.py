"""AnthropicProvider against the Messages API played by ``httpx.MockTransport``.

The streams are Anthropic's documented event sequences (tests/fixtures/
anthropic, sources in its README); the handler checks each request it gets.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from loom.adapters.models._shared import RetryPolicy
from loom.adapters.models.anthropic import AnthropicProvider
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

FIXTURES = Path(__file__).parents[2] / "fixtures" / "anthropic"
KEY = "sk-ant-api03-not-a-real-key-0123456789"
URL = "https://api.anthropic.com"

# The tool of the docs' "Streaming request with tool use" example.
WEATHER = ToolSpec(
    name="get_weather",
    description="Get the current weather in a given location",
    parameters={
        "type": "object",
        "properties": {
            "location": {
                "type": "string",
                "description": "The city and state, e.g. San Francisco, CA",
            }
        },
        "required": ["location"],
    },
)
SAN_FRANCISCO = {"location": "San Francisco, CA", "unit": "fahrenheit"}


def events(name: str) -> list[str]:
    """The events of a documented stream, one ``event:``/``data:`` pair each."""
    text = (FIXTURES / name).read_text()
    return [block for block in text.split("\n\n") if block.strip()]


def sse(*blocks: str) -> httpx.Response:
    body = "".join(block + "\n\n" for block in blocks)
    return httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=body.encode()
    )


def sse_file(name: str) -> httpx.Response:
    return sse(*events(name))


def error_reply(status: int, kind: str, message: str) -> httpx.Response:
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return httpx.Response(status, json=body)


Reply = httpx.Response | Exception


class FakeAnthropic:
    """Checks each request's headers and replays one reply per call."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.url.path in ("/v1/messages", "/v1/messages/count_tokens")
        self.paths.append(request.url.path)
        assert request.headers["x-api-key"] == KEY
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert request.headers["content-type"] == "application/json"
        self.bodies.append(json.loads(request.content))
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


Make = Callable[..., AnthropicProvider]


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    made: list[AnthropicProvider] = []

    def factory(
        handler: Callable[[httpx.Request], httpx.Response],
    ) -> AnthropicProvider:
        provider = AnthropicProvider(
            name="claude",
            model="claude-opus-4-6",
            api_key=KEY,
            transport=httpx.MockTransport(handler),
            retry=RetryPolicy(attempts=3, base_delay=0),
        )
        made.append(provider)
        return provider

    yield factory
    for provider in made:
        await provider.aclose()


def ask(
    content: str = "Hello",
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
    provider: AnthropicProvider, request: ModelRequest
) -> tuple[list[StreamItem], Completion]:
    items = [item async for item in provider.stream(request)]
    completions = [item for item in items if isinstance(item, Completion)]
    assert len(completions) == 1
    assert items[-1] is completions[0]
    return items[:-1], completions[0]


def text_of(items: list[StreamItem]) -> str:
    return "".join(item.text for item in items if isinstance(item, TextDelta))


# --- streaming ------------------------------------------------------------------


async def test_streams_text_with_system_on_top(make: Make) -> None:
    server = FakeAnthropic(sse_file("stream_text.sse"))
    request = ask(
        messages=[
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(role="user", content="Hello"),
            ChatMessage(role="user", content="Are you there?"),
        ],
        max_tokens=256,
        temperature=0.3,
        stop=["END"],
    )

    items, completion = await collect(make(server), request)

    assert server.bodies[0] == {
        "model": "claude-opus-4-6",
        "max_tokens": 256,
        "temperature": 0.3,
        "stream": True,
        "system": "Be brief.",
        "stop_sequences": ["END"],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Hello"},
                    {"type": "text", "text": "Are you there?"},
                ],
            }
        ],
    }
    assert [i.text for i in items if isinstance(i, TextDelta)] == ["Hello", "!"]
    assert text_of(items) == completion.text == "Hello!"
    assert completion.usage == TokenUsage(prompt_tokens=25, completion_tokens=15)
    assert completion.finish_reason == "stop"


async def test_tool_input_fragments_are_reassembled(make: Make) -> None:
    server = FakeAnthropic(sse_file("stream_tool_use.sse"))
    request = ask(
        "What is the weather like in San Francisco?",
        tools=[WEATHER],
        force_tool="get_weather",
    )

    items, completion = await collect(make(server), request)

    body = server.bodies[0]
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": WEATHER.description,
            "input_schema": WEATHER.parameters,
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "get_weather"}
    fragments = [i for i in items if isinstance(i, ToolCallDelta)]
    assert {f.index for f in fragments} == {1}
    assert json.loads("".join(f.arguments for f in fragments)) == SAN_FRANCISCO
    assert completion.tool_calls == [
        ToolCall(
            id="toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            name="get_weather",
            arguments=SAN_FRANCISCO,
        )
    ]
    assert text_of(items) == completion.text
    assert completion.text == "Okay, let's check the weather for San Francisco, CA:"
    assert completion.finish_reason == "tool_calls"
    assert completion.usage == TokenUsage(prompt_tokens=472, completion_tokens=89)


async def test_thinking_streams_apart_from_the_answer(make: Make) -> None:
    server = FakeAnthropic(sse_file("stream_thinking.sse"))

    items, completion = await collect(make(server), ask())

    assert len([i for i in items if isinstance(i, ThinkingDelta)]) == 4
    assert completion.thinking.startswith("I need to find the GCD of 1071 and 462")
    assert completion.thinking.endswith("so GCD(1071, 462) = 21.")
    assert "EqQBCgIYAhIM" not in completion.thinking  # the signature is not thinking
    assert text_of(items) == completion.text
    assert completion.text == "The greatest common divisor of 1071 and 462 is **21**."
    assert completion.usage is None


def test_conversation_becomes_alternating_turns_with_tool_blocks() -> None:
    provider = AnthropicProvider(name="claude", model="claude-opus-4-6", api_key=KEY)
    call = ToolCall(id="toolu_01", name="get_weather", arguments={"location": "SF"})
    history = [
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="Weather in SF?"),
        ChatMessage(role="assistant", content="Let me check.", tool_calls=[call]),
        # The user interjects while the tool runs; results must still lead.
        ChatMessage(role="user", content="And tomorrow?"),
        ChatMessage(role="tool", tool_call_id="toolu_01", content="15 degrees"),
        ChatMessage(role="assistant", content="  "),
        ChatMessage(role="system", content="Use Celsius."),
    ]

    body = provider.request_body(ask(messages=history))

    assert body["system"] == "Be brief.\n\nUse Celsius."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in SF?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "get_weather",
                    "input": {"location": "SF"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "content": "15 degrees",
                },
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]


# --- structured output ----------------------------------------------------------


async def test_json_schema_is_a_forced_respond_tool_answered_as_text(
    make: Make,
) -> None:
    schema = {
        "type": "object",
        "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["location", "unit"],
    }
    server = FakeAnthropic(sse_file("stream_respond.sse"))

    items, completion = await collect(make(server), ask(json_schema=schema))

    body = server.bodies[0]
    assert [t["name"] for t in body["tools"]] == ["respond"]
    assert body["tools"][0]["input_schema"] == schema
    assert body["tool_choice"] == {"type": "tool", "name": "respond"}
    assert completion.tool_calls == []
    assert json.loads(completion.text) == SAN_FRANCISCO
    assert text_of(items) == completion.text
    assert completion.finish_reason == "stop"


async def test_a_non_object_schema_is_wrapped_and_unwrapped(make: Make) -> None:
    schema = {"type": "array", "items": {"type": "string"}}
    documented = events("stream_respond.sse")
    fragment = json.dumps({"value": ["Paris", "Lyon"]})
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "input_json_delta", "partial_json": fragment},
    }
    server = FakeAnthropic(
        sse(*documented[:2], "data: " + json.dumps(delta), *documented[-3:])
    )

    items, completion = await collect(make(server), ask(json_schema=schema))

    assert server.bodies[0]["tools"][0]["input_schema"] == {
        "type": "object",
        "properties": {"value": schema},
        "required": ["value"],
    }
    assert json.loads(completion.text) == ["Paris", "Lyon"]
    assert text_of(items) == completion.text


# --- failures -------------------------------------------------------------------


async def test_an_overloaded_error_event_before_output_is_retried(
    make: Make,
) -> None:
    server = FakeAnthropic(
        sse_file("stream_error_overloaded.sse"), sse_file("stream_text.sse")
    )

    _, completion = await collect(make(server), ask())

    assert completion.text == "Hello!"
    assert len(server.bodies) == 2


async def test_an_error_event_after_output_is_raised(make: Make) -> None:
    text = events("stream_text.sse")
    server = FakeAnthropic(
        sse(*text[:5], *events("stream_error_overloaded.sse")),
        sse_file("stream_text.sse"),
    )

    with pytest.raises(ModelResponseError, match="overloaded_error") as raised:
        await collect(make(server), ask())

    assert raised.value.status == 529
    assert raised.value.retryable
    assert len(server.bodies) == 1


async def test_a_server_error_is_retried(make: Make) -> None:
    server = FakeAnthropic(
        error_reply(500, "api_error", "Internal server error"),
        sse_file("stream_text.sse"),
    )

    _, completion = await collect(make(server), ask())

    assert completion.text == "Hello!"
    assert len(server.bodies) == 2


async def test_not_found_says_what_to_check(make: Make) -> None:
    reply = httpx.Response(
        404, content=(FIXTURES / "error_not_found.json").read_bytes()
    )
    server = FakeAnthropic(reply)

    with pytest.raises(ModelResponseError) as raised:
        await collect(make(server), ask())

    message = str(raised.value)
    assert raised.value.status == 404
    assert "The requested resource could not be found." in message
    assert "Check the model id in loom.toml" in message
    assert len(server.bodies) == 1


async def test_connection_refused_names_the_url_and_what_to_check(
    make: Make,
) -> None:
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    server = FakeAnthropic(refused, refused, refused)

    with pytest.raises(ModelUnreachableError) as raised:
        await collect(make(server), ask())

    message = str(raised.value)
    assert URL in message
    assert "Connection refused" in message
    assert "Check the network connection and base_url" in message
    assert KEY not in message
    assert len(server.bodies) == 3


async def test_the_api_key_never_appears_in_an_error(make: Make) -> None:
    # A proxy that echoes the key it was sent must not leak it into logs.
    server = FakeAnthropic(
        error_reply(401, "authentication_error", f"invalid x-api-key {KEY}")
    )

    with pytest.raises(ModelResponseError) as raised:
        await collect(make(server), ask())

    message = str(raised.value)
    assert KEY not in message
    assert "invalid x-api-key [redacted API key]" in message
    assert "Check the API key" in message
    assert KEY not in "".join(traceback.format_exception(raised.value))


# --- loom models --check --------------------------------------------------------


async def test_probe_counts_tokens_to_check_key_and_model(make: Make) -> None:
    reply = httpx.Response(200, content=(FIXTURES / "count_tokens.json").read_bytes())
    server = FakeAnthropic(reply)

    probe = await make(server).probe()

    assert server.paths == ["/v1/messages/count_tokens"]
    assert server.bodies[0] == {
        "model": "claude-opus-4-6",
        "messages": [{"role": "user", "content": "ping"}],
    }
    assert probe == ProbeResult(
        reachable=True,
        native_tools=True,
        context_length=200000,
        detail="API key and model accepted",
    )


async def test_probe_reports_a_rejected_key_without_showing_it(make: Make) -> None:
    server = FakeAnthropic(
        error_reply(401, "authentication_error", f"invalid x-api-key {KEY}")
    )

    probe = await make(server).probe()

    assert probe.reachable is False
    assert "authentication" in probe.detail or "invalid x-api-key" in probe.detail
    assert KEY not in probe.detail
