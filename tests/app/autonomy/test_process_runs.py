"""A run that follows a process definition (``loom run --process``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from loom.adapters.models.scripted import ScriptedProvider
from loom.app.autonomy.settings import RunSettings
from loom.app.replay.task import replay_task
from loom.domain.events import (
    PlanProposed,
    TaskCreated,
    ToolCallRequested,
    VerificationRecorded,
)
from loom.domain.process import ProcessDefinition, ProcessVerification

from .scaffold import Script, World, is_planner, models_for, plan, write_then_answer

PROCESS = ProcessDefinition.model_validate(
    {
        "name": "tidy-python",
        "description": "Python that always compiles.",
        "persona": "You are a tidy Python engineer.",
        "phases": [
            {"id": "write", "description": "write the modules"},
            {"id": "check", "description": "check them"},
        ],
        "tool_guidance": "Keep every file compiling.",
        "tools": ["read_file", "write_file", "shell_execute"],
        "verification": {"checks": ["python -m compileall -q m.py"]},
    }
)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    made = World(tmp_path)
    yield made
    await made.log.close()


def one_module(content: str) -> Script:
    return Script(
        plans=[plan({"id": "m", "description": "write m", "expected_files": ["m.py"]})],
        steps={"m": write_then_answer("m.py", content)},
    )


async def test_the_process_shapes_prompts_tools_and_verification(
    world: World,
) -> None:
    models = models_for(one_module("x = 1\n"))
    settings = RunSettings(process=PROCESS)
    outcome = await world.run("write m", models, settings)

    assert outcome.status == "completed", outcome.reason
    assert isinstance(models.executor, ScriptedProvider)
    planner_request, agent_request = models.executor.requests[:2]
    assert is_planner(planner_request)
    brief = planner_request.messages[-1].content
    assert "Process: tidy-python (Python that always compiles.)" in brief
    assert "- check: check them" in brief
    system = agent_request.messages[0].content
    assert system.startswith("You are a tidy Python engineer.")
    assert "Keep every file compiling." in system
    assert sorted(t.name for t in agent_request.tools) == sorted(PROCESS.tools)

    task = await world.task_events()
    created = task[0]
    assert isinstance(created, TaskCreated)
    assert created.settings["process"]["name"] == "tidy-python"
    (proposed,) = [e for e in task if isinstance(e, PlanProposed)]
    assert proposed.subtasks[0].checks == ["python -m compileall -q m.py"]
    events = await world.all_events()
    ran = [e for e in events if isinstance(e, ToolCallRequested)]
    assert ran[-1].arguments == {"command": "python -m compileall -q m.py"}

    report = await replay_task(world.log, world.blobs, "task-1")
    assert report.identical, report.text()


async def test_a_check_of_the_process_fails_work_the_plan_would_pass(
    world: World,
) -> None:
    # m.py parses and the plan has no checks: only the process finds the
    # function it asks for missing.
    rules = ProcessVerification(checks=["grep -q 'def ' m.py"])
    strict = PROCESS.model_copy(update={"verification": rules})
    settings = RunSettings(process=strict, max_subtask_retries=0, max_replans=0)
    outcome = await world.run("write m", models_for(one_module("x = 1\n")), settings)

    assert outcome.status == "failed"
    verdicts = [
        e for e in await world.all_events() if isinstance(e, VerificationRecorded)
    ]
    assert not verdicts[0].passed
    assert any("grep -q 'def ' m.py" in reason for reason in verdicts[0].reasons)
