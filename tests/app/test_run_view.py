"""The ``loom run`` display: live view, plain log lines, summary and file stats."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console, RenderableType

from loom.adapters.blobs import AsyncBlobStore
from loom.adapters.eventstore.backends import SQLiteBackend
from loom.app.run_view import FileStat, RunView, file_stats, render_summary
from loom.domain.eventbase import Context, Event, StreamCursor
from loom.domain.events import (
    AgentFinished,
    AgentStarted,
    ApprovalGranted,
    ApprovalRequested,
    Escalated,
    FileChanged,
    ModelCallCompleted,
    ModelCallStarted,
    PlannedSubtask,
    PlanProposed,
    Replanned,
    SubtaskCompleted,
    SubtaskFailed,
    SubtaskRetried,
    SubtaskStarted,
    TaskCompleted,
    TaskCreated,
    TaskFailed,
    TaskStarted,
    TokenUsage,
    ToolCallCompleted,
    ToolCallRequested,
    VerificationRecorded,
)
from loom.domain.models import TextDelta, ThinkingDelta, ToolCallDelta

TASK = "task-0001"
REQUEST = "a" * 64
PLAN = [
    PlannedSubtask(id="parser", description="Add --verbose to the parser"),
    PlannedSubtask(
        id="logging", description="Log details when verbose", depends_on=["parser"]
    ),
    PlannedSubtask(id="docs", description="Document the flag", depends_on=["parser"]),
    PlannedSubtask(
        id="tests", description="Test the flag", depends_on=["logging", "docs"]
    ),
]


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Run:
    """Builds a run's events with the real classes, stream by stream."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.task = StreamCursor(TASK, 0, context)
        self.agents: dict[str, StreamCursor] = {}
        self.calls = 0

    def on_task(self, cls: type[Event], **fields: Any) -> Event:
        return self.task.new(cls, **fields)

    def agent(self, subtask: str, attempt: int = 1) -> str:
        stream = f"{TASK}/{subtask}/{attempt}"
        self.agents.setdefault(stream, StreamCursor(stream, 0, self.context))
        return stream

    def on_agent(self, stream: str, cls: type[Event], **fields: Any) -> Event:
        return self.agents[stream].new(cls, **fields)

    def start(
        self, subtask: str, attempt: int = 1, model: str = "small"
    ) -> list[Event]:
        stream = self.agent(subtask, attempt)
        return [
            self.on_task(
                SubtaskStarted,
                subtask_id=subtask,
                attempt=attempt,
                agent_stream=stream,
                model=model,
            ),
            self.on_agent(
                stream,
                AgentStarted,
                task_id=TASK,
                subtask_id=subtask,
                attempt=attempt,
                model=model,
                workspace="/w",
                brief=subtask,
            ),
        ]

    def model_call(
        self, stream: str, text: str, prompt: int, completion: int
    ) -> list[Event]:
        self.calls += 1
        call = f"call-{self.calls}"
        return [
            self.on_agent(
                stream,
                ModelCallStarted,
                call_id=call,
                role="executor",
                model="small",
                request=REQUEST,
                fingerprint="f",
            ),
            self.on_agent(
                stream,
                ModelCallCompleted,
                call_id=call,
                text=text,
                usage=TokenUsage(prompt_tokens=prompt, completion_tokens=completion),
                latency_ms=5,
            ),
        ]

    def verdict(
        self,
        subtask: str,
        passed: bool,
        tier: int = 1,
        verifier: str = "checks",
        attempt: int = 1,
        reasons: tuple[str, ...] = (),
    ) -> Event:
        return self.on_task(
            VerificationRecorded,
            subtask_id=subtask,
            tier=tier,
            verifier=verifier,
            passed=passed,
            reasons=list(reasons),
            attempt=attempt,
        )

    def opening(self) -> list[Event]:
        return [
            self.on_task(TaskCreated, goal="Add a --verbose flag", workspace="/w"),
            self.on_task(TaskStarted),
            self.on_task(PlanProposed, subtasks=PLAN),
        ]

    def parser_passes(self) -> list[Event]:
        stream = self.agent("parser")
        return [
            *self.start("parser"),
            *self.model_call(stream, "Editing cli.py now.", 1000, 200),
            self.on_agent(stream, AgentFinished, status="answered", answer="done"),
            self.verdict("parser", True),
            self.on_task(SubtaskCompleted, subtask_id="parser"),
        ]

    def logging_retried_and_escalated(self) -> list[Event]:
        stream = self.agent("logging")
        return [
            *self.start("logging"),
            *self.model_call(stream, "Added logging.", 500, 40),
            self.on_agent(stream, AgentFinished, status="answered"),
            self.verdict(
                "logging",
                False,
                tier=2,
                verifier="qwen-7b",
                reasons=("no log call when verbose", "style"),
            ),
            self.on_task(
                SubtaskRetried, subtask_id="logging", attempt=2, feedback="add it"
            ),
            self.on_task(Escalated, subtask_id="logging", to_model="qwen-32b"),
            *self.start("logging", attempt=2, model="qwen-32b"),
        ]


