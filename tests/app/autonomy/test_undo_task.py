"""Undoing an autonomous run: the changes live on its agents' streams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from loom.adapters.determinism import SequentialIds, SteppingClock, context_from
from loom.adapters.eventstore.journal import StreamJournal
from loom.app.undo import UndoError, undo_task
from loom.domain.events import ChangeReverted, FileChanged, TaskCreated
from tests.app.autonomy.scaffold import World, models_for
from tests.app.autonomy.test_control import loom_aside
from tests.app.autonomy.test_replay import three_subtasks


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    made = World(tmp_path)
    yield made
    await made.log.close()


async def test_the_undo_the_run_summary_prints_restores_every_agents_work(
    world: World,
) -> None:
    (world.workspace / "a.py").write_text("a = 'before the run'\n")
    outcome = await world.run("three", models_for(three_subtasks()))
    assert outcome.status == "completed"
    assert (world.workspace / "c.py").exists()

    undone = await loom_aside(world.root, "undo", "--task", "task-1")

    assert undone.returncode == 0, undone.stderr
    assert "undid 3 change(s) in task-1" in undone.stdout
    assert (world.workspace / "a.py").read_text() == "a = 'before the run'\n"
    assert not (world.workspace / "b.py").exists()
    assert not (world.workspace / "c.py").exists()
    control = await world.log.read_stream("task-1/control")
    assert len([e for e in control if isinstance(e, ChangeReverted)]) == 3
    assert [e.cause for e in control if isinstance(e, FileChanged)] == ["undo"] * 3
    listed = await loom_aside(world.root, "changes")
    assert listed.stdout.count("(reverted)") == 3, listed.stdout
    again = await loom_aside(world.root, "undo", "--task", "task-1")
    assert again.returncode == 2
    assert "nothing to undo in task-1" in again.stderr


async def test_undoing_one_subtask_leaves_the_others_work(world: World) -> None:
    await world.run("three", models_for(three_subtasks()))

    undone = await loom_aside(world.root, "undo", "--subtask", "b")

    assert undone.returncode == 0, undone.stderr
    assert "undid 1 change(s) in task-1" in undone.stdout
    assert not (world.workspace / "b.py").exists()
    assert (world.workspace / "a.py").exists()
    assert (world.workspace / "c.py").exists()


async def test_a_task_that_has_not_ended_is_undone_only_when_forced(
    world: World,
) -> None:
    context = context_from(SteppingClock(), SequentialIds())
    journal = StreamJournal(world.log, "task-9", 0, context)
    await journal.record(TaskCreated, goal="g", workspace=str(world.workspace))

    with pytest.raises(UndoError, match="task-9 has not ended"):
        await undo_task(world.log, world.blobs, context, "task-9")
    with pytest.raises(UndoError, match="nothing to undo in task-9"):
        await undo_task(world.log, world.blobs, context, "task-9", force=True)


async def test_a_subtask_id_two_tasks_share_needs_its_task(world: World) -> None:
    await world.run("three", models_for(three_subtasks()), task_id="task-1")
    (world.workspace / "b.py").unlink()
    await world.run("three again", models_for(three_subtasks()), task_id="task-2")

    ambiguous = await loom_aside(world.root, "undo", "--subtask", "b")
    chosen = await loom_aside(world.root, "undo", "--task", "task-2", "--subtask", "b")
    both = await loom_aside(world.root, "undo", "0000", "--task", "task-2")

    assert ambiguous.returncode == 2
    assert "several tasks have a subtask 'b'" in ambiguous.stderr
    assert "task-1, task-2" in ambiguous.stderr
    assert chosen.returncode == 0, chosen.stderr
    assert "undid 1 change(s) in task-2" in chosen.stdout
    assert not (world.workspace / "b.py").exists()
    assert both.returncode == 2
