"""Model-provider benchmarks: Loom's added latency per call, and streaming latency.

1. The same request, alternately sent by a direct httpx stream and through
   ``OpenAICompatibleProvider`` (and through it wrapped in ``RecordingProvider``
   writing to a real SQLite event store), to a real ``llama_cpp.server``
   serving SmolLM2 with temperature 0, so every call decodes the same tokens.
2. A local SSE server sends deltas stamped with ``time.perf_counter_ns()`` (one
   clock for both processes on Linux); the subscriber of
   ``OpenAICompatibleProvider.stream`` measures how long each took to reach it.

Usage: python bench/bench_providers.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from loom.adapters.determinism import RandomIds, SystemClock, context_from
from loom.adapters.eventstore.backends import SQLiteBackend
from loom.adapters.eventstore.journal import StreamJournal
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.adapters.models.llamacpp import default_model_path
from loom.adapters.models.openai_compatible import OpenAICompatibleProvider
from loom.adapters.models.recording import RecordingProvider
from loom.domain.models import (
    ChatMessage,
    ModelParams,
    ModelRequest,
    TextDelta,
)
from loom.domain.ports import ModelProvider

REQUEST = ModelRequest(
    messages=[
        ChatMessage(role="system", content="You are a terse assistant."),
        ChatMessage(role="user", content="List three colours, one per line."),
    ],
    params=ModelParams(max_tokens=32, temperature=0),
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_llama_server(port: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
        "--verbose", "false",
    ]  # fmt: skip
    server = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("llama_cpp.server did not start")


async def direct_call(client: httpx.AsyncClient, body: dict[str, object]) -> None:
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if line.startswith("data:") and line.strip() == "data: [DONE]":
                break


async def provider_call(provider: ModelProvider) -> None:
    async for _ in provider.stream(REQUEST):
        pass


async def timed(call: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def added_latency(base: str, calls: int, home: Path) -> dict[str, float]:
    provider = OpenAICompatibleProvider(
        name="smollm2",
        model="smollm2",
        base_url=f"{base}/v1",
        structured_output="json_object",
    )
    backend = SQLiteBackend(home / "loom.db")
    log = AsyncEventLog(EventStore(backend))
    context = context_from(SystemClock(), RandomIds())
    journal = await StreamJournal.open(log, "session-bench", context)
    recorded = RecordingProvider(provider, journal, "executor")
    body = provider.request_body(REQUEST)
    samples: dict[str, list[float]] = {"direct": [], "provider": [], "recorded": []}
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        for _ in range(3):
            await direct_call(client, body)
            await provider_call(provider)
        for _ in range(calls):
            samples["direct"].append(await timed(lambda: direct_call(client, body)))
            samples["provider"].append(await timed(lambda: provider_call(provider)))
            samples["recorded"].append(await timed(lambda: provider_call(recorded)))
    await provider.aclose()
    await log.close()
    return {name: statistics.median(values) for name, values in samples.items()}


async def sse_server(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    while (await reader.readline()) not in (b"\r\n", b""):
        pass  # request line and headers
    await reader.read(65536)  # the JSON body (small; arrives with the headers)
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
    )
    for _ in range(STREAM_DELTAS):
        await asyncio.sleep(0.002)
        stamp = str(time.perf_counter_ns())
        event = json.dumps({"choices": [{"index": 0, "delta": {"content": stamp}}]})
        payload = f"data: {event}\n\n".encode()
        writer.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        await writer.drain()
    done = b"data: [DONE]\n\n"
    writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
    await writer.drain()
    writer.close()


STREAM_DELTAS = 500


async def streaming_latency() -> list[float]:
    server = await asyncio.start_server(sse_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    provider = OpenAICompatibleProvider(
        name="sse", model="sse", base_url=f"http://127.0.0.1:{port}/v1"
    )
    latencies: list[float] = []
    async for item in provider.stream(REQUEST):
        if isinstance(item, TextDelta) and item.text.isdigit():
            latencies.append((time.perf_counter_ns() - int(item.text)) / 1e6)
    await provider.aclose()
    server.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    calls = 5 if args.quick else 25
    port = free_port()
    server = start_llama_server(port)
    try:
        with tempfile.TemporaryDirectory() as home:
            medians = asyncio.run(
                added_latency(f"http://127.0.0.1:{port}", calls, Path(home))
            )
    finally:
        server.terminate()
        server.wait()
    direct = medians["direct"]
    print(f"model call, median of {calls} (ms): " + ", ".join(
        f"{name} {value:.1f}" for name, value in medians.items()
    ))  # fmt: skip
    for name in ("provider", "recorded"):
        print(f"  {name}: {100 * (medians[name] / direct - 1):+.2f} % vs direct")
    latencies = asyncio.run(streaming_latency())
    quantiles = statistics.quantiles(latencies, n=20)
    print(
        f"delta socket->subscriber over {len(latencies)} deltas (ms): "
        f"median {statistics.median(latencies):.3f}, p95 {quantiles[-1]:.3f}"
    )


if __name__ == "__main__":
    main()
