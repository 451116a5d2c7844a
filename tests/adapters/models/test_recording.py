"""Recording model calls as events, and replaying them."""

from __future__ import annotations

import json

import pytest

from loom.adapters.blobs import AsyncBlobStore
from loom.adapters.eventstore.backends import Backend
from loom.adapters.eventstore.journal import StreamJournal
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.models.recording import (
    RecordingProvider,
    ReplayMismatchError,
    ReplayProvider,
)
from loom.adapters.models.scripted import ScriptedProvider
from loom.domain.eventbase import Context
from loom.domain.events import (
    ModelCallCompleted,
    ModelCallFailed,
    ModelCallStarted,
    ModelCallWarned,
    TokenUsage,
    ToolCall,
)
from loom.domain.models import (
    ChatMessage,
    Completion,
    ModelRequest,
    ModelResponseError,
    StreamItem,
)

ASK = ModelRequest(messages=[ChatMessage(role="user", content="read a.py")])
ANSWER = Completion(
    text="reading",
    thinking="the user wants a.py",
    tool_calls=[ToolCall(id="c1", name="read_file", arguments={"path": "a.py"})],
    usage=TokenUsage(prompt_tokens=5, completion_tokens=3),
    finish_reason="tool_calls",
    latency_ms=12.5,
    warnings=["the prompt was truncated"],
)


async def drain(
    provider: RecordingProvider | ReplayProvider, request: ModelRequest
) -> list[StreamItem]:
    return [item async for item in provider.stream(request)]


@pytest.fixture
async def journal(log: AsyncEventLog, context: Context) -> StreamJournal:
    return await StreamJournal.open(log, "session-rec", context)


async def test_a_call_is_recorded_with_its_request_blob_and_outcome(
    log: AsyncEventLog, backend: Backend, journal: StreamJournal
) -> None:
    blobs = AsyncBlobStore(backend)
    recorder = RecordingProvider(ScriptedProvider([ANSWER]), journal, "executor")
    items = await drain(recorder, ASK)
    assert items[-1] == ANSWER
    started, warned, completed = await log.read_stream("session-rec")
    assert isinstance(started, ModelCallStarted)
    assert (started.role, started.model) == ("executor", "scripted")
    document = json.loads(await blobs.get(started.request))
    assert document["request"]["messages"][0]["content"] == "read a.py"
    assert isinstance(warned, ModelCallWarned)
    assert warned.warning == "the prompt was truncated"
    assert isinstance(completed, ModelCallCompleted)
    assert completed.call_id == started.call_id
    assert completed.tool_calls == ANSWER.tool_calls
    assert (completed.thinking, completed.usage) == (ANSWER.thinking, ANSWER.usage)


async def test_a_failed_call_is_recorded_and_raised(
    log: AsyncEventLog, journal: StreamJournal
) -> None:
    failing = ScriptedProvider([ModelResponseError("server said 500", status=500)])
    recorder = RecordingProvider(failing, journal, "planner")
    with pytest.raises(ModelResponseError):
        await drain(recorder, ASK)
    _, failed = await log.read_stream("session-rec")
    assert isinstance(failed, ModelCallFailed)
    assert failed.error == "server said 500"
    assert failed.retryable


async def test_replay_answers_in_order_and_reports_a_changed_request(
    log: AsyncEventLog, journal: StreamJournal
) -> None:
    second = Completion(text="done", finish_reason="stop")
    live = ScriptedProvider([ANSWER, second])
    recorder = RecordingProvider(live, journal, "executor")
    await drain(recorder, ASK)
    follow_up = ModelRequest(
        messages=[*ASK.messages, ChatMessage(role="user", content="next")]
    )
    await drain(recorder, follow_up)
    recorded = await log.read_stream("session-rec")

    replay = ReplayProvider(ScriptedProvider([]), recorded)
    first = (await drain(replay, ASK))[-1]
    assert isinstance(first, Completion)
    assert first.tool_calls == ANSWER.tool_calls
    assert first.text == ANSWER.text
    assert (await drain(replay, follow_up))[-1] == second.model_copy(
        update={"latency_ms": 0.0}
    )
    with pytest.raises(ReplayMismatchError, match="never made"):
        await drain(replay, ASK)

    changed = ReplayProvider(ScriptedProvider([]), recorded)
    edited = ModelRequest(messages=[ChatMessage(role="user", content="read b.py")])
    with pytest.raises(ReplayMismatchError, match="call 1 differs"):
        await drain(changed, edited)


async def test_credentials_never_reach_the_log_or_the_blobs(
    log: AsyncEventLog, backend: Backend, journal: StreamJournal
) -> None:
    import httpx

    from loom.adapters.models.openai_compatible import OpenAICompatibleProvider

    secret = "sk-very-secret-key"
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = (
            'data: {"choices":[{"delta":{"content":"hi"},"finish_reason":"stop"}]}\n\n'
            "data: [DONE]\n\n"
        )
        return httpx.Response(
            200, text=body, headers={"content-type": "text/event-stream"}
        )

    provider = OpenAICompatibleProvider(
        name="remote",
        model="m",
        base_url="http://example.test/v1",
        api_key=secret,
        transport=httpx.MockTransport(handler),
    )
    blobs = AsyncBlobStore(backend)
    await drain(RecordingProvider(provider, journal, "executor"), ASK)
    assert seen[0].headers["authorization"] == f"Bearer {secret}"
    for event in await log.read_stream("session-rec"):
        assert secret not in event.model_dump_json()
        for digest in event.blob_refs():
            assert secret.encode() not in await blobs.get(digest)
