"""Office files: spreadsheets with openpyxl, documents with python-docx.

Both tools build the file in memory and hand the bytes to
``ctx.changes.write``, so every change is snapshotted and can be undone like
any other file write. openpyxl does not calculate formulas: reading a
workbook shows the values Excel last saved, and a formula no program has
calculated yet is shown as its formula.
"""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal

from docx import Document
from docx.document import Document as DocxDocument
from docx.text.paragraph import Paragraph as DocxParagraph
from openpyxl import Workbook, load_workbook
from openpyxl.utils.cell import (
    coordinate_from_string,
    get_column_letter,
    range_boundaries,
)
from openpyxl.utils.exceptions import CellCoordinatesException, InvalidFileException
from openpyxl.worksheet.worksheet import Worksheet
from pydantic import BaseModel, ConfigDict, Field

from loom.adapters.tools.base import Tool, ToolArgs, ToolContext, ToolError

__all__ = ["DocumentWrite", "Spreadsheet"]

_MAX_READ_CELLS = 5000
_MAX_WRITE_CELLS = 10_000
_MAX_FILE_BYTES = 20_000_000
CellValue = str | int | float | bool | None


class SpreadsheetArgs(ToolArgs):
    action: Literal["create", "read", "write", "add_sheet"] = Field(
        description=(
            "create: a new workbook; read: cell values; write: set cells "
            "(creates the workbook if missing); add_sheet: a new sheet."
        )
    )
    path: str = Field(description="The .xlsx file, relative to the workspace root.")
    sheet: str | None = Field(
        default=None,
        description="Sheet to read, write or add (default: the first sheet).",
    )
    sheets: list[str] | None = Field(
        default=None, description="create: names of the sheets (default one 'Sheet1')."
    )
    range: str | None = Field(
        default=None, description="read: cells like 'A1:C10' (default: all used cells)."
    )
    formulas: bool = Field(
        default=False, description="read: show formulas instead of their values."
    )
    cells: dict[str, CellValue] | None = Field(
        default=None,
        description=(
            "write: cell -> value, e.g. {'A1': 'Total', 'B1': '=SUM(B2:B9)'}; a "
            "string starting with '=' is a formula, null clears the cell."
        ),
    )


class Spreadsheet(Tool):
    name = "spreadsheet"
    description = (
        "Create, read and write Excel .xlsx workbooks: read a range of cells, set "
        "values and formulas, add sheets."
    )
    kind = "write"
    Args = SpreadsheetArgs

    async def run(self, args: SpreadsheetArgs, ctx: ToolContext) -> str:
        if Path(args.path).suffix.lower() != ".xlsx":
            raise ToolError(f"spreadsheet works on .xlsx files, not {args.path!r}")
        if args.action == "read":
            real = ctx.workspace.resolve(args.path)
            data = await _read_bytes(real, args.path)
            return await asyncio.to_thread(_read_sheet, data, args)
        real = ctx.workspace.resolve(args.path, for_write=True)
        exists = await asyncio.to_thread(real.exists)
        if args.action == "create" and exists:
            raise ToolError(
                f"{args.path} already exists; use action 'write' or 'add_sheet'"
            )
        if args.action == "add_sheet" and not exists:
            raise ToolError(f"no file {args.path!r}; create the workbook first")
        before = await _read_bytes(real, args.path) if exists else None
        result, report = await asyncio.to_thread(_change, before, args)
        change = await ctx.changes.write(real, result)
        verb = "created" if change.kind == "create" else "updated"
        return f"{verb} {change.path}: {report}"


async def _read_bytes(real: Path, shown: str) -> bytes:
    return await asyncio.to_thread(_read_limited, real, shown)


def _read_limited(real: Path, shown: str) -> bytes:
    if real.is_dir():
        raise ToolError(f"{shown} is a directory")
    try:
        size = real.stat().st_size
    except FileNotFoundError:
        raise ToolError(f"no file {shown!r} in the workspace") from None
    if size > _MAX_FILE_BYTES:
        raise ToolError(f"{shown} is too large ({size} bytes)")
    return real.read_bytes()


def _load(data: bytes, *, values: bool = False) -> Workbook:
    try:
        return load_workbook(io.BytesIO(data), data_only=values)
    except (
        InvalidFileException,
        zipfile.BadZipFile,
        OSError,
        KeyError,
        ValueError,
    ) as error:
        raise ToolError(f"not a readable .xlsx workbook: {error}") from None


def _sheet(book: Workbook, name: str | None) -> Worksheet:
    if name is None:
        sheet = book.worksheets[0]
    elif name in book.sheetnames:
        sheet = book[name]
    else:
        raise ToolError(f"no sheet {name!r}; sheets are {', '.join(book.sheetnames)}")
    if not isinstance(sheet, Worksheet):
        raise ToolError(f"{sheet.title!r} is a chart sheet, not a worksheet")
    return sheet


