"""shell_execute: real bash processes in a real workspace, a real SQLite event log."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import time
from pathlib import Path

import pytest

from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.tools import ToolContext, ToolRunner, shell
from loom.adapters.tools.files import WriteFile
from loom.adapters.tools.shell import ShellExecute
from loom.adapters.tools.workspace import Workspace
from loom.domain.events import FileChanged

from .conftest import STREAM

TOOLS = {"shell_execute": ShellExecute, "write_file": WriteFile}


@pytest.fixture
def sh(ctx: ToolContext) -> ToolRunner:
    return ToolRunner(ctx, TOOLS)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in home directory: ``~`` in commands run by the tests means this."""
    fake = tmp_path / "home"
    fake.mkdir()
    monkeypatch.setenv("HOME", str(fake))
    return fake


def gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped yet counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return True
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] in (b"Z", b"X")


async def until_exists(path: Path) -> None:
    """Wait (10 s at most) for a command to write a non-empty ``path``."""
    for _ in range(1000):
        if written(path):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{path} was never written")


def written(path: Path) -> bool:
    return path.exists() and path.read_bytes().endswith(b"\n")


async def shell_changes(log: AsyncEventLog) -> list[FileChanged]:
    events = await log.read_stream(STREAM)
    return [e for e in events if isinstance(e, FileChanged) and e.cause == "shell"]


# --- running -----------------------------------------------------------------


async def test_output_and_exit_code(sh: ToolRunner) -> None:
    result = await sh.call("shell_execute", {"command": "echo hello"})
    assert not result.is_error
    assert result.text.startswith("exit code 0 (")
    assert result.text.endswith("\nhello\n")


async def test_a_failing_command_is_a_result_with_its_code_and_stderr(
    sh: ToolRunner,
) -> None:
    command = "echo to-stdout; echo to-stderr >&2; exit 3"
    result = await sh.call("shell_execute", {"command": command})
    assert not result.is_error
    assert result.text.startswith("exit code 3 (")
    assert "to-stdout\nto-stderr" in result.text


async def test_a_command_killed_by_a_signal_says_so(ctx: ToolContext) -> None:
    async def yes(what: str, why: str) -> bool:
        return True

    runner = ToolRunner(dataclasses.replace(ctx, approve=yes), TOOLS)
    command = "echo dying; kill -KILL $$"
    result = await runner.call("shell_execute", {"command": command})
    assert not result.is_error
    assert result.text.startswith("killed by signal 9 (SIGKILL) (")
    assert "dying" in result.text


async def test_no_output_is_said(sh: ToolRunner) -> None:
    result = await sh.call("shell_execute", {"command": "true"})
    assert result.text.endswith("(no output)")


async def test_stdin_is_closed(sh: ToolRunner) -> None:
    result = await sh.call("shell_execute", {"command": "cat; echo after-cat"})
    assert "exit code 0" in result.text
    assert "after-cat" in result.text


async def test_runs_in_the_workspace_or_a_subdirectory(
    sh: ToolRunner, workspace_dir: Path
) -> None:
    (workspace_dir / "sub").mkdir()
    real = Workspace(workspace_dir).root
    root = await sh.call("shell_execute", {"command": "pwd"})
    assert root.text.endswith(f"\n{real}\n")
    sub = await sh.call("shell_execute", {"command": "pwd", "cwd": "sub"})
    assert sub.text.endswith(f"\n{real / 'sub'}\n")
    outside = await sh.call("shell_execute", {"command": "pwd", "cwd": ".."})
    assert outside.is_error
    assert "outside the workspace" in outside.text


async def test_timeout_is_bounded(sh: ToolRunner) -> None:
    result = await sh.call("shell_execute", {"command": "true", "timeout": 601})
    assert result.is_error
    assert "timeout" in result.text


async def test_output_past_the_memory_guard_is_dropped_and_counted(
    sh: ToolRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shell, "MAX_CAPTURE", 1000)
    command = "head -c 5000 /dev/zero | tr '\\0' x"
    result = await sh.call("shell_execute", {"command": command})
    assert "x" * 1000 in result.text
    assert "x" * 1001 not in result.text
    assert "dropped: 4,000]" in result.text


# --- safety ------------------------------------------------------------------