@pytest.fixture
def run(context: Context) -> Run:
    return Run(context)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def terminal() -> Console:
    return Console(
        file=io.StringIO(), record=True, width=100, height=40, force_terminal=True
    )


def shown(renderable: RenderableType, width: int = 100) -> str:
    console = Console(file=io.StringIO(), record=True, width=width)
    console.print(renderable)
    return console.export_text()


def fed(view: RunView, events: list[Event]) -> RunView:
    for event in events:
        view.on_event(event)
    return view


def row(text: str, subtask: str) -> str:
    """The line of the plan tree or the summary table that shows ``subtask``."""
    lines = text.splitlines()
    return next(line for line in lines if subtask in line.split()[:3])


# --- the live view -----------------------------------------------------------


def test_plan_is_shown_flat_with_dependencies_and_pending_markers(
    run: Run, clock: Clock
) -> None:
    text = shown(fed(RunView(terminal(), clock=clock), run.opening()).render())
    assert "Add a --verbose flag" in text
    assert TASK in text
    assert "4 subtasks" in text
    assert "· parser  Add --verbose to the parser" in row(text, "parser")
    assert "(after: logging, docs)" in row(text, "tests")
    assert "0/4 passed" in text


def test_running_subtask_shows_its_last_streamed_line_then_its_tool(
    run: Run, clock: Clock
) -> None:
    view = fed(RunView(terminal(), clock=clock), run.opening() + run.start("parser"))
    stream = run.agent("parser")
    view.on_delta(stream, ThinkingDelta("pondering the parser"))
    assert "pondering the parser" in shown(view.render())
    for piece in ("I will edit", " cli.py.\nFirst I read", " the parser", "\n"):
        view.on_delta(stream, TextDelta(piece))
    text = shown(view.render())
    assert "⠋ parser" in text  # the spinner frame the clock points at
    assert "First I read the parser" in text
    assert "I will edit" not in text
    assert "pondering" not in text
    view.on_delta(
        stream, ToolCallDelta(index=0, id="t1", name="read_file", arguments="")
    )
    assert "▶ read_file …" in shown(view.render())
    view.on_event(
        run.on_agent(
            stream,
            ToolCallRequested,
            call_id="t1",
            tool="read_file",
            arguments={"path": "loom/cli.py"},
        )
    )
    assert "▶ read_file loom/cli.py" in shown(view.render())
    view.on_event(
        run.on_agent(stream, ToolCallCompleted, call_id="t1", result="…", duration_ms=1)
    )
    assert "First I read the parser" in shown(view.render())


def test_a_long_output_line_keeps_its_newest_words_within_the_width(
    run: Run, clock: Clock
) -> None:
    view = fed(RunView(terminal(), clock=clock), run.opening() + run.start("parser"))
    view.on_delta(run.agent("parser"), TextDelta("word " * 60 + "NEWEST"))
    lines = shown(view.render()).splitlines()
    line = next(line for line in lines if "NEWEST" in line)
    assert "…" in line
    assert len(line.rstrip()) <= 100


def test_states_move_through_verifying_to_passed_and_tokens_add_up(
    run: Run, clock: Clock
) -> None:
    view = fed(RunView(terminal(), clock=clock), run.opening())
    events = run.parser_passes()
    fed(view, events[:-2])  # the agent answered, no verdict yet
    assert "◎ parser verifying" in shown(view.render())
    fed(view, events[-2:])
    text = shown(view.render())
    assert "✓ parser" in row(text, "parser")
    assert "1/4 passed" in text
    assert "1,200 tokens" in text


def test_retry_and_escalation_are_shown(run: Run, clock: Clock) -> None:
    view = fed(RunView(terminal(), clock=clock), run.opening() + run.parser_passes())
    events = run.logging_retried_and_escalated()
    fed(view, events[:7])  # up to the retry
    assert "↻ logging retrying attempt 2" in row(shown(view.render()), "logging")
    fed(view, events[7:])
    line = row(shown(view.render()), "logging")
    assert "⠋ logging attempt 2 ⇧ qwen-32b" in line
    assert "1,740 tokens" in shown(view.render())


def test_a_failure_blocks_dependents_and_the_header_tells_the_outcome(
    run: Run, clock: Clock
) -> None:
    view = fed(RunView(terminal(), clock=clock), run.opening() + run.start("parser"))
    view.on_event(run.on_task(SubtaskFailed, subtask_id="parser", reason="no parser"))
    text = shown(view.render())
    assert "✗ parser  no parser" in row(text, "parser")
    assert "⊘ logging blocked" in row(text, "logging")
    assert "⊘ tests blocked" in row(text, "tests")
    view.on_event(run.on_task(TaskFailed, reason="parser failed"))
    assert "failed: parser failed" in shown(view.render())


