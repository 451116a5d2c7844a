"""A deterministic provider that answers from a script (tests and benchmarks)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

from loom.domain.models import (
    Capabilities,
    Completion,
    ModelRequest,
    StreamItem,
    TextDelta,
)

__all__ = ["ScriptedProvider"]

Answer = Completion | Exception | Callable[[ModelRequest], Completion]


class ScriptedProvider:
    """Implements ``ModelProvider``: the n-th call gets the n-th scripted answer.

    An answer is a ``Completion``, an exception to raise, or a function of the
    request; once the script is spent, ``handler`` (when given) answers every
    call, which suits parallel work whose calls arrive in no fixed order.
    Text is streamed word by word; ``delay`` seconds pass before each
    answer, to model a slow server.
    """

    def __init__(
        self,
        answers: Sequence[Answer] = (),
        *,
        name: str = "scripted",
        delay: float = 0.0,
        context_length: int = 32768,
        handler: Callable[[ModelRequest], Completion] | None = None,
    ) -> None:
        self.name = self.model = name
        self.capabilities = Capabilities(
            native_tools=True,
            context_length=context_length,
            streams_tool_calls=True,
            constrained_output=True,
        )
        self.requests: list[ModelRequest] = []
        self._answers = list(answers)
        self._delay = delay
        self._handler = handler

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        return self._stream(request)

    async def aclose(self) -> None:
        return None

    async def _stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        self.requests.append(request)
        if self._handler is not None and not self._answers:
            answer: Answer = self._handler
        elif not self._answers:
            raise AssertionError("the scripted provider has no answer left")
        else:
            answer = self._answers.pop(0)
        if self._delay:
            await asyncio.sleep(self._delay)
        if isinstance(answer, Exception):
            raise answer
        completion = answer if isinstance(answer, Completion) else answer(request)
        for word in completion.text.split(" ") if completion.text else []:
            yield TextDelta(word + " ")
        yield completion
