"""Reviews, consensus votes and extraction against scripted models."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from loom.adapters.models.scripted import ScriptedProvider
from loom.app.review import consensus, extract, plan_voters, review
from loom.domain.events import PlannedSubtask
from loom.domain.models import (
    Completion,
    ModelRequest,
    ModelResponseError,
    ModelTimeoutError,
)
from loom.domain.review import (
    LEARNED_SCHEMA,
    LENSES,
    VERDICT_SCHEMA,
    Consensus,
    Evidence,
    ToolResult,
    Vote,
)

EVIDENCE = Evidence(
    subtask=PlannedSubtask(
        id="add-fn", description="Add add()", acceptance_criteria=["add works"]
    ),
    goal="Build a calculator",
    answer="Done.",
    diffs=(("calc.py", "--- a/calc.py\n+++ b/calc.py\n" + "+x = 1\n" * 3000),),
    tool_results=(ToolResult("run_shell", "{}", False, "1 passed"),),
)
PASS = Completion(text='{"passed": true, "reasons": []}')


def fail(*reasons: str) -> Completion:
    quoted = ", ".join(f'"{reason}"' for reason in reasons)
    return Completion(text=f'{{"passed": false, "reasons": [{quoted}]}}')


def logged(log: list[str], name: str, answer: Completion) -> Callable[..., Completion]:
    def answer_after_delay(request: ModelRequest) -> Completion:
        log.append(name)
        return answer

    return answer_after_delay


# --- review ---------------------------------------------------------------------


async def test_review_asks_once_with_the_verdict_schema() -> None:
    provider = ScriptedProvider([fail("add is missing")])

    verdict = await review(provider, EVIDENCE, LENSES[2], max_tokens=64)

    assert verdict == (False, ["add is missing"])
    (request,) = provider.requests
    assert request.params.json_schema == VERDICT_SCHEMA
    assert (request.params.temperature, request.params.max_tokens) == (0, 64)
    assert LENSES[2].instruction in request.messages[1].content


async def test_review_passes_only_on_a_passing_verdict() -> None:
    assert await review(ScriptedProvider([PASS]), EVIDENCE) == (True, [])


async def test_a_failed_call_is_a_failed_review_that_says_why() -> None:
    provider = ScriptedProvider([ModelTimeoutError("the server took too long")])

    assert await review(provider, EVIDENCE) == (
        False,
        ["the review could not be made: the server took too long"],
    )


async def test_garbage_is_a_failed_review_not_a_pass() -> None:
    provider = ScriptedProvider([Completion(text="Looks great, ship it!")])

    passed, reasons = await review(provider, EVIDENCE)

    assert passed is False
    assert reasons[0].startswith("the reviewer's answer was not a verdict: ")


async def test_the_evidence_is_cut_to_fit_the_context() -> None:
    small = ScriptedProvider([PASS], context_length=2048)
    large = ScriptedProvider([PASS], context_length=32768)
    chosen = ScriptedProvider([PASS])

    await review(small, EVIDENCE)
    await review(large, EVIDENCE)
    await review(chosen, EVIDENCE, budget_chars=500)

    def size(provider: ScriptedProvider) -> int:
        return len(provider.requests[0].messages[1].content)

    assert size(chosen) < size(small) < size(large) < 14_000
    assert "characters cut ...]" in chosen.requests[0].messages[1].content


# --- consensus ------------------------------------------------------------------


async def test_votes_run_one_after_another_in_voter_order() -> None:
    log: list[str] = []
    # The first model is slow: gathered votes would finish in another order.
    slow = ScriptedProvider(
        [logged(log, "slow-1", PASS), logged(log, "slow-2", fail("no test"))],
        name="slow",
        delay=0.05,
    )
    fast = ScriptedProvider([logged(log, "fast", PASS)], name="fast")
    voters = plan_voters([("slow", slow), ("fast", fast)], 3)

    result, votes = await consensus(voters, EVIDENCE, quorum=2)

    assert log == ["slow-1", "fast", "slow-2"]
    assert votes == [
        Vote("slow/requirements", True, ()),
        Vote("fast/correctness", True, ()),
        Vote("slow/skeptic", False, ("no test",)),
    ]
    assert result == Consensus(True, 2, 1, ("slow/skeptic: no test",))


async def test_no_two_votes_send_the_same_request() -> None:
    one = ScriptedProvider([PASS] * 3, name="one")
    two = ScriptedProvider([PASS] * 3, name="two")

    await consensus(plan_voters([("one", one), ("two", two)], 6), EVIDENCE, 6)

    for provider in (one, two):
        assert len({r.fingerprint() for r in provider.requests}) == 3


async def test_a_failed_voter_counts_against() -> None:
    broken = ScriptedProvider([ModelResponseError("HTTP 500", status=500)])
    good = ScriptedProvider([PASS])
    voters = plan_voters([("broken", broken), ("good", good)], 2)

    result, votes = await consensus(voters, EVIDENCE, quorum=2)

    assert not result.passed
    assert (result.for_count, result.against_count) == (1, 1)
    assert votes[0].reasons == ("the review could not be made: HTTP 500",)


@pytest.mark.parametrize("quorum", [0, 3])
async def test_a_bad_quorum_is_refused_before_any_call(quorum: int) -> None:
    provider = ScriptedProvider([PASS, PASS])

    with pytest.raises(ValueError, match="quorum"):
        await consensus(plan_voters([("m", provider)], 2), EVIDENCE, quorum)
    assert provider.requests == []


# --- extraction -----------------------------------------------------------------


async def test_extract_returns_what_was_learned() -> None:
    answer = Completion(
        text='{"learned": [{"kind": "fact", "text": "tests live in tests/"}]}'
    )
    provider = ScriptedProvider([answer])

    learned = await extract(provider, EVIDENCE, max_tokens=100)

    assert learned == [("fact", "tests live in tests/")]
    (request,) = provider.requests
    assert request.params.json_schema == LEARNED_SCHEMA
    assert request.params.max_tokens == 100


@pytest.mark.parametrize(
    "answer",
    [ModelTimeoutError("slow"), Completion(text="I learned a lot!")],
)
async def test_extract_failures_give_nothing(answer: Completion | Exception) -> None:
    assert await extract(ScriptedProvider([answer]), EVIDENCE) == []