def test_elapsed_time_comes_from_the_clock_and_stops_at_the_end(
    run: Run, clock: Clock
) -> None:
    view = fed(RunView(terminal(), clock=clock), run.opening())
    clock.now += 65
    assert "1m 05s" in shown(view.render())
    view.on_event(run.on_task(TaskCompleted))
    clock.now += 600
    assert "1m 05s" in shown(view.render())
    assert view.elapsed == 65


def test_a_replan_shows_the_new_plan_and_keeps_finished_work(
    run: Run, clock: Clock
) -> None:
    events = run.opening() + run.parser_passes() + run.start("logging")
    view = fed(RunView(terminal(), clock=clock), events)
    new_plan = [
        PlannedSubtask(id="logger", description="Add a logger module"),
        PlannedSubtask(id="wire", description="Use it", depends_on=["logger"]),
    ]
    view.on_event(
        run.on_task(Replanned, reason="logging is too big", subtasks=new_plan)
    )
    text = shown(view.render())
    assert "replans: 1 (logging is too big)" in text
    assert "✓ parser" in text
    assert "· logger" in text
    assert "(after: logger)" in text
    assert " logging " not in text
    assert " docs " not in text


def test_fifty_subtasks_fit_the_screen_with_the_active_ones_shown(
    run: Run, clock: Clock
) -> None:
    plan = [
        PlannedSubtask(id=f"s{n:02d}", description=f"step {n}", depends_on=[])
        for n in range(50)
    ]
    events = [
        run.on_task(TaskCreated, goal="big", workspace="/w"),
        run.on_task(PlanProposed, subtasks=plan),
    ]
    for n in range(20):
        events += [
            run.on_task(SubtaskStarted, subtask_id=f"s{n:02d}"),
            run.on_task(SubtaskCompleted, subtask_id=f"s{n:02d}"),
        ]
    events += run.start("s40")
    console = Console(
        file=io.StringIO(), record=True, width=100, height=20, force_terminal=True
    )
    text = shown(fed(RunView(console, clock=clock), events).render())
    assert len(text.splitlines()) <= 20
    assert "s40" in text
    assert "20 passed" in text
    assert "not shown" in text


def test_approvals_and_notices_are_shown(run: Run, clock: Clock) -> None:
    console = terminal()
    view = fed(RunView(console, clock=clock), run.opening())
    view.on_notice(f"task id: {TASK}, cancel with: loom cancel {TASK}")
    assert f"loom cancel {TASK}" in console.export_text()
    view.on_event(
        run.on_task(ApprovalRequested, approval_id="ap1", description="rm -rf build")
    )
    assert "waiting for approval: rm -rf build" in shown(view.render())
    view.on_event(run.on_task(ApprovalGranted, approval_id="ap1"))
    assert "waiting for approval" not in shown(view.render())


def test_the_live_display_leaves_the_final_state_on_screen(
    run: Run, clock: Clock
) -> None:
    console = terminal()
    with RunView(console, clock=clock) as view:
        fed(view, run.opening() + run.parser_passes())
        view.on_event(run.on_task(TaskCompleted))
    text = console.export_text()
    assert "✓ parser" in text
    assert "completed" in text


# --- plain lines when not on a terminal --------------------------------------


def test_off_a_terminal_it_prints_one_plain_line_per_significant_event(
    run: Run, clock: Clock
) -> None:
    out = io.StringIO()
    console = Console(file=out, width=100)
    events = run.opening() + run.parser_passes() + run.logging_retried_and_escalated()
    with RunView(console, clock=clock) as view:
        fed(view, events)
        view.on_delta(run.agent("logging", 2), TextDelta("streamed text\n"))
        view.on_event(run.on_task(TaskFailed, reason="out of time"))
    lines = out.getvalue().splitlines()
    assert lines[:4] == [
        f"[0s] task {TASK}: Add a --verbose flag",
        "[0s] plan: 4 subtasks",
        "[0s]   parser: Add --verbose to the parser",
        "[0s]   logging: Log details when verbose (after: parser)",
    ]
    assert "[0s] parser started (attempt 1, small)" in lines
    assert "[0s] parser passed" in lines
    assert (
        "[0s] logging verification (tier 2, qwen-7b) failed: no log call when verbose"
        in lines
    )
    assert "[0s] logging retrying (attempt 2): add it" in lines
    assert "[0s] logging escalated to qwen-32b" in lines
    assert lines[-1] == "[0s] task failed: out of time"
    assert not any("streamed text" in line or "\x1b" in line for line in lines)


