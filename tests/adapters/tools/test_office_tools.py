"""spreadsheet and document_write: real files, opened again with their libraries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docx
import openpyxl
import pytest

from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.tools import ToolRunner
from loom.adapters.tools.office import DocumentWrite, Spreadsheet
from loom.domain.events import FileChanged

from .conftest import STREAM


async def call(runner: ToolRunner, name: str, **arguments: Any) -> str:
    result = await runner.call(name, arguments)
    assert not result.is_error, result.text
    return result.text


async def changes(log: AsyncEventLog) -> list[tuple[str, str]]:
    events = await log.read_stream(STREAM)
    return [(e.path, e.kind) for e in events if isinstance(e, FileChanged)]


async def test_create_write_read_and_add_sheet(
    runner: ToolRunner, workspace_dir: Path, tool_log: AsyncEventLog
) -> None:
    created = await call(
        runner,
        "spreadsheet",
        action="create",
        path="data/budget.xlsx",
        sheets=["Costs", "Notes"],
    )
    assert created == "created data/budget.xlsx: new workbook with sheets Costs, Notes"
    cells = {
        "A1": "Item",
        "B1": "Qty",
        "C1": "Price",
        "A2": "apple",
        "B2": 3,
        "C2": 0.5,
        "a3": "pear",
        "B3": 2,
        "C3": 1.25,
        "D2": "=B2*C2",
        "B5": "=SUM(B2:B3)",
    }
    wrote = await call(
        runner, "spreadsheet", action="write", path="data/budget.xlsx", cells=cells
    )
    assert wrote.startswith(
        "updated data/budget.xlsx: wrote 11 cells (2 formulas) on sheet 'Costs'"
    )
    await call(
        runner,
        "spreadsheet",
        action="add_sheet",
        path="data/budget.xlsx",
        sheet="Summary",
    )
    await call(
        runner,
        "spreadsheet",
        action="write",
        path="data/budget.xlsx",
        sheet="Summary",
        cells={"A1": "Total", "B1": "=Costs!B5", "C1": True},
    )

    book = openpyxl.load_workbook(workspace_dir / "data/budget.xlsx")
    assert book.sheetnames == ["Costs", "Notes", "Summary"]
    costs = book["Costs"]
    assert [[c.value for c in row] for row in costs["A1:D3"]] == [
        ["Item", "Qty", "Price", None],
        ["apple", 3, 0.5, "=B2*C2"],
        ["pear", 2, 1.25, None],
    ]
    assert costs["B5"].value == "=SUM(B2:B3)"
    assert costs["D2"].data_type == "f"
    assert book["Summary"]["B1"].value == "=Costs!B5"
    assert book["Summary"]["C1"].value is True

    assert await changes(tool_log) == [
        ("data/budget.xlsx", "create"),
        ("data/budget.xlsx", "modify"),
        ("data/budget.xlsx", "modify"),
        ("data/budget.xlsx", "modify"),
    ]


async def test_read_shows_a_grid_and_formulas_on_request(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Data"
    sheet.append(["Name", "Score"])
    sheet.append(["ada", 9])
    sheet.append(["bob|by", 7])
    sheet["B4"] = "=SUM(B2:B3)"
    book.save(workspace_dir / "scores.xlsx")

    text = await call(runner, "spreadsheet", action="read", path="scores.xlsx")
    assert text.splitlines() == [
        "sheet 'Data' A1:B4; sheets: Data",
        "|  | A | B |",
        "| --- | --- | --- |",
        "| 1 | Name | Score |",
        "| 2 | ada | 9 |",
        "| 3 | bob\\|by | 7 |",
        "| 4 |  | =SUM(B2:B3) (not calculated) |",
    ]
    part = await call(
        runner,
        "spreadsheet",
        action="read",
        path="scores.xlsx",
        range="B3:B4",
        formulas=True,
    )
    assert part.splitlines()[1:] == [
        "|  | B |",
        "| --- | --- |",
        "| 3 | 7 |",
        "| 4 | =SUM(B2:B3) |",
    ]


async def test_read_shows_the_values_excel_saved(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    # openpyxl never calculates, so a cached value is planted the way Excel saves one.
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet["A1"] = "=1+1"
    book.save(workspace_dir / "cached.xlsx")
    _plant_cached_value(workspace_dir / "cached.xlsx", "A1", "2")
    text = await call(
        runner, "spreadsheet", action="read", path="cached.xlsx", range="A1"
    )
    assert text.splitlines()[-1] == "| 1 | 2 |"


def _plant_cached_value(path: Path, cell: str, value: str) -> None:
    import zipfile

    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    sheet = sheet.replace("<f>1+1</f><v></v>", f"<f>1+1</f><v>{value}</v>")
    sheet = sheet.replace("<f>1+1</f><v />", f"<f>1+1</f><v>{value}</v>")
    if f"<v>{value}</v>" not in sheet:
        sheet = sheet.replace("<f>1+1</f>", f"<f>1+1</f><v>{value}</v>")
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


async def test_write_creates_a_missing_workbook(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    text = await call(
        runner,
        "spreadsheet",
        action="write",
        path="new.xlsx",
        sheet="Log",
        cells={"A1": 1},
    )
    assert text.startswith("created new.xlsx")
    assert openpyxl.load_workbook(workspace_dir / "new.xlsx")["Log"]["A1"].value == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"action": "read", "path": "notes.csv"}, "works on .xlsx files"),
        ({"action": "read", "path": "missing.xlsx"}, "no file 'missing.xlsx'"),
        ({"action": "create", "path": "book.xlsx"}, "already exists"),
        ({"action": "write", "path": "book.xlsx"}, "write needs 'cells'"),
        (
            {"action": "write", "path": "book.xlsx", "cells": {"1A": 2}},
            "not a cell reference",
        ),
        (
            {
                "action": "write",
                "path": "book.xlsx",
                "sheet": "Nope",
                "cells": {"A1": 1},
            },
            "no sheet 'Nope'",
        ),
        ({"action": "add_sheet", "path": "book.xlsx"}, "needs 'sheet'"),
        (
            {"action": "add_sheet", "path": "book.xlsx", "sheet": "Sheet"},
            "already a sheet",
        ),
        (
            {"action": "add_sheet", "path": "other.xlsx", "sheet": "X"},
            "no file 'other.xlsx'",
        ),
        ({"action": "read", "path": "book.xlsx", "range": "A1:??"}, "not a range"),
        ({"action": "read", "path": "fake.xlsx"}, "not a readable .xlsx workbook"),
        (
            {"action": "write", "path": "../out.xlsx", "cells": {"A1": 1}},
            "outside the workspace",
        ),
        ({"action": "delete", "path": "book.xlsx"}, "invalid arguments"),
    ],
)
async def test_spreadsheet_errors(
    runner: ToolRunner, workspace_dir: Path, arguments: dict[str, Any], message: str
) -> None:
    openpyxl.Workbook().save(workspace_dir / "book.xlsx")
    (workspace_dir / "fake.xlsx").write_text("not a zip")
    result = await runner.call("spreadsheet", arguments)
    assert result.is_error
    assert message in result.text


BLOCKS: list[dict[str, Any]] = [
    {"type": "heading", "text": "Findings", "level": 1},
    {"type": "paragraph", "text": "The cache is **not** thread-safe; see `cache.py`."},
    {"type": "bullets", "items": ["Add a lock", "Write a *stress* test"]},
    {"type": "heading", "text": "Numbers", "level": 2},
    {"type": "numbered", "items": ["Measure", "Fix"]},
    {"type": "table", "rows": [["Store", "Latency"], ["SQLite", 0.2], ["a|b"]]},
]


async def test_document_write_docx(
    runner: ToolRunner, workspace_dir: Path, tool_log: AsyncEventLog
) -> None:
    text = await call(
        runner, "document_write", path="docs/report.docx", title="Review", blocks=BLOCKS
    )
    assert text == (
        "created docs/report.docx (2 headings, 1 paragraph, 1 bullet list, "
        "1 numbered list, 1 table)"
    )
    document = docx.Document(str(workspace_dir / "docs/report.docx"))
    paragraphs = [
        (p.style.name if p.style else None, p.text) for p in document.paragraphs
    ]
    assert paragraphs == [
        ("Title", "Review"),
        ("Heading 1", "Findings"),
        ("Normal", "The cache is not thread-safe; see cache.py."),
        ("List Bullet", "Add a lock"),
        ("List Bullet", "Write a stress test"),
        ("Heading 2", "Numbers"),
        ("List Number", "Measure"),
        ("List Number", "Fix"),
    ]
    runs = document.paragraphs[2].runs
    assert [(r.text, r.bold) for r in runs if r.bold] == [("not", True)]
    assert [r.text for r in runs if r.font.name == "Courier New"] == ["cache.py"]
    assert [r.text for r in document.paragraphs[4].runs if r.italic] == ["stress"]
    (table,) = document.tables
    assert [[c.text for c in row.cells] for row in table.rows] == [
        ["Store", "Latency"],
        ["SQLite", "0.2"],
        ["a|b", ""],
    ]
    assert table.rows[0].cells[0].paragraphs[0].runs[0].bold
    assert await changes(tool_log) == [("docs/report.docx", "create")]


async def test_document_write_markdown(
    runner: ToolRunner, workspace_dir: Path, tool_log: AsyncEventLog
) -> None:
    text = await call(runner, "document_write", path="REPORT.md", blocks=BLOCKS)
    assert text.startswith("created REPORT.md (")
    assert "+# Findings" in text  # the diff
    assert (workspace_dir / "REPORT.md").read_text() == (
        "# Findings\n\n"
        "The cache is **not** thread-safe; see `cache.py`.\n\n"
        "- Add a lock\n- Write a *stress* test\n\n"
        "## Numbers\n\n"
        "1. Measure\n2. Fix\n\n"
        "| Store | Latency |\n| --- | --- |\n| SQLite | 0.2 |\n| a\\|b |  |\n"
    )
    again = await call(
        runner,
        "document_write",
        path="REPORT.md",
        blocks=[{"type": "paragraph", "text": "x"}],
    )
    assert again.startswith("rewrote REPORT.md (1 paragraph)")
    assert await changes(tool_log) == [("REPORT.md", "create"), ("REPORT.md", "modify")]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"path": "a.pdf", "blocks": [{"type": "paragraph", "text": "x"}]},
            ".docx or .md",
        ),
        ({"path": "a.md", "blocks": []}, "blocks"),
        ({"path": "a.md", "blocks": [{"type": "quote", "text": "x"}]}, "blocks.0"),
        (
            {"path": "a.md", "blocks": [{"type": "heading", "text": "x", "level": 9}]},
            "level",
        ),
        ({"path": "a.md", "blocks": [{"type": "paragraph", "txt": "x"}]}, "blocks.0"),
        (
            {"path": ".git/a.md", "blocks": [{"type": "paragraph", "text": "x"}]},
            "inside .git",
        ),
    ],
)
async def test_document_write_errors(
    runner: ToolRunner, arguments: dict[str, Any], message: str
) -> None:
    result = await runner.call("document_write", arguments)
    assert result.is_error
    assert message in result.text


def test_both_are_write_tools() -> None:
    assert Spreadsheet.kind == DocumentWrite.kind == "write"
    blocks = DocumentWrite.spec().parameters["properties"]["blocks"]
    assert blocks["type"] == "array"
