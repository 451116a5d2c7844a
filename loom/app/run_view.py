"""The display of ``loom run``: the plan, each subtask's state, what it is doing.

On a terminal :class:`RunView` redraws a ``rich.live.Live`` view four times a
second. Anywhere else (CI logs, a pipe) it prints one plain line per significant
event instead, so a log reads top to bottom. :func:`render_summary` is what is
shown once the run has ended. The plain lines live in ``_run_plain``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text
from rich.tree import Tree

from loom.app._run_plain import _first_line, _plain_lines
from loom.app._run_summary import (
    FileStat,
    RunState,
    Status,
    SubtaskState,
    file_stats,
    format_duration,
    summary_of,
)
from loom.domain.eventbase import Event
from loom.domain.events import (
    ModelCallCompleted,
    ModelCallStarted,
    SubtaskStarted,
    TaskCancelled,
    TaskCompleted,
    TaskFailed,
    ToolCallCompleted,
    ToolCallRequested,
)
from loom.domain.models import Delta, TextDelta, ThinkingDelta

__all__ = ["FileStat", "RunView", "file_stats", "render_summary"]

_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_MARKERS: dict[Status, tuple[str, str]] = {
    "pending": ("·", "dim"),
    "running": ("▶", "cyan"),
    "verifying": ("◎", "blue"),
    "passed": ("✓", "green"),
    "failed": ("✗", "red"),
    "retrying": ("↻", "yellow"),
    "blocked": ("⊘", "red"),
    "cancelled": ("■", "yellow"),
}
_NAMED: frozenset[Status] = frozenset(("verifying", "retrying", "blocked", "cancelled"))
_RANK: dict[Status, int] = {"pending": 1, "blocked": 1, "passed": 2, "cancelled": 2}
_KEEP = 2000  # characters of an unfinished output line worth keeping
_ENDED = (TaskCompleted, TaskFailed, TaskCancelled)


def render_summary(
    events: Iterable[Event], stats: Sequence[FileStat], *, elapsed: float | None = None
) -> RenderableType:
    """What a run did, for when it has ended.

    Args:
        events: the task's events from all its streams, in order.
        stats: the net change of each file (see :func:`file_stats`).
        elapsed: seconds the run took; by default, from the events' timestamps.

    Returns:
        The outcome, each subtask's final status, attempts and verdicts, the
        diffstat, tokens and time, and the commands that inspect and undo it.
    """
    state = RunState()
    for event in events:
        state.apply(event)
    return summary_of(state, stats, elapsed)


@dataclass
class _Activity:
    """What a running subtask's agent is doing now; streamed, never recorded."""

    tool: str = ""
    line: str = ""
    tail: str = ""
    thinking: bool = False

    def feed(self, text: str, thinking: bool) -> None:
        if thinking != self.thinking:  # reasoning gave way to the answer
            self.line, self.tail, self.thinking = "", "", thinking
        *done, tail = (self.tail + text).split("\n")
        complete = [line for line in done if line.strip()]
        if complete:
            self.line = complete[-1]
        self.tail = tail[-_KEEP:]

    def answered(self, text: str) -> None:
        lines = [line for line in text.splitlines() if line.strip()]
        if lines:
            self.line, self.tail, self.thinking = lines[-1][-_KEEP:], "", False

    def shown(self) -> Text | None:
        if self.tool:
            return Text(f"▶ {self.tool}", style="cyan")
        text = (self.tail if self.tail.strip() else self.line).strip()
        if not text:
            return None
        return Text(text, style="dim italic" if self.thinking else "dim")


