"""delete_file, move_file, list_directory, glob_find and search_files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.tools import ToolRunner
from loom.adapters.tools.fs import (
    DeleteFile,
    GlobFind,
    ListDirectory,
    MoveFile,
    SearchFiles,
)
from loom.domain.events import FileChanged, FileSnapshotted

from .conftest import STREAM


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def test_kinds() -> None:
    assert DeleteFile.kind == MoveFile.kind == "write"
    assert ListDirectory.kind == GlobFind.kind == SearchFiles.kind == "read"


# --- delete_file ----------------------------------------------------------------


async def test_a_deleted_files_content_is_kept_and_the_change_recorded(
    runner: ToolRunner, tool_log: AsyncEventLog, workspace_dir: Path
) -> None:
    _tree(workspace_dir, {"pkg/old.py": "gone = True\n"})
    result = await runner.call("delete_file", {"path": "pkg/old.py"})
    assert not result.is_error, result.text
    assert result.text.startswith("deleted pkg/old.py")
    assert "-gone = True" in result.text
    assert not (workspace_dir / "pkg/old.py").exists()
    snapshot, changed = await tool_log.read_stream(STREAM)
    assert isinstance(snapshot, FileSnapshotted)
    assert isinstance(changed, FileChanged)
    assert (changed.path, changed.kind, changed.after) == ("pkg/old.py", "delete", None)
    assert changed.before is not None
    assert await runner.ctx.blobs.get(changed.before) == b"gone = True\n"


async def test_delete_refuses_directories_missing_files_and_outside_paths(
    runner: ToolRunner, tool_log: AsyncEventLog, workspace_dir: Path, tmp_path: Path
) -> None:
    _tree(workspace_dir, {"pkg/a.py": ""})
    (tmp_path / "victim.txt").write_text("keep me")
    directory = await runner.call("delete_file", {"path": "pkg"})
    assert directory.is_error
    assert "is a directory" in directory.text
    missing = await runner.call("delete_file", {"path": "nope.py"})
    assert "no file 'nope.py'" in missing.text
    outside = await runner.call("delete_file", {"path": "../victim.txt"})
    assert "outside the workspace" in outside.text
    assert (tmp_path / "victim.txt").exists()
    assert (workspace_dir / "pkg/a.py").exists()
    assert await tool_log.read_stream(STREAM) == []


async def test_delete_refuses_a_symlink_that_leads_out(
    runner: ToolRunner, tool_log: AsyncEventLog, workspace_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "secret.txt").write_text("s")
    (workspace_dir / "leak.txt").symlink_to(tmp_path / "secret.txt")
    result = await runner.call("delete_file", {"path": "leak.txt"})
    assert result.is_error
    assert "outside the workspace" in result.text
    assert (workspace_dir / "leak.txt").is_symlink()
    assert await tool_log.read_stream(STREAM) == []  # nothing of it was snapshotted


async def test_deleting_a_symlink_removes_the_link_not_its_target(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    _tree(workspace_dir, {"real.txt": "data"})
    (workspace_dir / "link.txt").symlink_to("real.txt")
    result = await runner.call("delete_file", {"path": "link.txt"})
    assert not result.is_error, result.text
    assert not (workspace_dir / "link.txt").is_symlink()
    assert (workspace_dir / "real.txt").read_text() == "data"


# --- move_file ------------------------------------------------------------------


async def test_a_move_is_recorded_as_a_rename_and_keeps_the_content(
    runner: ToolRunner, tool_log: AsyncEventLog, workspace_dir: Path
) -> None:
    _tree(workspace_dir, {"a.py": "x = 1\n"})
    result = await runner.call(
        "move_file", {"source": "a.py", "destination": "pkg/b.py"}
    )
    assert not result.is_error, result.text
    assert result.text == "moved a.py -> pkg/b.py"
    assert not (workspace_dir / "a.py").exists()
    assert (workspace_dir / "pkg/b.py").read_text() == "x = 1\n"
    _, changed = await tool_log.read_stream(STREAM)
    assert isinstance(changed, FileChanged)
    assert (changed.path, changed.kind, changed.new_path) == (
        "a.py",
        "rename",
        "pkg/b.py",
    )
    assert changed.before == changed.after
    assert runner.ctx.knowledge.known("a.py") == (False, None)
    assert runner.ctx.knowledge.known("pkg/b.py")[0]


async def test_moving_onto_a_directory_moves_into_it(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    _tree(workspace_dir, {"a.py": "x\n", "pkg/__init__.py": ""})
    result = await runner.call("move_file", {"source": "a.py", "destination": "pkg"})
    assert result.text == "moved a.py -> pkg/a.py"
    assert (workspace_dir / "pkg/a.py").read_text() == "x\n"


async def test_move_never_overwrites(
    runner: ToolRunner, tool_log: AsyncEventLog, workspace_dir: Path
) -> None:
    _tree(workspace_dir, {"a.py": "a\n", "b.py": "b\n"})
    result = await runner.call("move_file", {"source": "a.py", "destination": "b.py"})
    assert result.is_error
    assert "b.py already exists" in result.text
    assert (workspace_dir / "a.py").read_text() == "a\n"
    assert (workspace_dir / "b.py").read_text() == "b\n"
    assert await tool_log.read_stream(STREAM) == []


@pytest.mark.parametrize(
    ("source", "destination", "message"),
    [
        ("a.py", "../x.py", "outside the workspace"),
        ("a.py", "sub/../../x.py", "outside the workspace"),
        ("../outside.py", "in.py", "outside the workspace"),
        ("a.py", ".git/hooks/pre-commit", "inside .git"),
        ("pkg", "pkg2", "a directory"),
        ("nope.py", "b.py", "not in the workspace"),
    ],
)
async def test_move_refusals(
    runner: ToolRunner,
    workspace_dir: Path,
    tmp_path: Path,
    source: str,
    destination: str,
    message: str,
) -> None:
    _tree(workspace_dir, {"a.py": "a\n", "pkg/x.py": "", ".git/HEAD": ""})
    (tmp_path / "outside.py").write_text("o")
    result = await runner.call(
        "move_file", {"source": source, "destination": destination}
    )
    assert result.is_error
    assert message in result.text
    assert (workspace_dir / "a.py").exists()
    assert not (tmp_path / "x.py").exists()
    assert (tmp_path / "outside.py").exists()


# --- list_directory --------------------------------------------------------------


async def test_list_shows_dirs_with_slashes_and_file_sizes_sorted(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    _tree(
        workspace_dir,
        {
            "b.txt": "x" * 2048,
            "a/deep/z.py": "",
            "a.py": "abc",
            ".git/HEAD": "ref",
            ".env": "",
        },
    )
    top = await runner.call("list_directory", {})
    assert top.text == ".env  (0 B)\na/\na.py  (3 B)\nb.txt  (2.0 KB)"
    deeper = await runner.call("list_directory", {"path": "a", "depth": 2})
    assert deeper.text == "a/deep/\na/deep/z.py  (0 B)"


async def test_list_honours_gitignore_files(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    _tree(
        workspace_dir,
        {
            ".gitignore": "build/\n*.log\n!keep.log\n",
            "build/out.o": "",
            "x.log": "",
            "keep.log": "",
            "src/.gitignore": "gen_*.py\n!trace.log\n",
            "src/gen_a.py": "",
            "src/main.py": "",
            "src/trace.log": "",
            "src/other.log": "",
        },
    )
    result = await runner.call("list_directory", {"depth": 3})
    assert result.text.splitlines() == [
        ".gitignore  (23 B)",
        "keep.log  (0 B)",
        "src/",
        "src/.gitignore  (20 B)",
        "src/main.py  (0 B)",
        "src/trace.log  (0 B)",  # the deeper .gitignore overrides the root's
    ]
    # A nested .gitignore applies when listing below it, and the root's still does.
    inner = await runner.call("list_directory", {"path": "src"})
    assert "gen_a.py" not in inner.text
    assert "src/main.py" in inner.text


async def test_a_long_listing_is_capped_with_a_note(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    _tree(workspace_dir, {f"f{n:04}.txt": "" for n in range(620)})
    result = await runner.call("list_directory", {})
    lines = result.text.splitlines()
    assert len(lines) == 501
    assert lines[0] == "f0000.txt  (0 B)"
    assert (
        lines[-1]
        == "(120 more entries not shown; list a subdirectory or use less depth)"
    )


async def test_list_refuses_files_missing_and_outside_paths(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    _tree(workspace_dir, {"a.py": ""})
    assert "is a file" in (await runner.call("list_directory", {"path": "a.py"})).text
    missing = await runner.call("list_directory", {"path": "nope"})
    assert "not in the workspace" in missing.text
    outside = await runner.call("list_directory", {"path": ".."})
    assert outside.is_error
    assert "outside the workspace" in outside.text
    bad = await runner.call("list_directory", {"depth": 9})
    assert "invalid arguments" in bad.text


async def test_symlinks_are_listed_not_followed(
    runner: ToolRunner, workspace_dir: Path, tmp_path: Path
) -> None:
    _tree(tmp_path / "elsewhere", {"secret.txt": "s"})
    (workspace_dir / "out").symlink_to(tmp_path / "elsewhere")
    listed = await runner.call("list_directory", {"depth": 3})
    assert listed.text == f"out -> {tmp_path / 'elsewhere'}  (symlink)"
    found = await runner.call("glob_find", {"pattern": "**"})
    assert "secret" not in found.text


async def test_a_directory_swapped_for_a_symlink_out_is_refused(
    runner: ToolRunner, workspace_dir: Path, tmp_path: Path
) -> None:
    _tree(workspace_dir, {"sub/notes.txt": "mine"})
    _tree(tmp_path / "elsewhere", {"secret.txt": "s"})
    listed = await runner.call("list_directory", {"depth": 2})
    assert "sub/notes.txt" in listed.text
    shutil.rmtree(workspace_dir / "sub")
    (workspace_dir / "sub").symlink_to(tmp_path / "elsewhere")
    for name, arguments in [
        ("list_directory", {"path": "sub"}),
        ("glob_find", {"pattern": "*", "path": "sub"}),
        ("search_files", {"query": "secret", "path": "sub"}),
        ("read_file", {"path": "sub/secret.txt"}),
    ]:
        result = await runner.call(name, arguments)
        assert result.is_error, name
        assert "outside the workspace" in result.text, name
    everything = await runner.call("glob_find", {"pattern": "**/*.txt"})
    assert "secret" not in everything.text


# --- glob_find ------------------------------------------------------------------


async def test_glob_finds_relative_sorted_paths(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    _tree(
        workspace_dir,
        {
            "b.py": "",
            "a.py": "",
            "pkg/c.py": "",
            "pkg/sub/d.py": "",
            "pkg/e.txt": "",
            "x.ts": "",
        },
    )
    everywhere = await runner.call("glob_find", {"pattern": "**/*.py"})
    assert everywhere.text == "a.py\nb.py\npkg/c.py\npkg/sub/d.py"
    top = await runner.call("glob_find", {"pattern": "*.py"})
    assert top.text == "a.py\nb.py"
    below = await runner.call("glob_find", {"pattern": "**/*.py", "path": "pkg/sub"})
    assert below.text == "pkg/sub/d.py"
    braces = await runner.call("glob_find", {"pattern": "**/*.{txt,ts}"})
    assert braces.text == "pkg/e.txt\nx.ts"
    dirs = await runner.call("glob_find", {"pattern": "p?g/*"})
    assert dirs.text == "pkg/c.py\npkg/e.txt\npkg/sub/"


async def test_glob_no_match_hints_at_double_star(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    _tree(workspace_dir, {"pkg/c.py": ""})
    result = await runner.call("glob_find", {"pattern": "*.py"})
    assert not result.is_error
    assert "no paths match '*.py'" in result.text
    assert "'**/*.py'" in result.text


@pytest.mark.parametrize(
    "pattern", ["../**", "../*.txt", "sub/../../*", "/etc/*", "~/x"]
)
async def test_glob_patterns_cannot_climb_out(
    runner: ToolRunner, workspace_dir: Path, tmp_path: Path, pattern: str
) -> None:
    (tmp_path / "outside.txt").write_text("o")
    result = await runner.call("glob_find", {"pattern": pattern})
    assert result.is_error
    assert "may not contain '..'" in result.text


async def test_glob_drops_symlinks_that_lead_out(
    runner: ToolRunner, workspace_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "secret.txt").write_text("s")
    _tree(workspace_dir, {"mine.txt": ""})
    (workspace_dir / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (workspace_dir / "alias.txt").symlink_to("mine.txt")
    result = await runner.call("glob_find", {"pattern": "*.txt"})
    assert result.text == "alias.txt\nmine.txt"


async def test_glob_honours_gitignore_and_caps(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    files = {f"src/m{n:03}.py": "" for n in range(510)}
    files |= {".gitignore": ".venv/\n", ".venv/lib/x.py": ""}
    _tree(workspace_dir, files)
    result = await runner.call("glob_find", {"pattern": "**/*.py"})
    lines = result.text.splitlines()
    assert ".venv" not in result.text
    assert lines[0] == "src/m000.py"
    assert lines[499] == "src/m499.py"
    assert lines[500] == "(10 more matches not shown; use a narrower pattern or path)"


# --- search_files ---------------------------------------------------------------


async def test_search_files_finds_names_despite_typos(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    _tree(
        workspace_dir,
        {
            "tests/conftest.py": "",
            "loom/config.py": "",
            "loom/app/cli.py": "",
            "README.md": "",
            ".gitignore": "node_modules/\n",
            "node_modules/conftest.py/index.js": "",
            ".git/conftest.py": "",
        },
    )
    result = await runner.call("search_files", {"query": "conftset", "limit": 3})
    assert not result.is_error, result.text
    lines = result.text.splitlines()
    assert lines[0].startswith("tests/conftest.py  (score ")
    assert "node_modules" not in result.text
    assert ".git/" not in result.text
    cli = await runner.call("search_files", {"query": "app cli", "limit": 1})
    assert cli.text.startswith("loom/app/cli.py")


async def test_search_files_without_a_resemblance(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    _tree(workspace_dir, {"a.py": ""})
    result = await runner.call("search_files", {"query": "zzzzqqqq"})
    assert not result.is_error
    assert result.text == "no file names resemble 'zzzzqqqq'"
