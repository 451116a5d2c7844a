"""The fixed texts of Loom's prompts, and the workspace summary."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["IDENTITY", "TOOL_GUIDANCE", "workspace_summary"]

IDENTITY = """\
You are Loom, a careful coding agent working in the user's workspace.
Rules:
- Use the tools to look before you change anything; never guess a file's content.
- Make the smallest change that does what was asked. Prefer edit_file for changes.
- Paths are relative to the workspace root. Do not touch files outside it.
- When you are done, answer briefly with what you did. Do not claim actions you did
  not take with a tool."""

TOOL_GUIDANCE = """\
Call one tool at a time and wait for its result. read_file shows line numbers;
do not copy them into edit_file. If a tool returns an error, read it and correct
the call instead of repeating it."""

_TREE_ENTRIES = 60


def workspace_summary(root: Path) -> str:
    """A short tree of the workspace and its git status, for the prompt."""
    lines = [f"Workspace: {root}"]
    entries = sorted(p for p in root.iterdir() if p.name != ".git")[:_TREE_ENTRIES]
    lines += [f"  {p.name}/" if p.is_dir() else f"  {p.name}" for p in entries]
    status = _git_status(root)
    if status is not None:
        lines.append("git status:" + ("\n" + status if status else " clean"))
    return "\n".join(lines)


def _git_status(root: Path) -> str | None:
    if not (root / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "status", "--short", "--branch"],
            cwd=root, capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return "\n".join(done.stdout.splitlines()[:30])
