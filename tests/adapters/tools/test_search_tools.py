"""ripgrep_search against the real rg binary."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from loom.adapters.tools import ToolRunner
from loom.adapters.tools.base import ToolError
from loom.adapters.tools.search import RipgrepSearch, find_rg


def _rg_installed() -> bool:
    try:
        find_rg()
    except ToolError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _rg_installed(), reason="ripgrep is not installed")


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


@pytest.fixture
def project(workspace_dir: Path) -> Path:
    _tree(
        workspace_dir,
        {
            "src/app.py": "import os\n\ndef main():\n    return Helper()\n",
            "src/util.py": "class Helper:\n    pass\n",
            "docs/guide.md": "Use helper() for help.\n",
            "a:colon.txt": "helper here\n",
        },
    )
    return workspace_dir


def test_ripgrep_search_is_a_read_tool() -> None:
    assert RipgrepSearch.kind == "read"


async def test_matches_are_path_line_text_relative_and_sorted(
    runner: ToolRunner, project: Path
) -> None:
    result = await runner.call("ripgrep_search", {"pattern": "helper"})
    assert not result.is_error, result.text
    assert result.text.splitlines() == [
        "a:colon.txt:1:helper here",
        "docs/guide.md:1:Use helper() for help.",
        "src/app.py:4:    return Helper()",
        "src/util.py:1:class Helper:",
    ]


async def test_case_follows_smart_case_unless_told(
    runner: ToolRunner, project: Path
) -> None:
    smart = await runner.call("ripgrep_search", {"pattern": "Helper"})
    assert smart.text.splitlines() == [
        "src/app.py:4:    return Helper()",
        "src/util.py:1:class Helper:",
    ]
    sensitive = await runner.call(
        "ripgrep_search", {"pattern": "helper", "case_sensitive": True}
    )
    assert "Helper" not in sensitive.text
    assert len(sensitive.text.splitlines()) == 2
    insensitive = await runner.call(
        "ripgrep_search", {"pattern": "HELPER", "case_sensitive": False}
    )
    assert len(insensitive.text.splitlines()) == 4


async def test_path_and_glob_narrow_the_search(
    runner: ToolRunner, project: Path
) -> None:
    in_src = await runner.call("ripgrep_search", {"pattern": "helper", "path": "src"})
    assert [line.split(":")[0] for line in in_src.text.splitlines()] == [
        "src/app.py",
        "src/util.py",
    ]
    one_file = await runner.call(
        "ripgrep_search", {"pattern": "helper", "path": "src/util.py"}
    )
    assert one_file.text == "src/util.py:1:class Helper:"
    markdown = await runner.call("ripgrep_search", {"pattern": "help", "glob": "*.md"})
    assert markdown.text == "docs/guide.md:1:Use helper() for help."


async def test_context_lines_are_marked_and_groups_separated(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    _tree(workspace_dir, {"f.txt": "a\nhit\nb\nc\nd\ne\nhit\nf\n"})
    result = await runner.call("ripgrep_search", {"pattern": "hit", "context": 1})
    assert result.text.splitlines() == [
        "f.txt-1-a",
        "f.txt:2:hit",
        "f.txt-3-b",
        "--",
        "f.txt-6-e",
        "f.txt:7:hit",
        "f.txt-8-f",
    ]


async def test_no_match_is_a_plain_answer_not_an_error(
    runner: ToolRunner, project: Path
) -> None:
    result = await runner.call("ripgrep_search", {"pattern": "nowhere_to_be_found"})
    assert not result.is_error
    assert result.text == "no matches for 'nowhere_to_be_found' in ."


async def test_a_bad_regex_is_an_error_with_advice(
    runner: ToolRunner, project: Path
) -> None:
    result = await runner.call("ripgrep_search", {"pattern": "helper("})
    assert result.is_error
    assert "not a valid regular expression" in result.text
    assert "fixed_strings=true" in result.text
    fixed = await runner.call(
        "ripgrep_search", {"pattern": "helper(", "fixed_strings": True}
    )
    assert fixed.text.splitlines() == [
        "docs/guide.md:1:Use helper() for help.",
        "src/app.py:4:    return Helper()",
    ]


async def test_a_pattern_that_looks_like_a_flag_is_searched_for(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    _tree(workspace_dir, {"f.txt": "use --files here\n"})
    result = await runner.call("ripgrep_search", {"pattern": "--files"})
    assert result.text == "f.txt:1:use --files here"


async def test_results_are_capped_with_the_count_of_the_rest(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    _tree(workspace_dir, {"many.txt": "".join(f"hit {n}\n" for n in range(300))})
    result = await runner.call("ripgrep_search", {"pattern": "hit", "max_results": 10})
    lines = result.text.splitlines()
    assert lines[:2] == ["many.txt:1:hit 0", "many.txt:2:hit 1"]
    assert lines[9] == "many.txt:10:hit 9"
    assert lines[10].startswith("(290 more matching lines not shown")
    assert len(lines) == 11


async def test_a_capped_search_keeps_only_the_context_of_shown_matches(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    _tree(workspace_dir, {"f.txt": "hit 1\nx\ny\nz\nw\nhit 2\n"})
    result = await runner.call(
        "ripgrep_search", {"pattern": "hit", "context": 1, "max_results": 1}
    )
    assert result.text.splitlines() == [
        "f.txt:1:hit 1",
        "f.txt-2-x",
        "(1 more matching lines not shown; narrow the pattern, path or glob, or "
        "raise max_results)",
    ]


async def test_long_lines_are_cut(runner: ToolRunner, workspace_dir: Path) -> None:
    _tree(workspace_dir, {"min.js": "x" * 100_000 + "needle\n"})
    result = await runner.call("ripgrep_search", {"pattern": "needle"})
    assert not result.is_error
    assert len(result.text) < 1000
    assert result.text.startswith("min.js:1:xxx")


@pytest.mark.parametrize("repository", [True, False])
async def test_ignored_files_and_git_are_skipped_but_hidden_files_searched(
    runner: ToolRunner, workspace_dir: Path, repository: bool
) -> None:
    files = {
        ".gitignore": "build/\n",
        "build/out.txt": "token\n",
        ".github/ci.yml": "token\n",
        "src.txt": "token\n",
    }
    if repository:
        files[".git/config"] = "token\n"
    _tree(workspace_dir, files)
    result = await runner.call("ripgrep_search", {"pattern": "token"})
    assert result.text.splitlines() == [".github/ci.yml:1:token", "src.txt:1:token"]


async def test_paths_outside_the_workspace_are_refused(
    runner: ToolRunner, workspace_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "secret.txt").write_text("token\n")
    outside = await runner.call("ripgrep_search", {"pattern": "token", "path": ".."})
    assert outside.is_error
    assert "outside the workspace" in outside.text
    (workspace_dir / "link").symlink_to(tmp_path)
    via_link = await runner.call("ripgrep_search", {"pattern": "token", "path": "link"})
    assert "outside the workspace" in via_link.text
    everything = await runner.call("ripgrep_search", {"pattern": "token"})
    assert everything.text.startswith("no matches")
    missing = await runner.call("ripgrep_search", {"pattern": "x", "path": "nope"})
    assert "no file or directory 'nope'" in missing.text


def test_a_missing_rg_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError, match="pip install ripgrep"):
        find_rg()
