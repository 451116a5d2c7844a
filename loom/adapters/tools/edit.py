"""Editing part of a file by search and replace.

The model names the text to replace and its replacement; :func:`apply_edit`
finds the region it meant even when the quote is a little off. A batch of edits
is all-or-nothing, and an edit of a file that changed since the model last read
it is refused, since the model's ``old`` was written against text that is gone.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from loom.adapters.blobs import digest_of
from loom.adapters.tools.base import Tool, ToolArgs, ToolContext, ToolError
from loom.domain.editing import EditError, apply_edit

__all__ = ["EditFile", "strip_line_numbers"]

# What read_file puts before each line ("    12\t"), and what an EditError's
# excerpt puts there ("  12 | "); models copy both into old.
_PREFIXES = (re.compile(r"^ *\d+\t"), re.compile(r"^ *\d+ \| ?"))


class Replacement(ToolArgs):
    old: str = Field(
        description="The exact current text to replace, copied from the file."
    )
    new: str = Field(description="The text to put in its place (empty to delete it).")


class EditFileArgs(ToolArgs):
    path: str = Field(description="File path, relative to the workspace root.")
    old: str | None = Field(
        default=None,
        description=(
            "The exact current text to replace: whole lines copied from the file, "
            "with enough unchanged lines around the change to occur only once."
        ),
    )
    new: str | None = Field(
        default=None, description="The text to put in place of old (empty to delete)."
    )
    edits: list[Replacement] | None = Field(
        default=None,
        min_length=1,
        description=(
            "Several changes to the same file, as a list of {old, new}, applied in "
            "order; if one fails, none is made. Use this instead of old/new."
        ),
    )

    @field_validator("edits", mode="before")
    @classmethod
    def _edits_from_json(cls, value: Any) -> Any:
        # Weak models often send the list as a JSON string.
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    @model_validator(mode="after")
    def _one_form(self) -> EditFileArgs:
        single = self.old is not None or self.new is not None
        if self.edits is not None and single:
            raise ValueError("give either old and new, or edits, not both")
        if self.edits is None and (self.old is None or self.new is None):
            raise ValueError("give old and new (one change), or edits (several)")
        return self

    def replacements(self) -> list[tuple[str, str]]:
        if self.edits is not None:
            return [(edit.old, edit.new) for edit in self.edits]
        return [(self.old or "", self.new or "")]


class EditFile(Tool):
    name = "edit_file"
    description = (
        "Change part of a text file: replace the text old with new. old must be "
        "copied from the file (read_file it first) and occur once. For several "
        "changes to one file pass edits=[{old, new}, ...] instead. Returns the diff. "
        "To create a file or replace all of it, use write_file."
    )
    kind = "write"
    Args = EditFileArgs

    async def run(self, args: EditFileArgs, ctx: ToolContext) -> str:
        real = ctx.workspace.resolve(args.path, for_write=True)
        data = await _read(real, args.path)
        _check_fresh(ctx, real, data, args.path)
        text = _decode(data, args.path)
        edited = _apply_all(text, args.replacements())
        if edited == text:
            raise ToolError("the edits leave the file as it was; nothing was changed")
        change = await ctx.changes.write(real, edited.encode())
        count = len(args.replacements())
        made = "1 edit" if count == 1 else f"{count} edits"
        return f"edited {change.path} ({made})\n{change.diff}"


async def _read(real: Path, shown: str) -> bytes:
    try:
        return await asyncio.to_thread(real.read_bytes)
    except IsADirectoryError:
        raise ToolError(f"{shown} is a directory; edit_file changes one file") from None
    except FileNotFoundError:
        raise ToolError(
            f"no file {shown!r} in the workspace; to create it, use write_file"
        ) from None


def _check_fresh(ctx: ToolContext, real: Path, data: bytes, shown: str) -> None:
    """Refuse when the file changed since the model last saw it.

    A file the model never read may be edited: ``old`` must match it anyway,
    and requiring a read first would cost weak models a turn for nothing.
    """
    seen, digest = ctx.knowledge.known(ctx.workspace.relative(real))
    if seen and digest != digest_of(data):
        raise ToolError(
            f"{shown} changed since you last read it, and not by your own edits "
            "(something else changed it); read_file it again, then make the edit "
            "against its current content. Nothing was changed."
        )


def _decode(data: bytes, shown: str) -> str:
    if b"\x00" in data[:8192]:
        raise ToolError(f"{shown} is a binary file; edit_file changes text files only")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise ToolError(
            f"{shown} is not UTF-8 text; edit_file changes UTF-8 text files only"
        ) from None


def _apply_all(text: str, replacements: list[tuple[str, str]]) -> str:
    """``text`` with every replacement made in order, or ``ToolError``."""
    for number, (quoted, replacement) in enumerate(replacements, 1):
        old, new = quoted, replacement
        if quoted not in text:  # numbers stay when the file itself has them
            old, new = strip_line_numbers(quoted, replacement)
        try:
            text = apply_edit(text, old, new)
        except EditError as error:
            if len(replacements) == 1:
                raise ToolError(str(error)) from None
            raise ToolError(
                f"edit {number} of {len(replacements)} failed, so none of the edits "
                f"was made: {error}"
            ) from None
    return text


def strip_line_numbers(old: str, new: str) -> tuple[str, str]:
    """``old`` and ``new`` without the line numbers a model copied from read_file.

    Only when every non-empty line of ``old`` carries the same kind of number
    prefix; then lines of ``new`` that carry it lose it too (lines the model
    added to ``new`` usually have none).
    """
    lines = [line for line in old.splitlines() if line.strip()]
    for prefix in _PREFIXES:
        if lines and all(prefix.match(line) for line in lines):
            return _strip(prefix, old), _strip(prefix, new)
    return old, new


def _strip(prefix: re.Pattern[str], text: str) -> str:
    return "".join(prefix.sub("", line) for line in text.splitlines(keepends=True))
