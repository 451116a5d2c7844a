"""The line-mode cowork client: a REPL over the session engine.

Used by ``loom cowork --plain`` and whenever stdout is not a terminal. It reads
lines from stdin (so piped scripts work), streams the model's text, shows tool
calls and coloured diffs, asks for approvals (y/n/a), and understands slash
commands. Ctrl-C cancels the running turn; at the prompt it quits.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from rich.console import Console
from rich.syntax import Syntax

from loom.app.session import SessionEngine
from loom.domain.eventbase import Event
from loom.domain.events import (
    ContextTrimmed,
    DoomLoopDetected,
    ModelCallFailed,
    ModelCallWarned,
    ToolCallCompleted,
    ToolCallDenied,
    ToolCallInterrupted,
    ToolCallRequested,
    TurnCancelled,
)
from loom.domain.models import Delta, TextDelta, ThinkingDelta
from loom.domain.ports import ApprovalAnswer, ApprovalRequest

__all__ = [
    "HELP",
    "Command",
    "LineClient",
    "LineInput",
    "TerminalApprovals",
    "TerminalQuestions",
]

HELP = """\
Commands:
  /help            this help
  /sessions        list sessions
  /new             start a new session in this workspace
  /resume ID       continue another session
  /undo            undo the last file change of this session
  /model NAME      use another configured model
  /quit            leave (the session is saved; resume it with loom --resume ID)
Anything else is a message to the model. Ctrl-C stops the model or tool."""


class LineInput:
    """Lines from stdin without blocking the event loop; None at end of input."""

    async def read(self, prompt: str, console: Console) -> str | None:
        console.print(prompt, end="", markup=False, highlight=False)
        line: str = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return None
        return line.rstrip("\n")


@dataclass
class TerminalApprovals:
    """Implements ``ApprovalPort`` by asking at the prompt: y, n[: reason] or a."""

    console: Console
    lines: LineInput

    async def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        shown = json.dumps(request.arguments, ensure_ascii=False)
        self.console.print(
            f"[bold yellow]approve[/] {request.tool} {shown[:300]} ({request.reason})"
        )
        while True:
            line = await self.lines.read(
                "[y]es / [n]o / [a]lways for this session: ", self.console
            )
            if line is None:
                return ApprovalAnswer("deny", "no answer (input ended)")
            answer, _, reason = line.strip().partition(":")
            match answer.strip().lower():
                case "y" | "yes":
                    return ApprovalAnswer("approve")
                case "a" | "always":
                    return ApprovalAnswer("always")
                case "n" | "no":
                    return ApprovalAnswer("deny", reason.strip())
            self.console.print("please answer y, n (optionally n: reason) or a")


@dataclass
class TerminalQuestions:
    """Implements ``QuestionPort``: shows the model's question, reads an answer."""

    console: Console
    lines: LineInput

    async def ask(self, question: str) -> str:
        self.console.print(f"[bold magenta]question[/] {question}")
        answer = await self.lines.read("your answer> ", self.console)
        return answer if answer is not None else "(no answer: input ended)"


Command = Callable[[str], Awaitable[bool]]


