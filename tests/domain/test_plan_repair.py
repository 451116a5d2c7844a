"""Given a planner's degenerate output, when it is repaired, then it parses."""

from __future__ import annotations

import pytest

from loom.domain.plan import PlanError, parse_plan
from loom.domain.plan_repair import repair_plan


def test_smollm2s_repeated_self_dependency_is_repaired() -> None:
    # The shape SmolLM2-135M produced under the plan grammar.
    raw = {
        "subtasks": [
            {
                "id": "1",
                "description": " create hello.py ",
                "depends_on": ["1"] * 50,
                "acceptance_criteria": ["1"] * 20,
                "expected_files": ["hello.py", "hello.py"],
                "verification_tier": 1,
            }
        ]
    }
    with pytest.raises(PlanError, match="depends on itself"):
        parse_plan(raw)
    repaired, notes = repair_plan(raw)
    plan = parse_plan(repaired)
    (subtask,) = plan.subtasks
    assert subtask.depends_on == []
    assert subtask.acceptance_criteria == ["1"]
    assert subtask.expected_files == ["hello.py"]
    assert subtask.description == "create hello.py"
    assert notes == ["dropped the dependency of subtask '1' on itself"]


def test_unknown_dependencies_are_dropped_with_a_note() -> None:
    raw = {
        "subtasks": [
            {"id": "a", "description": "x", "depends_on": ["zz", "b"]},
            {"id": "b", "description": "y", "depends_on": []},
        ]
    }
    repaired, notes = repair_plan(raw)
    plan = parse_plan(repaired)
    assert [s.id for s in plan.subtasks] == ["b", "a"]
    assert notes == ["dropped unknown dependencies ['zz'] of subtask 'a'"]


def test_real_problems_are_left_for_the_re_ask() -> None:
    raw = {
        "subtasks": [
            {"id": "a", "description": "x", "depends_on": ["b"]},
            {"id": "b", "description": "y", "depends_on": ["a"]},
        ]
    }
    repaired, notes = repair_plan(raw)
    assert notes == []
    with pytest.raises(PlanError, match="cycle"):
        parse_plan(repaired)


@pytest.mark.parametrize("data", [None, "text", [], {"plan": []}, {"subtasks": "x"}])
def test_anything_else_is_returned_unchanged(data: object) -> None:
    assert repair_plan(data) == (data, [])


def test_exact_copies_of_a_subtask_are_dropped_but_different_ones_kept() -> None:
    one = {"id": "a", "description": "x", "depends_on": []}
    other = {"id": "a", "description": "y", "depends_on": []}
    repaired, notes = repair_plan({"subtasks": [one, dict(one), dict(one), other]})

    assert repaired == {"subtasks": [one, other]}
    assert notes == ["dropped 2 exact copies of subtask 'a'"]


def test_reused_ids_are_dropped_only_when_asked_as_a_last_resort() -> None:
    first = {"id": "a", "description": "x", "depends_on": []}
    reuse = {"id": "a", "description": "y", "depends_on": []}
    data = {"subtasks": [first, reuse]}

    assert repair_plan(data) == (data, [])
    repaired, notes = repair_plan(data, drop_reused_ids=True)
    assert repaired == {"subtasks": [first]}
    assert notes == ["dropped a later subtask that reused the id 'a'"]
