"""edit_file: search-and-replace edits, batches, pasted line numbers, stale files."""

from __future__ import annotations

from pathlib import Path

from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.tools import ToolRunner
from loom.adapters.tools.edit import EditFile, strip_line_numbers
from loom.domain.events import FileChanged, FileSnapshotted

from .conftest import STREAM


async def _changes(log: AsyncEventLog) -> list[FileChanged]:
    return [e for e in await log.read_stream(STREAM) if isinstance(e, FileChanged)]


def test_edit_file_is_a_write_tool() -> None:
    assert EditFile.kind == "write"
    properties = EditFile.spec().parameters["properties"]
    assert {"path", "old", "new", "edits"} <= set(properties)
    assert properties["old"]["description"]


async def test_an_edit_is_written_recorded_and_returned_as_a_diff(
    runner: ToolRunner, tool_log: AsyncEventLog, workspace_dir: Path
) -> None:
    (workspace_dir / "a.py").write_text("x = 1\ny = 2\n")
    result = await runner.call(
        "edit_file", {"path": "a.py", "old": "x = 1", "new": "x = 10"}
    )
    assert not result.is_error, result.text
    assert result.text.startswith("edited a.py (1 edit)")
    assert "--- a/a.py\n+++ b/a.py" in result.text
    assert "-x = 1\n+x = 10\n" in result.text
    assert (workspace_dir / "a.py").read_text() == "x = 10\ny = 2\n"
    snapshot, changed = await tool_log.read_stream(STREAM)
    assert isinstance(snapshot, FileSnapshotted)
    assert isinstance(changed, FileChanged)
    assert changed.kind == "modify"
    assert changed.before == snapshot.before
    assert changed.after is not None
    assert await runner.ctx.blobs.get(changed.after) == b"x = 10\ny = 2\n"