# --- the summary -------------------------------------------------------------

STATS = [
    FileStat("README.md", "modify", 4, 0),
    FileStat("logo.png", "create", note="binary"),
    FileStat("loom/cli.py", "modify", 12, 3),
]


def test_the_summary_lists_outcome_verdicts_diffstat_tokens_and_undo(
    run: Run,
) -> None:
    stream = run.agent("logging", 2)
    events = [
        *run.opening(),
        *run.parser_passes(),
        *run.logging_retried_and_escalated(),
        *run.model_call(stream, "Logged.", 300, 60),
        run.verdict("logging", True, tier=2, verifier="qwen-7b", attempt=2),
        run.on_task(SubtaskCompleted, subtask_id="logging"),
        run.on_task(TaskCompleted, summary="done"),
    ]
    text = shown(render_summary(events, STATS, elapsed=185), width=120)
    assert "task ✓ completed  Add a --verbose flag" in text
    assert f"{TASK} · 3m 05s · 2,100 tokens (1,800 prompt + 300 completion)" in text
    assert "tier 1 checks ✓ passed" in row(text, "parser")
    logging = text[text.index("\nlogging ") + 1 :]
    assert "passed ⇧ qwen-32b" in logging.splitlines()[0]
    assert "#1 tier 2 qwen-7b ✗ failed: no log call when verbose" in logging
    assert "#2 tier 2 qwen-7b ✓ passed" in logging
    assert "cancelled" not in text
    assert "loom/cli.py  modify  +12 -3" in text
    assert "logo.png     create  binary" in text
    assert "3 files changed, +16 -3" in text
    assert f"loom undo --task {TASK}" in text
    assert f"loom changes {TASK}" in text


def test_a_failed_run_summary_gives_the_reason_and_what_never_ran(run: Run) -> None:
    events = [
        *run.opening(),
        *run.start("parser"),
        run.verdict("parser", False, reasons=("pytest exited 1",)),
        run.on_task(SubtaskFailed, subtask_id="parser", reason="checks failed"),
        run.on_task(TaskFailed, reason="parser could not be done"),
    ]
    text = shown(render_summary(events, []), width=120)
    assert "task ✗ failed: parser could not be done" in text
    assert "failed: checks failed" in row(text, "parser")
    assert "tier 1 checks ✗ failed: pytest exited 1" in row(text, "parser")
    assert "blocked" in row(text, "logging")
    assert "no files changed" in text
    assert "loom undo" not in text
    assert "0s" in text  # elapsed from the events' own timestamps


# --- file stats against a real blob store ------------------------------------


@pytest.fixture
def blobs(tmp_path: Path) -> Iterator[AsyncBlobStore]:
    backend = SQLiteBackend(tmp_path / "loom.db")
    yield AsyncBlobStore(backend)
    backend.close()


async def test_file_stats_net_each_file_from_first_before_to_last_after(
    run: Run, blobs: AsyncBlobStore
) -> None:
    v0 = await blobs.put(b"a\nb\nc\n")
    v1 = await blobs.put(b"a\nB\nc\nd\n")
    v2 = await blobs.put(b"a\nB\nc\nd\ne\nf\n")
    png = await blobs.put(b"\x89PNG\r\n\x1a\n\x00\x00")
    scratch = await blobs.put(b"temporary\n")
    stream = run.agent("parser")
    changes = [
        ("cli.py", "modify", v0, v1, None),
        ("new.py", "create", None, v0, None),
        ("cli.py", "modify", v1, v2, None),
        ("logo.png", "create", None, png, None),
        ("scratch.txt", "create", None, scratch, None),
        ("scratch.txt", "delete", scratch, None, None),
        ("old.py", "rename", v0, v0, "renamed.py"),
        ("renamed.py", "modify", v0, v1, None),
        ("gone.py", "delete", v1, None, None),
        ("same.py", "modify", v0, v1, None),
        ("same.py", "modify", v1, v0, None),
        ("huge.log", "modify", None, v0, None),
    ]
    events: list[Event] = [
        run.on_agent(
            stream,
            FileChanged,
            change_id=f"c{n}",
            path=path,
            kind=kind,
            before=before,
            after=after,
            new_path=new_path,
        )
        for n, (path, kind, before, after, new_path) in enumerate(changes)
    ]
    events.insert(0, run.on_task(TaskCreated, goal="g", workspace="/w"))
    assert await file_stats(events, blobs) == [
        FileStat("cli.py", "modify", 4, 1),
        FileStat("gone.py", "delete", 0, 4),
        FileStat("huge.log", "modify", note="content not kept"),
        FileStat("logo.png", "create", note="binary"),
        FileStat("new.py", "create", 3, 0),
        FileStat("renamed.py", "rename", 2, 1, old_path="old.py"),
    ]