async def test_a_blocked_command_never_runs(
    sh: ToolRunner, home: Path, workspace_dir: Path
) -> None:
    (home / "marker").write_text("still here")
    result = await sh.call("shell_execute", {"command": "touch ran.txt; rm -rf ~"})
    assert result.is_error
    assert "refusing to run `touch ran.txt; rm -rf ~`" in result.text
    assert "home directory" in result.text
    assert (home / "marker").read_text() == "still here"
    assert not (workspace_dir / "ran.txt").exists()


async def test_a_risky_command_without_an_approver_is_refused(
    sh: ToolRunner, home: Path
) -> None:
    result = await sh.call("shell_execute", {"command": "touch ~/asked"})
    assert result.is_error
    assert "needs approval" in result.text
    assert "outside the workspace" in result.text
    assert not (home / "asked").exists()


@pytest.mark.parametrize("approved", [True, False])
async def test_a_risky_command_runs_only_when_approved(
    ctx: ToolContext, home: Path, approved: bool
) -> None:
    asked: list[tuple[str, str]] = []

    async def approver(what: str, why: str) -> bool:
        asked.append((what, why))
        return approved

    runner = ToolRunner(dataclasses.replace(ctx, approve=approver), TOOLS)
    result = await runner.call("shell_execute", {"command": "touch ~/asked"})
    assert asked == [("run `touch ~/asked`", asked[0][1])]
    assert "outside the workspace" in asked[0][1]
    assert (home / "asked").exists() is approved
    assert result.is_error is not approved
    if not approved:
        assert "was not approved" in result.text


# --- killing -----------------------------------------------------------------


async def test_timeout_kills_the_whole_process_group(sh: ToolRunner) -> None:
    started = time.monotonic()
    command = "sleep 60 & echo background=$!; sleep 60"
    result = await sh.call("shell_execute", {"command": command, "timeout": 1})
    assert time.monotonic() - started < 10
    assert result.is_error
    assert "timed out after 1 s" in result.text
    match = re.search(r"background=(\d+)", result.text)
    assert match is not None, result.text
    assert gone(int(match.group(1)))


async def test_a_child_that_ignores_sigterm_is_killed(sh: ToolRunner) -> None:
    command = "bash -c 'trap \"\" TERM; echo stubborn=$$; sleep 60'"
    result = await sh.call("shell_execute", {"command": command, "timeout": 1})
    assert result.is_error
    match = re.search(r"stubborn=(\d+)", result.text)
    assert match is not None, result.text
    assert gone(int(match.group(1)))


async def test_cancellation_kills_the_process_group(
    sh: ToolRunner, workspace_dir: Path, tool_log: AsyncEventLog
) -> None:
    command = "sleep 60 & echo $! > bg.pid; wait"
    task = asyncio.create_task(sh.call("shell_execute", {"command": command}))
    pid_file = workspace_dir / "bg.pid"
    await until_exists(pid_file)
    pid = int(pid_file.read_text())
    assert not gone(pid)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gone(pid)
    # What it did before it was killed is recorded all the same.
    assert [(c.path, c.kind) for c in await shell_changes(tool_log)] == [
        ("bg.pid", "create")
    ]


async def test_background_processes_are_stopped_when_the_command_ends(
    sh: ToolRunner,
) -> None:
    started = time.monotonic()
    command = "sleep 60 > /dev/null 2>&1 & echo quiet=$!; sleep 60 & echo loud=$!"
    result = await sh.call("shell_execute", {"command": command})
    assert time.monotonic() - started < 5
    assert "exit code 0" in result.text
    assert "background processes it left running were stopped" in result.text
    for name in ("quiet", "loud"):
        match = re.search(rf"{name}=(\d+)", result.text)
        assert match is not None, result.text
        assert gone(int(match.group(1)))


# --- change recording ----------------------------------------------------------


