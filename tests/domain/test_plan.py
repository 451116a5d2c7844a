"""Given a planner's answer or a plan, when it is parsed or scheduled, then..."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llama_cpp.llama_grammar import json_schema_to_gbnf

from loom.domain.errors import LoomError
from loom.domain.events import PlannedSubtask
from loom.domain.plan import (
    PLAN_SCHEMA,
    Plan,
    PlanError,
    lower_bound,
    parse_plan,
    simulate_list_schedule,
    simulate_schedule,
)


def task(
    id: str, *deps: str, files: tuple[str, ...] = (), tier: int = 1
) -> dict[str, Any]:
    return {
        "id": id,
        "description": f"do {id}",
        "depends_on": list(deps),
        "acceptance_criteria": [f"{id} works"],
        "expected_files": list(files),
        "verification_tier": tier,
    }


def plan_of(*tasks: dict[str, Any]) -> Plan:
    return parse_plan({"subtasks": list(tasks)})


def problems_of(data: object) -> tuple[str, ...]:
    with pytest.raises(PlanError) as caught:
        parse_plan(data)
    return caught.value.problems


# a -> c -> e, a -> d, b -> f  (arrows point from dependency to dependent)
DAG = plan_of(
    task("a"), task("b"), task("c", "a"), task("d", "a"), task("e", "c"), task("f", "b")
)


# --- parsing -----------------------------------------------------------------


def test_valid_plan_round_trips_through_its_data_and_json() -> None:
    plan = plan_of(task("setup", tier=2), task("build", "setup", files=("src/a.py",)))

    assert parse_plan(plan.as_data()) == plan
    assert parse_plan(json.dumps(plan.as_data())) == plan
    assert plan.subtask("build") == PlannedSubtask(
        id="build",
        description="do build",
        depends_on=["setup"],
        acceptance_criteria=["build works"],
        expected_files=["src/a.py"],
        verification_tier=1,
    )


def test_plan_rebuilt_from_event_subtasks_equals_parsed_plan() -> None:
    assert Plan(DAG.subtasks) == DAG
    assert Plan(tuple(reversed(DAG.subtasks))).ids == ("b", "f", "a", "d", "c", "e")


def test_optional_fields_default_when_omitted() -> None:
    plan = parse_plan({"subtasks": [{"id": "only", "description": "do it"}]})

    assert plan.subtasks == (PlannedSubtask(id="only", description="do it"),)


def test_subtasks_come_out_in_topological_order_ties_by_given_order() -> None:
    plan = plan_of(task("c", "b"), task("a"), task("b", "a"), task("z"))

    assert plan.ids == ("a", "b", "c", "z")


def test_plan_error_is_a_loom_error_and_lists_problems_for_the_model() -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan({"subtasks": []})

    assert isinstance(caught.value, LoomError)
    assert str(caught.value) == (
        "the plan was rejected; fix these problems and answer again with the "
        "whole plan:\n- 'subtasks' is empty: give at least one subtask"
    )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([], "expected an object with a 'subtasks' array, got an array"),
        ({}, "'subtasks' must be an array, got null"),
        ({"subtasks": "x"}, "'subtasks' must be an array, got a string"),
        ("{not json", "the answer is not valid JSON: Expecting property name"),
        (
            {"subtasks": [task(f"t{i}") for i in range(51)]},
            "'subtasks' has 51 items; give at most 50 (merge small steps)",
        ),
        (
            {"subtasks": [task("a"), "b"]},
            "subtasks[1]: expected an object, got a string",
        ),
        (
            {"subtasks": [{"description": "x"}]},
            "subtasks[0]: missing required field 'id'",
        ),
        (
            {"subtasks": [{"id": "a"}]},
            "subtasks[0]: missing required field 'description'",
        ),
        (
            {"subtasks": [{**task("a"), "id": 7}]},
            "subtasks[0].id: expected a string, got a number",
        ),
        (
            {"subtasks": [{**task("a"), "id": "Bad Id"}]},
            "subtasks[0].id: 'Bad Id' does not match ^[a-z0-9][a-z0-9_-]{0,40}$",
        ),
        (
            {"subtasks": [{**task("a"), "description": "  "}]},
            "subtasks[0].description: is empty; say what the subtask must do",
        ),
        (
            {"subtasks": [{**task("a"), "depends_on": "b"}]},
            "subtasks[0].depends_on: expected an array of strings, got a string",
        ),
        (
            {"subtasks": [task("a"), {**task("b"), "expected_files": ["x", None]}]},
            "subtasks[1].expected_files[1]: expected a string, got null",
        ),
        (
            {"subtasks": [{**task("a"), "verification_tier": 4}]},
            "subtasks[0].verification_tier: expected 1, 2 or 3, got 4",
        ),
        (
            {"subtasks": [{**task("a"), "verification_tier": True}]},
            "subtasks[0].verification_tier: expected 1, 2 or 3, got True",
        ),
    ],
)
def test_wrong_shape_names_the_field_and_index(data: object, problem: str) -> None:
    problems = problems_of(data)

    assert len(problems) == 1
    assert problems[0].startswith(problem)


def test_unexpected_fields_are_named() -> None:
    problems = problems_of({"subtasks": [{**task("a"), "name": "x"}], "goal": "g"})

    assert problems == (
        "unexpected top-level field(s): goal",
        "subtasks[0]: unexpected field 'name' (allowed: id, description, "
        "depends_on, acceptance_criteria, expected_files, verification_tier, checks)",
    )


def test_every_shape_problem_is_reported_at_once() -> None:
    problems = problems_of({"subtasks": [{"id": "A"}, {"id": "b", "description": ""}]})

    assert problems == (
        "subtasks[0].id: 'A' does not match ^[a-z0-9][a-z0-9_-]{0,40}$",
        "subtasks[0]: missing required field 'description'",
        "subtasks[1].description: is empty; say what the subtask must do",
    )


def test_duplicate_ids_are_named_once() -> None:
    problems = problems_of({"subtasks": [task("a"), task("a"), task("a")]})

    assert problems == ("duplicate id 'a': give each subtask its own id",)


def test_self_dependency_is_named() -> None:
    assert problems_of({"subtasks": [task("a", "a")]}) == (
        "subtask 'a' depends on itself",
    )


def test_unknown_dependencies_are_named_with_the_valid_ids() -> None:
    problems = problems_of({"subtasks": [task("a"), task("b", "x", "a", "y")]})

    assert problems == (
        "subtask 'b' depends on unknown id(s) 'x', 'y'; valid ids are: a, b",
    )


def test_cycle_is_named_as_a_path() -> None:
    problems = problems_of(
        {"subtasks": [task("d", "a"), task("a", "b"), task("b", "c"), task("c", "a")]}
    )

    assert problems == (
        "dependency cycle: a -> b -> c -> a (each depends on the next); "
        "remove one of these dependencies",
    )


def test_plan_built_directly_is_checked_too() -> None:
    with pytest.raises(PlanError, match="the plan has no subtasks"):
        Plan(())
    with pytest.raises(PlanError, match="dependency cycle: a -> b -> a"):
        Plan(
            (
                PlannedSubtask(id="a", description="x", depends_on=["b"]),
                PlannedSubtask(id="b", description="y", depends_on=["a"]),
            )
        )


def test_schema_converts_to_a_llama_cpp_grammar() -> None:
    grammar = json_schema_to_gbnf(json.dumps(PLAN_SCHEMA))

    assert grammar.startswith("char ::= ")
    assert 'subtasks-item-verification-tier ::= "1" | "2" | "3"' in grammar
    assert "$ref" not in json.dumps(PLAN_SCHEMA)
    assert "oneOf" not in json.dumps(PLAN_SCHEMA)


def test_schema_forbids_extra_fields_and_bounds_the_plan() -> None:
    subtasks = PLAN_SCHEMA["properties"]["subtasks"]

    assert PLAN_SCHEMA["additionalProperties"] is False
    assert subtasks["items"]["additionalProperties"] is False
    assert (subtasks["minItems"], subtasks["maxItems"]) == (1, 50)
    assert subtasks["items"]["required"] == list(task("a"))


# --- priorities, readiness, failures -------------------------------------------


def test_critical_path_with_unit_and_given_costs() -> None:
    assert DAG.critical_path() == (["a", "c", "e"], 3.0)
    assert DAG.critical_path({"b": 5.0}) == (["b", "f"], 6.0)


def test_ready_orders_by_longest_remaining_path_then_topological_order() -> None:
    assert DAG.ready(set(), set(), set()) == ["a", "b"]
    assert DAG.ready({"a"}, set(), set()) == ["b", "c", "d"]
    assert DAG.ready({"a"}, set(), set(), costs={"d": 4.0}) == ["d", "b", "c"]
    assert DAG.ready({"a"}, {"b"}, set()) == ["c", "d"]
    assert DAG.ready({"a", "b", "c", "d", "e", "f"}, set(), set()) == []


def test_blocked_by_failure_is_transitive() -> None:
    assert DAG.blocked_by_failure({"a"}) == {"c", "d", "e"}
    assert DAG.blocked_by_failure({"c"}) == {"e"}
    assert DAG.blocked_by_failure({"a", "c"}) == {"c", "d", "e"}
    assert DAG.blocked_by_failure(set()) == set()


def test_ready_skips_failed_and_blocked_subtasks() -> None:
    assert DAG.ready({"a"}, set(), {"c"}) == ["b", "d"]
    assert DAG.ready({"a", "c"}, set(), {"b"}) == ["d", "e"]


# --- file conflicts and batches ------------------------------------------------

FILES = plan_of(
    task("p", files=("./src/a.py",)),
    task("q", files=("src\\a.py", "docs/x.md")),
    task("r", files=("src",)),
    task("s", files=("src/ab.py",)),
    task("t"),
    task("u", files=("lib/a.py",)),
)


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("p", "q", True),
        ("p", "r", True),
        ("r", "s", True),
        ("p", "s", False),
        ("p", "u", False),
        ("p", "t", False),
        ("t", "t", False),
    ],
)
def test_conflicts_compare_normalized_paths(
    first: str, second: str, expected: bool
) -> None:
    assert FILES.conflicts(first, second) is expected
    assert FILES.conflicts(second, first) is expected


def test_next_batch_respects_the_limit() -> None:
    assert DAG.next_batch(set(), set(), set(), limit=1) == ["a"]
    assert DAG.next_batch(set(), set(), set(), limit=5) == ["a", "b"]
    assert DAG.next_batch({"a"}, {"b"}, set(), limit=2) == ["c"]
    assert DAG.next_batch({"a"}, {"b", "c"}, set(), limit=2) == []


def test_next_batch_skips_conflicts_with_running_and_picked() -> None:
    assert FILES.next_batch(set(), set(), set(), limit=6) == ["p", "s", "t", "u"]
    assert FILES.next_batch(set(), {"s"}, set(), limit=6) == ["p", "t", "u"]
    assert FILES.next_batch(set(), {"r"}, set(), limit=6) == ["t", "u"]


# --- simulation ------------------------------------------------------------------


def test_simulation_of_a_chain_beside_a_long_task() -> None:
    plan = plan_of(task("a"), task("b", "a"), task("c"))
    costs = {"a": 2.0, "b": 3.0, "c": 4.0}

    schedule = simulate_schedule(plan, costs, parallelism=2)

    assert schedule.starts == {"a": 0.0, "c": 0.0, "b": 2.0}
    assert schedule.finishes == {"a": 2.0, "c": 4.0, "b": 5.0}
    assert schedule.makespan == 5.0
    assert lower_bound(plan, costs, parallelism=2) == 5.0
    assert simulate_list_schedule(plan, costs, parallelism=1) == 9.0
    assert lower_bound(plan, costs, parallelism=1) == 9.0


def test_simulation_starts_the_critical_path_first() -> None:
    plan = plan_of(task("y"), task("z"), task("x"), task("w", "x"))
    costs = {"w": 3.0}

    schedule = simulate_schedule(plan, costs, parallelism=2)

    assert schedule.starts == {"x": 0.0, "y": 0.0, "z": 1.0, "w": 1.0}
    assert schedule.makespan == 4.0
    assert lower_bound(plan, costs, parallelism=2) == 4.0


def test_simulation_serializes_subtasks_sharing_files() -> None:
    shared = plan_of(task("a", files=("f.py",)), task("b", files=("f.py",)))
    apart = plan_of(task("a", files=("f.py",)), task("b", files=("g.py",)))
    costs = {"a": 2.0, "b": 2.0}

    assert simulate_list_schedule(shared, costs, parallelism=2) == 4.0
    assert simulate_list_schedule(apart, costs, parallelism=2) == 2.0
    assert lower_bound(shared, costs, parallelism=2) == 2.0


def test_simulation_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="parallelism must be at least 1, got 0"):
        simulate_list_schedule(DAG, {}, parallelism=0)
    with pytest.raises(ValueError, match="costs must not be negative: b"):
        simulate_list_schedule(DAG, {"b": -1.0}, parallelism=2)


@st.composite
def random_plans(draw: st.DrawFn) -> tuple[Plan, dict[str, float], int]:
    count = draw(st.integers(min_value=1, max_value=9))
    pool = st.sampled_from(["a.py", "b.py", "src", "src/c.py"])
    tasks = []
    for i in range(count):
        deps = [f"t{j}" for j in range(i) if draw(st.booleans())]
        files = tuple(draw(st.lists(pool, max_size=2)))
        tasks.append(task(f"t{i}", *deps, files=files))
    order = draw(st.permutations(tasks))
    costs = {f"t{i}": float(draw(st.integers(0, 5))) for i in range(count)}
    return plan_of(*order), costs, draw(st.integers(min_value=1, max_value=4))


@settings(max_examples=200, deadline=None)
@given(random_plans())
def test_simulated_schedule_is_feasible_and_within_bounds(
    case: tuple[Plan, dict[str, float], int],
) -> None:
    plan, costs, parallelism = case

    schedule = simulate_schedule(plan, costs, parallelism)

    assert set(schedule.starts) == set(plan.ids) == set(schedule.finishes)
    assert lower_bound(plan, costs, parallelism) <= schedule.makespan
    assert schedule.makespan <= sum(costs.values())
    for subtask in plan.subtasks:
        start = schedule.starts[subtask.id]
        assert schedule.finishes[subtask.id] == start + costs[subtask.id]
        for dep in subtask.depends_on:
            assert start >= schedule.finishes[dep]
    _assert_no_overload(plan, schedule.starts, schedule.finishes, parallelism)


def _assert_no_overload(
    plan: Plan,
    starts: Mapping[str, float],
    finishes: Mapping[str, float],
    parallelism: int,
) -> None:
    # Zero-length subtasks occupy no time, so only positive spans can clash.
    spans = {i: (starts[i], finishes[i]) for i in plan.ids if finishes[i] > starts[i]}
    for moment in {start for start, _ in spans.values()}:
        live = [i for i, (s, f) in spans.items() if s <= moment < f]
        assert len(live) <= parallelism
        for first in live:
            for second in live:
                assert first == second or not plan.conflicts(first, second)
