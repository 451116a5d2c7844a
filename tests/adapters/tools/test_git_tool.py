"""git_command on a real repository created in the temporary workspace."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.tools import ToolContext, ToolRunner
from loom.adapters.tools.git import GitCommand
from loom.domain.events import FileChanged

from .conftest import STREAM


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user or system git config, a fixed identity, a stand-in home."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Loom Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "loom@example.com")


@pytest.fixture
def git(ctx: ToolContext) -> ToolRunner:
    return ToolRunner(ctx, {"git_command": GitCommand})


def plain_git(cwd: Path, *args: str) -> str:
    """git run directly, to set up or inspect a repository behind the tool's back."""
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.fixture
async def repo(git: ToolRunner, workspace_dir: Path) -> Path:
    """A repository on branch main with one commit of a.txt."""
    result = await git.call("git_command", {"args": ["init", "-b", "main"]})
    assert "exit code 0" in result.text, result.text
    (workspace_dir / "a.txt").write_text("first\n")
    plain_git(workspace_dir, "add", "a.txt")
    plain_git(workspace_dir, "commit", "-m", "first")
    return workspace_dir


async def run(git: ToolRunner, *args: str) -> str:
    result = await git.call("git_command", {"args": list(args)})
    assert not result.is_error, result.text
    return result.text


async def test_status_add_commit_log_and_diff(git: ToolRunner, repo: Path) -> None:
    (repo / "a.txt").write_text("second\n")
    (repo / "notes with spaces.md").write_text("notes\n")
    status = await run(git, "status", "--short")
    assert " M a.txt" in status
    assert '?? "notes with spaces.md"' in status
    diff = await run(git, "diff")
    assert "-first\n+second" in diff
    await run(git, "add", "a.txt", "notes with spaces.md")
    committed = await run(git, "commit", "-m", 'second: it\'s "quoted" & spaced')
    assert committed.startswith("exit code 0")
    log = await run(git, "log", "--format=%s")
    assert log.endswith('\nsecond: it\'s "quoted" & spaced\nfirst\n')
    assert plain_git(repo, "status", "--porcelain") == ""


async def test_a_leading_git_is_forgiven(git: ToolRunner, repo: Path) -> None:
    assert "On branch main" in await run(git, "git", "status")


async def test_a_failing_git_command_returns_its_exit_code(
    git: ToolRunner, repo: Path
) -> None:
    text = await run(git, "rev-parse", "--verify", "no-such-branch")
    assert text.startswith("exit code 128 (")
    assert "fatal" in text


async def test_commit_without_a_message_fails_instead_of_waiting_for_an_editor(
    git: ToolRunner, repo: Path
) -> None:
    (repo / "a.txt").write_text("changed\n")
    await run(git, "add", "a.txt")
    text = await run(git, "commit")
    assert text.startswith("exit code 1 (")
    assert "empty commit message" in text


async def test_empty_arguments_are_refused(git: ToolRunner) -> None:
    for args in ([], ["git"]):
        result = await git.call("git_command", {"args": args})
        assert result.is_error
        assert "invalid arguments for git_command" in result.text


async def test_force_push_is_blocked_and_the_remote_keeps_its_history(
    git: ToolRunner, repo: Path, tmp_path: Path
) -> None:
    remote = tmp_path / "remote.git"
    plain_git(tmp_path, "init", "--bare", "-b", "main", str(remote))
    plain_git(repo, "remote", "add", "origin", str(remote))
    plain_git(repo, "push", "-q", "origin", "main")
    pushed = plain_git(remote, "rev-parse", "main")
    plain_git(repo, "commit", "--amend", "-m", "rewritten")
    result = await git.call("git_command", {"args": ["push", "--force", "origin"]})
    assert result.is_error
    assert "refusing to run `git push --force origin`" in result.text
    assert "force-push" in result.text
    assert plain_git(remote, "rev-parse", "main") == pushed


async def test_reset_hard_is_blocked_and_the_work_survives(
    git: ToolRunner, repo: Path
) -> None:
    (repo / "a.txt").write_text("uncommitted work\n")
    result = await git.call("git_command", {"args": ["reset", "--hard"]})
    assert result.is_error
    assert "refusing to run `git reset --hard`" in result.text
    assert (repo / "a.txt").read_text() == "uncommitted work\n"


async def test_clean_is_blocked_and_untracked_files_survive(
    git: ToolRunner, repo: Path
) -> None:
    (repo / "scratch").mkdir()
    (repo / "scratch" / "draft.txt").write_text("draft\n")
    result = await git.call("git_command", {"args": ["clean", "-fd"]})
    assert result.is_error
    assert "refusing to run `git clean -fd`" in result.text
    assert (repo / "scratch" / "draft.txt").read_text() == "draft\n"


async def test_network_commands_need_approval(git: ToolRunner, repo: Path) -> None:
    result = await git.call("git_command", {"args": ["fetch", "origin"]})
    assert result.is_error
    assert "needs approval" in result.text


async def test_checkout_records_the_files_it_changes(
    ctx: ToolContext, git: ToolRunner, repo: Path, tool_log: AsyncEventLog
) -> None:
    await run(git, "checkout", "-b", "other")
    (repo / "a.txt").write_text("other\n")
    (repo / "b.txt").write_text("only on other\n")
    plain_git(repo, "add", "a.txt", "b.txt")
    plain_git(repo, "commit", "-m", "other")
    text = await run(git, "checkout", "main")
    assert "files changed: modified a.txt, deleted b.txt\n" in text
    assert (repo / "a.txt").read_text() == "first\n"
    events = await tool_log.read_stream(STREAM)
    changes = [e for e in events if isinstance(e, FileChanged)]
    assert [(c.path, c.kind, c.cause) for c in changes] == [
        ("a.txt", "modify", "shell"),
        ("b.txt", "delete", "shell"),
    ]
    modified, deleted = changes
    assert modified.before is not None
    assert modified.after is not None
    assert deleted.before is not None
    assert await ctx.blobs.get(modified.before) == b"other\n"
    assert await ctx.blobs.get(modified.after) == b"first\n"
    assert await ctx.blobs.get(deleted.before) == b"only on other\n"
    assert deleted.after is None


async def test_stash_and_pop_record_both_changes(
    ctx: ToolContext, git: ToolRunner, repo: Path, tool_log: AsyncEventLog
) -> None:
    (repo / "a.txt").write_text("work in progress\n")
    assert "files changed: modified a.txt\n" in await run(git, "stash")
    assert (repo / "a.txt").read_text() == "first\n"
    assert "files changed: modified a.txt\n" in await run(git, "stash", "pop")
    events = await tool_log.read_stream(STREAM)
    changes = [e for e in events if isinstance(e, FileChanged)]
    contents = [
        (await ctx.blobs.get(c.before or ""), await ctx.blobs.get(c.after or ""))
        for c in changes
    ]
    assert contents == [
        (b"work in progress\n", b"first\n"),
        (b"first\n", b"work in progress\n"),
    ]


async def test_git_internals_are_never_recorded(
    git: ToolRunner, repo: Path, tool_log: AsyncEventLog
) -> None:
    await run(git, "branch", "feature")
    await run(git, "tag", "v1")
    await run(git, "commit", "--allow-empty", "-m", "empty")
    events = await tool_log.read_stream(STREAM)
    assert [e for e in events if isinstance(e, FileChanged)] == []
