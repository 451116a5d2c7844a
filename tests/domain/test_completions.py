"""Splitting thinking from answers and building completions, given deltas."""

from __future__ import annotations

import pytest

from loom.domain.completions import CompletionBuilder, ThinkSplitter
from loom.domain.models import TextDelta, ThinkingDelta, ToolCallDelta, ToolSpec

TOOL = ToolSpec(name="read_file", description="", parameters={"type": "object"})


def split(chunks: list[str]) -> tuple[str, str]:
    splitter = ThinkSplitter()
    items = [i for c in chunks for i in splitter.feed(c)] + list(splitter.flush())
    text = "".join(i.text for i in items if isinstance(i, TextDelta))
    thinking = "".join(i.text for i in items if isinstance(i, ThinkingDelta))
    return text, thinking


@pytest.mark.parametrize(
    "chunks",
    [
        ["<think>why</think>answer"],
        ["<", "think>w", "hy</th", "ink>ans", "wer"],
        ["<think>why</think>", "answer"],
    ],
)
def test_thinking_is_split_out_however_the_tags_are_cut(chunks: list[str]) -> None:
    assert split(chunks) == ("answer", "why")


def test_text_that_only_looks_like_a_tag_stays_text() -> None:
    assert split(["a < b and <thin", "g>"]) == ("a < b and <thing>", "")


def test_native_call_fragments_are_joined_and_repaired() -> None:
    builder = CompletionBuilder("req", [TOOL])
    builder.add(
        ToolCallDelta(index=0, id=None, name="read_file", arguments="{'path': ")
    )
    builder.add(ToolCallDelta(index=0, id=None, name=None, arguments="'a.py'"))
    completion = builder.build(usage=None, finish_reason="stop", latency_ms=1)
    assert [(c.id, c.name, c.arguments) for c in completion.tool_calls] == [
        ("req-0", "read_file", {"path": "a.py"})
    ]
    assert completion.finish_reason == "tool_calls"


def test_unparseable_arguments_are_reported_not_invented() -> None:
    builder = CompletionBuilder("req", [TOOL])
    builder.add(
        ToolCallDelta(index=0, id="x", name="read_file", arguments="[[[not json")
    )
    completion = builder.build(usage=None, finish_reason="stop", latency_ms=1)
    assert completion.tool_calls == []
    assert "read_file" in completion.tool_call_errors[0]


def test_text_is_not_searched_for_calls_when_no_tools_were_offered() -> None:
    builder = CompletionBuilder("req", [])
    raw = '<tool_call>{"name": "read_file", "arguments": {}}</tool_call>'
    builder.add(TextDelta(raw))
    completion = builder.build(usage=None, finish_reason="stop", latency_ms=1)
    assert completion.tool_calls == []
    assert completion.text == raw
