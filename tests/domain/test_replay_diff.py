"""Given/when/then tests of explaining where a replay diverged from its recording."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

from loom.domain.eventbase import Context, Event, StreamCursor
from loom.domain.events import (
    ModelCallCompleted,
    ModelCallStarted,
    ToolCall,
    UserMessaged,
)
from loom.domain.models import ChatMessage, ModelParams, ModelRequest, ToolSpec
from loom.domain.replay_diff import (
    ABSENT,
    EventDifference,
    FieldDifference,
    compare_events,
    describe_request_change,
    difference_as_json,
    render_difference,
)

STREAM = "task-abc/s1/1"
START = datetime(2025, 1, 1, tzinfo=UTC)
DIGEST_A, DIGEST_B = "a" * 64, "b" * 64

SYSTEM_PROMPT = """You are Loom, a careful coding agent.
Work in small steps.

## Tools
Use read_file before editing.
Prefer small patches.

## Workspace
The repository is a Python project."""


def _cursor() -> StreamCursor:
    """A cursor with its own deterministic clock and ids, as a replay has."""
    ticks: Iterator[int] = iter(range(1, 10_000))
    ids: Iterator[int] = iter(range(1, 10_000))
    context = Context(
        now=lambda: START + timedelta(seconds=next(ticks)),
        new_id=lambda: UUID(int=next(ids)),
    )
    return StreamCursor(STREAM, 6, context)


def _completed(path: str) -> ModelCallCompleted:
    call = ToolCall(id="c1", name="read_file", arguments={"path": path})
    return _cursor().new(
        ModelCallCompleted, call_id="m1", text="ok", tool_calls=[call], latency_ms=5
    )


def _started(request: str) -> ModelCallStarted:
    return _cursor().new(
        ModelCallStarted,
        call_id="m1",
        role="executor",
        model="local",
        request=request,
        fingerprint=request,
    )


def _document(request: ModelRequest, model: str = "m") -> bytes:
    return b'{"model":%s,"model_name":"n","request":%s}' % (
        json.dumps(model).encode(),
        request.model_dump_json().encode(),
    )


def _request(
    system: str = SYSTEM_PROMPT,
    *turns: str,
    tools: tuple[ToolSpec, ...] = (),
    params: ModelParams | None = None,
) -> ModelRequest:
    messages = [ChatMessage(role="system", content=system)]
    messages += [ChatMessage(role="user", content=turn) for turn in turns]
    return ModelRequest(
        messages=messages, tools=list(tools), params=params or ModelParams()
    )


def _tool(name: str, description: str = "Reads a file.") -> ToolSpec:
    return ToolSpec(name=name, description=description, parameters={"type": "object"})


# --- compare_events -----------------------------------------------------------


def test_identical_events_do_not_differ() -> None:
    assert compare_events(_completed("a.py"), _completed("a.py")) is None


def test_a_changed_payload_field_is_reported_with_both_values() -> None:
    recorded = _cursor().new(UserMessaged, text="hello")
    new = _cursor().new(UserMessaged, text="hullo")

    diff = compare_events(recorded, new)

    assert diff == EventDifference(
        stream=STREAM,
        version=7,
        recorded_type="user.messaged",
        new_type="user.messaged",
        fields=(FieldDifference("text", "hello", "hullo"),),
    )


def test_a_change_deep_in_a_list_has_a_dotted_indexed_path() -> None:
    diff = compare_events(_completed("a.py"), _completed("b.py"))

    assert diff is not None
    assert diff.fields == (
        FieldDifference("tool_calls[0].arguments.path", "a.py", "b.py"),
    )


def test_an_extra_list_item_shows_as_absent_on_the_other_side() -> None:
    recorded = _completed("a.py")
    call = ToolCall(id="c2", name="ls", arguments={})
    new = recorded.model_copy(update={"tool_calls": [*recorded.tool_calls, call]})

    diff = compare_events(recorded, new)

    assert diff is not None
    assert [(f.path, f.recorded) for f in diff.fields] == [("tool_calls[1]", ABSENT)]
    assert "tool_calls[1]: (absent) → " in render_difference(diff)


def test_a_different_event_type_is_a_divergence() -> None:
    recorded: Event = _cursor().new(UserMessaged, text="hello")
    new: Event = _completed("a.py")

    diff = compare_events(recorded, new)

    assert diff is not None
    assert (diff.recorded_type, diff.new_type) == (
        "user.messaged",
        "model.call.completed",
    )
    assert FieldDifference("text", "hello", "ok") in diff.fields
    assert FieldDifference("call_id", ABSENT, "m1") in diff.fields


def test_an_envelope_only_change_is_reported() -> None:
    recorded = _cursor().new(UserMessaged, text="hello")
    new = recorded.model_copy(update={"id": UUID(int=99)})

    diff = compare_events(recorded, new)

    assert diff is not None
    assert [f.path for f in diff.fields] == ["id"]
    assert diff.fields[0].new == str(UUID(int=99))


def test_envelope_differences_come_after_payload_differences() -> None:
    recorded = _cursor().new(UserMessaged, text="hello")
    later = START + timedelta(hours=1)
    new = recorded.model_copy(update={"at": later, "text": "bye"})

    diff = compare_events(recorded, new)

    assert diff is not None
    assert [f.path for f in diff.fields] == ["text", "at"]


# --- describe_request_change ----------------------------------------------------


def test_equal_request_documents_have_no_change() -> None:
    document = _document(_request(SYSTEM_PROMPT, "hi"))
    assert describe_request_change(document, document) == []


def test_a_system_prompt_change_names_its_section_and_shows_the_line() -> None:
    changed = SYSTEM_PROMPT.replace("Prefer small patches.", "Prefer big rewrites.")

    lines = describe_request_change(
        _document(_request(SYSTEM_PROMPT, "hi")), _document(_request(changed, "hi"))
    )

    assert lines[0] == 'message 0 (system) changed in section "## Tools"'
    assert "-Prefer small patches." in lines
    assert "+Prefer big rewrites." in lines
    assert lines[1:3] == ["--- recorded", "+++ replayed"]


def test_a_change_without_a_heading_names_its_paragraph() -> None:
    old = "You are Loom.\n\nAlways run the tests.\nThen commit."
    new = old.replace("Then commit.", "Then push.")

    lines = describe_request_change(_document(_request(old)), _document(_request(new)))

    assert lines[0] == (
        'message 0 (system) changed in the paragraph starting "Always run the tests."'
    )


def test_changed_params_are_named_with_old_and_new_values() -> None:
    hot = ModelParams(temperature=0.7, max_tokens=2048)

    lines = describe_request_change(
        _document(_request(SYSTEM_PROMPT)),
        _document(_request(SYSTEM_PROMPT, params=hot)),
    )

    assert lines == [
        "param max_tokens changed: 1024 → 2048",
        "param temperature changed: 0.1 → 0.7",
    ]


def test_the_model_change_comes_first() -> None:
    lines = describe_request_change(
        _document(_request(SYSTEM_PROMPT), model="qwen"),
        _document(_request(SYSTEM_PROMPT, "hi"), model="llama"),
    )

    assert lines[0] == 'model changed: "qwen" → "llama"'


def test_tools_added_removed_and_changed_are_named() -> None:
    before = (_tool("read_file"), _tool("shell"))
    after = (_tool("read_file", "Reads any file."), _tool("write_file"))

    lines = describe_request_change(
        _document(_request(SYSTEM_PROMPT, tools=before)),
        _document(_request(SYSTEM_PROMPT, tools=after)),
    )

    assert lines == [
        "tools added: write_file",
        "tools removed: shell",
        "tool read_file changed: description",
    ]


def test_a_new_message_changes_the_count_and_is_shown() -> None:
    lines = describe_request_change(
        _document(_request(SYSTEM_PROMPT, "one")),
        _document(_request(SYSTEM_PROMPT, "one", "two")),
    )

    assert lines[0] == "message count changed: 2 → 3"
    assert lines[1] == "message 2 (user) is new in the replay"
    assert "+two" in lines


def test_later_differing_messages_are_only_counted() -> None:
    lines = describe_request_change(
        _document(_request("sys", "a", "b", "c", "d")),
        _document(_request("sys", "a", "B", "C", "D")),
    )

    assert lines[0] == 'message 2 (user) changed in the paragraph starting "b"'
    assert lines[-1] == "and 2 more messages differ"


def test_a_long_content_diff_is_capped() -> None:
    old = "\n".join(f"line {n}" for n in range(200))
    new = "\n".join(f"LINE {n}" for n in range(200))

    lines = describe_request_change(_document(_request(old)), _document(_request(new)))

    diff = lines[1:]
    assert len(diff) == 61
    assert diff[-1].startswith("… ")
    assert diff[-1].endswith(" more lines")


def test_unreadable_documents_are_said_to_differ() -> None:
    assert describe_request_change(b"not json", b"also not") == [
        "the request documents differ and are not readable as JSON"
    ]


# --- render_difference and difference_as_json -----------------------------------


def test_the_rendering_has_a_header_fields_and_request_change() -> None:
    diff = compare_events(_started(DIGEST_A), _started(DIGEST_B))
    assert diff is not None

    text = render_difference(diff, ["param temperature changed: 0.1 → 0.7"])

    lines = text.splitlines()
    assert lines[0] == (
        f"diverged at {STREAM} v7 "
        "(recorded model.call.started, replayed model.call.started)"
    )
    assert f'  request: "{DIGEST_A}" → "{DIGEST_B}"' in lines
    assert lines[-1] == "    param temperature changed: 0.1 → 0.7"


def test_multi_line_text_is_rendered_as_a_diff() -> None:
    recorded = _cursor().new(UserMessaged, text="one\ntwo\nthree")
    new = _cursor().new(UserMessaged, text="one\n2\nthree")
    diff = compare_events(recorded, new)
    assert diff is not None

    lines = render_difference(diff).splitlines()

    assert lines[1] == "  text:"
    assert "    -two" in lines
    assert "    +2" in lines


def test_the_json_form_can_be_dumped() -> None:
    diff = EventDifference(
        stream=STREAM,
        version=3,
        recorded_type="user.messaged",
        new_type="user.messaged",
        fields=(
            FieldDifference("at", START, ABSENT),
            FieldDifference("text", {"a": [UUID(int=1)]}, None),
        ),
    )

    data = difference_as_json(diff, ["tools added: ls"])

    assert json.loads(json.dumps(data)) == {
        "stream": STREAM,
        "version": 3,
        "recorded_type": "user.messaged",
        "new_type": "user.messaged",
        "fields": [
            {"path": "at", "recorded": str(START), "new": "(absent)"},
            {"path": "text", "recorded": {"a": [str(UUID(int=1))]}, "new": None},
        ],
        "request_change": ["tools added: ls"],
    }
