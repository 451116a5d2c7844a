"""The ModelProvider contract, for every backend.

Real SmolLM2 behind llama.cpp's server (``openai_compatible``) and in-process
(``llamacpp``); Ollama and Anthropic through ``httpx.MockTransport`` answering
with the fixtures transcribed from their documentation. SmolLM2-135M is tiny
and often wrong: the tests assert what the harness guarantees (stream shape,
constrained structure), never that the model is clever.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from loom.adapters.models.anthropic import AnthropicProvider
from loom.adapters.models.llamacpp import LlamaCppProvider, default_model_path
from loom.adapters.models.ollama import OllamaProvider
from loom.adapters.models.openai_compatible import OpenAICompatibleProvider
from loom.domain.models import (
    ChatMessage,
    Completion,
    ModelParams,
    ModelRequest,
    StreamItem,
    TextDelta,
    ToolSpec,
)
from loom.domain.ports import ModelProvider

FIXTURES = Path(__file__).parents[2] / "fixtures"
WRITE_FILE = ToolSpec(
    name="write_file",
    description="Write text to a file in the workspace.",
    parameters={
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
    },
)
WEATHER = ToolSpec(
    name="get_weather",
    description="Get the current weather in a given location",
    parameters={
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
)
VERDICT = {
    "type": "object",
    "properties": {"verdict": {"type": "string", "enum": ["pass", "fail"]}},
    "required": ["verdict"],
}
GREETING = [
    ChatMessage(role="system", content="You are a helpful assistant."),
    ChatMessage(role="user", content="Say hello in one short sentence."),
]


@dataclass
class Case:
    """A provider with the tool and schema its server (real or documented) answers."""

    provider: ModelProvider
    tool: ToolSpec
    schema: dict[str, Any]
    reports_usage: bool = True


def ollama_server(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/api/show":
        return httpx.Response(
            200, content=(FIXTURES / "ollama/show_llama3.2.json").read_bytes()
        )
    body = json.loads(request.content)
    fmt = body.get("format")
    name = "chat_stream.ndjson"
    if isinstance(fmt, dict):
        forced = "name" in fmt.get("properties", {})
        name = "chat_forced_tool.json" if forced else "chat_structured.json"
    content = (FIXTURES / "ollama" / name).read_bytes()
    if body.get("stream", True) and name.endswith(".json"):
        content = json.dumps(json.loads(content)).encode() + b"\n"  # one NDJSON line
    return httpx.Response(200, content=content)


def anthropic_server(request: httpx.Request) -> httpx.Response:
    choice = json.loads(request.content).get("tool_choice", {}).get("name")
    name = {"respond": "stream_respond.sse", None: "stream_text.sse"}.get(
        choice, "stream_tool_use.sse"
    )
    return httpx.Response(
        200,
        content=(FIXTURES / "anthropic" / name).read_bytes(),
        headers={"content-type": "text/event-stream"},
    )


def ollama_case() -> Case:
    weather = WEATHER.model_copy(update={"name": "get_current_weather"})
    provider = OllamaProvider(
        name="ollama", model="llama3.2", transport=httpx.MockTransport(ollama_server)
    )
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}}
    return Case(provider, weather, schema)


def anthropic_case() -> Case:
    provider = AnthropicProvider(
        name="claude",
        model="claude-opus-4-6",
        api_key="test-key",
        transport=httpx.MockTransport(anthropic_server),
    )
    schema = {"type": "object", "properties": {"location": {"type": "string"}}}
    return Case(provider, WEATHER, schema)


CASES: dict[str, Callable[[pytest.FixtureRequest], Case]] = {
    "llama.cpp server": lambda request: Case(
        OpenAICompatibleProvider(
            name="smollm2-server",
            model="smollm2",
            base_url=str(request.getfixturevalue("llama_server")),
            structured_output="json_object",
        ),
        WRITE_FILE,
        VERDICT,
        reports_usage=False,  # llama-cpp-python's server omits usage when streaming
    ),
    "in-process llama.cpp": lambda request: Case(
        LlamaCppProvider(name="smollm2", model_path=default_model_path()),
        WRITE_FILE,
        VERDICT,
    ),
    "ollama (documented)": lambda request: ollama_case(),
    "anthropic (documented)": lambda request: anthropic_case(),
}


@pytest.fixture(params=list(CASES))
async def case(request: pytest.FixtureRequest) -> AsyncIterator[Case]:
    made = CASES[request.param](request)
    yield made
    await made.provider.aclose()


async def collect(provider: ModelProvider, request: ModelRequest) -> list[StreamItem]:
    return [item async for item in provider.stream(request)]


async def test_the_stream_ends_with_exactly_one_completion(case: Case) -> None:
    items = await collect(
        case.provider,
        ModelRequest(messages=GREETING, params=ModelParams(max_tokens=24)),
    )
    completions = [i for i in items if isinstance(i, Completion)]
    assert len(completions) == 1
    assert items[-1] is completions[0]
    completion = completions[0]
    streamed = "".join(i.text for i in items if isinstance(i, TextDelta))
    assert streamed.strip() == completion.text
    assert completion.text
    assert completion.finish_reason in ("stop", "length")
    assert completion.latency_ms > 0
    if case.reports_usage:
        assert completion.usage is not None
        assert completion.usage.completion_tokens > 0


async def test_a_forced_tool_call_is_a_valid_call(case: Case) -> None:
    request = ModelRequest(
        messages=[ChatMessage(role="user", content="Use the tool now.")],
        tools=[case.tool],
        params=ModelParams(max_tokens=96, temperature=0, force_tool=case.tool.name),
    )
    completion = (await collect(case.provider, request))[-1]
    assert isinstance(completion, Completion)
    assert [c.name for c in completion.tool_calls] == [case.tool.name]
    call = completion.tool_calls[0]
    assert call.id
    for required in case.tool.parameters["required"]:
        assert isinstance(call.arguments.get(required), str), required


async def test_output_constrained_to_a_json_schema_parses(case: Case) -> None:
    request = ModelRequest(
        messages=[ChatMessage(role="user", content="Did 2+2=4 pass? Answer in JSON.")],
        params=ModelParams(max_tokens=32, temperature=0, json_schema=case.schema),
    )
    completion = (await collect(case.provider, request))[-1]
    assert isinstance(completion, Completion)
    answer = json.loads(completion.text)
    assert set(answer) & set(case.schema["properties"])
    if case.schema is VERDICT:
        assert answer["verdict"] in ("pass", "fail")


async def test_capabilities_are_declared(case: Case) -> None:
    capabilities = case.provider.capabilities
    assert capabilities.context_length >= 2048
    assert capabilities.streams_tool_calls in (True, False)
