"""``loom cowork`` in line mode, driven through piped input like a script would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cowork(
    home: Path, workspace: Path, script: str, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loom", *args],
        input=script,
        capture_output=True,
        text=True,
        env={**os.environ, "LOOM_HOME": str(home), "COLUMNS": "200"},
        cwd=workspace,
        timeout=300,
    )


def test_piped_session_with_commands_then_resume(tmp_path: Path) -> None:
    home, workspace = tmp_path / "home", tmp_path / "ws"
    workspace.mkdir()
    (workspace / "notes.txt").write_text("milk\n")
    first = cowork(
        home, workspace, "/help\nSay hello.\n/sessions\n/nonsense\n/quit\n",
        "cowork", "-w", str(workspace),
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "/resume ID" in out  # the help text
    assert "unknown command /nonsense" in out
    stream = out.split("resume with: loom --resume ")[1].split()[0]
    assert stream.startswith("session-")
    assert f"{stream}  " in out  # listed by /sessions
    assert "1 turns" in out
    listed = cowork(home, workspace, "", "sessions", "--json")
    assert stream in listed.stdout
    again = cowork(home, workspace, "Thanks.\n", "--resume", stream)
    assert again.returncode == 0, again.stderr
    assert f"session {stream}" in again.stdout
    events = cowork(home, workspace, "", "events", stream)
    assert "session.resumed" in events.stdout
    assert events.stdout.count("user.messaged") == 2


def test_resuming_an_unknown_session_is_a_clear_error(tmp_path: Path) -> None:
    result = cowork(tmp_path / "home", tmp_path, "", "--resume", "session-nope")
    assert result.returncode == 2
    assert "no session named 'session-nope'" in result.stderr
