"""Tier-1 verification of a subtask attempt: files, syntax, checks and claims.

:func:`verify_deterministic` needs no model. It reads files only through a
:class:`~loom.domain.verification.FileProbe` (the orchestrator passes
:class:`DiskProbe` on a normal run and a log-backed probe on replay) and runs
checks only through the orchestrator's runner, so a replay reaches the same
verdict without touching the workspace.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import tree_sitter_bash
from tree_sitter import Language, Parser, Tree

from loom.adapters.tools._code_langs import language_of, parse, syntax_problems
from loom.adapters.tools.workspace import Workspace
from loom.domain.errors import LoomError
from loom.domain.eventbase import Event
from loom.domain.events import PlannedSubtask
from loom.domain.verification import (
    CheckRunner,
    Claim,
    FileProbe,
    Verdict,
    check_reason,
    claim_reason,
    expected_paths,
    extract_claims,
    missing_reason,
    names_file,
    parse_problem,
    syntax_reason,
    unexecuted,
    written_paths,
)

__all__ = ["DiskProbe", "ProbeError", "syntax_problem", "verify_deterministic"]

_MAX_SYNTAX_REASONS = 10
# Parsed by parse_problem (stdlib); tree-sitter only judges the rest.
_STDLIB_KINDS = frozenset({".py", ".pyi", ".json", ".toml"})
_BASH_SUFFIXES = frozenset({".sh", ".bash"})
_TREE_SITTER_LANGUAGES = frozenset({"JavaScript", "TypeScript", "TSX", "Go", "Rust"})


class ProbeError(LoomError):
    """A workspace file exists but could not be read for verification."""


class DiskProbe:
    """Reads files of one workspace from disk, refusing paths that lead out of it.

    Args:
        workspace: the workspace root; paths are relative to it.
    """

    def __init__(self, workspace: Path) -> None:
        self._workspace = Workspace(workspace)

    async def read(self, path: str) -> bytes | None:
        """The bytes of ``path``, or None when it is missing or a directory.

        Raises:
            WorkspaceError: when ``path`` (or a symlink on it) leads out of the
                workspace.
            ProbeError: when the file exists but cannot be read.
        """
        real = self._workspace.resolve(path)
        return await asyncio.to_thread(_read, real, path)


def _read(real: Path, shown: str) -> bytes | None:
    try:
        return real.read_bytes() if real.is_file() else None
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None  # removed (or replaced) between the check and the read
    except OSError as error:
        raise ProbeError(f"cannot read {shown!r}: {error}") from error


# --- syntax --------------------------------------------------------------------


def syntax_problem(path: str, content: bytes) -> str | None:
    """The first syntax error of a file Loom can parse, None when it parses.

    Python, JSON and TOML go to :func:`loom.domain.verification.parse_problem`;
    JavaScript, TypeScript, Go, Rust and shell scripts to tree-sitter, where an
    error or missing node fails. Other files give None.
    """
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in _STDLIB_KINDS:
        return parse_problem(path, content)
    tree = _tree(suffix, path, content)
    if tree is None:
        return None
    problems = syntax_problems(tree, content)
    if not problems:
        return None
    first = problems[0]
    return f"line {first.line}, column {first.column}: {first.message}"


def _tree(suffix: str, path: str, content: bytes) -> Tree | None:
    if suffix in _BASH_SUFFIXES:
        return Parser(_bash()).parse(content)
    language = language_of(path)
    if language in _TREE_SITTER_LANGUAGES:
        return parse(language, content)
    return None


@functools.cache
def _bash() -> Language:
    return Language(tree_sitter_bash.language())


def _parses(path: str) -> bool:
    suffix = PurePosixPath(path).suffix.lower()
    return (
        suffix in _STDLIB_KINDS
        or suffix in _BASH_SUFFIXES
        or language_of(path) in _TREE_SITTER_LANGUAGES
    )


# --- the verifier --------------------------------------------------------------


async def verify_deterministic(
    subtask: PlannedSubtask,
    events: Sequence[Event],
    answer: str,
    probe: FileProbe,
    run_check: CheckRunner,
) -> Verdict:
    """Tier-1 verdict on one attempt; every problem is reported, not just the first.

    It fails when an expected file is missing, an expected file or a file the
    attempt wrote does not parse, a check command fails, or the answer claims
    an action that no
    executed tool call in ``events`` (the attempt's own stream) bears out.

    Args:
        subtask: the planned subtask, with its expected files and checks.
        events: the events of the attempt's agent stream, in order.
        answer: the executor's final answer.
        probe: reads workspace files (never the disk directly).
        run_check: runs one check command; called for each check, in order.

    Returns:
        The verdict: on failure the reasons are instructions for the retry; on
        success they say what was checked.
    """
    claims = extract_claims(answer)
    unborne = unexecuted(claims, events)
    expected = expected_paths(subtask)
    missing, unreadable = await _absent(expected, probe)
    # Expected files are parsed too: a retry that leaves a broken file from
    # an earlier attempt untouched must not pass.
    to_parse = list(dict.fromkeys([*written_paths(events), *expected]))
    parsed, broken = await _syntax(to_parse, probe)
    failed = await _failed_checks(subtask.checks, run_check)
    problems = [
        *(missing_reason(p, claimed=_claimed(p, unborne)) for p in missing),
        *unreadable,
        *broken,
        *failed,
        # A missing expected file already says its claim was not carried out.
        *(claim_reason(c) for c in unborne if not _about_any(c, missing)),
    ]
    if problems:
        return Verdict(False, tuple(problems))
    return Verdict(True, _checked(expected, parsed, subtask.checks, len(claims)))


def _claimed(path: str, claims: Sequence[Claim]) -> bool:
    return any(names_file(claim, path) for claim in claims)


def _about_any(claim: Claim, paths: Sequence[str]) -> bool:
    return any(names_file(claim, path) for path in paths)


async def _absent(paths: list[str], probe: FileProbe) -> tuple[list[str], list[str]]:
    """Expected files that do not exist, and reasons for those that cannot be read."""
    missing: list[str] = []
    unreadable: list[str] = []
    for path in paths:
        try:
            content = await probe.read(path)
        except LoomError as error:
            unreadable.append(f"the expected file {path} cannot be checked: {error}")
            continue
        if content is None:
            missing.append(path)
    return missing, unreadable


async def _syntax(paths: list[str], probe: FileProbe) -> tuple[list[str], list[str]]:
    """Written files that were parsed, and reasons for those that do not parse."""
    parsed: list[str] = []
    broken: list[str] = []
    for path in filter(_parses, paths):
        try:
            content = await probe.read(path)
        except LoomError:
            continue  # the attempt wrote it, so it is in the workspace; not its fault
        if content is None:
            continue  # deleted or renamed away later in the attempt
        parsed.append(path)
        problem = syntax_problem(path, content)
        if problem is not None:
            broken.append(syntax_reason(path, problem))
    if len(broken) > _MAX_SYNTAX_REASONS:
        more = len(broken) - _MAX_SYNTAX_REASONS
        broken = [*broken[:_MAX_SYNTAX_REASONS], f"{more} more files do not parse"]
    return parsed, broken


async def _failed_checks(commands: Sequence[str], run_check: CheckRunner) -> list[str]:
    reasons: list[str] = []
    for command in commands:
        result = await run_check(command)
        if not result.ok:
            reasons.append(check_reason(command, result.output))
    return reasons


def _checked(
    expected: list[str], parsed: list[str], checks: Sequence[str], claims: int
) -> tuple[str, ...]:
    done = [
        f"expected files exist: {', '.join(expected)}" if expected else "",
        f"changed files parse: {', '.join(parsed)}" if parsed else "",
        "checks passed: " + ", ".join(f"`{c}`" for c in checks) if checks else "",
        f"{claims} claimed action(s) match executed tool calls",
    ]
    return tuple(line for line in done if line)
