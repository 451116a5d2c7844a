"""Process definitions as data: their format, and the rules they put on a plan."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from loom.domain.plan import parse_plan
from loom.domain.process import ProcessDefinition, apply_process


def process(**fields: Any) -> ProcessDefinition:
    return ProcessDefinition.model_validate(
        {"name": "demo", "description": "A demo process.", **fields}
    )


PLAN = """{"subtasks": [
  {"id": "a", "description": "write a", "depends_on": [],
   "acceptance_criteria": [], "expected_files": ["a.py"],
   "verification_tier": 1, "checks": ["python a.py"]},
  {"id": "b", "description": "review a", "depends_on": ["a"],
   "acceptance_criteria": [], "expected_files": [], "verification_tier": 3}
]}"""


def test_the_process_sets_the_least_tier_and_adds_its_checks() -> None:
    rules = {"tier": 2, "checks": ["python -m compileall -q .", "python a.py"]}
    ruled = apply_process(parse_plan(PLAN), process(verification=rules))
    a, b = ruled.subtasks
    assert (a.verification_tier, b.verification_tier) == (2, 3)
    assert a.checks == ["python a.py", "python -m compileall -q ."]
    assert b.checks == ["python -m compileall -q .", "python a.py"]
    assert [s.depends_on for s in ruled.subtasks] == [[], ["a"]]


def test_without_rules_the_plan_is_unchanged() -> None:
    plan = parse_plan(PLAN)
    assert apply_process(plan, process()) == plan


def test_the_planner_hears_the_persona_and_the_phases_in_order() -> None:
    phases = [
        {"id": "gather", "description": "read the sources"},
        {"id": "write", "description": "write report.md"},
    ]
    guidance = process(persona="You are an analyst.", phases=phases).planner_guidance()
    assert guidance.splitlines() == [
        "Process: demo (A demo process.)",
        "You are an analyst.",
        "Plan the work in these phases, in this order:",
        "- gather: read the sources",
        "- write: write report.md",
    ]


def test_agents_get_the_persona_first_and_the_tool_guidance_last() -> None:
    followed = process(persona="You are an analyst.", tool_guidance="Cite files.")
    assert followed.agent_identity("Rules.") == "You are an analyst.\n\nRules."
    assert followed.agent_tool_guidance("Use tools.") == "Use tools.\nCite files."
    assert process().agent_identity("Rules.") == "Rules."


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"name": "Not A Name"}, "name"),
        ({"colour": "blue"}, "colour"),
        ({"verification": {"tier": 4}}, "verification.tier"),
        ({"phases": [{"id": "x"}]}, "phases.0.description"),
    ],
)
def test_a_malformed_definition_is_refused_at_the_field(
    fields: dict[str, Any], where: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        process(**fields)
    problem = refused.value.errors()[0]
    assert ".".join(str(p) for p in problem["loc"]) == where
