"""The planner call: goal in, validated plan out.

The planner-role model answers under the plan's JSON Schema (enforced while
decoding where the backend can). What comes back is repaired where the fix is
unambiguous (a small model under a grammar repeats list items and lists a
subtask as its own dependency), validated, and on a remaining problem the model
is asked again with the validation error, up to ``attempts`` times.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from loom.domain.errors import LoomError
from loom.domain.events import PlannedSubtask
from loom.domain.jsonrepair import JsonRepairError, repair_json
from loom.domain.models import ChatMessage, Completion, ModelParams, ModelRequest
from loom.domain.plan import PLAN_SCHEMA, Plan, PlanError, parse_plan
from loom.domain.plan_repair import repair_plan
from loom.domain.ports import ModelProvider

__all__ = [
    "PlannedWork",
    "PlanningFailed",
    "files_named_in",
    "make_plan",
    "plan_schema_for",
]

PLANNER_IDENTITY = """\
You are the planner of an autonomous coding agent. Split the goal into the
fewest subtasks that can each be done and checked on their own; one subtask is
right for a small goal. For each subtask give: a short lowercase id (like
"write-hello"), a description that says exactly what to do, the ids it depends
on, acceptance criteria a reviewer can check, the files it will create or
change (paths relative to the workspace), and a verification tier: 1 for
routine work, 2 when a reviewer should read the diff, 3 for risky changes.
Optionally give "checks": shell commands that must succeed when it is done.
Answer with JSON only."""

# Small models given room repeat list items until the limit; tighter limits
# keep a plan from a weak model short without constraining a strong one much.
_SMALL_PLANNER_CONTEXT = 16384
_FILE_NAME = re.compile(
    r"(?<![\w/.:-])((?:[\w-]+/)*[\w-]+\.[A-Za-z][A-Za-z0-9]{0,7})(?![\w/])"
)


class PlanningFailed(LoomError):
    """The planner gave no usable plan within its attempts."""


@dataclass(frozen=True)
class PlannedWork:
    """A validated plan and what Loom repaired in the answer."""

    plan: Plan
    repairs: list[str]


def files_named_in(goal: str) -> list[str]:
    """File paths the goal names (``create hello.py`` → ``["hello.py"]``)."""
    found = (m.group(1) for m in _FILE_NAME.finditer(goal))
    return list(dict.fromkeys(f for f in found if not f.startswith(("e.g", "i.e"))))


def plan_schema_for(context_length: int, named: list[str]) -> dict[str, Any]:
    """The plan schema, narrowed for a small-context model.

    A small model under the full schema fills every list to its limit with
    invented items, invents check commands, and names files the goal never
    mentioned. For one, lists are short, ``checks`` is left out, and when the
    goal names files, the expected files are chosen from those names.
    """
    if context_length > _SMALL_PLANNER_CONTEXT:
        return PLAN_SCHEMA
    schema = copy.deepcopy(PLAN_SCHEMA)
    subtasks = schema["properties"]["subtasks"]
    subtasks["maxItems"] = 6
    properties = subtasks["items"]["properties"]
    properties.pop("checks", None)
    for prop in properties.values():
        if prop.get("type") == "array":
            prop["maxItems"] = 3
    if named:
        properties["expected_files"]["items"] = {"type": "string", "enum": named}
    return schema


async def make_plan(
    provider: ModelProvider,
    brief: str,
    *,
    attempts: int = 3,
    max_tokens: int = 1024,
    named: list[str] | None = None,
) -> PlannedWork:
    """Ask ``provider`` for a plan of ``brief`` until one is valid.

    ``named`` are the files the goal names (see :func:`files_named_in`).

    Raises:
        PlanningFailed: Every attempt was unusable; the message has the last
            problems found.
    """
    named = named or []
    schema = plan_schema_for(provider.capabilities.context_length, named)
    params = ModelParams(max_tokens=max_tokens, temperature=0.0, json_schema=schema)
    messages = [
        ChatMessage(role="system", content=PLANNER_IDENTITY),
        ChatMessage(role="user", content=brief),
    ]
    problem = "the planner was never asked"
    for attempt in range(1, attempts + 1):
        completion = await _complete(
            provider, ModelRequest(messages=messages, params=params)
        )
        try:
            # Re-asking comes first; only the last answer may lose subtasks
            # that reuse an id, rather than the whole task failing.
            return _validated(completion.text, last_resort=attempt == attempts)
        except PlanError as error:
            problem = str(error)
        messages += [
            ChatMessage(role="assistant", content=completion.text),
            ChatMessage(role="user", content=problem),
        ]
    raise PlanningFailed(f"no usable plan after {attempts} attempts: {problem}")


def _validated(text: str, *, last_resort: bool = False) -> PlannedWork:
    try:
        data = repair_json(text)
    except JsonRepairError as error:
        raise PlanError([f"the answer is not JSON: {error}"]) from None
    repaired, notes = repair_plan(data, drop_reused_ids=last_resort)
    return PlannedWork(parse_plan(repaired), notes)


async def _complete(provider: ModelProvider, request: ModelRequest) -> Completion:
    async for item in provider.stream(request):
        if isinstance(item, Completion):
            return item
    raise PlanningFailed("the planner's answer ended without a completion")


def subtasks_text(subtasks: list[PlannedSubtask]) -> str:
    """A plan as short lines, for prompts that need to show one."""
    lines = []
    for s in subtasks:
        after = f" (after {', '.join(s.depends_on)})" if s.depends_on else ""
        lines.append(f"- {s.id}{after}: {s.description}")
    return "\n".join(lines)
