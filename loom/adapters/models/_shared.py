"""What every HTTP model provider shares: retries, error translation, SSE lines.

Errors from httpx are translated here, once, into Loom's ``ModelError``
family, with the server's name and URL and what to check.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from loom.domain.models import (
    ModelError,
    ModelResponseError,
    ModelTimeoutError,
    ModelUnreachableError,
    StreamItem,
)

__all__ = [
    "RetryPolicy",
    "ServerInfo",
    "iter_sse_data",
    "make_client",
    "open_response",
    "retrying",
]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a failed call."""

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int) -> float:
        # Exponential backoff with jitter, so parallel subtasks do not retry
        # against a restarting server in lockstep.
        ceiling: float = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return ceiling * (0.5 + random.random() / 2)


@dataclass(frozen=True)
class ServerInfo:
    """Who we are talking to, for error messages."""

    provider: str
    url: str
    hint: str


def make_client(
    base_url: str,
    *,
    timeout: float,
    connect_timeout: float = 10.0,
    headers: dict[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An httpx client with a long read timeout for slow prefill on local models."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        headers=headers,
        transport=transport,
    )


@asynccontextmanager
async def open_response(
    client: httpx.AsyncClient, server: ServerInfo, path: str, body: dict[str, Any]
) -> AsyncIterator[httpx.Response]:
    """POST ``body`` and yield the streaming response, errors translated."""
    try:
        async with client.stream("POST", path, json=body) as response:
            if response.status_code >= 400:
                await response.aread()
                raise ModelResponseError(
                    f"{server.provider} at {server.url} answered "
                    f"{response.status_code}: {_error_text(response)}",
                    status=response.status_code,
                )
            yield response
    except httpx.TimeoutException as error:
        raise ModelTimeoutError(
            f"{server.provider} at {server.url} did not answer in time "
            f"({type(error).__name__}); a large prompt on a slow machine may need "
            "a longer 'timeout' in loom.toml"
        ) from error
    except (httpx.ConnectError, httpx.RemoteProtocolError) as error:
        raise ModelUnreachableError(
            server.provider, server.url, server.hint, str(error) or type(error).__name__
        ) from error
    except httpx.HTTPError as error:
        raise ModelResponseError(
            f"{server.provider} at {server.url}: {type(error).__name__}: {error}"
        ) from error


def _error_text(response: httpx.Response) -> str:
    text = response.text.strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:500] or response.reason_phrase
    error = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(error, dict):
        return str(error.get("message", error))[:500]
    return str(error)[:500]


async def iter_sse_data(response: httpx.Response) -> AsyncIterator[str]:
    """The ``data:`` payloads of a server-sent-events response, in order."""
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield "\n".join(data)


async def retrying(
    make_stream: Callable[[], AsyncIterator[StreamItem]],
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[StreamItem]:
    """Run a call, retrying retryable failures that happen before any output.

    Once a delta has gone to subscribers the call cannot be replayed
    transparently, so a failure after that point is raised as it is.
    """
    attempt = 1
    while True:
        produced = False
        try:
            async for item in make_stream():
                produced = True
                yield item
            return
        except ModelError as error:
            if produced or not error.retryable or attempt >= policy.attempts:
                raise
        await sleep(policy.delay(attempt))
        attempt += 1
