"""WorkspaceScanner on real files, with the real SQLite blob store."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from loom.adapters.blobs import digest_of
from loom.adapters.tools import ToolContext
from loom.adapters.tools.scanner import FileChange, WorkspaceScanner

HOUR_NS = 3600 * 10**9


@pytest.fixture
def scanner(ctx: ToolContext, workspace_dir: Path) -> WorkspaceScanner:
    return WorkspaceScanner(workspace_dir, ctx.blobs)


def write(root: Path, path: str, data: bytes, *, age_ns: int = 0) -> Path:
    """Write ``data``; with ``age_ns``, date the file that far back."""
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    if age_ns:
        when = time.time_ns() - age_ns
        os.utime(target, ns=(when, when))
    return target


async def test_create_modify_and_delete_with_their_bytes_kept(
    ctx: ToolContext, scanner: WorkspaceScanner, workspace_dir: Path
) -> None:
    write(workspace_dir, "a.txt", b"alpha", age_ns=HOUR_NS)
    write(workspace_dir, "dir/b.bin", b"\x00\x01", age_ns=HOUR_NS)
    await scanner.baseline()
    assert len(scanner) == 2
    # The before-states are in the blob store already, for undo.
    assert await ctx.blobs.get(digest_of(b"alpha")) == b"alpha"
    assert await ctx.blobs.get(digest_of(b"\x00\x01")) == b"\x00\x01"
    write(workspace_dir, "a.txt", b"ALPHA")  # same size, new mtime
    write(workspace_dir, "dir/new.txt", b"new")
    (workspace_dir / "dir/b.bin").unlink()
    assert await scanner.changes() == [
        FileChange("a.txt", "modify", digest_of(b"alpha"), digest_of(b"ALPHA")),
        FileChange("dir/b.bin", "delete", digest_of(b"\x00\x01"), None),
        FileChange("dir/new.txt", "create", None, digest_of(b"new")),
    ]
    assert await ctx.blobs.get(digest_of(b"ALPHA")) == b"ALPHA"
    assert await ctx.blobs.get(digest_of(b"new")) == b"new"
    assert await scanner.changes() == []


async def test_the_first_changes_call_takes_the_baseline(
    scanner: WorkspaceScanner, workspace_dir: Path
) -> None:
    write(workspace_dir, "a.txt", b"a")
    assert not scanner.has_baseline
    assert await scanner.changes() == []
    assert scanner.has_baseline
    assert scanner.digest("a.txt") == digest_of(b"a")


async def test_a_touch_without_a_content_change_is_not_a_change(
    scanner: WorkspaceScanner, workspace_dir: Path
) -> None:
    path = write(workspace_dir, "a.txt", b"same", age_ns=HOUR_NS)
    await scanner.baseline()
    os.utime(path)
    assert await scanner.changes() == []


async def test_an_old_file_with_its_stat_unchanged_is_not_reread(
    scanner: WorkspaceScanner, workspace_dir: Path
) -> None:
    path = write(workspace_dir, "a.txt", b"aaaa", age_ns=HOUR_NS)
    await scanner.baseline()
    before = path.stat().st_mtime_ns
    path.write_bytes(b"bbbb")
    os.utime(path, ns=(before, before))
    # Same size, same mtime, long ago: the stat says unchanged and is believed.
    assert await scanner.changes() == []


async def test_a_racily_clean_file_is_hashed_again(
    scanner: WorkspaceScanner, workspace_dir: Path
) -> None:
    path = write(workspace_dir, "a.txt", b"aaaa")  # modified just now
    await scanner.baseline()
    before = path.stat().st_mtime_ns
    path.write_bytes(b"bbbb")
    # A write within the same timestamp tick leaves the mtime where it was.
    os.utime(path, ns=(before, before))
    assert await scanner.changes() == [
        FileChange("a.txt", "modify", digest_of(b"aaaa"), digest_of(b"bbbb"))
    ]


async def test_ignored_files_and_git_internals_are_not_watched(
    scanner: WorkspaceScanner, workspace_dir: Path
) -> None:
    write(workspace_dir, ".gitignore", b"*.log\nbuild/\n/top.txt\n")
    write(workspace_dir, "sub/.gitignore", b"!keep.log\nlocal/\n")
    write(workspace_dir, ".git/info/exclude", b"secret.txt\n")
    await scanner.baseline()
    for path in (
        "debug.log",
        "sub/deep/trace.log",
        "build/out.o",
        "src/build/out.o",
        "top.txt",
        "sub/local/x",
        "secret.txt",
        ".git/HEAD",
        "sub/.git/config",
    ):
        write(workspace_dir, path, b"ignored")
    for path in ("sub/keep.log", "sub/top.txt", "src/main.py", "builder.txt"):
        write(workspace_dir, path, b"watched")
    changes = await scanner.changes()
    assert [c.path for c in changes] == [
        "builder.txt",
        "src/main.py",
        "sub/keep.log",
        "sub/top.txt",
    ]


async def test_a_changed_gitignore_applies_from_the_next_scan(
    scanner: WorkspaceScanner, workspace_dir: Path
) -> None:
    write(workspace_dir, ".gitignore", b"*.tmp\n", age_ns=HOUR_NS)
    write(workspace_dir, "a.tmp", b"a", age_ns=HOUR_NS)
    await scanner.baseline()
    assert scanner.digest("a.tmp") is None
    write(workspace_dir, ".gitignore", b"*.cache\n")
    changes = await scanner.changes()
    assert [(c.path, c.kind) for c in changes] == [
        (".gitignore", "modify"),
        ("a.tmp", "create"),
    ]


async def test_oversized_files_are_watched_by_stat_only(
    ctx: ToolContext, workspace_dir: Path
) -> None:
    scanner = WorkspaceScanner(workspace_dir, ctx.blobs, max_file_bytes=10)
    write(workspace_dir, "big.bin", b"x" * 20, age_ns=HOUR_NS)
    write(workspace_dir, "grows.txt", b"small", age_ns=HOUR_NS)
    await scanner.baseline()
    assert scanner.digest("big.bin") is None
    assert await ctx.blobs.missing([digest_of(b"x" * 20)]) == {digest_of(b"x" * 20)}
    write(workspace_dir, "big.bin", b"y" * 30)
    write(workspace_dir, "grows.txt", b"z" * 11)
    write(workspace_dir, "new-big.bin", b"n" * 11)
    assert await scanner.changes() == [
        FileChange("big.bin", "modify", None, None),
        FileChange("grows.txt", "modify", digest_of(b"small"), None),
        FileChange("new-big.bin", "create", None, None),
    ]
    write(workspace_dir, "big.bin", b"fits")
    assert await scanner.changes() == [
        FileChange("big.bin", "modify", None, digest_of(b"fits"))
    ]
    assert await ctx.blobs.get(digest_of(b"fits")) == b"fits"


async def test_past_max_files_the_walk_stops_but_indexed_files_are_checked(
    ctx: ToolContext, workspace_dir: Path
) -> None:
    for name in ("a", "b", "c"):
        write(workspace_dir, f"z/{name}", name.encode(), age_ns=HOUR_NS)
    scanner = WorkspaceScanner(workspace_dir, ctx.blobs, max_files=3)
    await scanner.baseline()
    assert not scanner.truncated
    assert len(scanner) == 3
    # The root's files are walked before z/ is entered: the walk stops there.
    for n in range(5):
        write(workspace_dir, f"new{n}.txt", b"new")
    write(workspace_dir, "z/a", b"changed")
    (workspace_dir / "z/b").unlink()
    changes = await scanner.changes()
    assert scanner.truncated
    assert [c for c in changes if c.path.startswith("z/")] == [
        FileChange("z/a", "modify", digest_of(b"a"), digest_of(b"changed")),
        FileChange("z/b", "delete", digest_of(b"b"), None),
    ]
    assert [c.kind for c in changes if not c.path.startswith("z/")] == ["create"] * 3


async def test_symlinks_and_excluded_paths_are_not_watched(
    ctx: ToolContext, workspace_dir: Path, tmp_path: Path
) -> None:
    scanner = WorkspaceScanner(
        workspace_dir, ctx.blobs, exclude=[workspace_dir / ".loom", tmp_path / "else"]
    )
    await scanner.baseline()
    write(tmp_path, "outside/secret.txt", b"secret")
    (workspace_dir / "link-dir").symlink_to(tmp_path / "outside")
    (workspace_dir / "link.txt").symlink_to(tmp_path / "outside/secret.txt")
    write(workspace_dir, ".loom/loom.db", b"state")
    write(workspace_dir, "real.txt", b"real")
    assert [c.path for c in await scanner.changes()] == ["real.txt"]


async def test_a_file_replaced_by_a_directory(
    scanner: WorkspaceScanner, workspace_dir: Path
) -> None:
    write(workspace_dir, "node", b"file", age_ns=HOUR_NS)
    await scanner.baseline()
    (workspace_dir / "node").unlink()
    write(workspace_dir, "node/child", b"child")
    assert await scanner.changes() == [
        FileChange("node", "delete", digest_of(b"file"), None),
        FileChange("node/child", "create", None, digest_of(b"child")),
    ]
