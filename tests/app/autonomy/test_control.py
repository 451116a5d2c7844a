"""Controlling a run from outside: ``loom cancel``, ``loom approve``, and
``delegate_task``, on a real SQLite log that the CLI reads in another process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeVar

import pytest

from loom.adapters.models.scripted import ScriptedProvider
from loom.app.autonomy.approvals import DENIED
from loom.app.autonomy.orchestrator import TaskOutcome
from loom.app.autonomy.runtime import RunModels
from loom.app.autonomy.settings import RunSettings, control_stream
from loom.app.replay.task import replay_task
from loom.domain.eventbase import Event
from loom.domain.events import (
    AgentFinished,
    AgentStarted,
    ApprovalRequested,
    ModelCallFailed,
    ModelCallStarted,
    TaskCancelled,
    TaskCancelRequested,
    ToolCallApproved,
    ToolCallCompleted,
    ToolCallDenied,
    TurnCancelled,
)

from .scaffold import Script, World, models_for, plan, text, tool

E = TypeVar("E", bound=Event)

AGENT = "task-1/s/1"
ONE_SUBTASK = plan({"id": "s", "description": "say hi"})
# Policy approves reads, writes and computing; a shell command needs an approval.
NO_SHELL = ["read", "compute", "write"]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    # The World's database is LOOM_HOME/loom.db, where the CLI looks for it.
    made = World(tmp_path)
    yield made
    await made.log.close()


def loom(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loom", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "LOOM_HOME": str(home)},
        cwd=home,
        timeout=60,
    )


async def loom_aside(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in another process, while this process's run goes on."""
    return await asyncio.to_thread(loom, home, *args)


async def first(world: World, stream: str, cls: type[E]) -> E:
    """The first ``cls`` event on ``stream``, once the run has recorded one."""
    for _ in range(500):
        for event in await world.log.read_stream(stream):
            if isinstance(event, cls):
                return event
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {cls.__name__} on {stream}")


def of(events: list[Event], cls: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, cls)]


def run_in_background(
    world: World, models: RunModels, settings: RunSettings | None = None
) -> asyncio.Task[TaskOutcome]:
    return asyncio.create_task(world.run("goal", models, settings))


# --- cancellation -----------------------------------------------------------


def slow_executor() -> RunModels:
    fast = ScriptedProvider(handler=Script(plans=[ONE_SUBTASK]), name="planner")
    slow = ScriptedProvider(handler=Script(plans=["unused"]), name="slow", delay=30)
    return RunModels(planner=fast, executor=slow, verifiers=[fast])


