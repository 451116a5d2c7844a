"""``loom models`` against the embedded default and unreachable servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def loom(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loom", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "LOOM_HOME": str(home)},
        cwd=cwd,
        timeout=120,
    )


def test_the_embedded_default_is_listed_checked_and_explained_once(
    tmp_path: Path,
) -> None:
    first = loom(tmp_path / "home", tmp_path, "models", "--check")
    assert first.returncode == 0, first.stderr
    row = next(line for line in first.stdout.splitlines() if line.startswith("smollm2"))
    assert "llamacpp" in row
    assert "planner, executor, verifier, extractor" in row
    assert "yes" in row
    assert "8192" in row
    assert "embedded default model" in first.stderr
    again = loom(tmp_path / "home", tmp_path, "models")
    assert "embedded default model" not in again.stderr


def test_an_unreachable_server_fails_the_check(tmp_path: Path) -> None:
    (tmp_path / "loom.toml").write_text(
        '[models.local]\nprovider = "openai_compatible"\n'
        'base_url = "http://127.0.0.1:9/v1"\nmodel = "m"\nroles = ["executor"]\n'
    )
    result = loom(tmp_path / "home", tmp_path, "models", "--check")
    assert result.returncode == 1
    row = next(line for line in result.stdout.splitlines() if line.startswith("local"))
    assert "NO" in row
    assert "127.0.0.1:9" in result.stdout
