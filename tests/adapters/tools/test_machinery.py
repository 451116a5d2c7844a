"""The tool runner, workspace containment and the file tools' change records."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import ClassVar

import pytest

from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.tools import ToolContext, ToolRunner
from loom.adapters.tools.base import Tool, ToolArgs
from loom.adapters.tools.workspace import Workspace, WorkspaceError
from loom.domain.events import FileChanged, FileRead, FileSnapshotted

from .conftest import STREAM


async def test_unknown_tools_get_the_valid_names(runner: ToolRunner) -> None:
    result = await runner.call("reed_file", {"path": "a"})
    assert result.is_error
    assert "read_file" in result.text


async def test_bad_arguments_are_described(runner: ToolRunner) -> None:
    result = await runner.call("read_file", {"file": "a.py"})
    assert result.is_error
    assert "invalid arguments for read_file" in result.text
    assert "path" in result.text


class Sleepy(Tool):
    name = "test_sleepy"
    description = "sleeps"
    kind = "compute"
    timeout: ClassVar[float] = 0.05

    class Args(ToolArgs):
        pass

    async def run(self, args: ToolArgs, ctx: ToolContext) -> str:
        await asyncio.sleep(5)
        return "never"


class Loud(Tool):
    name = "test_loud"
    description = "talks a lot"
    kind = "compute"

    class Args(ToolArgs):
        size: int

    async def run(self, args: Args, ctx: ToolContext) -> str:
        return "x" * args.size


class Broken(Tool):
    name = "test_broken"
    description = "has a bug"
    kind = "compute"

    class Args(ToolArgs):
        pass

    async def run(self, args: ToolArgs, ctx: ToolContext) -> str:
        return str(1 / 0)


async def test_a_slow_tool_times_out(ctx: ToolContext) -> None:
    result = await ToolRunner(ctx, {"test_sleepy": Sleepy}).call("test_sleepy", {})
    assert result.is_error
    assert "did not finish within 0.05 s" in result.text


async def test_a_tool_bug_is_an_error_result_not_a_crash(ctx: ToolContext) -> None:
    result = await ToolRunner(ctx, {"test_broken": Broken}).call("test_broken", {})
    assert result.is_error
    assert "ZeroDivisionError" in result.text


async def test_huge_output_is_cut_and_kept_whole_as_a_blob(ctx: ToolContext) -> None:
    runner = ToolRunner(ctx, {"test_loud": Loud}, output_cap=1000)
    result = await runner.call("test_loud", {"size": 5000})
    assert not result.is_error
    assert result.text.startswith("x" * 1000)
    assert "4000 of 5000 characters not shown" in result.text
    assert result.full_output is not None
    assert await ctx.blobs.get(result.full_output) == b"x" * 5000


def test_specs_are_generated_from_the_argument_models() -> None:
    spec = Loud.spec()
    assert spec.parameters["properties"]["size"] == {"type": "integer"}
    assert spec.parameters["required"] == ["size"]


@pytest.mark.parametrize(
    "path",
    ["../outside.txt", "/etc/passwd", "sub/../../x", "~/x", "/"],
)
def test_paths_outside_the_workspace_are_refused(
    workspace_dir: Path, path: str
) -> None:
    with pytest.raises(WorkspaceError, match="outside the workspace"):
        Workspace(workspace_dir).resolve(path)


def test_containment_is_by_component_not_prefix(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app-evil").mkdir()
    with pytest.raises(WorkspaceError):
        Workspace(tmp_path / "app").resolve(str(tmp_path / "app-evil" / "x"))


def test_symlinks_that_lead_out_are_refused(
    workspace_dir: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    (workspace_dir / "link.txt").symlink_to(secret)
    (workspace_dir / "dir").symlink_to(tmp_path)
    workspace = Workspace(workspace_dir)
    for path in ("link.txt", "dir/secret.txt"):
        with pytest.raises(WorkspaceError, match="resolves to"):
            workspace.resolve(path)


@pytest.mark.parametrize("path", [".git/config", ".git/hooks/pre-commit", "loom.toml"])
def test_protected_paths_cannot_be_written(workspace_dir: Path, path: str) -> None:
    workspace = Workspace(workspace_dir, loom_home=workspace_dir / ".loom")
    assert workspace.resolve(path)  # reading is fine
    with pytest.raises(WorkspaceError, match="refusing to write"):
        workspace.resolve(path, for_write=True)
    with pytest.raises(WorkspaceError, match="Loom's own"):
        workspace.resolve(".loom/loom.db", for_write=True)


async def test_write_then_read_records_snapshot_change_and_read(
    runner: ToolRunner, tool_log: AsyncEventLog, workspace_dir: Path
) -> None:
    written = await runner.call(
        "write_file", {"path": "pkg/a.py", "content": "x = 1\n"}
    )
    assert not written.is_error, written.text
    assert "+x = 1" in written.text
    rewritten = await runner.call(
        "write_file", {"path": "pkg/a.py", "content": "x = 2\n"}
    )
    assert "-x = 1\n+x = 2" in rewritten.text
    read = await runner.call("read_file", {"path": "pkg/a.py"})
    assert read.text == "     1\tx = 2"
    events = await tool_log.read_stream(STREAM)
    kinds = [(type(e).__name__, getattr(e, "kind", None)) for e in events]
    assert kinds == [
        ("FileSnapshotted", None),
        ("FileChanged", "create"),
        ("FileSnapshotted", None),
        ("FileChanged", "modify"),
        ("FileRead", None),
    ]
    first, created, _, modified, seen = events
    assert isinstance(first, FileSnapshotted)
    assert first.before is None
    assert isinstance(created, FileChanged)
    assert isinstance(modified, FileChanged)
    assert modified.before == created.after
    assert isinstance(seen, FileRead)
    assert seen.digest == modified.after
    assert (workspace_dir / "pkg/a.py").read_text() == "x = 2\n"


async def test_writes_keep_the_file_mode(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    script = workspace_dir / "run.sh"
    script.write_text("#!/bin/sh\n")
    os.chmod(script, 0o755)
    await runner.call("write_file", {"path": "run.sh", "content": "#!/bin/sh\necho\n"})
    assert script.stat().st_mode & 0o777 == 0o755


async def test_read_file_windows_and_errors(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    (workspace_dir / "long.txt").write_text(
        "".join(f"line {n}\n" for n in range(1, 11))
    )
    part = await runner.call(
        "read_file", {"path": "long.txt", "start_line": 3, "end_line": 4}
    )
    assert part.text == "     3\tline 3\n     4\tline 4\n(lines 3-4 of 10)"
    missing = await runner.call("read_file", {"path": "nope.txt"})
    assert missing.is_error
    assert "no file 'nope.txt'" in missing.text
    (workspace_dir / "blob.bin").write_bytes(b"\x00\x01\x02")
    binary = await runner.call("read_file", {"path": "blob.bin"})
    assert "binary" in binary.text
    outside = await runner.call("read_file", {"path": "../x"})
    assert outside.is_error
    assert str(workspace_dir) in outside.text
