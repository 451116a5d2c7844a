"""A provider wrapper that gets a forced ``write_file`` call as a code block."""

from __future__ import annotations

from collections.abc import AsyncIterator

from loom.domain.events import ToolCall
from loom.domain.models import Capabilities, Completion, ModelRequest, StreamItem
from loom.domain.ports import ModelProvider
from loom.domain.whole_file import code_of, draft_request

__all__ = ["WholeFileDraft"]


class WholeFileDraft:
    """Answers one forced ``write_file`` onto ``path`` from a drafted code block.

    The inner model is sent ``brief`` (see :mod:`loom.domain.whole_file`); its
    text answer becomes the call. An answer that already holds tool calls (a
    replayed one) passes through unchanged.
    """

    def __init__(self, inner: ModelProvider, brief: str, path: str) -> None:
        self.inner, self.name, self.model = inner, inner.name, inner.model
        self._brief, self._path = brief, path

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        return self._stream(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def _stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        async for item in self.inner.stream(draft_request(self._brief, request.params)):
            if isinstance(item, Completion) and not item.tool_calls:
                yield self._as_call(item, request)
            else:
                yield item

    def _as_call(self, completion: Completion, request: ModelRequest) -> Completion:
        call = ToolCall(
            id=f"draft-{request.fingerprint()[:12]}",
            name="write_file",
            arguments={"path": self._path, "content": code_of(completion.text)},
        )
        return completion.model_copy(
            update={"tool_calls": [call], "finish_reason": "tool_calls"}
        )
