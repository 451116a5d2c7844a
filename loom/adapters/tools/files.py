"""Reading and writing whole files."""

from __future__ import annotations

import asyncio

from pydantic import Field

from loom.adapters.blobs import digest_of
from loom.adapters.tools.base import Tool, ToolArgs, ToolContext, ToolError
from loom.domain.events import FileRead

__all__ = ["ReadFile", "WriteFile", "number_lines"]

_READ_LINES = 2000


class ReadFileArgs(ToolArgs):
    path: str = Field(description="File path, relative to the workspace root.")
    start_line: int | None = Field(
        default=None, ge=1, description="First line (1-based)."
    )
    end_line: int | None = Field(
        default=None, ge=1, description="Last line, inclusive."
    )


class ReadFile(Tool):
    name = "read_file"
    description = (
        "Read a text file with line numbers. Give start_line/end_line to read part "
        "of a long file."
    )
    kind = "read"
    Args = ReadFileArgs

    async def run(self, args: ReadFileArgs, ctx: ToolContext) -> str:
        real = ctx.workspace.resolve(args.path)
        if real.is_dir():
            raise ToolError(f"{args.path} is a directory; use list_directory")
        try:
            data = await asyncio.to_thread(real.read_bytes)
        except FileNotFoundError:
            raise ToolError(f"no file {args.path!r} in the workspace") from None
        if b"\x00" in data[:8192]:
            raise ToolError(f"{args.path} is a binary file ({len(data)} bytes)")
        text = data.decode(errors="replace")
        path = ctx.workspace.relative(real)
        ctx.knowledge.apply(
            await ctx.journal.record(FileRead, path=path, digest=digest_of(data))
        )
        return _window(text, args.start_line, args.end_line)


def _window(text: str, start: int | None, end: int | None) -> str:
    lines = text.splitlines()
    first = start or 1
    last = min(end or first + _READ_LINES - 1, len(lines))
    if not lines:
        return "(empty file)"
    if first > len(lines):
        raise ToolError(f"start_line {first} is past the end ({len(lines)} lines)")
    shown = number_lines(lines[first - 1 : last], first)
    if first > 1 or last < len(lines):
        shown += f"\n(lines {first}-{last} of {len(lines)})"
    return shown


def number_lines(lines: list[str], first: int = 1) -> str:
    """``lines`` prefixed with right-aligned numbers and a tab, like ``cat -n``."""
    return "\n".join(f"{n:>6}\t{line}" for n, line in enumerate(lines, first))


class WriteFileArgs(ToolArgs):
    path: str = Field(description="File path, relative to the workspace root.")
    content: str = Field(description="The whole new content of the file.")


class WriteFile(Tool):
    name = "write_file"
    description = "Create a file, or replace a file's whole content. Returns the diff."
    kind = "write"
    Args = WriteFileArgs

    async def run(self, args: WriteFileArgs, ctx: ToolContext) -> str:
        real = ctx.workspace.resolve(args.path, for_write=True)
        if real.is_dir():
            raise ToolError(f"{args.path} is a directory")
        change = await ctx.changes.write(real, args.content.encode())
        verb = "created" if change.kind == "create" else "wrote"
        return f"{verb} {change.path} ({len(args.content)} characters)\n{change.diff}"
