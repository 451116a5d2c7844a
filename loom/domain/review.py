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
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from math import lcm
from typing import Any, NamedTuple, TypeVar

from loom.domain._prompt_cut import largest_fitting
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
from loom.domain.models import ChatMessage, ModelParams, ModelRequest

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
_MAX_GOAL_CHARS = 1200
_MAX_ARGUMENTS_CHARS = 200
_MAX_RESULT_CHARS = 4000
_DIFF_FLOOR = 160
_NO_REASON = "the reviewer failed the attempt without giving a reason"
_NOT_A_VERDICT = "the reviewer's answer was not a verdict"
_CLAIMS = "EXECUTOR'S CLAIMS (not evidence: believe only what the above shows)"

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


@dataclass(frozen=True)
class Lens:
    """A reviewer prompt: what one vote looks for.

    Attributes:
        name: Short stable name, used in vote labels (``qwen/skeptic``).
        instruction: The reviewer's task, appended to the evidence.
    """

    name: str
    instruction: str


LENSES: tuple[Lens, ...] = (
    Lens(
        "requirements",
        "Go through the acceptance criteria one by one. Fail if the evidence "
        "does not show that every criterion is met.",
    ),
    Lens(
        "correctness",
        "Look for bugs in the diffs and for errors or failing output in the "
        "tool results. Fail if the change is wrong or an error was left unfixed.",
    ),
    Lens(
        "skeptic",
        "Be skeptical. Look for claims the evidence does not back up and for "
        "missing pieces: files not changed, checks not run, work not done. "
        "Fail if anything needed is missing.",
    ),
)
DEFAULT_LENS = LENSES[0]


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


# --- consensus ----------------------------------------------------------------

P = TypeVar("P")


@dataclass(frozen=True)
class Vote:
    """One tier-3 voter's verdict.

    Attributes:
        voter: Which voter: ``model/lens``.
        passed: Its verdict.
        reasons: Its reasons.
    """

    voter: str
    passed: bool
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Consensus:
    """The outcome of a tier-3 vote.

    Attributes:
        passed: At least ``quorum`` votes passed.
        for_count: Votes that passed.
        against_count: Votes that failed.
        reasons: The failing votes' reasons, each prefixed with its voter.
    """

    passed: bool
    for_count: int
    against_count: int
    reasons: tuple[str, ...]


