"""Undo through the tools' own change records: byte-exact, refusing, forced."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from loom.adapters.blobs import AsyncBlobStore
from loom.adapters.determinism import SequentialIds, SteppingClock, context_from
from loom.adapters.eventstore.backends import SQLiteBackend
from loom.adapters.eventstore.journal import StreamJournal
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.adapters.tools import ToolContext, ToolRunner
from loom.adapters.tools.workspace import Workspace
from loom.app.undo import UndoError, undo_changes
from loom.domain.eventbase import Context
from loom.domain.events import (
    ChangeReverted,
    FileChanged,
    FileSnapshotted,
    TaskCreated,
)

STREAM = "task-undo"
BINARY = bytes(range(256)) * 3


class Setup:
    def __init__(self, home: Path, workspace: Path) -> None:
        self.home, self.workspace = home, workspace
        self.log = AsyncEventLog(EventStore(SQLiteBackend(home / "loom.db")))
        self.blobs = AsyncBlobStore(self.log.store.backend)
        self.context: Context = context_from(SteppingClock(), SequentialIds())

    async def runner(self, subtask: str | None = None) -> ToolRunner:
        journal = await StreamJournal.open(self.log, STREAM, self.context)
        if journal.version == 0:
            await journal.record(TaskCreated, goal="g", workspace=str(self.workspace))
        ctx = ToolContext(
            Workspace(self.workspace), journal, self.blobs, subtask_id=subtask
        )
        return ToolRunner(ctx)

    async def undo(self, **options: object) -> list[str]:
        report = await undo_changes(
            self.log,
            self.blobs,
            self.context,
            STREAM,
            **options,  # type: ignore[arg-type]
        )
        return report.reverted


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "keep.txt").write_text("original\r\nlines\n")
    (workspace / "image.bin").write_bytes(BINARY)
    made = Setup(tmp_path, workspace)
    yield made
    await made.log.close()


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


async def test_undoing_a_whole_task_restores_every_byte(setup: Setup) -> None:
    before = tree(setup.workspace)
    runner = await setup.runner()
    await runner.call("write_file", {"path": "keep.txt", "content": "changed\n"})
    await runner.call("write_file", {"path": "new/dir/file.py", "content": "x = 1\n"})
    await runner.call("write_file", {"path": "new/dir/file.py", "content": "x = 2\n"})
    (setup.workspace / "doomed.txt").write_text("bye")
    await runner.call("read_file", {"path": "doomed.txt"})
    await runner.ctx.changes.delete(setup.workspace / "doomed.txt")
    await runner.ctx.changes.write(setup.workspace / "image.bin", b"\x00not it")
    assert tree(setup.workspace) != before
    reverted = await setup.undo()
    assert len(reverted) == 5
    after = tree(setup.workspace)
    assert after == {**before, "doomed.txt": b"bye"}


async def test_undo_appends_history_and_can_itself_be_undone(setup: Setup) -> None:
    runner = await setup.runner()
    await runner.call("write_file", {"path": "keep.txt", "content": "v2\n"})
    await setup.undo()
    events = await setup.log.read_stream(STREAM)
    undo_changes_ = [
        e for e in events if isinstance(e, FileChanged) and e.cause == "undo"
    ]
    assert len(undo_changes_) == 1
    assert any(isinstance(e, ChangeReverted) for e in events)
    assert (setup.workspace / "keep.txt").read_bytes() == b"original\r\nlines\n"
    await setup.undo(change_ids=[undo_changes_[0].change_id])
    assert (setup.workspace / "keep.txt").read_text() == "v2\n"


async def test_a_file_changed_since_is_refused_unless_forced(setup: Setup) -> None:
    runner = await setup.runner()
    await runner.call("write_file", {"path": "keep.txt", "content": "by the agent\n"})
    (setup.workspace / "keep.txt").write_text("by the user\n")
    with pytest.raises(UndoError, match=r"keep\.txt changed since change"):
        await setup.undo()
    assert (setup.workspace / "keep.txt").read_text() == "by the user\n"
    await setup.undo(force=True)
    assert (setup.workspace / "keep.txt").read_bytes() == b"original\r\nlines\n"
    events = await setup.log.read_stream(STREAM)
    snapshots = [
        await setup.blobs.get(e.before)
        for e in events
        if isinstance(e, FileSnapshotted) and e.before
    ]
    assert b"by the user\n" in snapshots


async def test_undo_by_subtask_leaves_other_subtasks_alone(setup: Setup) -> None:
    first = await setup.runner(subtask="s1")
    await first.call("write_file", {"path": "a.txt", "content": "a"})
    second = await setup.runner(subtask="s2")
    await second.call("write_file", {"path": "b.txt", "content": "b"})
    await setup.undo(subtask_id="s1")
    assert not (setup.workspace / "a.txt").exists()
    assert (setup.workspace / "b.txt").read_text() == "b"
    with pytest.raises(UndoError, match="nothing to undo"):
        await setup.undo(subtask_id="s1")


async def test_the_cli_lists_and_undoes_changes(setup: Setup) -> None:
    runner = await setup.runner()
    await runner.call("write_file", {"path": "keep.txt", "content": "cli\n"})
    await setup.log.close()
    env = {**os.environ, "LOOM_HOME": str(setup.home)}

    def loom(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "loom", *args],
            capture_output=True, text=True, env=env, cwd=setup.home, timeout=60,
        )  # fmt: skip

    listed = loom("changes", STREAM)
    assert listed.returncode == 0, listed.stderr
    change_id = listed.stdout.split()[0]
    assert "modify  keep.txt  [tool, task-undo]" in listed.stdout
    undone = loom("undo", change_id)
    assert undone.returncode == 0, undone.stderr
    assert "restored keep.txt" in undone.stdout
    assert (setup.workspace / "keep.txt").read_bytes() == b"original\r\nlines\n"
    assert "(reverted)" in loom("changes", STREAM).stdout
    assert loom("undo", "--task", "task-nope").returncode == 2
    setup.log = AsyncEventLog(EventStore(SQLiteBackend(setup.home / "loom.db")))


async def test_shell_made_changes_are_undone_byte_exactly(setup: Setup) -> None:
    before = tree(setup.workspace)
    runner = await setup.runner()
    command = (
        "printf 'made by shell\\n' > shell.txt && rm image.bin && "
        "printf '\\000\\001binary' > keep.txt && mkdir -p d && echo x > d/y.txt"
    )
    result = await runner.call("shell_execute", {"command": command})
    assert not result.is_error, result.text
    shell_changes = [
        e
        for e in await setup.log.read_stream(STREAM)
        if isinstance(e, FileChanged) and e.cause == "shell"
    ]
    assert {(c.path, c.kind) for c in shell_changes} == {
        ("shell.txt", "create"),
        ("image.bin", "delete"),
        ("keep.txt", "modify"),
        ("d/y.txt", "create"),
    }
    await setup.undo()
    assert tree(setup.workspace) == before
