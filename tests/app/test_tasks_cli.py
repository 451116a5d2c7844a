"""``loom tasks`` and ``loom status``, on a group of their own, against a real store."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from loom.adapters.determinism import SequentialIds, SteppingClock, context_from
from loom.adapters.eventstore.backends import SQLiteBackend
from loom.adapters.eventstore.store import EventStore
from loom.app.cli_tasks import age, headline, register
from tests.projections.test_task_board import (
    TASK_A,
    TASK_B,
    TASK_C,
    Run,
    step,
    story,
)

TASK_D = "task-9e107d9d-372b-4d6e-8a2f-2c5d1e7f3a40"

Loom = Callable[..., Result]


@pytest.fixture
def loom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Loom:
    """``loom`` with only the task commands, on an empty ``LOOM_HOME``."""
    monkeypatch.setenv("LOOM_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    group = click.Group("loom")
    register(group)
    runner = CliRunner()
    return lambda *args: runner.invoke(group, list(args))


@pytest.fixture
def home(tmp_path: Path, loom: Loom) -> Path:
    """Three finished runs and one that is retrying a subtask."""
    home = tmp_path / "home"
    store = EventStore(SQLiteBackend(home / "loom.db"))
    context = context_from(SteppingClock(), SequentialIds())
    for batch in story(context):
        store.append(batch)
    run = Run(TASK_D, context)
    for batch in (
        run.created("Write [the] docs"),
        run.planned(step("d1"), step("d2", "d1")),
        run.started("d1"),
        run.worked("d1"),
        run.verdict("d1", 1, 1, "README is empty"),
        run.retried("d1", 2, "fill the README"),
    ):
        store.append(batch)
    store.close()
    return home


def test_tasks_lists_every_task_newest_first(home: Path, loom: Loom) -> None:
    result = loom("tasks")
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "SUBTASKS", "TOKENS", "AGE", "GOAL"]
    assert [row.split()[0] for row in rows] == [TASK_D, TASK_C, TASK_B, TASK_A]
    assert rows[0].split()[1:4] == ["running", "0/2", "470"]
    assert "Write [the] docs" in rows[0]
    assert rows[1].split()[1:4] == ["failed", "0/1", "362"]
    assert rows[3].split()[1:4] == ["completed", "4/5", "1,550"]
    assert rows[3].endswith("Add a CLI")


def test_tasks_as_json_lines(home: Path, loom: Loom) -> None:
    result = loom("tasks", "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["task_id"] for r in rows] == [TASK_D, TASK_C, TASK_B, TASK_A]
    completed = rows[3]
    assert (completed["status"], completed["goal"]) == ("completed", "Add a CLI")
    assert (completed["subtasks_done"], completed["subtasks_total"]) == (4, 5)
    assert completed["tokens"] == 1550
    assert completed["outcome"] == "CLI added"


def test_no_tasks_yet(loom: Loom) -> None:
    result = loom("tasks")
    assert result.exit_code == 0, result.output
    assert "no tasks yet" in result.stdout
    assert loom("tasks", "--json").stdout == ""


@pytest.mark.parametrize(
    "key", [TASK_A, TASK_A.removeprefix("task-"), "task-1b4e", "1b4e28ba"]
)
def test_status_of_a_finished_task_by_id_or_prefix(
    home: Path, loom: Loom, key: str
) -> None:
    result = loom("status", key)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(f"{TASK_A}\n")
    assert "Add a CLI" in out
    assert "completed" in out
    assert "4/5 passed, 1 failed" in out
    assert "1,550 (1,300 prompt, 250 completion)" in out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line}
    assert lines["s2"][:5] == ["s2", "passed", "2", "big", "tier"]
    assert "tier 2 passed" in " ".join(lines["s2"])
    assert lines["s3"][:2] == ["s3", "failed"]
    assert "tests broke" in " ".join(lines["s3"])
    assert lines["s4"][:2] == ["s4", "passed"]
    assert out.rstrip().endswith("outcome: CLI added")


def test_status_of_a_running_task(home: Path, loom: Loom) -> None:
    result = loom("status", "9e10")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Write [the] docs" in out
    assert "retrying" in out
    assert "tier 1 failed: README is empty" in out
    assert "last reason" not in out
    assert "outcome" not in out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line}
    assert lines["d1"][:4] == ["d1", "retrying", "2", "small"]
    assert "fill the README" in " ".join(lines["d1"])
    assert lines["d2"][:4] == ["d2", "pending", "-", "-"]


def test_status_of_a_cancelled_task_as_json(home: Path, loom: Loom) -> None:
    result = loom("status", TASK_B, "--json")
    assert result.exit_code == 0, result.output
    task = json.loads(result.stdout)
    assert (task["task_id"], task["status"]) == (TASK_B, "cancelled")
    assert task["outcome"] == "asked to stop"
    assert task["last_reason"] == "user stop"
    assert [(s["subtask_id"], s["status"]) for s in task["subtasks"]] == [
        ("t1", "cancelled"),
        ("t2", "cancelled"),
    ]
    assert task["subtasks"][1]["depends_on"] == ["t1"]


def test_an_unknown_or_ambiguous_id_exits_2(home: Path, loom: Loom) -> None:
    unknown = loom("status", "nope")
    assert unknown.exit_code == 2
    assert "no task matches 'nope'" in unknown.stderr
    ambiguous = loom("status", "1b")
    assert ambiguous.exit_code == 2
    assert "'1b' matches 2 tasks" in ambiguous.stderr
    assert TASK_B in ambiguous.stderr
    assert loom("status", "nope", "--json").exit_code == 2


def test_an_unknown_id_exits_2_with_no_tasks_at_all(loom: Loom) -> None:
    result = loom("status", TASK_C)
    assert result.exit_code == 2
    assert f"no task matches {TASK_C!r}" in result.stderr


def test_age_is_given_in_its_largest_unit() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    ago = {s: (now - timedelta(seconds=s)).isoformat() for s in (5, 300, 7200)}
    assert [age(at, now) for at in ago.values()] == ["5s", "5m", "2h"]
    assert age("2025-12-30T00:00:00", now) == "3d"
    assert age("2026-01-03T00:00:00+00:00", now) == "0s"


def test_a_note_shows_its_first_line_that_says_something() -> None:
    answer = "```python\nprint('hello')\n```\n"
    assert headline(answer, 50) == "print('hello')"
    assert headline("\n  Wrote hello.py.\nIt prints hello.", 50) == "Wrote hello.py."
    assert headline("```\n```", 50) == ""
    assert headline("x" * 60, 10) == "xxxxxxx..."