async def test_shell_changes_are_recorded_with_their_bytes(
    ctx: ToolContext, sh: ToolRunner, workspace_dir: Path, tool_log: AsyncEventLog
) -> None:
    (workspace_dir / "keep.txt").write_bytes(b"old text\n")
    (workspace_dir / "gone.txt").write_bytes(b"bye\n")
    (workspace_dir / "image.bin").write_bytes(b"\x00\x01\x02\xff")
    command = (
        "printf 'made\\n' > made.txt; printf 'new text\\n' > keep.txt; rm gone.txt; "
        "printf '\\000\\377\\376' > image.bin; mkdir -p deep/er && echo x > deep/er/f"
    )
    result = await sh.call("shell_execute", {"command": command})
    assert result.text.splitlines()[1] == (
        "files changed: created deep/er/f, deleted gone.txt, modified image.bin, "
        "modified keep.txt, created made.txt"
    )
    changes = {c.path: c for c in await shell_changes(tool_log)}
    assert {p: c.kind for p, c in changes.items()} == {
        "deep/er/f": "create",
        "gone.txt": "delete",
        "image.bin": "modify",
        "keep.txt": "modify",
        "made.txt": "create",
    }
    expected = {
        "deep/er/f": (None, b"x\n"),
        "gone.txt": (b"bye\n", None),
        "image.bin": (b"\x00\x01\x02\xff", b"\x00\xff\xfe"),
        "keep.txt": (b"old text\n", b"new text\n"),
        "made.txt": (None, b"made\n"),
    }
    for path, (before, after) in expected.items():
        change = changes[path]
        assert await _bytes(ctx, change.before) == before, path
        assert await _bytes(ctx, change.after) == after, path
    assert len({c.change_id for c in changes.values()}) == 5


async def _bytes(ctx: ToolContext, digest: str | None) -> bytes | None:
    return None if digest is None else await ctx.blobs.get(digest)


async def test_a_file_too_large_to_keep_is_recorded_and_flagged(
    sh: ToolRunner, tool_log: AsyncEventLog
) -> None:
    command = "head -c 6000000 /dev/zero > big.bin"
    result = await sh.call("shell_execute", {"command": command})
    assert "files changed: created big.bin (no copy kept" in result.text
    assert "undo cannot restore: big.bin" in result.text
    [change] = await shell_changes(tool_log)
    assert (change.path, change.kind, change.before, change.after) == (
        "big.bin",
        "create",
        None,
        None,
    )


async def test_ignored_files_are_not_recorded(
    sh: ToolRunner, workspace_dir: Path, tool_log: AsyncEventLog
) -> None:
    (workspace_dir / ".gitignore").write_text("*.log\nbuild/\n")
    command = "echo x > debug.log; mkdir build; echo y > build/out.o; echo z > kept.txt"
    result = await sh.call("shell_execute", {"command": command})
    assert "files changed: created kept.txt\n" in result.text
    assert [c.path for c in await shell_changes(tool_log)] == ["kept.txt"]


async def test_changes_by_tools_between_commands_are_not_blamed_on_the_shell(
    sh: ToolRunner, workspace_dir: Path, tool_log: AsyncEventLog
) -> None:
    await sh.call("shell_execute", {"command": "true"})
    await sh.call("write_file", {"path": "tool.txt", "content": "by a tool\n"})
    (workspace_dir / "user.txt").write_text("by someone else\n")
    result = await sh.call("shell_execute", {"command": "echo shell > shell.txt"})
    assert "files changed: created shell.txt\n" in result.text
    assert [c.path for c in await shell_changes(tool_log)] == ["shell.txt"]


async def test_a_command_that_changes_nothing_says_nothing_about_files(
    sh: ToolRunner, workspace_dir: Path
) -> None:
    (workspace_dir / "a.txt").write_text("a\n")
    result = await sh.call("shell_execute", {"command": "cat a.txt"})
    assert "files changed" not in result.text


async def test_loom_home_inside_the_workspace_is_not_watched(
    ctx: ToolContext, workspace_dir: Path, tool_log: AsyncEventLog
) -> None:
    (workspace_dir / ".loom").mkdir()
    (workspace_dir / ".loom" / "loom.db").write_text("events")
    inside = dataclasses.replace(ctx, loom_home=workspace_dir / ".loom")
    runner = ToolRunner(inside, TOOLS)
    command = "echo go > started.txt; sleep 1; echo work > work.txt"
    task = asyncio.create_task(runner.call("shell_execute", {"command": command}))
    await until_exists(workspace_dir / "started.txt")
    # Loom writes its own state while the command runs: not the command's doing.
    (workspace_dir / ".loom" / "loom.db").write_text("more events")
    result = await task
    assert "files changed: created started.txt, created work.txt\n" in result.text
    assert [c.path for c in await shell_changes(tool_log)] == [
        "started.txt",
        "work.txt",
    ]


async def test_the_scanner_lives_with_the_context(ctx: ToolContext) -> None:
    first = shell.scanner_for(ctx)
    assert shell.scanner_for(ctx) is first
    assert first.root == ctx.workspace.root