def plan_voters(
    providers: Sequence[tuple[str, P]], count: int, lenses: Sequence[Lens] = LENSES
) -> list[tuple[str, P, Lens]]:
    """Pair verifier models with lenses so that no two votes are alike.

    Vote ``i`` takes model ``i mod M`` and lens ``i mod L``, shifted by one lens
    every ``lcm(M, L)`` votes: the first ``min(M, L)`` votes differ in both
    model and lens, every prefix spreads its votes evenly over models and
    lenses, and all ``M * L`` pairs are reachable without a repeat.

    Args:
        providers: ``(name, provider)`` per verifier model; names must differ.
        count: How many votes to plan.
        lenses: The reviewer prompts to draw from.

    Returns:
        ``(label, provider, lens)`` per vote, labelled ``name/lens``.

    Raises:
        ValueError: No providers or lenses, repeated names, a count below one,
            or more votes than distinct (model, lens) pairs.
    """
    _check_voters([name for name, _ in providers], [lens.name for lens in lenses])
    pairs = len(providers) * len(lenses)
    if not 1 <= count <= pairs:
        raise ValueError(
            f"cannot plan {count} distinct votes from {len(providers)} verifier "
            f"model(s) x {len(lenses)} lens(es) = {pairs} (model, lens) pair(s); "
            "add verifier models or lower the vote count"
        )
    cycle = lcm(len(providers), len(lenses))
    voters: list[tuple[str, P, Lens]] = []
    for i in range(count):
        name, provider = providers[i % len(providers)]
        lens = lenses[(i + i // cycle) % len(lenses)]
        voters.append((f"{name}/{lens.name}", provider, lens))
    return voters


def _check_voters(names: list[str], lens_names: list[str]) -> None:
    if not names or not lens_names:
        raise ValueError("a vote needs at least one verifier model and one lens")
    for kind, values in (("verifier model", names), ("lens", lens_names)):
        if len(set(values)) != len(values):
            raise ValueError(f"each {kind} must have a distinct name: {values}")


def check_quorum(quorum: int, votes: int) -> None:
    """Raise ``ValueError`` unless ``1 <= quorum <= votes``.

    A quorum of zero would pass work nobody approved; one above the number of
    votes could never pass.
    """
    if not 1 <= quorum <= votes:
        raise ValueError(
            f"the quorum must be between 1 and {votes} votes, not {quorum}"
        )


def tally(votes: Sequence[Vote], quorum: int) -> Consensus:
    """Count votes: the attempt passes iff at least ``quorum`` of them passed.

    Raises:
        ValueError: The quorum is below one or above the number of votes.
    """
    check_quorum(quorum, len(votes))
    against = [vote for vote in votes if not vote.passed]
    reasons = [
        f"{vote.voter}: {reason}"
        for vote in against
        for reason in vote.reasons or (_NO_REASON,)
    ]
    for_count = len(votes) - len(against)
    return Consensus(
        for_count >= quorum, for_count, len(against), tuple(dict.fromkeys(reasons))
    )


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


# --- prompt text --------------------------------------------------------------


def _request(
    system: str, user: str, schema: dict[str, Any], max_tokens: int
) -> ModelRequest:
    return ModelRequest(
        messages=[
            ChatMessage(role="system", content=system),
            ChatMessage(role="user", content=user),
        ],
        params=ModelParams(max_tokens=max_tokens, temperature=0, json_schema=schema),
    )


@dataclass(frozen=True)
class _Piece:
    text: str
    floor: int = 0
    keep_tail: bool = True


def _evidence_text(evidence: Evidence, budget: int) -> str:
    diffs, results = evidence.diffs, evidence.tool_results
    cut = _fit(
        [
            *(_Piece(diff.rstrip(), _DIFF_FLOOR, keep_tail=False) for _, diff in diffs),
            *(_Piece(result.result.rstrip()) for result in results),
            _Piece(evidence.answer.strip()),
        ],
        budget,
    )
    diff_cut, result_cut = cut[: len(diffs)], cut[len(diffs) : -1]
    diff_lines = [
        f"### {path}\n{text}" for (path, _), text in zip(diffs, diff_cut, strict=True)
    ]
    result_lines = [
        f"[{n}] {r.tool} {r.arguments} -> {'ERROR' if r.is_error else 'ok'}\n{text}"
        for n, (r, text) in enumerate(zip(results, result_cut, strict=True), 1)
    ]
    return "\n\n".join(
        [
            _header(evidence),
            _section("CHANGES MADE (unified diffs)", diff_lines, "no file changed"),
            _section("TOOL RESULTS", result_lines, "no tool was run"),
            _section(_CLAIMS, [cut[-1]], "the executor gave no final answer"),
        ]
    )


def _header(evidence: Evidence) -> str:
    subtask = evidence.subtask
    criteria = [f"{n}. {c}" for n, c in enumerate(subtask.acceptance_criteria, 1)]
    sections = [
        _section(
            "GOAL OF THE WHOLE TASK", [_clip(evidence.goal, _MAX_GOAL_CHARS)], "none"
        ),
        _section(
            f"SUBTASK {subtask.id}",
            [_clip(subtask.description, _MAX_GOAL_CHARS)],
            "none",
        ),
        _section("ACCEPTANCE CRITERIA", criteria, "none given: judge by the subtask"),
    ]
    if subtask.expected_files:
        sections.append(_section("EXPECTED FILES", subtask.expected_files, ""))
    if evidence.prior_verdicts:
        lines = [f"- {reason}" for reason in evidence.prior_verdicts]
        sections.append(_section("CHECKS ALREADY RUN BY LOOM", lines, ""))
    return "\n\n".join(sections)


def _section(title: str, lines: Sequence[str], empty: str) -> str:
    body = "\n".join(line for line in lines if line) or f"({empty})"
    return f"{title}:\n{body}"


def _fit(pieces: Sequence[_Piece], budget: int) -> list[str]:
    """Cut the pieces to share ``budget`` fairly, keeping each one's floor.

    Water-filling: every piece gets up to the same cap, so short pieces stay
    whole and the long ones share what is left equally.
    """

    def size(cap: int) -> int:
        return sum(min(len(p.text), max(cap, p.floor)) for p in pieces)

    most = max((len(p.text) for p in pieces), default=0)
    cap = largest_fitting(most, lambda c: size(c) <= budget) or 0
    return [_clip(p.text, max(cap, p.floor), keep_tail=p.keep_tail) for p in pieces]


def _clip(text: str, keep: int, *, keep_tail: bool = True) -> str:
    """``text`` cut to about ``keep`` characters, the cut marked.

    The head always stays (a diff's file header and first hunk); with
    ``keep_tail`` the end stays too, where tool output puts its errors.
    """
    if len(text) <= keep:
        return text
    marker = f"[... {len(text) - keep} characters cut ...]"
    if not keep_tail:
        return f"{text[:keep]}\n{marker}"
    head = keep // 3
    return f"{text[:head]}\n{marker}\n{text[len(text) - (keep - head) :]}"
