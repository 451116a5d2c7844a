"""Reviewer prompts and the evidence text they are shown, cut to a budget.

Private helper of :mod:`loom.domain.review`, which re-exports :class:`Lens`,
:data:`LENSES` and :data:`DEFAULT_LENS`. It holds the lenses (what one reviewer
looks for), the building of a model request, and the evidence text: a header
(goal, subtask, criteria, earlier checks) outside the budget, then the diffs,
tool results and the executor's claims sharing the character budget fairly
(:func:`_fit`), each cut piece marked where it was cut (:func:`_clip`). The
underscore names are shared only with :mod:`loom.domain.review`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loom.domain._prompt_cut import largest_fitting
from loom.domain.models import ChatMessage, ModelParams, ModelRequest

if TYPE_CHECKING:
    from loom.domain.review import Evidence

__all__ = [
    "DEFAULT_LENS",
    "LENSES",
    "Lens",
    "_clip",
    "_evidence_text",
    "_request",
]

_MAX_GOAL_CHARS = 1200
_DIFF_FLOOR = 160
_CLAIMS = "EXECUTOR'S CLAIMS (not evidence: believe only what the above shows)"


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
