"""The "whole file" way of getting a file written by a weak model.

A model as small as SmolLM2-135M, asked to put code inside a JSON tool call,
writes prose ("Hello, World! This is a file."); asked for the file in a fenced
code block, it writes the code. So when Loom forces a small model's first call
to be ``write_file`` onto one path, the content is drafted as a code block and
the call built from it (the edit format aider calls "whole"). The draft's
request and answer are recorded like any model call, with the call that was
built, so a replay needs no model. See ``docs/adr/0018-small-model-first-steps.md``.
"""

from __future__ import annotations

import re

from loom.domain.models import ChatMessage, ModelParams, ModelRequest

__all__ = ["DRAFT_SYSTEM", "code_of", "draft_request"]

DRAFT_SYSTEM = (
    "You are a coding assistant. Reply with the complete file in one fenced code block."
)
_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:```|\Z)", re.DOTALL)


def draft_request(brief: str, params: ModelParams) -> ModelRequest:
    """The request for a file's content as a code block (no tools)."""
    return ModelRequest(
        messages=[
            ChatMessage(role="system", content=DRAFT_SYSTEM),
            ChatMessage(role="user", content=brief),
        ],
        params=ModelParams(max_tokens=params.max_tokens, temperature=0.0),
    )


def code_of(text: str) -> str:
    """The file content in a drafted answer: its first fenced block (even if
    the answer was cut off inside it), else the whole answer."""
    found = _FENCE.search(text)
    code = found.group(1) if found else text.strip()
    return code if code.endswith("\n") or not code else code + "\n"
