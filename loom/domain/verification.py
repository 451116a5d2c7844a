"""Tier-1 ("deterministic") verification of a subtask attempt: the pure parts.

The executor model never checks its own work. Tier 1 is the cheap verifier that
needs no model: expected files exist, changed files parse, the plan's check
commands pass, and every action the executor's answer claims shows up as an
executed tool call. The last one matters most with weak local models, which
often write "I ran the tests and they pass" without calling any tool.

This module holds what needs no I/O: the verdict and port types, path and
syntax helpers, and the claim finder (:func:`unexecuted_claims`). Its private
helpers live next to it: paths in ``_verification_paths``, the claim type and
word tables in ``_verification_claims``, the prose parser in
``_verification_prose`` and the evidence matcher in ``_verification_evidence``;
their public names are re-exported here. The adapter
``loom.adapters.verification.deterministic`` combines them with a
:class:`FileProbe` and a check runner. Reasons are written as instructions,
because they go back to the executor as feedback for its next attempt.
"""

from __future__ import annotations

import json
import posixpath
import re
import tomllib
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from loom.domain._verification_claims import Claim, ClaimKind
from loom.domain._verification_evidence import names_file, unexecuted
from loom.domain._verification_paths import (
    expected_paths,
    normalize_path,
    written_paths,
)
from loom.domain._verification_prose import extract_claims
from loom.domain.eventbase import Event

__all__ = [
    "CheckResult",
    "CheckRunner",
    "Claim",
    "ClaimKind",
    "FileProbe",
    "Verdict",
    "check_reason",
    "claim_reason",
    "expected_paths",
    "extract_claims",
    "missing_reason",
    "names_file",
    "normalize_path",
    "parse_problem",
    "syntax_reason",
    "unexecuted",
    "unexecuted_claims",
    "written_paths",
]

OUTPUT_TAIL = 800
"""Characters of a failed check's output quoted back to the executor."""


@dataclass(frozen=True)
class CheckResult:
    """How one check command ended: whether it succeeded, and what it printed."""

    ok: bool
    output: str


CheckRunner = Callable[[str], Awaitable[CheckResult]]
"""Runs one check command (the orchestrator records it as a tool call)."""


class FileProbe(Protocol):
    """Reads workspace files for the verifier: from disk, or rebuilt from the log."""

    async def read(self, path: str) -> bytes | None:
        """The bytes of ``path`` (relative to the workspace), None when missing.

        Raises:
            LoomError: when the path cannot be read, e.g. it leads out of the
                workspace.
        """
        ...


@dataclass(frozen=True)
class Verdict:
    """A verifier's decision on one attempt.

    Attributes:
        passed: whether the attempt passed.
        reasons: on failure, what to fix (sent to the executor as feedback); on
            success, what was checked.
    """

    passed: bool
    reasons: tuple[str, ...]


# --- syntax --------------------------------------------------------------------

# Files that are JSON with comments by convention, which json.loads would reject.
_JSONC = re.compile(
    r"(^|/)(tsconfig[^/]*|jsconfig[^/]*)\.json$|(^|/)\.(vscode|devcontainer)/"
)


def parse_problem(path: str, content: bytes) -> str | None:
    """The first syntax error of a Python, JSON or TOML file, None when it parses.

    Other kinds of file (and JSON-with-comments files such as ``tsconfig.json``)
    are not judged here and give None.
    """
    suffix = posixpath.splitext(path)[1].lower()
    if suffix in (".py", ".pyi"):
        return _python_problem(path, content)
    if suffix == ".json" and not _JSONC.search(normalize_path(path)):
        return _json_problem(content)
    if suffix == ".toml":
        return _toml_problem(content)
    return None


def _python_problem(path: str, content: bytes) -> str | None:
    try:
        # Warnings (invalid escapes...) are not errors, and must not leak.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(content, path, "exec", dont_inherit=True)
    except SyntaxError as error:
        code = (error.text or "").strip()[:80]
        where = f"line {error.lineno}: " if error.lineno else ""
        return f"{where}{error.msg}" + (f": {code}" if code else "")
    except ValueError as error:  # NUL bytes
        return str(error)
    except (RecursionError, MemoryError):
        return None  # too deep to judge here; the checks still run it
    return None


def _json_problem(content: bytes) -> str | None:
    try:
        json.loads(content)
    except UnicodeDecodeError:
        return "not valid UTF-8 text"
    except json.JSONDecodeError as error:
        return f"line {error.lineno}, column {error.colno}: {error.msg}"
    return None


def _toml_problem(content: bytes) -> str | None:
    try:
        tomllib.loads(content.decode("utf-8"))
    except UnicodeDecodeError:
        return "not valid UTF-8 text"
    except tomllib.TOMLDecodeError as error:
        return str(error)
    return None


# --- reasons -------------------------------------------------------------------


def missing_reason(path: str, *, claimed: bool = False) -> str:
    """Feedback for an expected file that does not exist."""
    said = (
        " (your answer says you wrote it, but no tool call created it)"
        if claimed
        else ""
    )
    return f"{path} was expected but does not exist{said}; create it with write_file"


def syntax_reason(path: str, problem: str) -> str:
    """Feedback for a changed file that does not parse."""
    return f"{path} does not parse ({problem}); fix it with edit_file"


def check_reason(command: str, output: str) -> str:
    """Feedback for a failed check command, quoting the end of its output."""
    text = output.strip()
    if len(text) > OUTPUT_TAIL:
        text = "…" + text[-OUTPUT_TAIL:]
    shown = text or "(no output)"
    return (
        f"the check `{command}` failed; make it pass. The end of its output:\n{shown}"
    )


def claim_reason(claim: Claim) -> str:
    """Feedback for a claim nothing in the attempt bears out."""
    if claim.kind == "command":
        return (
            f"your answer says you ran `{claim.subject}`, but this attempt never "
            "executed it; run it with shell_execute and report its real output "
            "instead of describing it"
        )
    if claim.kind == "file":
        return (
            f"your answer says you {claim.verb} {claim.subject}, but this attempt "
            f"recorded no change to {claim.subject}; make the change with a tool "
            "(write_file, edit_file...) instead of describing it"
        )
    return (
        f'your answer says "{claim.subject}", but this attempt executed no shell '
        "command; run it with shell_execute and report the real result"
    )


def unexecuted_claims(answer: str, events: Sequence[Event]) -> list[str]:
    """Feedback for every action ``answer`` claims that ``events`` do not show.

    A claimed command is borne out by a ``shell_execute`` or ``git_command``
    call that was requested and completed (error or not) whose command contains
    the claimed one or is contained in it; a claimed file action by a recorded
    change to that path (or the one changed file with its name); "I ran the
    tests" or "all tests pass" by any completed ``shell_execute`` call.
    """
    return [claim_reason(c) for c in unexecuted(extract_claims(answer), events)]
