"""Searching file contents with ripgrep.

``rg`` runs as a subprocess (no shell) in the workspace root, with the user's
ripgrep configuration ignored so results do not depend on the machine. Its
output is read as it streams, with ``--null`` after each path so a colon in a
file name cannot be mistaken for the line number's separator, and with long
lines cut by ripgrep itself so one minified file cannot flood the model.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field

from loom.adapters.tools.base import Tool, ToolArgs, ToolContext, ToolError

__all__ = ["RipgrepSearch", "find_rg"]

_TIMEOUT = 30.0
_MAX_COLUMNS = 300
_STREAM_LIMIT = 1 << 20
_NO_MATCH = 1


class RipgrepSearchArgs(ToolArgs):
    pattern: str = Field(
        min_length=1,
        description=(
            "What to search for: a regular expression (Rust syntax, like Python's), "
            "or plain text with fixed_strings=true."
        ),
    )
    path: str = Field(
        default=".", description="File or directory to search in (default: root)."
    )
    glob: str | None = Field(
        default=None,
        description="Only search files whose path matches this glob, e.g. '*.py'.",
    )
    case_sensitive: bool | None = Field(
        default=None,
        description=(
            "true: exact case; false: ignore case; leave out for smart case "
            "(case matters only if the pattern has a capital letter)."
        ),
    )
    fixed_strings: bool = Field(
        default=False, description="Treat pattern as plain text, not a regex."
    )
    context: int = Field(
        default=0, ge=0, le=5, description="Lines to show before and after each match."
    )
    max_results: int = Field(
        default=200, ge=1, le=2000, description="Most matching lines to show."
    )


class RipgrepSearch(Tool):
    name = "ripgrep_search"
    description = (
        "Search the contents of files for a regex or plain text (ripgrep). "
        "Returns path:line:text for each matching line (context lines as "
        "path-line-text). Files ignored by .gitignore are skipped. To find files "
        "by name, use search_files or glob_find."
    )
    kind = "read"
    Args = RipgrepSearchArgs
    timeout = _TIMEOUT + 10

    async def run(self, args: RipgrepSearchArgs, ctx: ToolContext) -> str:
        target = ctx.workspace.resolve(args.path)
        if not target.exists():
            raise ToolError(f"no file or directory {args.path!r} in the workspace")
        where = ctx.workspace.relative(target)
        command = [find_rg(), *_flags(args), "--", args.pattern, where]
        found = await _search(command, ctx.workspace.root, args.max_results)
        return found.report(args)


def find_rg() -> str:
    """The ripgrep binary: the one installed with this Python first, else PATH's."""
    beside = Path(sys.executable).parent / ("rg.exe" if os.name == "nt" else "rg")
    if beside.is_file():
        return str(beside)
    on_path = shutil.which("rg")
    if on_path is None:
        raise ToolError(
            "ripgrep (rg) is not installed, so ripgrep_search cannot run; install "
            "it with 'pip install ripgrep', or search with a shell command"
        )
    return on_path


def _flags(args: RipgrepSearchArgs) -> list[str]:
    flags = [
        "--no-config",
        "--null",
        "--line-number",
        "--with-filename",
        "--no-heading",
        "--color=never",
        "--sort=path",
        "--hidden",
        "--no-require-git",  # honour .gitignore even where there is no repository
        "--glob=!.git",
        f"--max-columns={_MAX_COLUMNS}",
        "--max-columns-preview",
    ]
    if args.case_sensitive is None:
        flags.append("--smart-case")
    else:
        flags.append("--case-sensitive" if args.case_sensitive else "--ignore-case")
    if args.fixed_strings:
        flags.append("--fixed-strings")
    if args.context:
        flags.append(f"--context={args.context}")
    if args.glob:
        flags.append(f"--glob={args.glob}")
    return flags


@dataclass
class _Found:
    """What a search printed, up to the cap, and how many lines matched."""

    cap: int
    lines: list[str] = field(default_factory=list)
    matches: int = 0
    errors: str = ""
    _kept: int = 0  # lines up to the end of the last group with a shown match
    _group_shown: bool = False

    def take(self, raw: bytes) -> None:
        line = raw.decode(errors="replace").rstrip("\r\n")
        path, nul, rest = line.partition("\0")
        if not nul:  # "--" between groups of context lines
            self._group_shown = False
            if self.matches <= self.cap and self.lines:
                self.lines.append("--")
            return
        number, separator, text = _split_number(rest)
        if separator == ":":
            self.matches += 1
            self._group_shown = self.matches <= self.cap
        if self.matches <= self.cap or self._group_shown:
            self.lines.append(
                f"{os.path.normpath(path)}{separator}{number}{separator}{text}"
            )
            if self._group_shown:
                self._kept = len(self.lines)

    def report(self, args: RipgrepSearchArgs) -> str:
        if not self.matches:
            if self.errors:
                raise ToolError(_failure(self.errors))
            return f"no matches for {args.pattern!r} in {args.path}"
        text = "\n".join(self.lines[: self._kept])
        if self.matches > self.cap:
            more = self.matches - self.cap
            text += (
                f"\n({more} more matching lines not shown; narrow the pattern, path "
                "or glob, or raise max_results)"
            )
        if self.errors:
            text += f"\n(ripgrep also reported: {self.errors})"
        return text


def _failure(errors: str) -> str:
    if "regex parse error" in errors:
        return (
            f"the pattern is not a valid regular expression: {errors}\nEscape "
            "special characters such as ( [ { . * + ? with a backslash, or pass "
            "fixed_strings=true to search for the text as it is."
        )
    return f"ripgrep failed: {errors}"


def _split_number(rest: str) -> tuple[str, str, str]:
    """``12:text`` or ``12-text`` as number, separator and text."""
    digits = len(rest) - len(rest.lstrip("0123456789"))
    return rest[:digits], rest[digits : digits + 1], rest[digits + 1 :]


async def _search(command: list[str], cwd: Path, cap: int) -> _Found:
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=_STREAM_LIMIT,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    found = _Found(cap)
    try:
        async with asyncio.timeout(_TIMEOUT):
            _, errors = await asyncio.gather(
                _read_lines(process.stdout, found), process.stderr.read()
            )
            code = await process.wait()
    except TimeoutError:
        raise ToolError(
            f"ripgrep did not finish within {_TIMEOUT:g} s; narrow the path or glob"
        ) from None
    finally:
        if process.returncode is None:  # timed out or cancelled
            process.kill()
            await process.wait()
    found.errors = errors.decode(errors="replace").strip()
    if code not in (0, _NO_MATCH) and not found.errors:
        found.errors = f"exit status {code}"
    return found


async def _read_lines(stream: asyncio.StreamReader, found: _Found) -> None:
    async for raw in stream:
        found.take(raw)
