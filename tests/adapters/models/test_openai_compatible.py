"""The OpenAI-compatible provider's wire format, retries and errors (mock transport)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from loom.adapters.models._shared import RetryPolicy
from loom.adapters.models.openai_compatible import OpenAICompatibleProvider
from loom.domain.models import (
    ChatMessage,
    Completion,
    ModelParams,
    ModelRequest,
    ModelResponseError,
    ModelUnreachableError,
    StreamItem,
    TextDelta,
    ThinkingDelta,
    ToolSpec,
)

TOOL = ToolSpec(
    name="read_file",
    description="Read a file.",
    parameters={"type": "object", "properties": {"path": {"type": "string"}}},
)
ASK = ModelRequest(messages=[ChatMessage(role="user", content="hi")])
Handler = Callable[[httpx.Request], httpx.Response]


def sse(*chunks: dict[str, object]) -> httpx.Response:
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})


def delta(finish: str | None = None, **fields: object) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": fields, "finish_reason": finish}]}


def provider(handler: Handler, **options: object) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(
        name="m",
        model="qwen",
        base_url="http://llm.test/v1",
        retry=RetryPolicy(attempts=3, base_delay=0),
        transport=httpx.MockTransport(handler),
        **options,  # type: ignore[arg-type]
    )


async def drain(
    p: OpenAICompatibleProvider, request: ModelRequest = ASK
) -> list[StreamItem]:
    return [item async for item in p.stream(request)]


async def test_text_reasoning_and_think_tags_are_separated() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/chat/completions"
        return sse(
            delta(reasoning_content="plan: "),
            delta(content="<thi"),
            delta(content="nk>hidden</think>Hel"),
            delta("stop", content="lo"),
            {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}},
        )

    items = await drain(provider(handler))
    completion = items[-1]
    assert isinstance(completion, Completion)
    assert completion.text == "Hello"
    assert completion.thinking == "plan: hidden"
    assert "".join(i.text for i in items if isinstance(i, TextDelta)) == "Hello"
    assert [i.text for i in items if isinstance(i, ThinkingDelta)] == [
        "plan: ",
        "hidden",
    ]
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 7


async def test_streamed_tool_call_fragments_are_reassembled() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["tools"][0]["function"]["name"] == "read_file"
        assert body["tool_choice"] == {
            "type": "function",
            "function": {"name": "read_file"},
        }
        call = {
            "index": 0,
            "id": "call_1",
            "function": {"name": "read_file", "arguments": '{"pa'},
        }
        rest = {"index": 0, "function": {"arguments": 'th": "a.py",}'}}
        return sse(delta(tool_calls=[call]), delta("tool_calls", tool_calls=[rest]))

    request = ASK.model_copy(
        update={"tools": [TOOL], "params": ModelParams(force_tool="read_file")}
    )
    completion = (await drain(provider(handler), request))[-1]
    assert isinstance(completion, Completion)
    assert [(c.id, c.name, c.arguments) for c in completion.tool_calls] == [
        ("call_1", "read_file", {"path": "a.py"})
    ]


async def test_tool_calls_written_as_text_are_parsed() -> None:
    call = '{"name": "read_file", "arguments": {"path": "b.py"}}'
    text = f"Sure.\n<tool_call>{call}</tool_call>"
    completion = (
        await drain(
            provider(lambda r: sse(delta("stop", content=text))),
            ASK.model_copy(update={"tools": [TOOL]}),
        )
    )[-1]
    assert isinstance(completion, Completion)
    assert completion.text == "Sure."
    assert [(c.name, c.arguments) for c in completion.tool_calls] == [
        ("read_file", {"path": "b.py"})
    ]
    assert completion.finish_reason == "tool_calls"


async def test_without_native_tools_they_are_described_in_the_prompt() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert "tools" not in body
        assert "<tool_call>" in body["messages"][0]["content"]
        return sse(delta("stop", content="ok"))

    await drain(
        provider(handler, native_tools=False), ASK.model_copy(update={"tools": [TOOL]})
    )


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        (
            "json_schema",
            {
                "type": "json_schema",
                "json_schema": {
                    "name": "response",
                    "schema": {"type": "object"},
                    "strict": True,
                },
            },
        ),
        ("json_object", {"type": "json_object", "schema": {"type": "object"}}),
    ],
)
async def test_structured_output_uses_the_configured_response_format(
    style: str, expected: dict[str, object]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert json.loads(request.content)["response_format"] == expected
        return sse(delta("stop", content="{}"))

    params = ModelParams(json_schema={"type": "object"})
    await drain(
        provider(handler, structured_output=style),
        ASK.model_copy(update={"params": params}),
    )


async def test_server_errors_are_retried_with_backoff() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            return httpx.Response(503, json={"error": {"message": "loading model"}})
        return sse(delta("stop", content="ready"))

    completion = (await drain(provider(handler)))[-1]
    assert isinstance(completion, Completion)
    assert completion.text == "ready"
    assert len(calls) == 3


async def test_a_client_error_is_not_retried_and_says_what_the_server_said() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(
            400, json={"error": {"message": "model 'qwen' not found"}}
        )

    with pytest.raises(ModelResponseError, match="400: model 'qwen' not found"):
        await drain(provider(handler))
    assert len(calls) == 1


async def test_an_unreachable_server_is_named_with_what_to_check() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    with pytest.raises(ModelUnreachableError) as info:
        await drain(provider(handler))
    message = str(info.value)
    assert "http://llm.test/v1" in message
    assert "Connection refused" in message
    assert "Check that the server is running" in message


async def test_an_unreachable_real_port_gives_the_same_error() -> None:
    real = OpenAICompatibleProvider(
        name="m",
        model="x",
        base_url="http://127.0.0.1:9/v1",
        retry=RetryPolicy(attempts=2, base_delay=0),
    )
    with pytest.raises(ModelUnreachableError, match=r"127\.0\.0\.1:9"):
        await drain(real)
    await real.aclose()