async def test_loom_cancel_from_another_process_stops_the_run_within_a_second(
    world: World,
) -> None:
    running = run_in_background(world, slow_executor())
    await first(world, AGENT, ModelCallStarted)

    cancelled = await loom_aside(world.root, "cancel", "task-1", "--reason", "enough")
    outcome = await asyncio.wait_for(running, timeout=10)

    assert cancelled.returncode == 0, cancelled.stderr
    assert "cancel requested for task-1" in cancelled.stdout
    assert outcome.status == "cancelled"
    task = await world.task_events()
    assert isinstance(task[-1], TaskCancelled)
    (requested,) = await world.log.read_stream(control_stream("task-1"))
    assert isinstance(requested, TaskCancelRequested)
    assert requested.reason == "enough"
    gap = task[-1].at - requested.at
    assert gap.total_seconds() < 1.0, gap
    agent = await world.log.read_stream(AGENT)
    (failed,) = of(agent, ModelCallFailed)
    assert failed.error == "cancelled"
    assert of(agent, TurnCancelled)
    finished = agent[-1]
    assert isinstance(finished, AgentFinished)
    assert finished.status == "cancelled"
    assert finished.at <= task[-1].at  # the agent stopped before the task ended
    status = loom(world.root, "status", "task-1", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["status"] == "cancelled"


async def test_a_cancelled_run_replays_as_identical(world: World) -> None:
    running = run_in_background(world, slow_executor())
    await first(world, AGENT, ModelCallStarted)
    await loom_aside(world.root, "cancel", "task-1")
    assert (await asyncio.wait_for(running, timeout=10)).status == "cancelled"

    report = await replay_task(world.log, world.blobs, "task-1")
    live = await replay_task(world.log, world.blobs, "task-1", live_tools=True)

    assert report.identical, report.text()
    assert live.identical, live.text()


def test_cancelling_an_unknown_task_exits_2_and_says_so(world: World) -> None:
    done = loom(world.root, "cancel", "task-nope")

    assert done.returncode == 2
    assert done.stderr.strip() == "error: no task named 'task-nope'"
    assert "Traceback" not in done.stderr


# --- delegation -------------------------------------------------------------

DELEGATED = "Write notes.txt saying hello."


async def test_delegate_task_runs_a_sub_agent_on_a_child_stream(world: World) -> None:
    script = Script(
        plans=[ONE_SUBTASK],
        steps={
            "s": [tool("delegate_task", task=DELEGATED), text("Delegated; done.")],
            # The sub-agent's brief is the delegated task, with no subtask in it.
            "?": [
                tool("write_file", path="notes.txt", content="hello\n"),
                text("I wrote notes.txt."),
            ],
        },
    )
    outcome = await world.run("notes", models_for(script))

    assert outcome.status == "completed", outcome
    assert (world.workspace / "notes.txt").read_text() == "hello\n"
    child = await world.log.read_stream(f"{AGENT}/delegate-1")
    opened = child[0]
    assert isinstance(opened, AgentStarted)
    assert opened.parent_stream == AGENT
    assert opened.brief == DELEGATED
    assert isinstance(child[-1], AgentFinished)
    (result,) = [
        e
        for e in await world.log.read_stream(AGENT)
        if isinstance(e, ToolCallCompleted) and e.call_id == "c-delegate_task"
    ]
    assert not result.is_error
    assert "I wrote notes.txt." in result.result
    # The replay runs the sub-agent again: its stream's events are compared too.
    report = await replay_task(world.log, world.blobs, "task-1")
    assert report.identical, report.text()
    recorded = [*await world.all_events(), *child]
    assert report.compared == len(recorded)
    # The sub-agent's change is the task's too: undoing the task undoes it.
    undone = await loom_aside(world.root, "undo", "--task", "task-1")
    assert "restored notes.txt (delete)" in undone.stdout, undone.stderr
    assert not (world.workspace / "notes.txt").exists()


# --- approvals ----------------------------------------------------------------


HONEST = "I could not run the command: the run refuses what needs approval."


def shell_script() -> Script:
    return Script(
        plans=[ONE_SUBTASK],
        steps={"s": [tool("shell_execute", command="echo hi"), text("Ran echo hi.")]},
    )


async def test_a_paused_action_runs_once_loom_approve_grants_it(world: World) -> None:
    settings = RunSettings(approval_policy="pause", auto_approve=NO_SHELL)
    running = run_in_background(world, models_for(shell_script()), settings)
    asked = await first(world, AGENT, ApprovalRequested)
    assert asked.call_id == "c-shell_execute"
    assert "echo hi" in asked.description
    assert not running.done()  # it waits for the answer

    answered = await loom_aside(world.root, "approve", "task-1", asked.approval_id)
    outcome = await asyncio.wait_for(running, timeout=10)

    assert answered.returncode == 0, answered.stderr
    assert outcome.status == "completed", outcome
    agent = await world.log.read_stream(AGENT)
    approved = [
        e for e in of(agent, ToolCallApproved) if e.call_id == "c-shell_execute"
    ]
    assert [e.by for e in approved] == ["user"]
    (completed,) = [
        e for e in of(agent, ToolCallCompleted) if e.call_id == "c-shell_execute"
    ]
    assert "hi" in completed.result
    report = await replay_task(world.log, world.blobs, "task-1")
    assert report.identical, report.text()


async def test_loom_approve_deny_refuses_the_paused_action(world: World) -> None:
    settings = RunSettings(approval_policy="pause", auto_approve=NO_SHELL)
    running = run_in_background(world, models_for(shell_script()), settings)
    asked = await first(world, AGENT, ApprovalRequested)

    await loom_aside(
        world.root, "approve", "task-1", asked.approval_id, "--deny", "not now"
    )
    await asyncio.wait_for(running, timeout=10)

    (denied,) = of(await world.log.read_stream(AGENT), ToolCallDenied)
    assert (denied.by, denied.reason) == ("user", "not now")


async def test_by_default_an_action_that_needs_approval_is_denied_by_policy(
    world: World,
) -> None:
    refused = [tool("shell_execute", command="echo hi"), text(HONEST)]
    models = models_for(Script(plans=[ONE_SUBTASK], steps={"s": refused}))
    outcome = await world.run("hi", models, RunSettings(auto_approve=NO_SHELL))

    assert outcome.status == "completed", outcome

    agent = await world.log.read_stream(AGENT)
    assert not of(agent, ApprovalRequested)
    (denied,) = of(agent, ToolCallDenied)
    assert (denied.by, denied.reason) == ("policy", DENIED)
    assert not [
        e for e in of(agent, ToolCallCompleted) if e.call_id == "c-shell_execute"
    ]
    executor = models.executor
    assert isinstance(executor, ScriptedProvider)
    after = next(
        r for r in executor.requests if any(m.role == "tool" for m in r.messages)
    )
    (told,) = [m.content for m in after.messages if m.role == "tool"]
    assert DENIED in told


def test_a_corrupt_config_stops_loom_run_with_exit_2_and_says_where(
    tmp_path: Path,
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "loom.toml").write_text(
        "[execution]\nmax_parallel_subtasks = 'many'\n"
    )

    done = loom(tmp_path, "run", "anything", "-w", str(workspace))

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "loom.toml" in done.stderr
    assert "max_parallel_subtasks" in done.stderr