@dataclass
class LineClient:
    """Shows a session's deltas and events and runs the REPL."""

    console: Console
    engine: SessionEngine
    lines: LineInput = field(default_factory=LineInput)
    commands: dict[str, Command] = field(default_factory=dict)
    _streaming: bool = False

    def on_delta(self, delta: Delta) -> None:
        if isinstance(delta, TextDelta):
            self._streaming = True
            self.console.print(delta.text, end="", markup=False, highlight=False)
        elif isinstance(delta, ThinkingDelta):
            self.console.print(
                delta.text, end="", style="dim", markup=False, highlight=False
            )

    def on_event(self, event: Event) -> None:
        if self._streaming:
            self.console.print()
            self._streaming = False
        show = _DISPLAY.get(type(event))
        if show is not None:
            show(self.console, event)

    async def run(self) -> None:
        self.console.print(f"[dim]session {self.engine.stream} · /help for commands[/]")
        while True:
            line = await self.lines.read("you> ", self.console)
            if line is None:
                return
            text = line.strip()
            if not text:
                continue
            if text.startswith("/"):
                if not await self._command(text):
                    return
                continue
            await self._turn(text)

    async def _turn(self, text: str) -> None:
        loop = asyncio.get_running_loop()
        with _cancel_on_sigint(loop, self.engine):
            outcome = await asyncio.create_task(self.engine.send(text))
        if self._streaming:
            self.console.print()
            self._streaming = False
        if outcome.status == "failed":
            self.console.print(
                f"model call failed: {outcome.answer}", style="red", markup=False
            )
        if outcome.status == "loop_limit":
            self.console.print(
                "[yellow]stopped: the tool-call limit for one turn was reached[/]"
            )

    async def _command(self, text: str) -> bool:
        name, _, argument = text[1:].partition(" ")
        if name in ("quit", "exit", "q"):
            self.console.print(
                f"[dim]resume with: loom --resume {self.engine.stream}[/]"
            )
            return False
        if name == "help":
            self.console.print(HELP, markup=False)
            return True
        handler = self.commands.get(name)
        if handler is None:
            self.console.print(f"unknown command /{name}; /help lists them")
            return True
        return await handler(argument.strip())


class _cancel_on_sigint:
    """While a turn runs, Ctrl-C cancels it instead of killing Loom."""

    def __init__(self, loop: asyncio.AbstractEventLoop, engine: SessionEngine) -> None:
        self.loop, self.engine = loop, engine
        self.installed = False

    def __enter__(self) -> None:
        try:
            self.loop.add_signal_handler(signal.SIGINT, self.engine.cancel)
            self.installed = True
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or no signals here

    def __exit__(self, *exc: object) -> None:
        if self.installed:
            self.loop.remove_signal_handler(signal.SIGINT)


def _show_request(console: Console, event: Event) -> None:
    assert isinstance(event, ToolCallRequested)
    shown = json.dumps(event.arguments, ensure_ascii=False)
    console.print(f"[cyan]▶ {event.tool}[/] {shown[:400]}", highlight=False)


def _show_result(console: Console, event: Event) -> None:
    assert isinstance(event, ToolCallCompleted)
    text = event.result
    style = "red" if event.is_error else "dim"
    if "\n@@ " in text or text.startswith("--- "):
        head, _, diff = text.partition("\n")
        console.print(head, style=style, markup=False)
        console.print(
            Syntax(diff, "diff", theme="ansi_dark", background_color="default")
        )
        return
    lines = text.splitlines()
    more = f"\n… {len(lines) - 20} more lines" if len(lines) > 20 else ""
    console.print(
        "\n".join(lines[:20]) + more, style=style, markup=False, highlight=False
    )


def _show_note(
    style: str, text: Callable[[Event], str]
) -> Callable[[Console, Event], None]:
    def show(console: Console, event: Event) -> None:
        console.print(text(event), style=style, markup=False)

    return show


_DISPLAY: dict[type[Event], Callable[[Console, Event], None]] = {
    ToolCallRequested: _show_request,
    ToolCallCompleted: _show_result,
    ToolCallDenied: _show_note(
        "yellow", lambda e: f"denied {getattr(e, 'reason', '')}"
    ),
    ToolCallInterrupted: _show_note(
        "yellow", lambda e: f"interrupted: {getattr(e, 'reason', '')}"
    ),
    TurnCancelled: _show_note("yellow", lambda e: "cancelled"),
    DoomLoopDetected: _show_note(
        "yellow", lambda e: f"repeated call of {getattr(e, 'tool', '')} stopped"
    ),
    ModelCallWarned: _show_note(
        "yellow", lambda e: f"warning: {getattr(e, 'warning', '')}"
    ),
    ModelCallFailed: _show_note(
        "red", lambda e: f"model call failed: {getattr(e, 'error', '')}"
    ),
    ContextTrimmed: _show_note(
        "dim",
        lambda e: (
            f"{len(getattr(e, 'turns', []))} earlier turns left the window (recallable)"
        ),
    ),
}
