"""Running shell commands: judged first, killed as a group, their file changes recorded.

Every command is classified by :func:`loom.domain.safety.classify_command`:
blocked commands never run, risky ones run only with the approver's consent.
A command runs under ``/bin/bash -c`` in a process group of its own, in the
workspace, with stdin closed and stdout and stderr captured together (as a
terminal would show them). On timeout or cancellation the whole group gets
SIGTERM, then SIGKILL after a grace period; background processes still running
when the command ends are stopped the same way, so nothing outlives the call.

Around every command the workspace is scanned (:mod:`.scanner`) and each file
the command created, modified or deleted is recorded as ``file.changed`` with
cause "shell", its before and after bytes in the blob store, so undo covers
shell-made changes as it covers the file tools'. The two scans must bracket one
command, so the shell and git commands of one tool context run one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from loom.adapters.tools.base import Tool, ToolArgs, ToolContext, ToolError
from loom.adapters.tools.scanner import FileChange, WorkspaceScanner
from loom.domain.safety import classify_command

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_CAPTURE",
    "MAX_TIMEOUT",
    "Completed",
    "ShellExecute",
    "authorise",
    "report",
    "run_process",
    "run_tracked",
    "scanner_for",
]

MAX_TIMEOUT = 600.0
DEFAULT_TIMEOUT = 120.0
MAX_CAPTURE = 10 * 1024 * 1024
"""Output kept in memory per command; the rest is read and dropped."""

_KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL
_DRAIN_GRACE = 1.0  # seconds to wait for the last output once the group is gone
_POLL = 0.05  # seconds between checks on a process group
_SUMMARY_NAMES = 20
_SCANNER_ATTRIBUTE = "workspace_scanner"
_SIGNALS = frozenset(int(number) for number in signal.Signals)
# Nothing may wait for a terminal that is not there.
_QUIET_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "PAGER": "cat"}


class ShellArgs(ToolArgs):
    command: str = Field(min_length=1, description="The command line, run by bash.")
    timeout: float = Field(
        default=DEFAULT_TIMEOUT,
        gt=0,
        le=MAX_TIMEOUT,
        description=f"Seconds before the command is killed (at most {MAX_TIMEOUT:g}).",
    )
    cwd: str | None = Field(
        default=None,
        description="Directory to run in, relative to the workspace root (default: "
        "the root).",
    )


class ShellExecute(Tool):
    name = "shell_execute"
    description = (
        "Run a bash command in the workspace and return its exit code and output "
        "(stdout and stderr together). stdin is closed, so interactive programs "
        "fail; background processes are stopped when the command ends. Files the "
        "command changes are recorded and can be undone."
    )
    kind = "shell"
    Args = ShellArgs
    # Above the largest ``timeout`` argument plus kill grace and the two scans,
    # so the command's own timeout is what fires.
    timeout: ClassVar[float] = MAX_TIMEOUT + 60.0

    async def run(self, args: ShellArgs, ctx: ToolContext) -> str:
        await authorise(ctx, args.command)
        cwd = _working_dir(ctx, args.cwd)
        argv = ["/bin/bash", "-c", args.command]
        completed, summary = await run_tracked(ctx, argv, cwd, args.timeout)
        return report(completed, summary, args.timeout)


async def authorise(ctx: ToolContext, command: str) -> None:
    """Refuse a blocked command; ask the approver about a risky one."""
    verdict = classify_command(command, str(ctx.workspace.root))
    if verdict.action == "block":
        raise ToolError(f"refusing to run `{command}`: {verdict.reason}")
    if verdict.action == "ask":
        await ctx.confirm(f"run `{command}`", verdict.reason)


def _working_dir(ctx: ToolContext, cwd: str | None) -> Path:
    if cwd is None:
        return ctx.workspace.root
    real = ctx.workspace.resolve(cwd)
    if not real.is_dir():
        raise ToolError(f"cwd {cwd!r} is not a directory in the workspace")
    return real


def report(completed: Completed, summary: str, timeout: float) -> str:
    """The text the model sees, status first (the runner cuts long text's tail).

    Raises:
        ToolError: with the same text, when the command timed out.
    """
    lines = [_status(completed, timeout)]
    if completed.stray:
        lines.append("background processes it left running were stopped")
    if summary:
        lines.append(summary)
    output = completed.output.decode(errors="replace")
    if completed.dropped:
        output += (
            f"\n[output past {MAX_CAPTURE:,} bytes dropped: {completed.dropped:,}]"
        )
    lines.append(output if output.strip() else "(no output)")
    if completed.timed_out:
        raise ToolError("\n".join(lines))
    return "\n".join(lines)


def _status(completed: Completed, timeout: float) -> str:
    if completed.timed_out:
        return (
            f"timed out after {timeout:g} s; the command and its child processes "
            "were killed"
        )
    took = f"({completed.seconds:.2f} s)"
    if completed.exit_code < 0:
        number = -completed.exit_code
        name = signal.Signals(number).name if number in _SIGNALS else "?"
        return f"killed by signal {number} ({name}) {took}"
    return f"exit code {completed.exit_code} {took}"


# --- change tracking ---------------------------------------------------------


def scanner_for(ctx: ToolContext) -> WorkspaceScanner:
    """The context's workspace scanner, created on first use.

    It lives on the context, not in a module-level registry, because its index
    must match the blob store that holds its before-states: blobs named by
    events must be in the same store as the events. A context is one session's
    (or task's) view of one workspace, so the scanner's lifetime is right too.
    """
    scanner = getattr(ctx, _SCANNER_ATTRIBUTE, None)
    if not isinstance(scanner, WorkspaceScanner) or scanner.root != ctx.workspace.root:
        exclude = [] if ctx.loom_home is None else [ctx.loom_home]
        scanner = WorkspaceScanner(ctx.workspace.root, ctx.blobs, exclude=exclude)
        setattr(ctx, _SCANNER_ATTRIBUTE, scanner)
    return scanner


async def run_tracked(
    ctx: ToolContext,
    argv: Sequence[str],
    cwd: Path,
    limit: float,
    *,
    env: Mapping[str, str] | None = None,
) -> tuple[Completed, str]:
    """Run ``argv`` between two scans; record what it changed and summarise it."""
    scanner = scanner_for(ctx)
    async with scanner.exclusive:
        # Changes since the last scan were made by tools (recorded already) or
        # by someone else; either way not by this command, so not recorded.
        problem = await _refresh(scanner)
        summary = problem or ""
        try:
            completed = await run_process(argv, cwd=cwd, limit=limit, env=env)
        finally:
            # Also on cancellation: a killed command's changes are still undoable.
            if problem is None:
                summary = await _record(ctx, scanner)
    return completed, summary


async def _refresh(scanner: WorkspaceScanner) -> str | None:
    try:
        await scanner.changes()
    except Exception as error:  # detection must not stop the command
        return f"file changes are not being recorded: {type(error).__name__}: {error}"
    return None


async def _record(ctx: ToolContext, scanner: WorkspaceScanner) -> str:
    try:
        changes = await scanner.changes()
        recorder = ctx.changes
        for change in changes:
            await recorder.record_external(*change)
    except Exception as error:
        return f"file changes could not be recorded: {type(error).__name__}: {error}"
    return _summarise(changes, scanner)


def _summarise(changes: Sequence[FileChange], scanner: WorkspaceScanner) -> str:
    """One line naming the changed files (and what undo cannot restore)."""
    verbs = {"create": "created", "modify": "modified", "delete": "deleted"}
    named = [f"{verbs.get(c.kind, c.kind)} {c.path}" for c in changes]
    shown = ", ".join(named[:_SUMMARY_NAMES])
    if len(named) > _SUMMARY_NAMES:
        shown += f" and {len(named) - _SUMMARY_NAMES} more"
    parts = [f"files changed: {shown}"] if named else []
    unkept = [c.path for c in changes if _unkept(c)]
    if unkept:
        listed = ", ".join(unkept)
        parts.append(
            f"(no copy kept, too large or unreadable; undo cannot restore: {listed})"
        )
    if scanner.truncated:
        parts.append(f"(only {scanner.max_files:,} files of the workspace are watched)")
    return " ".join(parts)


def _unkept(change: FileChange) -> bool:
    return (change.kind != "create" and change.before is None) or (
        change.kind != "delete" and change.after is None
    )


# --- processes ---------------------------------------------------------------


@dataclass(frozen=True)
class Completed:
    """How a process ended and what it printed.

    Attributes:
        exit_code: the exit status; negative: killed by that signal.
        output: stdout and stderr as they came, at most ``MAX_CAPTURE`` bytes.
        dropped: bytes of output read past ``MAX_CAPTURE`` and dropped.
        seconds: wall time from start to exit.
        timed_out: the timeout fired and the process group was killed.
        stray: processes it left in its group were stopped after it exited.
    """

    exit_code: int
    output: bytes
    dropped: int
    seconds: float
    timed_out: bool
    stray: bool


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    limit: float,
    env: Mapping[str, str] | None = None,
) -> Completed:
    """Run ``argv`` in a new process group; kill the group after ``limit`` seconds
    or on cancellation."""
    started = time.monotonic()
    process = await _spawn(argv, cwd, env)
    capture = _Capture()
    assert process.stdout is not None
    reader = asyncio.create_task(capture.drain(process.stdout))
    try:
        timed_out = not await _exited_within(process, reader, limit)
        seconds = time.monotonic() - started
        if timed_out:
            await _stop_group(process)
        stray = await _finish(process, reader)
    except BaseException:  # cancelled: nothing may outlive the call
        await _stop_group(process)
        reader.cancel()
        raise
    assert process.returncode is not None
    return Completed(
        process.returncode, capture.output(), capture.dropped, seconds, timed_out, stray
    )


async def _spawn(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None
) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env={**os.environ, **_QUIET_ENV, **(env or {})},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise ToolError(f"{argv[0]} is not installed (or {cwd} is gone)") from None


async def _exited_within(
    process: asyncio.subprocess.Process, reader: asyncio.Task[None], limit: float
) -> bool:
    """Whether the process exits within ``limit`` seconds.

    ``process.wait()`` alone would also wait for the output pipe to close,
    which a background child can keep open long after the command exited, so
    ``returncode`` (set as soon as the child is reaped) is polled while the
    pipe stays open.
    """
    deadline = time.monotonic() + limit
    waiter = asyncio.ensure_future(process.wait())
    try:
        while process.returncode is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            watched = {waiter} if reader.done() else {waiter, reader}
            await asyncio.wait(
                watched, timeout=min(left, _POLL), return_when=asyncio.FIRST_COMPLETED
            )
        return True
    finally:
        waiter.cancel()


async def _finish(
    process: asyncio.subprocess.Process, reader: asyncio.Task[None]
) -> bool:
    """Stop what the command left running in its group; collect the last output."""
    stray = bool(_live_members(process.pid))
    if stray:
        await _stop_group(process)
    done, _ = await asyncio.wait({reader}, timeout=_DRAIN_GRACE)
    if not done:  # a process that left the group holds the pipe: stop waiting
        reader.cancel()
        _close_pipes(process)
    return stray


async def _stop_group(process: asyncio.subprocess.Process) -> None:
    """SIGTERM the group, SIGKILL it if anything is left after the grace period."""
    _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + _KILL_GRACE
    while time.monotonic() < deadline:
        if process.returncode is not None and not _live_members(process.pid):
            return
        await asyncio.sleep(_POLL)
    _signal_group(process.pid, signal.SIGKILL)
    for _ in range(int(_KILL_GRACE / _POLL)):  # SIGKILL lands at the next schedule
        if process.returncode is not None and not _live_members(process.pid):
            return
        await asyncio.sleep(_POLL)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _live_members(pgid: int) -> list[int]:
    """Processes of the group that are still running (zombies do not count)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return []
    # A zombie member makes killpg succeed, and an orphaned zombie lingers
    # where init does not reap (as in some containers): ask /proc instead.
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:  # no /proc (not Linux): trust killpg
        return [pgid]
    return [pid for pid in pids if _running_in_group(pid, pgid)]


def _running_in_group(pid: int, pgid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except OSError:
        return False
    # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    fields = stat[stat.rfind(b")") + 2 :].split()
    return len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X")


def _close_pipes(process: asyncio.subprocess.Process) -> None:
    transport = getattr(process, "_transport", None)  # no public way to close it
    if transport is not None:
        transport.close()


class _Capture:
    """Output up to ``MAX_CAPTURE`` bytes; past that, read and counted only."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self.dropped = 0

    async def drain(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            room = MAX_CAPTURE - self._size
            if room > 0:
                self._chunks.append(chunk[:room])
                self._size += min(room, len(chunk))
            self.dropped += max(0, len(chunk) - max(room, 0))

    def output(self) -> bytes:
        return b"".join(self._chunks)