def _change(data: bytes | None, args: SpreadsheetArgs) -> tuple[bytes, str]:
    if args.action == "create":
        book, report = _create(args.sheets or ["Sheet1"])
    else:
        book = _load(data) if data is not None else _create([args.sheet or "Sheet1"])[0]
        if args.action == "add_sheet":
            report = _add_sheet(book, args.sheet)
        else:
            report = _write_cells(_sheet(book, args.sheet), args.cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue(), report


def _create(names: list[str]) -> tuple[Workbook, str]:
    if len(set(names)) != len(names):
        raise ToolError("sheet names must be different")
    book = Workbook()
    book.worksheets[0].title = names[0]
    for name in names[1:]:
        book.create_sheet(name)
    return book, f"new workbook with sheets {', '.join(names)}"


def _add_sheet(book: Workbook, name: str | None) -> str:
    if not name:
        raise ToolError("add_sheet needs 'sheet', the new sheet's name")
    if name in book.sheetnames:
        raise ToolError(f"there is already a sheet {name!r}")
    book.create_sheet(name)
    return f"added sheet {name!r}; sheets are {', '.join(book.sheetnames)}"


def _write_cells(sheet: Worksheet, cells: dict[str, CellValue] | None) -> str:
    if not cells:
        raise ToolError("write needs 'cells', a mapping like {'A1': 'Name'}")
    if len(cells) > _MAX_WRITE_CELLS:
        raise ToolError(f"at most {_MAX_WRITE_CELLS} cells per write")
    for ref in cells:
        _check_cell(ref)
    for ref, value in cells.items():
        sheet[ref.upper()] = value
    formulas = sum(
        1 for v in cells.values() if isinstance(v, str) and v.startswith("=")
    )
    shown = ", ".join(list(cells)[:10]) + (", ..." if len(cells) > 10 else "")
    extra = f" ({formulas} formulas)" if formulas else ""
    return f"wrote {len(cells)} cells{extra} on sheet {sheet.title!r}: {shown}"


def _check_cell(ref: str) -> None:
    try:
        coordinate_from_string(ref.upper())
    except (CellCoordinatesException, ValueError):
        raise ToolError(f"{ref!r} is not a cell reference like 'B3'") from None


def _read_sheet(data: bytes, args: SpreadsheetArgs) -> str:
    book, values = _load(data), _load(data, values=True)
    sheet, computed = _sheet(book, args.sheet), _sheet(values, args.sheet)
    first_col, first_row, last_col, last_row = _bounds(sheet, args.range)
    note = ""
    width = last_col - first_col + 1
    if (last_row - first_row + 1) * width > _MAX_READ_CELLS:
        last_row = first_row + _MAX_READ_CELLS // width - 1
        note = f"\n(cut at row {last_row}; read a smaller range to see more)"
    header = ["", *(get_column_letter(c) for c in range(first_col, last_col + 1))]
    lines = [_row(header), _row(["---"] * len(header))]
    for row in range(first_row, last_row + 1):
        shown = [
            _shown(sheet, computed, row, col, args.formulas)
            for col in range(first_col, last_col + 1)
        ]
        lines.append(_row([str(row), *shown]))
    span = f"{_cell(first_col, first_row)}:{_cell(last_col, last_row)}"
    title = f"sheet {sheet.title!r} {span}; sheets: {', '.join(book.sheetnames)}"
    return "\n".join([title, *lines]) + note


def _cell(column: int, row: int) -> str:
    return f"{get_column_letter(column)}{row}"


def _bounds(sheet: Worksheet, wanted: str | None) -> tuple[int, int, int, int]:
    if wanted is None:
        return 1, 1, max(sheet.max_column, 1), max(sheet.max_row, 1)
    try:
        first_col, first_row, last_col, last_row = range_boundaries(wanted.upper())
    except (ValueError, TypeError):
        raise ToolError(f"{wanted!r} is not a range like 'A1:C10'") from None
    return (
        first_col or 1,
        first_row or 1,
        last_col or max(sheet.max_column, 1),
        last_row or max(sheet.max_row, 1),
    )


def _shown(
    sheet: Worksheet, computed: Worksheet, row: int, col: int, formulas: bool
) -> str:
    raw = sheet.cell(row=row, column=col).value
    value = computed.cell(row=row, column=col).value
    is_formula = isinstance(raw, str) and raw.startswith("=")
    if is_formula and formulas:
        return str(raw)
    if is_formula and value is None:
        return f"{raw} (not calculated)"
    return _text(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _row(cells: list[str]) -> str:
    escaped = (c.replace("|", "\\|").replace("\n", " ") for c in cells)
    return "| " + " | ".join(escaped) + " |"


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HeadingBlock(_Block):
    type: Literal["heading"]
    text: str
    level: int = Field(default=1, ge=1, le=6, description="1 is the largest.")


class ParagraphBlock(_Block):
    type: Literal["paragraph"]
    text: str = Field(description="Text; **bold**, *italic* and `code` are kept.")


class ListBlock(_Block):
    type: Literal["bullets", "numbered"]
    items: list[str] = Field(min_length=1)


class TableBlock(_Block):
    type: Literal["table"]
    rows: list[list[str | int | float | None]] = Field(
        min_length=1, description="Rows of cells; the first row is the header."
    )


Block = Annotated[
    HeadingBlock | ParagraphBlock | ListBlock | TableBlock, Field(discriminator="type")
]


class DocumentWriteArgs(ToolArgs):
    path: str = Field(
        description="A .docx or .md file, relative to the workspace root."
    )
    blocks: list[Block] = Field(min_length=1, description="The document, in order.")
    title: str | None = Field(default=None, description="An optional document title.")


class DocumentWrite(Tool):
    name = "document_write"
    description = (
        "Write a Word (.docx) or Markdown (.md) document from blocks: headings, "
        "paragraphs, bullet or numbered lists and tables. Replaces the whole file."
    )
    kind = "write"
    Args = DocumentWriteArgs

    async def run(self, args: DocumentWriteArgs, ctx: ToolContext) -> str:
        suffix = Path(args.path).suffix.lower()
        if suffix not in (".docx", ".md", ".markdown"):
            raise ToolError(
                f"document_write writes .docx or .md files, not {args.path!r}"
            )
        real = ctx.workspace.resolve(args.path, for_write=True)
        if real.is_dir():
            raise ToolError(f"{args.path} is a directory")
        render = _docx if suffix == ".docx" else _markdown
        data = await asyncio.to_thread(render, args.title, args.blocks)
        change = await ctx.changes.write(real, data)
        verb = "created" if change.kind == "create" else "rewrote"
        summary = f"{verb} {change.path} ({_count(args.blocks)})"
        return summary if suffix == ".docx" else f"{summary}\n{change.diff}"


_BLOCK_NAMES = {
    "heading": "heading",
    "paragraph": "paragraph",
    "bullets": "bullet list",
    "numbered": "numbered list",
    "table": "table",
}


def _count(blocks: list[Block]) -> str:
    counts: dict[str, int] = {}
    for block in blocks:
        counts[block.type] = counts.get(block.type, 0) + 1
    return ", ".join(
        f"{n} {_BLOCK_NAMES[kind]}{'' if n == 1 else 's'}" for kind, n in counts.items()
    )


def _markdown(title: str | None, blocks: list[Block]) -> bytes:
    parts = [f"# {title}"] if title else []
    for block in blocks:
        if isinstance(block, HeadingBlock):
            parts.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, ParagraphBlock):
            parts.append(block.text)
        elif isinstance(block, ListBlock):
            marks = (
                ("- " for _ in block.items)
                if block.type == "bullets"
                else (f"{n}. " for n in range(1, len(block.items) + 1))
            )
            parts.append(
                "\n".join(m + item for m, item in zip(marks, block.items, strict=False))
            )
        else:
            parts.append(_markdown_table(_table_rows(block)))
    return ("\n\n".join(parts) + "\n").encode()


def _markdown_table(rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        escaped = (c.replace("|", "\\|").replace("\n", "<br>") for c in cells)
        return "| " + " | ".join(escaped) + " |"

    head, *body = rows
    return "\n".join([line(head), line(["---"] * len(head)), *(line(r) for r in body)])


def _table_rows(block: TableBlock) -> list[list[str]]:
    width = max(len(row) for row in block.rows) or 1
    return [[_text(c) for c in row] + [""] * (width - len(row)) for row in block.rows]


_INLINE = re.compile(r"(\*\*[^*]+\*\*|\*[^*]+\*|`[^`]+`)")


def _docx(title: str | None, blocks: list[Block]) -> bytes:
    document = Document()
    if title:
        document.add_heading(title, level=0)
    for block in blocks:
        if isinstance(block, HeadingBlock):
            document.add_heading(block.text, level=block.level)
        elif isinstance(block, ParagraphBlock):
            _inline(document.add_paragraph(), block.text)
        elif isinstance(block, ListBlock):
            style = "List Bullet" if block.type == "bullets" else "List Number"
            for item in block.items:
                _inline(document.add_paragraph(style=style), item)
        else:
            _docx_table(document, _table_rows(block))
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _inline(paragraph: DocxParagraph, text: str) -> None:
    for piece in _INLINE.split(text):
        if piece.startswith("**") and piece.endswith("**") and len(piece) > 4:
            paragraph.add_run(piece[2:-2]).bold = True
        elif piece.startswith("`") and piece.endswith("`") and len(piece) > 2:
            paragraph.add_run(piece[1:-1]).font.name = "Courier New"
        elif piece.startswith("*") and piece.endswith("*") and len(piece) > 2:
            paragraph.add_run(piece[1:-1]).italic = True
        elif piece:
            paragraph.add_run(piece)


def _docx_table(document: DocxDocument, rows: list[list[str]]) -> None:
    table = document.add_table(rows=len(rows), cols=len(rows[0]))
    table.style = "Table Grid"
    for cells, values in zip(table.rows, rows, strict=True):
        for cell, value in zip(cells.cells, values, strict=True):
            cell.text = value
    for cell in table.rows[0].cells:
        for run in cell.paragraphs[0].runs:
            run.bold = True
