"""``loom run`` end to end on real SmolLM2: the embedded default and a llama.cpp server.

The tiny model is often wrong; what is tested is that the harness survives it:
the run ends with an outcome and an exit code (never a crash), every step is in
the log, and ``loom replay`` reproduces the run event for event.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from loom.adapters.eventstore.backends import SQLiteBackend
from loom.adapters.eventstore.store import EventStore

GOAL = "create hello.py that prints hello"


def loom(
    home: Path, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["loom", *args],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=cwd,
        env={**os.environ, "LOOM_HOME": str(home)},
    )


def task_id_of(home: Path) -> str:
    listed = loom(home, "tasks", "--json")
    return str(json.loads(listed.stdout.splitlines()[0])["task_id"])


def assert_recorded_and_replayable(
    home: Path, done: subprocess.CompletedProcess[str]
) -> None:
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    task = task_id_of(home)
    assert task in done.stdout  # printed as soon as it started
    store = EventStore(SQLiteBackend(home / "loom.db"))
    try:
        types = [e.type for e in store.read_stream(task)]
    finally:
        store.close()
    assert types[0] == "task.created"
    assert types[-1] == ("task.completed" if done.returncode == 0 else "task.failed")
    replayed = loom(home, "replay", task)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert replayed.stdout.startswith("identical: ")


def test_the_readme_goal_runs_on_the_embedded_default(tmp_path: Path) -> None:
    home, workspace = tmp_path / "home", tmp_path / "ws"

    done = loom(home, "run", GOAL, "-w", str(workspace))

    assert_recorded_and_replayable(home, done)
    if done.returncode == 0:
        assert (workspace / "hello.py").exists()


def test_a_run_through_a_llama_cpp_server_replays_as_identical(
    llama_server: str, tmp_path: Path
) -> None:
    home, workspace = tmp_path / "home", tmp_path / "ws"
    workspace.mkdir()
    (workspace / "loom.toml").write_text(
        "[models.smollm2]\n"
        'provider = "openai_compatible"\n'
        f'base_url = "{llama_server}"\n'
        'model = "smollm2"\n'
        "context_length = 4096\n"
        "max_tokens = 512\n"
        'structured_output = "json_object"\n'
    )

    done = loom(home, "run", GOAL, "-w", str(workspace), cwd=workspace)

    assert_recorded_and_replayable(home, done)


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
