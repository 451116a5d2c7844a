"""Golden replays of scripted runs: identical, or the first divergence explained."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from loom.adapters.eventstore.backends import SQLiteBackend
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.adapters.models.scripted import ScriptedProvider
from loom.app.autonomy import agents
from loom.app.replay.task import replay_task
from loom.domain.events import PatternLearned, SubtaskCompleted, SubtaskStarted

from .scaffold import Script, World, models_for, plan, text, tool, write_then_answer
from .test_control import loom_aside


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    made = World(tmp_path)
    yield made
    await made.log.close()


def three_subtasks() -> Script:
    return Script(
        plans=[plan(
            {"id": "a", "description": "write a", "expected_files": ["a.py"]},
            {"id": "b", "description": "write b", "expected_files": ["b.py"]},
            {"id": "c", "description": "join", "depends_on": ["a", "b"],
             "expected_files": ["c.py"]},
        )],
        steps={
            "a": [tool("read_file", path="missing.py"), *write_then_answer("a.py")],
            "b": write_then_answer("b.py"),
            "c": write_then_answer("c.py", "from a import x\n"),
        },
    )  # fmt: skip


async def test_a_parallel_run_replays_as_identical(world: World) -> None:
    outcome = await world.run("three", models_for(three_subtasks(), delay=0.01))
    assert outcome.status == "completed"
    recorded = len(await world.all_events())

    report = await replay_task(world.log, world.blobs, "task-1")

    assert report.text() == f"identical: {recorded} events"


async def test_a_run_with_retries_and_a_failure_replays_as_identical(
    world: World,
) -> None:
    script = Script(
        plans=[plan({"id": "h", "description": "h", "expected_files": ["h.py"]})],
        default=lambda sid, i: text("I created h.py."),
    )
    outcome = await world.run("h", models_for(script))
    assert outcome.status == "failed"

    report = await replay_task(world.log, world.blobs, "task-1")

    assert report.identical, report.text()


async def test_a_changed_prompt_is_reported_at_the_first_changed_model_request(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await world.run("three", models_for(three_subtasks()))
    monkeypatch.setattr(
        agents, "AGENT_IDENTITY", agents.AGENT_IDENTITY.replace("alone", "with care")
    )

    report = await replay_task(world.log, world.blobs, "task-1")

    assert not report.identical
    assert report.difference is not None
    assert report.difference.recorded_type == "model.call.started"
    assert report.difference.stream == "task-1/a/1"
    assert report.request_change is not None
    assert report.request_change[0].startswith("message 0 (system) changed")
    assert (
        "+You are Loom's executor. You work with care on one subtask" in report.text()
    )


async def test_until_stops_at_a_position(world: World) -> None:
    await world.run("three", models_for(three_subtasks()))

    report = await replay_task(world.log, world.blobs, "task-1", until=10)

    assert report.text() == "identical: 10 events (up to position 10)"


async def test_live_tools_re_execute_against_a_restored_scratch_copy(
    world: World,
) -> None:
    await world.run("three", models_for(three_subtasks()))
    (world.workspace / "a.py").write_text("changed since the run\n")

    report = await replay_task(world.log, world.blobs, "task-1", live_tools=True)

    assert report.identical, report.text()
    assert (world.workspace / "a.py").read_text() == "changed since the run\n"


async def test_the_replay_command_prints_json_and_exits_by_outcome(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await world.run("three", models_for(three_subtasks()))
    recorded = len(await world.all_events())
    await world.log.close()
    monkeypatch.setattr(
        world, "log", AsyncEventLog(EventStore(SQLiteBackend(world.root / "loom.db")))
    )

    identical = await loom_aside(world.root, "replay", "task-1", "--json")
    until = await loom_aside(world.root, "replay", "task-1", "--until", "5")
    unknown = await loom_aside(world.root, "replay", "task-nope")

    assert identical.returncode == 0, identical.stderr
    assert json.loads(identical.stdout) == {
        "identical": True, "compared": recorded, "until": None, "problem": None
    }  # fmt: skip
    assert until.stdout.strip() == "identical: 5 events (up to position 5)"
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "error: no task named 'task-nope'"


async def test_learnings_are_recorded_off_the_critical_path(world: World) -> None:
    script = Script(
        plans=[plan({"id": "a", "description": "a", "expected_files": ["a.py"]})],
        steps={"a": write_then_answer("a.py")},
    )
    learned = '{"learned": [{"kind": "fact", "text": "a.py holds x"}]}'
    models = models_for(script)
    models.extractor = ScriptedProvider([text(learned)], name="extractor")

    outcome = await world.run("a", models)

    assert outcome.status == "completed"
    events = await world.all_events()
    patterns = [e for e in events if isinstance(e, PatternLearned)]
    assert [(p.kind, p.text, p.subtask_id) for p in patterns] == [
        ("fact", "a.py holds x", "a")
    ]
    assert patterns[0].stream == "task-1/a/1"
    completed = next(e for e in events if isinstance(e, SubtaskCompleted))
    assert completed.at <= patterns[0].at
    assert (await replay_task(world.log, world.blobs, "task-1")).identical


async def test_subtasks_that_write_the_same_file_never_overlap(world: World) -> None:
    script = Script(
        plans=[plan(
            {"id": "a", "description": "first", "expected_files": ["shared.py"]},
            {"id": "b", "description": "second", "expected_files": ["shared.py"]},
            {"id": "c", "description": "other", "expected_files": ["c.py"]},
        )],
        steps={
            "a": write_then_answer("shared.py"),
            "b": [tool("edit_file", path="shared.py", old="x = 1", new="x = 2"),
                  text("I edited shared.py.")],
            "c": write_then_answer("c.py"),
        },
    )  # fmt: skip
    outcome = await world.run("files", models_for(script, delay=0.02))

    assert outcome.status == "completed", outcome
    running: set[str] = set()
    for event in await world.task_events():
        if isinstance(event, SubtaskStarted):
            running.add(event.subtask_id)
            assert not {"a", "b"} <= running
        elif isinstance(event, SubtaskCompleted):
            running.discard(event.subtask_id)
