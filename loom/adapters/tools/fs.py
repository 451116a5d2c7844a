"""Deleting, moving, listing and finding files.

Directories are walked through file descriptors opened with ``O_NOFOLLOW``, from
the workspace root down, so a directory swapped for a symlink mid-walk fails to
open instead of leading the walk out of the workspace; symlinks are listed, never
followed. ``.git`` is hidden and ``.gitignore`` files are honoured (when
``pathspec`` is installed), so build output and virtual environments do not
drown what the model is looking for.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field
from rapidfuzz import fuzz, process, utils

from loom.adapters.tools.base import Tool, ToolArgs, ToolContext, ToolError
from loom.adapters.tools.workspace import Workspace, WorkspaceError

try:
    import pathspec
except ImportError:  # pragma: no cover - pathspec is a declared dependency
    pathspec = None  # type: ignore[assignment]

__all__ = ["DeleteFile", "GlobFind", "ListDirectory", "MoveFile", "SearchFiles"]

_SHOWN = 500
_WALK_LIMIT = 50_000
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


# --- deleting and moving --------------------------------------------------------


class DeleteFileArgs(ToolArgs):
    path: str = Field(description="File to delete, relative to the workspace root.")


class DeleteFile(Tool):
    name = "delete_file"
    description = "Delete one file (not a directory). Its content is kept for undo."
    kind = "write"
    Args = DeleteFileArgs

    async def run(self, args: DeleteFileArgs, ctx: ToolContext) -> str:
        real = _entry(ctx.workspace, args.path)
        if real.is_dir():
            raise ToolError(
                f"{args.path} is a directory; delete_file deletes one file at a time "
                "(delete the files in it, or use a shell command for a whole tree)"
            )
        if not real.is_symlink() and not real.exists():
            raise ToolError(f"no file {args.path!r} in the workspace")
        change = await ctx.changes.delete(real)
        return f"deleted {change.path}\n{change.diff}"


class MoveFileArgs(ToolArgs):
    source: str = Field(description="The file to move or rename.")
    destination: str = Field(
        description=(
            "Its new path, relative to the workspace root; an existing directory "
            "means 'into that directory, same name'. Never overwrites a file."
        )
    )


class MoveFile(Tool):
    name = "move_file"
    description = "Move or rename one file. Missing directories are created."
    kind = "write"
    Args = MoveFileArgs

    async def run(self, args: MoveFileArgs, ctx: ToolContext) -> str:
        source = _entry(ctx.workspace, args.source)
        if source.is_dir() or not (source.is_file() or source.is_symlink()):
            what = "a directory" if source.is_dir() else "not in the workspace"
            raise ToolError(f"{args.source} is {what}; move_file moves one file")
        target = _entry(ctx.workspace, args.destination)
        if target.is_dir() and not target.is_symlink():
            target = _entry(ctx.workspace, f"{args.destination}/{source.name}")
        if target.exists() or target.is_symlink():
            raise ToolError(
                f"{ctx.workspace.relative(target)} already exists; move_file never "
                "overwrites: delete it first or choose another destination"
            )
        try:
            change = await ctx.changes.move(source, target)
        except FileExistsError:
            raise ToolError(
                f"{args.destination} appeared while moving; nothing moved"
            ) from None
        return f"moved {ctx.workspace.relative(source)} -> {change.path}"


def _entry(workspace: Workspace, path: str) -> Path:
    """The directory entry ``path`` names (a symlink itself, not its target).

    What it leads to must be in the workspace too, so that a change never reads
    or records a file outside it.
    """
    workspace.resolve(path, for_write=True)
    name = Path(path).name
    if name in ("", ".", ".."):
        raise ToolError(f"{path!r} does not name a file")
    parent = workspace.resolve(str(Path(path).parent), for_write=True)
    return parent / name


# --- walking ------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    """One directory entry met on a walk; ``rel`` is workspace-relative."""

    rel: str
    is_dir: bool
    size: int
    link: str | None = None


@dataclass
class _Walk:
    """A bounded, ignore-aware, symlink-safe walk below one directory."""

    workspace: Workspace
    max_depth: int | None
    seen: int = 0
    truncated: bool = False
    _rules: list[tuple[str, pathspec.GitIgnoreSpec]] = field(default_factory=list)

    def run(self, start: Path) -> list[_Found]:
        rel = self.workspace.relative(start)
        parts = () if rel == "." else Path(rel).parts
        fd = os.open(self.workspace.root, _DIR_FLAGS)
        try:
            self._load_rules(fd, "")
            for depth, part in enumerate(parts):
                parent, fd = fd, -1
                try:
                    fd = _open_below(parent, part)
                finally:
                    os.close(parent)
                self._load_rules(fd, "/".join(parts[: depth + 1]))
            return list(self._below(fd, "" if rel == "." else rel + "/", 1))
        finally:
            if fd >= 0:
                os.close(fd)

    def _below(self, fd: int, prefix: str, depth: int) -> Iterator[_Found]:
        with os.scandir(fd) as entries:
            listed = sorted(entries, key=lambda entry: entry.name)
        for entry in listed:
            found = self._found(fd, entry, prefix)
            if found is None:
                continue
            self.seen += 1
            if self.seen > _WALK_LIMIT:
                self.truncated = True
                return
            yield found
            if found.is_dir and (self.max_depth is None or depth < self.max_depth):
                yield from self._into(fd, entry.name, found.rel, depth)

    def _into(self, fd: int, name: str, rel: str, depth: int) -> Iterator[_Found]:
        try:
            child = _open_below(fd, name)
        except OSError:  # swapped for a symlink or removed since it was listed
            return
        kept = len(self._rules)
        try:
            self._load_rules(child, rel)
            yield from self._below(child, rel + "/", depth + 1)
        finally:
            del self._rules[kept:]
            os.close(child)

    def _found(self, fd: int, entry: os.DirEntry[str], prefix: str) -> _Found | None:
        rel = prefix + entry.name
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
            if entry.name == ".git" or self._ignored(rel, is_dir):
                return None
            if entry.is_symlink():
                return _Found(rel, False, 0, os.readlink(entry.name, dir_fd=fd))
            size = 0 if is_dir else entry.stat(follow_symlinks=False).st_size
        except OSError:
            return None
        return _Found(rel, is_dir, size)

    def _load_rules(self, fd: int, base: str) -> None:
        if pathspec is None:
            return
        try:
            handle = os.open(".gitignore", os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
        except OSError:
            return
        with os.fdopen(handle, encoding="utf-8", errors="replace") as lines:
            spec = pathspec.GitIgnoreSpec.from_lines(lines)
        self._rules.append((base, spec))

    def _ignored(self, rel: str, is_dir: bool) -> bool:
        # The deepest .gitignore with an opinion decides, as in git.
        for base, spec in reversed(self._rules):
            inner = rel[len(base) + 1 :] if base else rel
            verdict = spec.check_file(inner + "/" if is_dir else inner).include
            if verdict is not None:
                return bool(verdict)
        return False


def _open_below(fd: int, name: str) -> int:
    return os.open(name, _DIR_FLAGS, dir_fd=fd)


async def _walk(
    ctx: ToolContext, path: str, depth: int | None
) -> tuple[Path, _Walk, list[_Found]]:
    start = ctx.workspace.resolve(path)
    if not start.is_dir():
        what = "a file" if start.exists() else "not in the workspace"
        raise ToolError(f"{path} is {what}; give a directory")
    walk = _Walk(ctx.workspace, depth)
    try:
        found = await asyncio.to_thread(walk.run, start)
    except OSError as error:
        raise WorkspaceError(
            f"cannot walk {path!r} inside the workspace: {error}"
        ) from None
    return start, walk, found


def _capped(lines: list[str], walk: _Walk, what: str, advice: str) -> str:
    shown = "\n".join(lines[:_SHOWN])
    if walk.truncated:
        return f"{shown}\n(stopped after {_WALK_LIMIT} entries; {advice})"
    if len(lines) > _SHOWN:
        return f"{shown}\n({len(lines) - _SHOWN} more {what} not shown; {advice})"
    return shown


# --- listing ------------------------------------------------------------------


class ListDirectoryArgs(ToolArgs):
    path: str = Field(
        default=".", description="Directory to list, relative to the root."
    )
    depth: int = Field(
        default=1,
        ge=1,
        le=5,
        description="How many levels to show: 1 = only its entries.",
    )


class ListDirectory(Tool):
    name = "list_directory"
    description = (
        "List a directory: subdirectories end with '/', files show their size. "
        "Paths are relative to the workspace root. Files ignored by .gitignore "
        "are not shown."
    )
    kind = "read"
    Args = ListDirectoryArgs

    async def run(self, args: ListDirectoryArgs, ctx: ToolContext) -> str:
        _, walk, found = await _walk(ctx, args.path, args.depth)
        if not found:
            return (
                f"nothing to list in {args.path} (it is empty, or holds only .git "
                "and files ignored by .gitignore)"
            )
        lines = [_describe(item) for item in sorted(found, key=_path_order)]
        return _capped(lines, walk, "entries", "list a subdirectory or use less depth")


def _describe(item: _Found) -> str:
    if item.link is not None:
        return f"{item.rel} -> {item.link}  (symlink)"
    if item.is_dir:
        return f"{item.rel}/"
    return f"{item.rel}  ({_size(item.size)})"


def _path_order(item: _Found) -> tuple[str, ...]:
    return tuple(item.rel.split("/"))


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


# --- glob ---------------------------------------------------------------------


class GlobFindArgs(ToolArgs):
    pattern: str = Field(
        description=(
            "Glob pattern, relative to path: '*' matches within one directory, "
            "'**' any number of directories, e.g. '**/*.py' or 'src/**/test_*.py'; "
            "'{a,b}' gives alternatives, e.g. '**/*.{js,ts}'."
        )
    )
    path: str = Field(
        default=".", description="Directory to search in (default: root)."
    )


class GlobFind(Tool):
    name = "glob_find"
    description = (
        "Find files and directories whose path matches a glob pattern. Returns "
        "paths relative to the workspace root, sorted."
    )
    kind = "read"
    Args = GlobFindArgs

    async def run(self, args: GlobFindArgs, ctx: ToolContext) -> str:
        pattern = _check_pattern(args.pattern)
        depth = None if "**" in pattern else pattern.count("/") + 1
        start, walk, found = await _walk(ctx, args.path, depth)
        base = ctx.workspace.relative(start)
        regexes = [_glob_regex(one) for one in _expand_braces(pattern)]
        matched = [
            item
            for item in sorted(found, key=_path_order)
            if any(r.fullmatch(_under(base, item.rel)) for r in regexes)
        ]
        # Resolving is the slow part, so only what will be shown is re-checked.
        lines = [
            item.rel + ("/" if item.is_dir else "")
            for item in matched[:_SHOWN]
            if _inside(ctx.workspace, item.rel)
        ] + [item.rel for item in matched[_SHOWN:]]
        if not lines:
            hint = (
                ""
                if "/" in pattern
                else f"; to look in subdirectories use '**/{pattern}'"
            )
            return f"no paths match {args.pattern!r} in {base}{hint}"
        return _capped(lines, walk, "matches", "use a narrower pattern or path")


def _check_pattern(pattern: str) -> str:
    pattern = pattern.strip()
    while pattern.startswith("./"):
        pattern = pattern[2:]
    if not pattern or pattern.startswith(("/", "~")) or ".." in pattern.split("/"):
        raise ToolError(
            f"pattern {pattern!r} must be relative and may not contain '..': it is "
            "matched below path; to search another directory of the workspace, set path"
        )
    return pattern


def _under(base: str, rel: str) -> str:
    return rel if base == "." else rel[len(base) + 1 :]


def _inside(workspace: Workspace, rel: str) -> bool:
    """Whether ``rel`` still leads inside the workspace (it may have been swapped)."""
    try:
        workspace.resolve(rel)
    except WorkspaceError:
        return False
    return True


def _expand_braces(pattern: str) -> list[str]:
    match = re.search(r"\{([^{}]*,[^{}]*)\}", pattern)
    if match is None:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [
        expanded
        for choice in match.group(1).split(",")
        for expanded in _expand_braces(head + choice + tail)
    ]


def _glob_regex(pattern: str) -> re.Pattern[str]:
    segments = pattern.split("/")
    regex = ""
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            regex += ".*" if last else "(?:.*/)?"
        else:
            regex += _segment_regex(segment) + ("" if last else "/")
    return re.compile(regex)


def _segment_regex(segment: str) -> str:
    parts = re.split(r"(\*+|\?|\[[^\]]*\])", segment)
    out = []
    for part in parts:
        if part.startswith("*"):
            out.append("[^/]*")
        elif part == "?":
            out.append("[^/]")
        elif part.startswith("[") and len(part) > 2:
            inner = part[1:-1]
            out.append("[^" + inner[1:] + "]" if inner.startswith("!") else part)
        else:
            out.append(re.escape(part))
    return "".join(out)


# --- fuzzy name search ----------------------------------------------------------


class SearchFilesArgs(ToolArgs):
    query: str = Field(
        min_length=1,
        description="Part of a file name or path, e.g. 'user model' or 'cli.py'.",
    )
    path: str = Field(
        default=".", description="Directory to search in (default: root)."
    )
    limit: int = Field(default=10, ge=1, le=50, description="How many files to return.")


class SearchFiles(Tool):
    name = "search_files"
    description = (
        "Find files by name when you do not know exactly where they are (fuzzy: "
        "typos and partial names are fine). Returns the best matching paths with "
        "a score out of 100. To search file contents use ripgrep_search."
    )
    kind = "read"
    Args = SearchFilesArgs

    async def run(self, args: SearchFilesArgs, ctx: ToolContext) -> str:
        _, walk, found = await _walk(ctx, args.path, None)
        files = [item.rel for item in found if not item.is_dir]
        ranked = _rank(args.query, files, args.limit)
        if not ranked:
            return f"no file names resemble {args.query!r}"
        lines = [f"{path}  (score {score:.0f})" for path, score in ranked]
        if walk.truncated:
            lines.append(f"(only the first {_WALK_LIMIT} entries were searched)")
        return "\n".join(lines)


def _rank(query: str, files: list[str], limit: int) -> list[tuple[str, float]]:
    """The best files by the better of their name's and their path's score."""
    best: dict[str, float] = {}
    names = {path: path.rsplit("/", 1)[-1] for path in files}
    for choices in (names, {path: path for path in files}):
        for _, score, path in process.extract(
            query,
            choices,
            scorer=fuzz.WRatio,
            processor=utils.default_process,
            limit=limit,
            score_cutoff=50,
        ):
            best[path] = max(score, best.get(path, 0.0))
    return sorted(best.items(), key=lambda item: (-item[1], item[0]))[:limit]
