"""Independent review of a subtask attempt, consensus of votes, and extraction.

Tier 2 asks a verifier model for one verdict on what an attempt *did*: its
diffs and tool results, with the executor's own final answer shown only as
claims. Tier 3 asks several voters, each a distinct pair of verifier model and
reviewer prompt (a :class:`Lens`), and :func:`tally` counts them against a
quorum. After a subtask the extractor model records facts and patterns.

Everything here is pure: building requests, reading answers, counting votes.
Local models are weak, so prompts are short, answers are constrained by JSON
Schemas that llama.cpp's grammar converter accepts, and an answer that is not
a verdict is a failure that says so, never a pass.

The lenses and the prompt text live in ``_review_prompt``, the vote planning
and counting in ``_review_consensus``; their public names are re-exported here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from loom.domain._review_consensus import (
    _NO_REASON,
    Consensus,
    Vote,
    check_quorum,
    plan_voters,
    tally,
)
from loom.domain._review_prompt import (
    DEFAULT_LENS,
    LENSES,
    Lens,
    _clip,
    _evidence_text,
    _request,
)
from loom.domain.eventbase import Event
from loom.domain.events import (
    AgentFinished,
    PlannedSubtask,
    ToolCallCompleted,
    ToolCallDenied,
    ToolCallInterrupted,
    ToolCallRequested,
)
from loom.domain.jsonrepair import JsonRepairError, repair_json
from loom.domain.models import ModelRequest

__all__ = [
    "DEFAULT_LENS",
    "LEARNED_SCHEMA",
    "LENSES",
    "VERDICT_SCHEMA",
    "Consensus",
    "Evidence",
    "Lens",
    "ToolResult",
    "Vote",
    "check_quorum",
    "evidence_budget",
    "evidence_from",
    "extraction_request",
    "parse_learned",
    "parse_verdict",
    "plan_voters",
    "review_request",
    "tally",
]

MAX_REASONS = 5
MAX_LEARNED = 5
MAX_LEARNED_CHARS = 300
_MAX_REASON_CHARS = 300
_MAX_ARGUMENTS_CHARS = 200
_MAX_RESULT_CHARS = 4000
_NOT_A_VERDICT = "the reviewer's answer was not a verdict"

# No $ref, oneOf or anyOf and every property required: llama.cpp's
# schema-to-grammar converter must accept these (see ``_plan_shape``).
# ``passed`` comes first so that an answer cut off by max_tokens while still
# listing reasons is repaired into a verdict rather than lost.
VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "passed": {"type": "boolean"},
        "reasons": {
            "type": "array",
            "items": {"type": "string"},
            "maxItems": MAX_REASONS,
        },
    },
    "required": ["passed", "reasons"],
    "additionalProperties": False,
}

LEARNED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "learned": {
            "type": "array",
            "maxItems": MAX_LEARNED,
            "items": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": ["fact", "pattern"]},
                    "text": {"type": "string"},
                },
                "required": ["kind", "text"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["learned"],
    "additionalProperties": False,
}


class ToolResult(NamedTuple):
    """One tool call of an attempt, as the reviewer sees it."""

    tool: str
    arguments: str
    is_error: bool
    result: str


@dataclass(frozen=True)
class Evidence:
    """What one subtask attempt did, for a reviewer or the extractor.

    Attributes:
        subtask: The planned subtask, with its acceptance criteria.
        goal: The whole task's goal.
        answer: The executor's final answer (claims, not evidence).
        diffs: ``(path, unified diff)`` per changed file.
        tool_results: The attempt's tool calls in order.
        prior_verdicts: Reasons given by earlier tiers (deterministic checks).
    """

    subtask: PlannedSubtask
    goal: str
    answer: str = ""
    diffs: tuple[tuple[str, str], ...] = ()
    tool_results: tuple[ToolResult, ...] = ()
    prior_verdicts: tuple[str, ...] = ()


def evidence_from(
    events: Iterable[Event],
    diffs: Sequence[tuple[str, str]],
    *,
    subtask: PlannedSubtask,
    goal: str,
    prior_verdicts: Sequence[str] = (),
) -> Evidence:
    """Build the evidence of one attempt from its agent stream's events.

    Args:
        events: The attempt's agent-stream events, in order.
        diffs: ``(path, unified diff)`` per changed file, computed by the caller.
        subtask: The subtask the attempt worked on.
        goal: The task's goal.
        prior_verdicts: Reasons from earlier verification tiers.
    """
    requested: list[ToolCallRequested] = []
    outcomes: dict[str, tuple[bool, str]] = {}
    answer = ""
    for event in events:
        if isinstance(event, ToolCallRequested):
            requested.append(event)
        elif isinstance(event, AgentFinished):
            answer = event.answer
        else:
            outcome = _outcome(event)
            if outcome is not None:
                outcomes[outcome[0]] = outcome[1:]
    results = tuple(
        _tool_result(call, outcomes.get(call.call_id)) for call in requested
    )
    return Evidence(subtask, goal, answer, tuple(diffs), results, tuple(prior_verdicts))


def _outcome(event: Event) -> tuple[str, bool, str] | None:
    if isinstance(event, ToolCallCompleted):
        return event.call_id, event.is_error, event.result
    if isinstance(event, ToolCallDenied):
        return event.call_id, True, f"denied: {event.reason or 'no reason given'}"
    if isinstance(event, ToolCallInterrupted):
        return event.call_id, True, f"interrupted: {event.reason or 'no result'}"
    return None


def _tool_result(
    call: ToolCallRequested, outcome: tuple[bool, str] | None
) -> ToolResult:
    is_error, result = outcome if outcome is not None else (True, "(no result)")
    arguments = json.dumps(call.arguments, ensure_ascii=False, default=str)
    return ToolResult(
        call.tool,
        _clip(arguments, _MAX_ARGUMENTS_CHARS, keep_tail=False),
        is_error,
        _clip(result, _MAX_RESULT_CHARS, keep_tail=True),
    )


def evidence_budget(context_length: int, max_tokens: int) -> int:
    """A character budget for the evidence that fits a model's context.

    Reserves room for the answer and the fixed parts of the prompt, counts
    three characters per token (code tokenizes densely) and never exceeds
    12,000 characters: weak models judge worse the more they are shown.
    """
    tokens = context_length - max_tokens - 1024
    return max(1000, min(12_000, tokens * 3))


# --- review -------------------------------------------------------------------

_REVIEW_SYSTEM = (
    "You are an independent reviewer. Another model worked on a subtask; you "
    "check its work. Judge only what the evidence shows: the diffs and the tool "
    "results. The executor's claims are not evidence. If the evidence does not "
    "show the subtask is done, it is not done. Answer with JSON only: "
    '{"passed": true or false, "reasons": ["short reason", ...]}.'
)


def review_request(
    evidence: Evidence, lens: Lens, budget_chars: int, *, max_tokens: int = 256
) -> ModelRequest:
    """The request for one reviewer's verdict, constrained to ``VERDICT_SCHEMA``.

    Args:
        evidence: What the attempt did.
        lens: What this reviewer looks for.
        budget_chars: Characters shared fairly by the diffs, tool results and
            claims; the criteria and the start of each diff are always kept.
        max_tokens: The most tokens the verdict may take.
    """
    task = (
        f"YOUR TASK: {lens.instruction}\n"
        "Give a short reason for every problem you find."
    )
    return _request(
        _REVIEW_SYSTEM,
        f"{_evidence_text(evidence, budget_chars)}\n\n{task}",
        VERDICT_SCHEMA,
        max_tokens,
    )


def parse_verdict(text: str) -> tuple[bool, list[str]]:
    """Read a reviewer's answer; anything that is not a verdict fails.

    Returns:
        Whether the attempt passed, and the reasons given (a failure always
        has at least one).
    """
    read = _read_verdict(text)
    if isinstance(read, str):
        return False, [f"{_NOT_A_VERDICT}: {read}"]
    passed, reasons = read
    return passed, reasons if passed or reasons else [_NO_REASON]


def _read_verdict(text: str) -> tuple[bool, list[str]] | str:
    data, problem = _read_json(text)
    if problem is not None:
        return problem
    passed = _as_bool(data.get("passed")) if isinstance(data, dict) else None
    if passed is None or not isinstance(data, dict):
        want = '{"passed": true or false, "reasons": [...]}'
        return f"expected {want}, got {_excerpt(text)}"
    return passed, _reasons(data.get("reasons"))


def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _reasons(value: object) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        return []
    texts = (item.strip() for item in items if isinstance(item, str))
    unique = dict.fromkeys(t[:_MAX_REASON_CHARS] for t in texts if t)
    return list(unique)[:MAX_REASONS]


def _read_json(text: str) -> tuple[object, str | None]:
    if not text.strip():
        return None, "the answer was empty"
    try:
        return repair_json(text), None
    except JsonRepairError as error:
        return None, f"{error} (the answer: {_excerpt(text)})"


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return json.dumps(flat if len(flat) <= 80 else flat[:80] + "...")


# --- extraction ---------------------------------------------------------------

_EXTRACT_SYSTEM = (
    "You keep notes for later subtasks of the same project. From the evidence, "
    "record what is worth remembering: facts (paths, commands, versions, "
    "conventions of this project) and patterns (approaches that worked or "
    "failed). Only what the evidence shows, at most 5 short items, none if "
    'nothing is new. Answer with JSON only: {"learned": [{"kind": "fact" or '
    '"pattern", "text": "..."}]}.'
)


def extraction_request(
    evidence: Evidence, budget_chars: int, *, max_tokens: int = 256
) -> ModelRequest:
    """The request for the extractor, constrained to ``LEARNED_SCHEMA``."""
    task = "YOUR TASK: list what a later subtask should know, in one sentence each."
    return _request(
        _EXTRACT_SYSTEM,
        f"{_evidence_text(evidence, budget_chars)}\n\n{task}",
        LEARNED_SCHEMA,
        max_tokens,
    )


def parse_learned(text: str) -> list[tuple[str, str]]:
    """Read the extractor's answer as ``(kind, text)`` pairs.

    Items with another kind, empty or longer than ``MAX_LEARNED_CHARS`` texts,
    and repeats are dropped; an unreadable answer gives nothing.
    """
    data, problem = _read_json(text)
    items = data.get("learned") if isinstance(data, dict) else data
    if problem is not None or not isinstance(items, list):
        return []
    learned: dict[str, tuple[str, str]] = {}
    for item in items:
        pair = _learned_item(item)
        if pair is not None:
            learned.setdefault(pair[1].casefold(), pair)
    return list(learned.values())[:MAX_LEARNED]


def _learned_item(item: object) -> tuple[str, str] | None:
    if not isinstance(item, dict):
        return None
    kind, text = item.get("kind"), item.get("text")
    if not isinstance(kind, str) or not isinstance(text, str):
        return None
    kind, text = kind.strip().lower(), " ".join(text.split())
    if kind not in ("fact", "pattern") or not 0 < len(text) <= MAX_LEARNED_CHARS:
        return None
    return kind, text
