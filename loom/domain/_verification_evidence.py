"""Matching claims against the attempt's events: what was really executed.

Private helper of :mod:`loom.domain.verification`, which re-exports
:func:`unexecuted` and :func:`names_file`. The evidence is the commands of the
``shell_execute`` and ``git_command`` calls that completed, whether any shell
command ran at all, and the paths the attempt changed (recorded file changes,
and the paths of file tools that succeeded). Commands are compared word by
word, after the small normalizations in :func:`_normal_words`.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from loom.domain._verification_claims import Claim
from loom.domain._verification_paths import normalize_path
from loom.domain.eventbase import Event
from loom.domain.events import FileChanged, ToolCallCompleted, ToolCallRequested

__all__ = ["names_file", "unexecuted"]


@dataclass(frozen=True)
class _Evidence:
    commands: tuple[tuple[str, ...], ...]
    shell_ran: bool
    paths: tuple[str, ...]


_FILE_TOOLS = {
    "write_file": ("path",),
    "edit_file": ("path",),
    "delete_file": ("path",),
    "move_file": ("source", "destination"),
}


def _evidence(events: Sequence[Event]) -> _Evidence:
    completed = {e.call_id: e for e in events if isinstance(e, ToolCallCompleted)}
    requests = [
        e for e in events if isinstance(e, ToolCallRequested) and e.call_id in completed
    ]
    commands = tuple(c for c in map(_executed_command, requests) if c)
    shell_ran = any(r.tool == "shell_execute" for r in requests)
    paths = [p for e in events if isinstance(e, FileChanged) for p in _changed(e)]
    for request in requests:
        if not completed[request.call_id].is_error:
            paths += _tool_paths(request)
    return _Evidence(commands, shell_ran, tuple(normalize_path(p) for p in paths))


def _executed_command(request: ToolCallRequested) -> tuple[str, ...]:
    arguments = request.arguments
    if request.tool == "shell_execute" and isinstance(arguments.get("command"), str):
        return _command_words(arguments["command"])
    args = arguments.get("args")
    if request.tool == "git_command" and isinstance(args, list):
        words = [str(a) for a in args]
        return _normal_words(words if words[:1] == ["git"] else ["git", *words])
    return ()


def _changed(event: FileChanged) -> list[str]:
    return [event.path, *([event.new_path] if event.new_path else [])]


def _tool_paths(request: ToolCallRequested) -> list[str]:
    names = _FILE_TOOLS.get(request.tool, ())
    return [v for n in names if isinstance(v := request.arguments.get(n), str)]


def _command_words(command: str) -> tuple[str, ...]:
    try:
        words = shlex.split(command.removeprefix("$ "))
    except ValueError:  # an unclosed quote: compare the plain words
        words = command.removeprefix("$ ").split()
    return _normal_words(words)


def _normal_words(words: Sequence[str]) -> tuple[str, ...]:
    normal: list[str] = []
    for word in words:
        if len(word) > 2 and word.startswith("./"):
            word = word[2:]
        if len(word) > 1 and word.endswith("/"):
            word = word.rstrip("/") or "/"
        normal.append(re.sub(r"^python3(\.\d+)?$", "python", word))
    return tuple(normal)


def _within(big: tuple[str, ...], small: tuple[str, ...]) -> bool:
    width = len(small)
    return width > 0 and any(
        big[i : i + width] == small for i in range(len(big) - width + 1)
    )


def _satisfied(claim: Claim, evidence: _Evidence) -> bool:
    if claim.kind == "run":
        return evidence.shell_ran
    if claim.kind == "command":
        words = _command_words(claim.subject)
        return any(_within(c, words) or _within(words, c) for c in evidence.commands)
    return _path_done(claim.subject, evidence.paths)


def names_file(claim: Claim, path: str) -> bool:
    """Whether ``claim`` is a file claim about ``path`` (same path, or same name)."""
    if claim.kind != "file":
        return False
    path = normalize_path(path)
    return _same_file(claim.subject, path) or (
        posixpath.basename(claim.subject) == posixpath.basename(path)
    )


def _same_file(a: str, b: str) -> bool:
    return a == b or a.endswith("/" + b) or b.endswith("/" + a)


def _path_done(path: str, changed: Sequence[str]) -> bool:
    if any(_same_file(path, p) for p in changed):
        return True
    name = posixpath.basename(path)
    return len({p for p in changed if posixpath.basename(p) == name}) == 1


def unexecuted(claims: Sequence[Claim], events: Sequence[Event]) -> list[Claim]:
    """The claims that no executed tool call in ``events`` bears out."""
    evidence = _evidence(events)
    return [claim for claim in claims if not _satisfied(claim, evidence)]
