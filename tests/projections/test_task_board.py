"""The task board: contract (rebuild == incremental, fold) and a run's statuses."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from itertools import zip_longest
from pathlib import Path

import pytest

from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.views import SQLiteViewStore, open_views
from loom.domain.eventbase import Context, Event, StreamCursor
from loom.domain.events import (
    AgentFinished,
    AgentStarted,
    Escalated,
    ModelCallCompleted,
    PlannedSubtask,
    PlanProposed,
    Replanned,
    SessionStarted,
    SubtaskCompleted,
    SubtaskFailed,
    SubtaskRetried,
    SubtaskStarted,
    TaskCancelled,
    TaskCancelRequested,
    TaskCompleted,
    TaskCreated,
    TaskFailed,
    TaskStarted,
    TokenUsage,
    UserMessaged,
    VerificationRecorded,
)
from loom.domain.ports import ViewStore
from loom.projections.runner import ProjectionRunner, fold
from loom.projections.task_board import (
    TaskBoard,
    TaskDetail,
    get_task,
    list_tasks,
    match_task_ids,
    task_of,
)

TASK_A = "task-1b4e28ba-2fa1-11d2-883f-0016d3cca427"
TASK_B = "task-1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed"
TASK_C = "task-6fa459ea-ee8a-3ca4-894e-db77e160355e"

Batches = list[list[Event]]


def step(subtask_id: str, *depends_on: str) -> PlannedSubtask:
    return PlannedSubtask(
        id=subtask_id, description=f"do {subtask_id}", depends_on=list(depends_on)
    )


class Run:
    """Writes one task's streams the way an autonomous run does, a batch a call."""

    def __init__(self, task_id: str, context: Context) -> None:
        self.task_id = task_id
        self.context = context
        self.task = StreamCursor(task_id, 0, context)
        self.control = StreamCursor(f"{task_id}/control", 0, context)
        self.agents: dict[str, StreamCursor] = {}

    def agent(self, subtask_id: str, attempt: int) -> StreamCursor:
        stream = f"{self.task_id}/{subtask_id}/{attempt}"
        if stream not in self.agents:
            self.agents[stream] = StreamCursor(stream, 0, self.context)
        return self.agents[stream]

    def created(self, goal: str) -> list[Event]:
        return [
            self.task.new(TaskCreated, goal=goal, workspace="/w"),
            self.task.new(TaskStarted),
        ]

    def planned(self, *subtasks: PlannedSubtask) -> list[Event]:
        return [
            call(self.task, 300, 50),
            self.task.new(PlanProposed, subtasks=list(subtasks)),
        ]

    def replanned(self, reason: str, *subtasks: PlannedSubtask) -> list[Event]:
        return [self.task.new(Replanned, reason=reason, subtasks=list(subtasks))]

    def started(
        self, subtask_id: str, attempt: int = 1, model: str = "small"
    ) -> list[Event]:
        stream = self.agent(subtask_id, attempt).stream
        return [
            self.task.new(
                SubtaskStarted, subtask_id=subtask_id, attempt=attempt,
                agent_stream=stream, model=model,
            )
        ]  # fmt: skip

    def worked(
        self,
        subtask_id: str,
        attempt: int = 1,
        tokens: int = 100,
        status: str = "answered",
    ) -> list[Event]:
        agent = self.agent(subtask_id, attempt)
        return [
            agent.new(
                AgentStarted, task_id=self.task_id, subtask_id=subtask_id,
                attempt=attempt, workspace="/w", brief=f"do {subtask_id}",
            ),
            call(agent, tokens, tokens // 5),
            call(agent, 0, 0, usage=False),
            agent.new(AgentFinished, status=status, answer="done"),
        ]  # fmt: skip

    def verdict(
        self, subtask_id: str, attempt: int, tier: int, *reasons: str
    ) -> list[Event]:
        return [
            self.agent(subtask_id, attempt).new(
                VerificationRecorded, subtask_id=subtask_id, tier=tier,
                verifier="judge", passed=not reasons, reasons=list(reasons),
                attempt=attempt,
            )
        ]  # fmt: skip

    def passed(self, subtask_id: str) -> list[Event]:
        summary = f"{subtask_id} done"
        return [self.task.new(SubtaskCompleted, subtask_id=subtask_id, summary=summary)]

    def failed(self, subtask_id: str, reason: str) -> list[Event]:
        return [self.task.new(SubtaskFailed, subtask_id=subtask_id, reason=reason)]

    def retried(self, subtask_id: str, attempt: int, feedback: str) -> list[Event]:
        return [
            self.task.new(
                SubtaskRetried,
                subtask_id=subtask_id,
                attempt=attempt,
                feedback=feedback,
            )
        ]

    def escalated(self, subtask_id: str, model: str) -> list[Event]:
        return [self.task.new(Escalated, subtask_id=subtask_id, to_model=model)]

    def cancel_requested(self, reason: str) -> list[Event]:
        return [self.control.new(TaskCancelRequested, reason=reason)]


def call(
    cursor: StreamCursor, prompt: int, completion: int, *, usage: bool = True
) -> ModelCallCompleted:
    tokens = TokenUsage(prompt_tokens=prompt, completion_tokens=completion)
    return cursor.new(
        ModelCallCompleted,
        call_id=f"c{cursor.version}",
        text="ok",
        usage=tokens if usage else None,
        latency_ms=5,
    )


def completed_run(run: Run) -> Batches:
    """Three subtasks: one passes, one passes on a retry with a bigger model,
    one fails and is replanned into two that pass."""
    return [
        run.created("Add a CLI"),
        run.planned(step("s1"), step("s2", "s1"), step("s3", "s2")),
        run.started("s1"),
        run.worked("s1"),
        run.verdict("s1", 1, 1),
        run.passed("s1"),
        run.started("s2"),
        run.worked("s2", tokens=200),
        run.verdict("s2", 1, 2, "no tests", "lint fails"),
        run.retried("s2", 2, "add tests"),
        run.escalated("s2", "big"),
        run.started("s2", 2, model="big"),
        run.worked("s2", 2, tokens=400),
        run.verdict("s2", 2, 2),
        run.passed("s2"),
        run.started("s3"),
        run.worked("s3", status="failed"),
        run.failed("s3", "tests broke"),
        run.replanned("s3 failed", step("s3b", "s2"), step("s4", "s3b")),
        run.started("s3b"),
        run.worked("s3b"),
        run.passed("s3b"),
        run.started("s4"),
        run.worked("s4"),
        run.passed("s4"),
        [run.task.new(TaskCompleted, summary="CLI added")],
        run.cancel_requested("too late"),
    ]


def cancelling_run(run: Run) -> Batches:
    return [
        run.created("Refactor the store"),
        run.planned(step("t1"), step("t2", "t1")),
        run.started("t1"),
        run.worked("t1", tokens=50),
        run.cancel_requested("user stop"),
    ]


def cancelled_run(run: Run) -> Batches:
    batches = cancelling_run(run)
    return [*batches, [run.task.new(TaskCancelled, reason="asked to stop")]]


def failed_run(run: Run) -> Batches:
    # Events of an agent stream before its task exists are not counted.
    return [
        run.worked("u0", tokens=1000),
        run.created("Port to Rust"),
        run.planned(step("u1")),
        run.started("u1"),
        run.worked("u1", tokens=10),
        run.failed("u1", "cannot compile"),
        [run.task.new(TaskFailed, reason="u1 failed")],
    ]


def story(context: Context) -> Batches:
    """Three runs interleaved, with a session's model calls between them."""
    session = StreamCursor("session-9", 0, context)
    chatter: Batches = [[session.new(SessionStarted, workspace="/w")]]
    for _ in range(12):
        chatter.append([session.new(UserMessaged, text="hi"), call(session, 999, 99)])
    runs = (
        completed_run(Run(TASK_A, context)),
        cancelled_run(Run(TASK_B, context)),
        failed_run(Run(TASK_C, context)),
        chatter,
    )
    return [batch for group in zip_longest(*runs) for batch in group if batch]


@pytest.fixture
async def views(store_url: str, tmp_path: Path) -> AsyncIterator[ViewStore]:
    url = (
        store_url if store_url.startswith("postgres") else f"sqlite:///{tmp_path}/v.db"
    )
    opened = await open_views(url)
    yield opened
    await opened.close()


async def board(views: ViewStore) -> list[TaskDetail | None]:
    return [await get_task(views, t.task_id) for t in await list_tasks(views)]


async def rebuilt(
    log: AsyncEventLog, upto: int | None = None
) -> list[TaskDetail | None]:
    scratch = await SQLiteViewStore.connect(":memory:")
    try:
        await ProjectionRunner(log, scratch, TaskBoard()).rebuild(upto)
        return await board(scratch)
    finally:
        await scratch.close()


async def test_rebuild_equals_incremental_and_fold_equals_the_past(
    log: AsyncEventLog, views: ViewStore, context: Context
) -> None:
    incremental = ProjectionRunner(log, views, TaskBoard(), batch_size=3)
    past: list[tuple[int, list[TaskDetail | None]]] = []
    for batch in story(context):
        await log.append(batch)
        position = await incremental.catch_up()
        past.append((position, await board(views)))
    assert len(await list_tasks(views)) == 3
    assert await rebuilt(log) == await board(views)
    for position, then in past[::5]:
        scratch = await SQLiteViewStore.connect(":memory:")
        folded = await fold(log, TaskBoard(), position, scratch)
        assert await board(folded) == then, position
        await folded.close()


async def test_catch_up_is_idempotent_and_resumes_after_a_restart(
    log: AsyncEventLog, views: ViewStore, context: Context
) -> None:
    batches = story(context)
    for batch in batches[:30]:
        await log.append(batch)
    first = ProjectionRunner(log, views, TaskBoard(), batch_size=4)
    position = await first.catch_up()
    rows = await board(views)
    assert await first.catch_up() == position
    assert await board(views) == rows
    for batch in batches[30:]:
        await log.append(batch)
    restarted = ProjectionRunner(log, views, TaskBoard(), batch_size=4)
    assert await restarted.position() == position
    await restarted.catch_up()
    assert await board(views) == await rebuilt(log)


class Board:
    """Appends a run's batches one at a time and shows its task after each."""

    def __init__(self, log: AsyncEventLog, views: ViewStore, task_id: str) -> None:
        self.runner = ProjectionRunner(log, views, TaskBoard())
        self.log, self.views, self.task_id = log, views, task_id

    async def after(self, *batches: Sequence[Event]) -> TaskDetail:
        for batch in batches:
            await self.log.append(batch)
        await self.runner.catch_up()
        detail = await get_task(self.views, self.task_id)
        assert detail is not None
        return detail


def statuses(detail: TaskDetail) -> dict[str, str]:
    return {s.subtask_id: s.status for s in detail.subtasks}


async def test_a_run_with_a_retry_and_a_replan_moves_through_its_statuses(
    log: AsyncEventLog, views: ViewStore, context: Context
) -> None:
    run, shown = Run(TASK_A, context), Board(log, views, TASK_A)
    batches = iter(completed_run(run))
    detail = await shown.after(next(batches))
    assert (detail.task.status, detail.task.goal, detail.subtasks) == (
        "planning", "Add a CLI", (),
    )  # fmt: skip
    detail = await shown.after(next(batches))
    assert detail.task.status == "running"
    assert statuses(detail) == {"s1": "pending", "s2": "pending", "s3": "pending"}
    assert detail.subtasks[2].depends_on == ("s2",)
    assert statuses(await shown.after(next(batches)))["s1"] == "running"
    assert statuses(await shown.after(next(batches)))["s1"] == "verifying"
    detail = await shown.after(next(batches), next(batches))
    assert detail.subtasks[0].status == "passed"
    assert detail.subtasks[0].verdict == "tier 1 passed"
    assert detail.subtasks[0].note == "s1 done"
    assert (detail.task.subtasks_done, detail.task.subtasks_total) == (1, 3)
    detail = await shown.after(next(batches), next(batches), next(batches))
    s2 = detail.subtasks[1]
    assert (s2.status, s2.verdict) == (
        "verifying",
        "tier 2 failed: no tests; lint fails",
    )
    s2 = (await shown.after(next(batches))).subtasks[1]
    assert (s2.status, s2.attempt, s2.note) == ("retrying", 2, "add tests")
    assert (await shown.after(next(batches))).subtasks[1].model == "big"
    s2 = (await shown.after(next(batches))).subtasks[1]
    assert (s2.status, s2.attempt, s2.model) == ("running", 2, "big")
    assert s2.agent_stream == f"{TASK_A}/s2/2"
    detail = await shown.after(*[next(batches) for _ in range(6)])
    assert statuses(detail) == {"s1": "passed", "s2": "passed", "s3": "failed"}
    assert detail.task.last_reason == "tests broke"
    assert detail.task.subtasks_failed == 1
    detail = await shown.after(next(batches))
    assert [s.subtask_id for s in detail.subtasks] == ["s1", "s2", "s3", "s3b", "s4"]
    assert statuses(detail)["s3b"] == statuses(detail)["s4"] == "pending"
    assert detail.task.last_reason == "s3 failed"
    detail = await shown.after(*batches)
    assert detail.task.status == "completed"
    assert detail.task.outcome == "CLI added"
    assert set(statuses(detail).values()) == {"passed", "failed"}
    assert (detail.task.subtasks_done, detail.task.subtasks_total) == (4, 5)


async def test_a_replan_keeps_what_finished_and_replaces_the_rest(
    log: AsyncEventLog, views: ViewStore, context: Context
) -> None:
    run, shown = Run(TASK_A, context), Board(log, views, TASK_A)
    await shown.after(run.created("goal"), run.planned(step("a"), step("b"), step("c")))
    await shown.after(run.started("a"), run.passed("a"))
    await shown.after(run.started("b"), run.failed("b", "broke"))
    detail = await shown.after(run.replanned("b broke", step("b", "a"), step("d")))
    assert statuses(detail) == {"a": "passed", "b": "pending", "d": "pending"}
    assert [s.subtask_id for s in detail.subtasks] == ["a", "b", "d"]
    assert detail.subtasks[1].depends_on == ("a",)


async def test_pending_subtasks_behind_a_failure_show_as_blocked(
    log: AsyncEventLog, views: ViewStore, context: Context
) -> None:
    run, shown = Run(TASK_C, context), Board(log, views, TASK_C)
    await shown.after(run.created("goal"))
    await shown.after(run.planned(step("a"), step("b", "a"), step("c", "b"), step("d")))
    detail = await shown.after(run.started("a"), run.failed("a", "broke"))
    assert statuses(detail) == {
        "a": "failed", "b": "blocked", "c": "blocked", "d": "pending",
    }  # fmt: skip
    detail = await shown.after([run.task.new(TaskFailed, reason="a failed")])
    assert statuses(detail) == {
        "a": "failed", "b": "blocked", "c": "blocked", "d": "cancelled",
    }  # fmt: skip


async def test_an_attempt_that_named_no_stream_is_found_by_the_streams_name(
    log: AsyncEventLog, views: ViewStore, context: Context
) -> None:
    run, shown = Run(TASK_A, context), Board(log, views, TASK_A)
    await shown.after(run.created("goal"), run.planned(step("a"), step("b")))
    await shown.after([run.task.new(SubtaskStarted, subtask_id="a")])
    detail = await shown.after(run.worked("a"))
    assert statuses(detail) == {"a": "verifying", "b": "pending"}


async def test_a_cancel_request_then_the_cancellation(
    log: AsyncEventLog, views: ViewStore, context: Context
) -> None:
    run, shown = Run(TASK_B, context), Board(log, views, TASK_B)
    detail = await shown.after(*cancelling_run(run))
    assert detail.task.status == "cancelling"
    assert detail.task.last_reason == "user stop"
    assert statuses(detail) == {"t1": "verifying", "t2": "pending"}
    detail = await shown.after(run.started("t2"))
    assert detail.task.status == "cancelling"
    detail = await shown.after([run.task.new(TaskCancelled, reason="asked to stop")])
    assert detail.task.status == "cancelled"
    assert detail.task.outcome == "asked to stop"
    assert set(statuses(detail).values()) == {"cancelled"}


async def test_a_failed_run_and_a_late_cancel_request(
    log: AsyncEventLog, views: ViewStore, context: Context
) -> None:
    run, shown = Run(TASK_C, context), Board(log, views, TASK_C)
    detail = await shown.after(*failed_run(run), run.cancel_requested("late"))
    assert detail.task.status == "failed"
    assert detail.task.outcome == "u1 failed"
    assert statuses(detail) == {"u1": "failed"}
    assert detail.subtasks[0].note == "cannot compile"
    assert detail.task.last_reason == "u1 failed"


async def test_tokens_are_summed_over_the_task_and_its_agent_streams(
    log: AsyncEventLog, views: ViewStore, context: Context
) -> None:
    for batch in story(context):
        await log.append(batch)
    await ProjectionRunner(log, views, TaskBoard(), batch_size=5).catch_up()
    tasks = {t.task_id: t for t in await list_tasks(views)}
    # planner 300 + s1 100 + s2 200 + 400 + s3 100 + s3b 100 + s4 100
    assert tasks[TASK_A].prompt_tokens == 300 + 1000
    assert tasks[TASK_A].completion_tokens == 50 + 1000 // 5
    assert (tasks[TASK_B].prompt_tokens, tasks[TASK_B].completion_tokens) == (350, 60)
    assert tasks[TASK_C].tokens == 300 + 50 + 10 + 2  # not the 1000 before it existed
    expected: dict[str, int] = {}
    for recorded in await log.read_all(limit=10_000):
        event, owner = recorded.event, task_of(recorded.event.stream)
        if isinstance(event, ModelCallCompleted) and event.usage and owner:
            expected[owner] = expected.get(owner, 0) + event.usage.prompt_tokens
    expected[TASK_C] -= 1000
    assert {k: t.prompt_tokens for k, t in tasks.items()} == expected


async def test_queries_list_newest_first_and_match_ids(
    log: AsyncEventLog, views: ViewStore, context: Context
) -> None:
    for batch in story(context):
        await log.append(batch)
    await ProjectionRunner(log, views, TaskBoard()).catch_up()
    assert [t.task_id for t in await list_tasks(views)] == [TASK_C, TASK_B, TASK_A]
    assert await match_task_ids(views, TASK_A) == [TASK_A]
    assert await match_task_ids(views, TASK_A.removeprefix("task-")) == [TASK_A]
    assert await match_task_ids(views, "1b4e") == [TASK_A]
    assert await match_task_ids(views, "task-1b") == [TASK_B, TASK_A]
    assert await match_task_ids(views, "ffff") == []
    assert await get_task(views, "task-nope") is None
    detail = await get_task(views, TASK_A)
    assert detail is not None
    exported = json.loads(json.dumps(detail.as_json()))
    assert exported["status"] == "completed"
    assert exported["tokens"] == detail.task.tokens
    assert exported["subtasks"][1]["verdict"] == "tier 2 passed"
    assert exported["subtasks"][1]["depends_on"] == ["s1"]


def test_streams_are_attributed_to_tasks_by_their_name() -> None:
    assert task_of(TASK_A) == TASK_A
    assert task_of(f"{TASK_A}/control") == TASK_A
    assert task_of(f"{TASK_A}/s1/2") == TASK_A
    assert task_of("session-1") is None