async def test_an_edit_quoted_with_drifted_indentation_lands_reindented(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    source = "class A:\n    def f(self):\n        return 1\n"
    (workspace_dir / "a.py").write_text(source)
    result = await runner.call(
        "edit_file",
        {
            "path": "a.py",
            "old": "def f(self):\n    return 1",
            "new": "def f(self):\n    return 2",
        },
    )
    assert not result.is_error, result.text
    assert (workspace_dir / "a.py").read_text() == (
        "class A:\n    def f(self):\n        return 2\n"
    )


async def test_crlf_files_keep_their_line_endings(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    (workspace_dir / "w.txt").write_bytes(b"one\r\ntwo\r\n")
    result = await runner.call(
        "edit_file", {"path": "w.txt", "old": "two\n", "new": "2\n"}
    )
    assert not result.is_error, result.text
    assert (workspace_dir / "w.txt").read_bytes() == b"one\r\n2\r\n"


async def test_a_batch_is_applied_in_order_as_one_change(
    runner: ToolRunner, tool_log: AsyncEventLog, workspace_dir: Path
) -> None:
    (workspace_dir / "a.py").write_text("a = 1\nb = 2\n")
    edits = [
        {"old": "a = 1", "new": "a = 3"},
        {"old": "a = 3\nb = 2", "new": "a = 3\nb = 4"},
    ]
    result = await runner.call("edit_file", {"path": "a.py", "edits": edits})
    assert not result.is_error, result.text
    assert "(2 edits)" in result.text
    assert (workspace_dir / "a.py").read_text() == "a = 3\nb = 4\n"
    assert len(await _changes(tool_log)) == 1


async def test_a_batch_with_a_failing_edit_changes_nothing(
    runner: ToolRunner, tool_log: AsyncEventLog, workspace_dir: Path
) -> None:
    (workspace_dir / "a.py").write_text("a = 1\nb = 2\n")
    edits = [{"old": "a = 1", "new": "a = 3"}, {"old": "zzz = 9", "new": "q"}]
    result = await runner.call("edit_file", {"path": "a.py", "edits": edits})
    assert result.is_error
    assert "edit 2 of 2 failed, so none of the edits was made" in result.text
    assert "not found" in result.text or "does not match" in result.text
    assert (workspace_dir / "a.py").read_text() == "a = 1\nb = 2\n"
    assert await _changes(tool_log) == []


async def test_a_batch_sent_as_a_json_string_is_accepted(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    (workspace_dir / "a.py").write_text("a = 1\n")
    edits = '[{"old": "a = 1", "new": "a = 2"}]'
    result = await runner.call("edit_file", {"path": "a.py", "edits": edits})
    assert not result.is_error, result.text
    assert (workspace_dir / "a.py").read_text() == "a = 2\n"


async def test_old_new_and_edits_are_exclusive(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    (workspace_dir / "a.py").write_text("a = 1\n")
    both = await runner.call(
        "edit_file",
        {"path": "a.py", "old": "a", "new": "b", "edits": [{"old": "a", "new": "b"}]},
    )
    assert both.is_error
    assert "not both" in both.text
    neither = await runner.call("edit_file", {"path": "a.py", "old": "a = 1"})
    assert neither.is_error
    assert "give old and new" in neither.text


async def test_line_numbers_copied_from_read_file_are_stripped(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    (workspace_dir / "a.py").write_text("def f():\n    x = 1\n\n    return x\n")
    shown = (await runner.call("read_file", {"path": "a.py"})).text
    old = "\n".join(shown.splitlines()[1:4])  # "     2\t    x = 1" ...
    assert old.startswith("     2\t")
    new = "     2\t    x = 2\n     3\t\n     4\t    return x"
    result = await runner.call("edit_file", {"path": "a.py", "old": old, "new": new})
    assert not result.is_error, result.text
    assert (
        workspace_dir / "a.py"
    ).read_text() == "def f():\n    x = 2\n\n    return x\n"


async def test_numbers_that_are_part_of_the_file_are_kept(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    (workspace_dir / "t.tsv").write_text("1\tfoo\n2\tbar\n")
    result = await runner.call(
        "edit_file", {"path": "t.tsv", "old": "1\tfoo\n2\tbar", "new": "1\tFOO\n2\tbar"}
    )
    assert not result.is_error, result.text
    assert (workspace_dir / "t.tsv").read_text() == "1\tFOO\n2\tbar\n"


def test_line_number_prefixes_are_stripped_only_from_every_line() -> None:
    assert strip_line_numbers(
        "    12\tx = 1\n    13\ty = 2", "    12\tx = 3\nz = 4"
    ) == (
        "x = 1\ny = 2",
        "x = 3\nz = 4",
    )
    assert strip_line_numbers("  12 | x = 1\n\n  14 | y", "  12 | x = 2") == (
        "x = 1\n\ny",
        "x = 2",
    )
    mixed = ("    12\tx = 1\ny = 2", "    12\tx = 3")
    assert strip_line_numbers(*mixed) == mixed


async def test_an_edit_of_a_file_changed_behind_the_models_back_is_refused(
    runner: ToolRunner, tool_log: AsyncEventLog, workspace_dir: Path
) -> None:
    target = workspace_dir / "a.py"
    target.write_text("x = 1\n")
    await runner.call("read_file", {"path": "a.py"})
    target.write_text("x = 1\ny = 5\n")  # someone else changed it
    refused = await runner.call(
        "edit_file", {"path": "a.py", "old": "x = 1", "new": "x = 2"}
    )
    assert refused.is_error
    assert "changed since you last read it" in refused.text
    assert "read_file it again" in refused.text
    assert target.read_text() == "x = 1\ny = 5\n"
    assert await _changes(tool_log) == []
    await runner.call("read_file", {"path": "a.py"})
    allowed = await runner.call(
        "edit_file", {"path": "a.py", "old": "x = 1", "new": "x = 2"}
    )
    assert not allowed.is_error, allowed.text
    # The model's own edit is what it now knows, so it may edit again at once.
    again = await runner.call(
        "edit_file", {"path": "a.py", "old": "y = 5", "new": "y = 6"}
    )
    assert not again.is_error, again.text
    assert target.read_text() == "x = 2\ny = 6\n"


async def test_a_file_never_read_may_be_edited(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    (workspace_dir / "a.py").write_text("x = 1\n")
    result = await runner.call(
        "edit_file", {"path": "a.py", "old": "x = 1", "new": "x = 2"}
    )
    assert not result.is_error, result.text


async def test_files_that_cannot_be_edited_are_refused(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    missing = await runner.call("edit_file", {"path": "new.py", "old": "a", "new": "b"})
    assert missing.is_error
    assert "write_file" in missing.text
    (workspace_dir / "blob.bin").write_bytes(b"ab\x00cd")
    binary = await runner.call(
        "edit_file", {"path": "blob.bin", "old": "ab", "new": "x"}
    )
    assert "binary" in binary.text
    (workspace_dir / "latin.txt").write_bytes("café".encode("latin-1"))
    latin = await runner.call(
        "edit_file", {"path": "latin.txt", "old": "caf", "new": "x"}
    )
    assert "not UTF-8" in latin.text
    (workspace_dir / "pkg").mkdir()
    directory = await runner.call("edit_file", {"path": "pkg", "old": "a", "new": "b"})
    assert "is a directory" in directory.text
    outside = await runner.call(
        "edit_file", {"path": "../a.py", "old": "a", "new": "b"}
    )
    assert "outside the workspace" in outside.text
    (workspace_dir / "loom.toml").write_text("a = 1\n")
    protected = await runner.call(
        "edit_file", {"path": "loom.toml", "old": "a", "new": "b"}
    )
    assert "refusing to write" in protected.text


async def test_an_ambiguous_edit_is_refused_with_the_places(
    runner: ToolRunner, workspace_dir: Path
) -> None:
    (workspace_dir / "a.py").write_text("x = 1\ny = 0\nx = 1\n")
    result = await runner.call(
        "edit_file", {"path": "a.py", "old": "x = 1", "new": "x = 2"}
    )
    assert result.is_error
    assert "2 places" in result.text
    assert (workspace_dir / "a.py").read_text() == "x = 1\ny = 0\nx = 1\n"