class RunView:
    """The live display of one autonomous run.

    Feed it every event of the task (all streams) with :meth:`on_event` and every
    streamed delta with :meth:`on_delta`; run the display with ``with view:`` or
    :meth:`start` / :meth:`stop`. The events are taken on the caller's thread
    while ``Live`` redraws on its own, hence the lock.
    """

    def __init__(
        self,
        console: Console,
        *,
        goal: str = "",
        clock: Callable[[], float] = time.monotonic,
        max_rows: int | None = None,
    ) -> None:
        self.state = RunState()
        self.state.goal = goal
        self._console, self._clock, self._max_rows = console, clock, max_rows
        self._plain = not console.is_terminal
        self._started = clock()
        self._ended: float | None = None
        self._activity: dict[str, _Activity] = {}
        self._lock = threading.Lock()
        self._live: Live | None = None

    @property
    def elapsed(self) -> float:
        """Seconds since the view was made, up to the task's end."""
        return (self._ended or self._clock()) - self._started

    def on_event(self, event: Event) -> None:
        """Take any event of the task, from any of its streams."""
        with self._lock:
            self.state.apply(event)
            self._track(event)
            if isinstance(event, _ENDED):
                self._ended = self._clock()
        if self._plain:
            for line in _plain_lines(event):
                self._print_plain(line)

    def on_delta(self, stream: str, delta: Delta) -> None:
        """Take a piece of streamed model output from an agent stream."""
        with self._lock:
            subtask = self.state.subtask_of(stream)
            if subtask is None:
                return
            activity = self._activity.setdefault(subtask, _Activity())
            if isinstance(delta, TextDelta | ThinkingDelta):
                activity.feed(delta.text, isinstance(delta, ThinkingDelta))
            elif delta.name:
                activity.tool = f"{delta.name} …"

    def on_notice(self, text: str) -> None:
        """Print a one-off message (above the live display while it runs)."""
        self._console.print(text, markup=False, highlight=False)

    def start(self) -> None:
        """Start redrawing (on a terminal; elsewhere there is nothing to start)."""
        if self._plain or self._live is not None:
            return
        self._live = Live(
            console=self._console,
            get_renderable=self.render,
            refresh_per_second=4,
            transient=False,
        )
        self._live.start()

    def stop(self) -> None:
        """Draw the final state once more and stop redrawing."""
        live, self._live = self._live, None
        if live is not None:
            live.stop()

    def __enter__(self) -> RunView:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def render(self) -> RenderableType:
        """The view as it stands: header, plan tree and pending approvals."""
        with self._lock:
            approvals = [
                Text(f"⏸ waiting for approval: {text}", style="bold yellow")
                for text in self.state.approvals.values()
            ]
            return Group(self._header(), self._plan(), *approvals)

    # --- what the agents are doing -------------------------------------------

    def _track(self, event: Event) -> None:
        if isinstance(event, SubtaskStarted):
            self._activity[event.subtask_id] = _Activity()
            return
        subtask = self.state.subtask_of(event.stream)
        if subtask is None:
            return
        activity = self._activity.setdefault(subtask, _Activity())
        if isinstance(event, ModelCallStarted):
            activity.tool, activity.tail = "", ""
        elif isinstance(event, ModelCallCompleted):
            activity.answered(event.text)
        elif isinstance(event, ToolCallRequested):
            activity.tool = f"{event.tool} {_brief(event.arguments)}".rstrip()
        elif isinstance(event, ToolCallCompleted):
            activity.tool = ""

    # --- drawing -------------------------------------------------------------

    def _header(self) -> Group:
        state = self.state
        title = Text().append("loom run", "bold")
        if state.goal:
            title.append(f"  {' '.join(state.goal.split())}")
        passed = sum(s.status == "passed" for s in state.subtasks.values())
        facts = [state.task_id] if state.task_id else []
        facts += [format_duration(self.elapsed), f"{state.tokens:,} tokens"]
        if state.subtasks:
            facts.append(f"{passed}/{len(state.subtasks)} passed")
        line = Text()
        if state.outcome != "running":  # once it has ended, that matters most
            style = "green" if state.outcome == "completed" else "red"
            line.append(state.outcome, f"bold {style}")
            if state.outcome_reason and state.outcome != "completed":
                line.append(f": {_first_line(state.outcome_reason)}", style)
            line.append(" · ", "dim")
        line.append(" · ".join(facts), "dim")
        for text in (title, line):
            text.no_wrap, text.overflow = True, "ellipsis"
        return Group(title, line)

    def _plan(self) -> Tree:
        state = self.state
        if not state.subtasks:
            waiting = state.outcome == "running"
            note = f"{self._spin()} planning …" if waiting else "no plan"
            return Tree(Text(note, style="dim"))
        label = Text().append("plan", "bold")
        label.append(f" · {len(state.subtasks)} subtasks", style="dim")
        if state.replans:
            label.append(
                f" · replans: {state.replans} ({state.replan_reason})", "yellow"
            )
        label.no_wrap, label.overflow = True, "ellipsis"
        tree = Tree(label, guide_style="dim")
        rows = [(sub, state.status_of(sub.id)) for sub in state.subtasks.values()]
        shown, hidden = _choose(rows, self._row_budget(rows))
        for sub, status in shown:
            node = tree.add(self._row(sub, status))
            doing = self._doing(sub, status)
            if doing is not None:
                node.add(doing)
        if hidden:
            counts = ", ".join(f"{n} {status}" for status, n in hidden.items())
            tree.add(Text(f"… {counts} not shown", style="dim"))
        return tree

    def _row_budget(self, rows: list[tuple[SubtaskState, Status]]) -> int:
        if self._max_rows is not None:
            return self._max_rows
        busy = sum(status in ("running", "verifying") for _, status in rows)
        return max(5, self._console.height - 5 - busy)

    def _row(self, sub: SubtaskState, status: Status) -> Text:
        marker, style = _MARKERS[status]
        if status == "running" and not self._plain:
            marker = self._spin()
        row = Text().append(marker, style).append(" ").append(sub.id, "bold")
        if status in _NAMED:
            row.append(f" {status}", style=style)
        if sub.attempt > 1:
            row.append(f" attempt {sub.attempt}", style="yellow")
        if sub.escalated_to:
            row.append(f" ⇧ {sub.escalated_to}", style="magenta")
        if status == "failed" and sub.reason:
            row.append(f"  {_first_line(sub.reason)}", style="red")
        if sub.description:
            row.append(f"  {_first_line(sub.description)}")
        if sub.depends_on:
            row.append(f"  (after: {', '.join(sub.depends_on)})", style="dim")
        row.no_wrap, row.overflow = True, "ellipsis"
        return row

    def _doing(self, sub: SubtaskState, status: Status) -> Text | None:
        activity = self._activity.get(sub.id)
        if status != "running" or activity is None:
            return None
        shown = activity.shown()
        if shown is not None:
            # Two levels of tree guides take 8 cells; the newest words matter most.
            shown.plain = _keep_end(shown.plain, max(10, self._console.width - 8))
            shown.no_wrap = True
        return shown

    def _spin(self) -> str:
        return _SPINNER[int(self._clock() * 10) % len(_SPINNER)]

    def _print_plain(self, line: str) -> None:
        stamp = f"[{format_duration(self.elapsed)}]"
        self._console.print(f"{stamp} {line}", markup=False, highlight=False)


def _choose(
    rows: list[tuple[SubtaskState, Status]], budget: int
) -> tuple[list[tuple[SubtaskState, Status]], Counter[Status]]:
    """The rows to draw in plan order: active first, then waiting, then done."""
    if len(rows) <= budget:
        return rows, Counter()
    order = sorted(range(len(rows)), key=lambda n: (_RANK.get(rows[n][1], 0), n))
    kept = set(order[: max(1, budget - 1)])
    hidden = Counter(status for n, (_, status) in enumerate(rows) if n not in kept)
    return [row for n, row in enumerate(rows) if n in kept], hidden


def _keep_end(text: str, width: int) -> str:
    text = " ".join(text.split())
    if cell_len(text) <= width:
        return text
    text = text[-width:]
    while cell_len(text) > width - 1:
        text = text[1:]
    return "…" + text


def _brief(arguments: dict[str, Any]) -> str:
    for key in ("command", "path", "pattern", "query", "url"):
        value = arguments.get(key)
        if isinstance(value, str):
            return value
    return json.dumps(arguments, ensure_ascii=False)
