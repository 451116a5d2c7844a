"""Classify shell commands before an agent runs them: allow, ask or block.

The command is parsed with tree-sitter-bash and every part of it is judged:
each command of a list or pipeline, subshells and groups, command and
process substitutions, the code strings of ``bash -c`` and ``eval``, and the
commands hidden behind wrappers such as ``sudo``, ``env``, ``xargs`` or
``find -exec``. Quotes, escapes, brace expansions and variables assigned in
the same text are evaluated first, so ``r''m``, ``\\rm`` and ``X=rm; $X`` are
all seen as ``rm``.

The judgement is lexical and pure: paths are resolved against the workspace
path given, the home directory is inferred from it, and nothing is read from
the filesystem or the environment. The most severe part decides the verdict
(block over ask over allow); when unsure, the verdict is ask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from loom.domain._safety_scan import RANK, Scan
from loom.domain._safety_walk import scan_command

__all__ = ["Action", "CommandVerdict", "classify_command"]

Action = Literal["allow", "ask", "block"]


@dataclass(frozen=True)
class CommandVerdict:
    """What to do with a shell command, and why.

    Attributes:
        action: ``allow`` runs it, ``ask`` needs the user's confirmation,
            ``block`` refuses it.
        reason: A short explanation naming the part of the command that
            decided the action, meant for both the user and the model.
    """

    action: Action
    reason: str


def classify_command(command: str, workspace: str) -> CommandVerdict:
    """Classify a shell command an agent wants to run in ``workspace``.

    Args:
        command: The command line, as the agent would pass it to ``bash -c``.
        workspace: Absolute path of the workspace the command runs in; paths
            inside it may be written freely.

    Returns:
        The most severe verdict over all parts of the command, with the
        reason of the first part that earned it.
    """
    if not command.strip():
        return CommandVerdict("allow", "empty command")
    try:
        return _verdict(scan_command(command, workspace))
    except RecursionError:
        # Guarded against in the walk; should it still happen, fail closed.
        return CommandVerdict("ask", "is too deeply nested to inspect")


def _verdict(scan: Scan) -> CommandVerdict:
    worst = max(scan.findings, key=lambda finding: RANK[finding.action], default=None)
    if worst is not None and worst.action != "allow":
        return CommandVerdict(worst.action, worst.reason)
    names = ", ".join(dict.fromkeys(scan.commands)) or "no commands"
    return CommandVerdict("allow", f"only known-safe local commands: {names}")
