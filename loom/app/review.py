"""Asking models for reviews, consensus votes and learned notes.

The pure parts (prompts, schemas, parsing, counting) live in
:mod:`loom.domain.review`; this module only makes the calls. The orchestrator
wraps each provider in a ``RecordingProvider`` and records the
``VerificationRecorded`` and ``PatternLearned`` events from what is returned
here.
"""

from __future__ import annotations

from collections.abc import Sequence

from loom.domain.models import Completion, ModelError, ModelRequest, ModelResponseError
from loom.domain.ports import ModelProvider
from loom.domain.review import (
    DEFAULT_LENS,
    Consensus,
    Evidence,
    Lens,
    Vote,
    check_quorum,
    evidence_budget,
    extraction_request,
    parse_learned,
    parse_verdict,
    plan_voters,
    review_request,
    tally,
)

__all__ = [
    "Voter",
    "consensus",
    "extract",
    "plan_voters",
    "review",
]

Voter = tuple[str, ModelProvider, Lens]
"""A tier-3 voter: its label (``model/lens``), its model and its lens."""


async def review(
    provider: ModelProvider,
    evidence: Evidence,
    lens: Lens = DEFAULT_LENS,
    *,
    max_tokens: int = 256,
    budget_chars: int | None = None,
) -> tuple[bool, list[str]]:
    """One independent verdict on an attempt (tier 2, or one tier-3 vote).

    Args:
        provider: The verifier model.
        evidence: What the attempt did.
        lens: What the reviewer looks for.
        max_tokens: The most tokens the verdict may take.
        budget_chars: Characters of evidence to show; by default what fits the
            provider's context (see :func:`loom.domain.review.evidence_budget`).

    Returns:
        Whether the attempt passed, and the reasons. A failed call or an
        unreadable answer is a failure that says so, never a pass.
    """
    chars = _budget(provider, max_tokens, budget_chars)
    request = review_request(evidence, lens, chars, max_tokens=max_tokens)
    try:
        completion = await _complete(provider, request)
    except ModelError as error:
        return False, [f"the review could not be made: {error}"]
    return parse_verdict(completion.text)


async def consensus(
    voters: Sequence[Voter],
    evidence: Evidence,
    quorum: int,
    *,
    max_tokens: int = 256,
) -> tuple[Consensus, list[Vote]]:
    """Tier 3: every voter reviews the attempt, then the votes are counted.

    Args:
        voters: From :func:`plan_voters`, each a distinct (model, lens) pair.
        evidence: What the attempt did.
        quorum: How many votes must pass.
        max_tokens: The most tokens each verdict may take.

    Raises:
        ValueError: The quorum is below one or above the number of voters
            (checked before any model is called).
    """
    check_quorum(quorum, len(voters))
    votes: list[Vote] = []
    # One after another, never gathered: a replay must meet the recorded
    # model calls in the recorded order, and a local server runs one at a time.
    for label, provider, lens in voters:
        passed, reasons = await review(provider, evidence, lens, max_tokens=max_tokens)
        votes.append(Vote(label, passed, tuple(reasons)))
    return tally(votes, quorum), votes


async def extract(
    provider: ModelProvider,
    evidence: Evidence,
    *,
    max_tokens: int = 256,
    budget_chars: int | None = None,
) -> list[tuple[str, str]]:
    """What the extractor model learned from an attempt: ``(kind, text)`` pairs.

    Learning is best effort: a failed call or an unreadable answer gives ``[]``.
    """
    chars = _budget(provider, max_tokens, budget_chars)
    request = extraction_request(evidence, chars, max_tokens=max_tokens)
    try:
        completion = await _complete(provider, request)
    except ModelError:
        return []
    return parse_learned(completion.text)


def _budget(provider: ModelProvider, max_tokens: int, chars: int | None) -> int:
    if chars is not None:
        return chars
    return evidence_budget(provider.capabilities.context_length, max_tokens)


async def _complete(provider: ModelProvider, request: ModelRequest) -> Completion:
    completion: Completion | None = None
    async for item in provider.stream(request):
        if isinstance(item, Completion):
            completion = item
    if completion is None:
        raise ModelResponseError("the model's answer ended without a completion")
    return completion
