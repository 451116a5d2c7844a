"""Autonomous runs with scripted models: plan, parallelism, verification, recovery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from loom.adapters.models.scripted import ScriptedProvider
from loom.app.autonomy.settings import RunSettings
from loom.domain.events import (
    AgentStarted,
    Escalated,
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
    VerificationRecorded,
)
from loom.domain.models import Completion

from .scaffold import (
    Script,
    World,
    is_planner,
    models_for,
    plan,
    text,
    tool,
    write_then_answer,
)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    made = World(tmp_path)
    yield made
    await made.log.close()


def kinds(events: list[object]) -> list[str]:
    return [type(e).__name__ for e in events]


async def test_a_one_subtask_goal_is_planned_run_verified_and_completed(
    world: World,
) -> None:
    script = Script(
        plans=[plan({"id": "hello", "description": "write hello.py",
                     "expected_files": ["hello.py"]})],
        steps={"hello": write_then_answer("hello.py", "print('hello')\n")},
    )  # fmt: skip
    outcome = await world.run("create hello.py", models_for(script))

    assert outcome.status == "completed", outcome
    assert (world.workspace / "hello.py").read_text() == "print('hello')\n"
    task = await world.task_events()
    assert kinds(task)[:4] == [
        "TaskCreated",
        "WorkspaceSurveyed",
        "ModelCallStarted",
        "ModelCallCompleted",
    ]
    assert [
        type(e)
        for e in task
        if isinstance(e, PlanProposed | TaskStarted | SubtaskCompleted | TaskCompleted)
    ] == [PlanProposed, TaskStarted, SubtaskCompleted, TaskCompleted]
    verdicts = [
        e for e in await world.all_events() if isinstance(e, VerificationRecorded)
    ]
    assert [(v.tier, v.passed) for v in verdicts] == [(1, True)]
    assert isinstance(task[0], TaskCreated)


async def test_independent_subtasks_run_in_parallel_up_to_the_limit(
    world: World,
) -> None:
    ids = [f"s{n}" for n in range(5)]
    script = Script(
        plans=[plan(*({"id": i, "description": f"write {i}.py",
                       "expected_files": [f"{i}.py"]} for i in ids))],
        steps={i: write_then_answer(f"{i}.py") for i in ids},
    )  # fmt: skip
    settings = RunSettings(max_parallel_subtasks=2)
    outcome = await world.run("five files", models_for(script, delay=0.05), settings)

    assert outcome.status == "completed"
    running, peak = 0, 0
    for event in await world.task_events():
        if isinstance(event, SubtaskStarted):
            running += 1
        elif isinstance(event, SubtaskCompleted):
            running -= 1
        peak = max(peak, running)
    assert peak == 2


async def test_dependencies_finish_before_their_dependants_start(world: World) -> None:
    script = Script(
        plans=[plan(
            {"id": "b", "description": "uses a", "depends_on": ["a"],
             "expected_files": ["b.py"]},
            {"id": "a", "description": "first", "expected_files": ["a.py"]},
        )],
        steps={"a": write_then_answer("a.py"), "b": write_then_answer("b.py")},
    )  # fmt: skip
    outcome = await world.run("two", models_for(script))

    assert outcome.status == "completed"
    order = [
        (type(e).__name__, e.subtask_id)
        for e in await world.task_events()
        if isinstance(e, SubtaskStarted | SubtaskCompleted)
    ]
    assert order == [
        ("SubtaskStarted", "a"), ("SubtaskCompleted", "a"),
        ("SubtaskStarted", "b"), ("SubtaskCompleted", "b"),
    ]  # fmt: skip
    b_brief = next(
        e.brief for e in await world.all_events()
        if isinstance(e, AgentStarted) and e.subtask_id == "b"
    )  # fmt: skip
    assert "a: I wrote a.py. (files: a.py)" in b_brief


async def test_a_plan_with_a_cycle_is_re_asked_with_the_error(world: World) -> None:
    cyclic = plan(
        {"id": "a", "description": "x", "depends_on": ["b"]},
        {"id": "b", "description": "y", "depends_on": ["a"]},
    )
    good = plan({"id": "a", "description": "x", "expected_files": ["a.py"]})
    script = Script(plans=[cyclic, good], steps={"a": write_then_answer("a.py")})
    models = models_for(script)
    outcome = await world.run("cycle", models)

    assert outcome.status == "completed"
    planner_calls = [r for r in models.planner.requests if is_planner(r)]  # type: ignore[attr-defined]
    assert "dependency cycle: a -> b -> a" in planner_calls[1].messages[-1].content


async def test_planning_gives_up_with_a_clear_reason(world: World) -> None:
    script = Script(plans=["not json at all"])
    outcome = await world.run("hopeless", models_for(script))

    assert outcome.status == "failed"
    assert "no usable plan after 3 attempts" in outcome.reason
    assert isinstance((await world.task_events())[-1], TaskFailed)


async def test_a_narrated_but_never_executed_action_fails_and_is_retried(
    world: World,
) -> None:
    attempts = {"n": 0}

    def hello(sid: str, index: int) -> Completion:
        if index == 0:
            attempts["n"] += 1
            if attempts["n"] == 1:
                return text("I created hello.py and ran `python hello.py`.")
            return tool("write_file", path="hello.py", content="print('hi')\n")
        return text("I wrote hello.py.")

    script = Script(
        plans=[
            plan({"id": "h", "description": "hello", "expected_files": ["hello.py"]})
        ],
        default=hello,
    )
    outcome = await world.run("hello", models_for(script))

    assert outcome.status == "completed"
    verdicts = [
        e for e in await world.all_events() if isinstance(e, VerificationRecorded)
    ]
    assert [(v.attempt, v.passed) for v in verdicts] == [(1, False), (2, True)]
    assert any("python hello.py" in r for r in verdicts[0].reasons)
    retried = [e for e in await world.task_events() if isinstance(e, SubtaskRetried)]
    assert retried[0].attempt == 2
    assert "hello.py" in retried[0].feedback
    second_brief = next(
        e.brief for e in await world.all_events()
        if isinstance(e, AgentStarted) and e.attempt == 2
    )  # fmt: skip
    assert "previous attempt failed verification" in second_brief


async def test_retries_run_out_then_a_stronger_model_takes_over(world: World) -> None:
    weak = Script(
        plans=[plan({"id": "h", "description": "hello", "expected_files": ["h.py"]})],
        default=lambda sid, i: text("done"),
    )
    strong = Script(plans=["unused"], steps={"h": write_then_answer("h.py")})
    models = models_for(weak)
    models.escalation = ScriptedProvider(handler=strong, name="strong")
    outcome = await world.run("h", models, RunSettings(max_subtask_retries=1))

    assert outcome.status == "completed"
    task = await world.task_events()
    assert [
        type(e).__name__
        for e in task
        if isinstance(e, SubtaskStarted | SubtaskRetried | Escalated)
    ] == [
        "SubtaskStarted",
        "SubtaskRetried",
        "SubtaskStarted",
        "Escalated",
        "SubtaskStarted",
    ]
    assert [e.model for e in task if isinstance(e, SubtaskStarted)] == [
        "scripted",
        "scripted",
        "strong",
    ]


async def test_a_failed_subtask_is_replanned_with_the_logs_account(
    world: World,
) -> None:
    first = plan({"id": "h", "description": "hello", "expected_files": ["h.py"]})
    second = plan(
        {"id": "h2", "description": "hello again", "expected_files": ["h.py"]}
    )
    script = Script(
        plans=[first, second],
        steps={"h2": write_then_answer("h.py")},
        default=lambda sid, i: text("nothing"),
    )
    models = models_for(script)
    outcome = await world.run("h", models, RunSettings(max_subtask_retries=0))

    assert outcome.status == "completed"
    task = await world.task_events()
    failed = next(e for e in task if isinstance(e, SubtaskFailed))
    assert "h.py" in failed.reason
    replanned = next(e for e in task if isinstance(e, Replanned))
    assert [s.id for s in replanned.subtasks] == ["h2"]
    replan_request = [r for r in models.planner.requests if is_planner(r)][-1]  # type: ignore[attr-defined]
    assert "h FAILED after 1 attempts" in replan_request.messages[1].content


async def test_without_replans_left_the_task_fails_and_names_what_was_blocked(
    world: World,
) -> None:
    script = Script(
        plans=[plan(
            {"id": "a", "description": "x", "expected_files": ["a.py"]},
            {"id": "b", "description": "y", "depends_on": ["a"]},
        )],
        default=lambda sid, i: text("nothing"),
    )  # fmt: skip
    settings = RunSettings(max_subtask_retries=0, max_replans=0)
    outcome = await world.run("h", models_for(script), settings)

    assert outcome.status == "failed"
    assert outcome.reason == "failed: a; not run (blocked): b"


async def test_tier_two_review_can_reject_work_that_passed_tier_one(
    world: World,
) -> None:
    script = Script(
        plans=[plan({"id": "h", "description": "hello", "expected_files": ["h.py"],
                     "verification_tier": 2})],
        steps={"h": write_then_answer("h.py")},
        verdicts=['{"passed": false, "reasons": ["h.py does not print hello"]}',
                  '{"passed": true, "reasons": []}'],
    )  # fmt: skip
    outcome = await world.run("h", models_for(script))

    assert outcome.status == "completed"
    verdicts = [
        e for e in await world.all_events() if isinstance(e, VerificationRecorded)
    ]
    assert [(v.tier, v.attempt, v.passed) for v in verdicts] == [
        (1, 1, True),
        (2, 1, False),
        (1, 2, True),
        (2, 2, True),
    ]
    retried = next(
        e for e in await world.task_events() if isinstance(e, SubtaskRetried)
    )
    assert "does not print hello" in retried.feedback


async def test_tier_three_takes_a_vote_of_different_verifiers(world: World) -> None:
    script = Script(
        plans=[plan({"id": "h", "description": "hello", "expected_files": ["h.py"],
                     "verification_tier": 3})],
        steps={"h": write_then_answer("h.py")},
    )  # fmt: skip
    yes = '{"passed": true, "reasons": []}'
    no = '{"passed": false, "reasons": ["risky"]}'
    models = models_for(script)
    models.verifiers = [
        ScriptedProvider([text(yes), text(no)], name="judge-a"),
        ScriptedProvider([text(yes)], name="judge-b"),
    ]
    outcome = await world.run("h", models, RunSettings(votes=3, quorum=2))

    assert outcome.status == "completed"
    votes = [
        e
        for e in await world.all_events()
        if isinstance(e, VerificationRecorded) and e.tier == 3
    ]
    assert [(v.vote, v.passed) for v in votes[:3]] == [
        ("judge-a/requirements", True),
        ("judge-b/correctness", True),
        ("judge-a/skeptic", False),
    ]
    assert votes[3].verifier == "consensus 2/3 (quorum 2)"
    assert votes[3].passed


async def test_a_plan_that_keeps_reusing_an_id_is_used_without_the_reuses(
    world: World,
) -> None:
    reused = plan(
        {"id": "a", "description": "write a", "expected_files": ["a.py"]},
        {"id": "a", "description": "write a again", "expected_files": ["a.py"]},
    )
    script = Script(plans=[reused], steps={"a": write_then_answer("a.py")})
    models = models_for(script)
    outcome = await world.run("a", models)

    assert outcome.status == "completed"
    planner_calls = [r for r in models.planner.requests if is_planner(r)]  # type: ignore[attr-defined]
    assert len(planner_calls) == 3
    proposed = next(e for e in await world.task_events() if isinstance(e, PlanProposed))
    assert [s.description for s in proposed.subtasks] == ["write a"]
    assert proposed.repairs == ["dropped a later subtask that reused the id 'a'"]
