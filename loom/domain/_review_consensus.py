"""Tier-3 consensus: planning distinct voters and counting their votes.

Private helper of :mod:`loom.domain.review`, which re-exports its public names.
A voter is a distinct pair of verifier model and :class:`Lens`;
:func:`plan_voters` spreads the votes evenly over both, and :func:`tally`
counts them against a quorum. ``_NO_REASON`` is shared with the verdict reader
in :mod:`loom.domain.review`, which gives the same reason for a failure that
came without one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import lcm
from typing import TypeVar

from loom.domain._review_prompt import LENSES, Lens

__all__ = [
    "_NO_REASON",
    "Consensus",
    "Vote",
    "check_quorum",
    "plan_voters",
    "tally",
]

_NO_REASON = "the reviewer failed the attempt without giving a reason"

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
