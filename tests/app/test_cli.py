"""The ``loom`` command, run as a real subprocess against a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loom import __version__
from loom.adapters.determinism import SequentialIds, SteppingClock, context_from
from loom.adapters.eventstore.backends import SQLiteBackend
from loom.adapters.eventstore.store import EventStore
from loom.domain.eventbase import StreamCursor
from loom.domain.events import SessionStarted, TaskCreated, UserMessaged


def loom(
    home: Path, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loom", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "LOOM_HOME": str(home)},
        cwd=cwd or home,
        timeout=60,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    store = EventStore(SQLiteBackend(home / "loom.db"))
    context = context_from(SteppingClock(), SequentialIds())
    session = StreamCursor("session-1", 0, context)
    task = StreamCursor("task-2", 0, context)
    store.append([session.new(SessionStarted, workspace="/w", title="chat")])
    store.append([task.new(TaskCreated, goal="build", workspace="/w")])
    store.append([session.new(UserMessaged, text="héllo")])
    store.close()
    return home


def test_version_and_help(home: Path) -> None:
    assert loom(home, "--version").stdout.strip() == f"loom, version {__version__}"
    helped = loom(home, "--help")
    assert helped.returncode == 0
    assert "events" in helped.stdout


def test_events_prints_the_whole_log_in_order(home: Path) -> None:
    result = loom(home, "events")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert "session-1@1  session.started" in lines[0]
    assert "task-2@1  task.created" in lines[1]
    assert "héllo" in lines[2]


def test_events_as_json_lines_for_one_stream_since_a_position(home: Path) -> None:
    result = loom(home, "events", "session-1", "--json")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["position"], r["type"]) for r in rows] == [
        (1, "session.started"),
        (3, "user.messaged"),
    ]
    assert rows[1]["data"] == {"text": "héllo"}
    assert rows[1]["stream"] == "session-1"
    assert rows[1]["version"] == 2
    later = loom(home, "events", "--since", "1", "--json")
    assert [json.loads(line)["position"] for line in later.stdout.splitlines()] == [
        2,
        3,
    ]


def test_an_unknown_stream_is_a_clear_error_with_exit_code_2(home: Path) -> None:
    result = loom(home, "events", "session-404")
    assert result.returncode == 2
    assert "no stream named 'session-404'" in result.stderr


def test_a_corrupt_config_names_the_file_and_key(home: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "loom.toml").write_text('[store]\nurl = "mysql://nope"\n')
    result = loom(home, "events", cwd=work)
    assert result.returncode == 2
    assert str(work / "loom.toml") in result.stderr
    assert "store.url" in result.stderr
    (work / "loom.toml").write_text("[store\n")
    broken = loom(home, "events", cwd=work)
    assert broken.returncode == 2
    assert "not valid TOML" in broken.stderr


def test_follow_prints_events_appended_by_another_process(home: Path) -> None:
    follower = subprocess.Popen(
        [sys.executable, "-m", "loom", "events", "--follow", "--json", "--since", "3"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "LOOM_HOME": str(home)},
    )
    try:
        time.sleep(1.0)
        store = EventStore(SQLiteBackend(home / "loom.db"))
        context = context_from(SteppingClock(), SequentialIds(100))
        store.append([StreamCursor("task-2", 1, context).new(UserMessaged, text="new")])
        store.close()
        assert follower.stdout is not None
        line = follower.stdout.readline()
        assert json.loads(line)["data"] == {"text": "new"}
    finally:
        follower.kill()
        follower.communicate()
