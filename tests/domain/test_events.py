"""Given/when/then tests of the event base, the catalog and upcasting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from loom.adapters.eventstore.mapper import PydanticMapper
from loom.domain.errors import UnknownEventTypeError
from loom.domain.eventbase import Context, Event, StreamCursor, event_class
from loom.domain.events import (
    FileChanged,
    SessionStarted,
    ToolCall,
    ToolCallCompleted,
    UserMessaged,
    registered_types,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"
DIGEST = "a" * 64


class NoteTaken(Event):
    """A test event at version 2: v1 had ``body``, v2 has ``text`` and ``tags``."""

    type = "test.note.taken"
    class_version: ClassVar[int] = 2
    former_types = ("test.note.written",)
    text: str
    tags: list[str]

    @staticmethod
    def upcast_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
        payload["text"] = payload.pop("body")
        payload["tags"] = []
        return payload


def test_cursor_stamps_consecutive_versions_ids_and_times(context: Context) -> None:
    cursor = StreamCursor("session-a", 3, context)
    first = cursor.new(UserMessaged, text="one")
    second = cursor.new(UserMessaged, text="two")
    assert (first.version, second.version) == (4, 5)
    assert first.id != second.id
    assert first.at < second.at
    assert cursor.version == 5


def test_events_are_frozen_and_refuse_unknown_fields(context: Context) -> None:
    event = StreamCursor("s", 0, context).new(UserMessaged, text="hi")
    with pytest.raises(ValidationError):
        event.text = "changed"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        StreamCursor("s", 0, context).new(UserMessaged, text="hi", mood="odd")


def test_every_catalog_type_is_dotted_lowercase_and_unique() -> None:
    names = [name for name, _ in registered_types()]
    assert len(names) == len(set(names))
    for name, cls in registered_types():
        assert name == name.lower(), name
        assert "." in name, name
        assert name in (cls.type, *cls.former_types)
    assert event_class("tool.call.completed") is ToolCallCompleted


def test_unknown_type_names_the_problem() -> None:
    with pytest.raises(UnknownEventTypeError, match=r"no\.such\.event"):
        event_class("no.such.event")


def test_a_second_class_cannot_take_a_registered_type() -> None:
    with pytest.raises(TypeError, match="already registered"):

        class Impostor(Event):
            type = "user.messaged"


def test_blob_refs_lists_the_hashes_an_event_names(context: Context) -> None:
    change = StreamCursor("task-1", 0, context).new(
        FileChanged, change_id="c1", path="a.py", kind="modify", before=DIGEST
    )
    assert change.blob_refs() == [DIGEST]
    with pytest.raises(ValidationError):
        StreamCursor("task-1", 0, context).new(
            FileChanged, change_id="c1", path="a.py", kind="modify", before="nothex"
        )


def test_round_trip_through_the_mapper_keeps_every_field(context: Context) -> None:
    mapper = PydanticMapper()
    event = StreamCursor("session-é", 0, context).new(
        ToolCallCompleted,
        call_id="c1",
        result='ünïcode\nlines\t"quoted"',
        duration_ms=1.5,
        full_output=DIGEST,
    )
    stored = mapper.to_stored_event(event)
    assert stored.topic == "tool.call.completed"
    back = mapper.to_domain_event(
        str(stored.originator_id),
        stored.originator_version,
        stored.topic,
        stored.state,
    )
    assert back == event


def test_nested_values_round_trip(context: Context) -> None:
    from loom.domain.events import ModelCallCompleted, TokenUsage

    mapper = PydanticMapper()
    event = StreamCursor("task-1", 0, context).new(
        ModelCallCompleted,
        call_id="m1",
        text="ok",
        tool_calls=[ToolCall(id="t1", name="read_file", arguments={"path": "a"})],
        usage=TokenUsage(prompt_tokens=10, completion_tokens=2),
        latency_ms=12.0,
        finish_reason="tool_calls",
    )
    stored = mapper.to_stored_event(event)
    assert mapper.to_domain_event("task-1", 1, stored.topic, stored.state) == event


def test_a_stored_v1_payload_reads_back_as_the_current_version() -> None:
    stored = json.loads((FIXTURES / "note_taken_v1.json").read_text())
    event = PydanticMapper().to_domain_event(
        stored["stream"],
        stored["version"],
        stored["topic"],
        json.dumps(stored["state"]).encode(),
    )
    assert isinstance(event, NoteTaken)
    assert event.text == "written by Loom 0.0"
    assert event.tags == []
    assert event.version == 7


def test_a_former_type_name_still_reads(context: Context) -> None:
    mapper = PydanticMapper()
    event = StreamCursor("s", 0, context).new(NoteTaken, text="t", tags=["x"])
    stored = mapper.to_stored_event(event)
    back = mapper.to_domain_event("s", 1, "test.note.written", stored.state)
    assert back == event


def test_session_started_describes_its_fields_for_json_schema() -> None:
    schema = SessionStarted.model_json_schema()
    assert "workspace" in schema["properties"]
    assert schema["properties"]["workspace"]["description"]
