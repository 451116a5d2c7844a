"""Given an attempt's evidence or a reviewer's answer, when reviewed, then..."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import count as counter
from typing import Any
from uuid import UUID

import pytest

from loom.domain.eventbase import Event
from loom.domain.events import (
    AgentFinished,
    AgentStarted,
    PlannedSubtask,
    ToolCallCompleted,
    ToolCallDenied,
    ToolCallRequested,
)
from loom.domain.review import (
    DEFAULT_LENS,
    LEARNED_SCHEMA,
    LENSES,
    VERDICT_SCHEMA,
    Consensus,
    Evidence,
    Lens,
    ToolResult,
    Vote,
    evidence_budget,
    evidence_from,
    extraction_request,
    parse_learned,
    parse_verdict,
    plan_voters,
    review_request,
    tally,
)

_versions = counter(1)
SUBTASK = PlannedSubtask(
    id="add-fn",
    description="Add add(a, b) to calc.py",
    acceptance_criteria=["add(1, 2) returns 3", "pytest passes"],
    expected_files=["calc.py"],
)
DIFF = (
    "--- a/calc.py\n+++ b/calc.py\n@@ -0,0 +1,2 @@\n"
    "+def add(a, b):\n+    return a + b\n"
)
EVIDENCE = Evidence(
    subtask=SUBTASK,
    goal="Build a calculator module",
    answer="Done. All tests pass.",
    diffs=(("calc.py", DIFF),),
    tool_results=(ToolResult("run_shell", '{"command": "pytest"}', False, "1 passed"),),
    prior_verdicts=("check `pytest` passed",),
)


def event(cls: type[Event], **fields: Any) -> Any:
    n = next(_versions)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return cls(stream="agent-1", version=n, id=UUID(int=n), at=at, **fields)


def user_text(evidence: Evidence = EVIDENCE, budget: int = 6000) -> str:
    return review_request(evidence, DEFAULT_LENS, budget).messages[1].content


def not_a_verdict(text: str) -> str:
    passed, reasons = parse_verdict(text)
    assert passed is False
    assert len(reasons) == 1
    assert reasons[0].startswith("the reviewer's answer was not a verdict: ")
    return reasons[0]


# --- schemas --------------------------------------------------------------------


@pytest.mark.parametrize("schema", [VERDICT_SCHEMA, LEARNED_SCHEMA])
def test_schemas_convert_to_llama_cpp_grammars(schema: dict[str, Any]) -> None:
    grammar_module = pytest.importorskip("llama_cpp.llama_grammar")

    grammar = grammar_module.LlamaGrammar.from_json_schema(
        json.dumps(schema), verbose=False
    )

    assert "root ::=" in grammar._grammar
    for word in ("$ref", "oneOf", "anyOf", "allOf"):
        assert word not in json.dumps(schema)


def test_verdict_schema_requires_a_boolean_and_at_most_five_reasons() -> None:
    properties = VERDICT_SCHEMA["properties"]

    assert VERDICT_SCHEMA["required"] == ["passed", "reasons"]
    assert VERDICT_SCHEMA["additionalProperties"] is False
    assert properties["passed"] == {"type": "boolean"}
    assert properties["reasons"]["items"] == {"type": "string"}
    assert properties["reasons"]["maxItems"] == 5


def test_learned_schema_allows_five_facts_or_patterns() -> None:
    learned = LEARNED_SCHEMA["properties"]["learned"]

    assert LEARNED_SCHEMA["required"] == ["learned"]
    assert learned["maxItems"] == 5
    assert learned["items"]["properties"]["kind"]["enum"] == ["fact", "pattern"]
    assert learned["items"]["required"] == ["kind", "text"]
    assert learned["items"]["additionalProperties"] is False


# --- evidence -------------------------------------------------------------------


def test_evidence_pairs_each_call_with_its_result_and_takes_the_answer() -> None:
    events = [
        event(
            AgentStarted,
            task_id="t",
            subtask_id="add-fn",
            workspace="/w",
            brief="add it",
        ),
        event(ToolCallRequested, call_id="c1", tool="read_file", arguments={"p": 1}),
        event(ToolCallRequested, call_id="c2", tool="rm", arguments={"path": "/"}),
        event(ToolCallDenied, call_id="c2", by="policy", reason="outside workspace"),
        event(ToolCallCompleted, call_id="c1", result="hello", duration_ms=1),
        event(ToolCallRequested, call_id="c3", tool="run_shell", arguments={}),
        event(AgentFinished, status="answered", answer="All done."),
    ]

    evidence = evidence_from(
        events, [("calc.py", DIFF)], subtask=SUBTASK, goal="g", prior_verdicts=["x"]
    )

    assert evidence.tool_results == (
        ToolResult("read_file", '{"p": 1}', False, "hello"),
        ToolResult("rm", '{"path": "/"}', True, "denied: outside workspace"),
        ToolResult("run_shell", "{}", True, "(no result)"),
    )
    assert evidence.answer == "All done."
    assert evidence.diffs == (("calc.py", DIFF),)
    assert (evidence.subtask, evidence.goal) == (SUBTASK, "g")
    assert evidence.prior_verdicts == ("x",)


def test_evidence_shortens_long_arguments_and_results() -> None:
    events = [
        event(
            ToolCallRequested,
            call_id="c",
            tool="write_file",
            arguments={"content": "x" * 5000},
        ),
        event(ToolCallCompleted, call_id="c", result="a" * 9000 + "END", duration_ms=1),
    ]

    (result,) = evidence_from(events, [], subtask=SUBTASK, goal="g").tool_results

    assert len(result.arguments) < 300
    assert result.arguments.startswith('{"content": "xxx')
    assert len(result.result) < 4100
    assert result.result.endswith("END")


# --- the review request ---------------------------------------------------------


def test_review_request_is_constrained_deterministic_and_independent() -> None:
    request = review_request(EVIDENCE, LENSES[1], 6000, max_tokens=99)

    assert request.params.json_schema == VERDICT_SCHEMA
    assert (request.params.temperature, request.params.max_tokens) == (0, 99)
    assert [m.role for m in request.messages] == ["system", "user"]
    assert "independent reviewer" in request.messages[0].content
    assert "claims are not evidence" in request.messages[0].content
    assert (
        request.fingerprint()
        == review_request(EVIDENCE, LENSES[1], 6000, max_tokens=99).fingerprint()
    )


def test_review_request_shows_the_evidence_and_labels_claims() -> None:
    text = user_text()

    for part in (
        "Build a calculator module",
        "SUBTASK add-fn:\nAdd add(a, b) to calc.py",
        "1. add(1, 2) returns 3\n2. pytest passes",
        "EXPECTED FILES:\ncalc.py",
        "- check `pytest` passed",
        "### calc.py\n--- a/calc.py",
        '[1] run_shell {"command": "pytest"} -> ok\n1 passed',
        "EXECUTOR'S CLAIMS (not evidence",
        "Done. All tests pass.",
    ):
        assert part in text
    assert text.index("TOOL RESULTS") < text.index("EXECUTOR'S CLAIMS")


def test_review_request_says_what_is_missing() -> None:
    bare = Evidence(PlannedSubtask(id="s", description="do"), goal="g")

    text = user_text(bare)

    assert "ACCEPTANCE CRITERIA:\n(none given" in text
    assert "(no file changed)" in text
    assert "(no tool was run)" in text
    assert "(the executor gave no final answer)" in text
    assert "EXPECTED FILES" not in text


def test_each_lens_asks_a_different_question() -> None:
    requests = [review_request(EVIDENCE, lens, 6000) for lens in LENSES]

    assert [lens.name for lens in LENSES] == ["requirements", "correctness", "skeptic"]
    assert DEFAULT_LENS.name == "requirements"
    assert len({r.fingerprint() for r in requests}) == 3
    for lens, request in zip(LENSES, requests, strict=True):
        assert request.messages[1].content.endswith(
            f"YOUR TASK: {lens.instruction}\n"
            "Give a short reason for every problem you find."
        )


def test_truncation_keeps_criteria_and_the_start_of_every_diff() -> None:
    diffs = tuple((f"f{i}.py", f"--- a/f{i}.py\n" + "+line\n" * 2000) for i in range(8))
    huge = Evidence(
        SUBTASK,
        goal="g",
        answer="claim " * 2000,
        diffs=diffs,
        tool_results=(ToolResult("run_shell", "{}", True, "x" * 20000 + "Traceback"),),
    )

    text = user_text(huge, budget=2000)

    assert "1. add(1, 2) returns 3\n2. pytest passes" in text
    for i in range(8):
        assert f"### f{i}.py\n--- a/f{i}.py\n+line" in text
    assert text.count("characters cut ...]") == 10
    assert text.rstrip().endswith("problem you find.")
    assert "Traceback" in text
    assert len(text) < 2000 + 8 * 160 + 1500


def test_truncation_is_fair_short_pieces_stay_whole() -> None:
    evidence = Evidence(
        SUBTASK,
        goal="g",
        diffs=(("big.py", "+big\n" * 3000), ("small.py", "+small line\n")),
        tool_results=(ToolResult("run_shell", "{}", False, "short output"),),
    )

    text = user_text(evidence, budget=3000)

    assert "### small.py\n+small line" in text
    assert "-> ok\nshort output" in text
    assert text.count("+big") < 600
    assert "characters cut ...]" in text


def test_a_generous_budget_cuts_nothing() -> None:
    assert "characters cut" not in user_text(budget=100_000)


def test_evidence_budget_fits_the_context_within_bounds() -> None:
    assert evidence_budget(8192, 256) == 12_000
    assert evidence_budget(4096, 256) == (4096 - 256 - 1024) * 3
    assert evidence_budget(1024, 512) == 1000


# --- verdicts -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ('{"passed": true, "reasons": []}', (True, [])),
        ('{"passed": false, "reasons": ["no test"]}', (False, ["no test"])),
        ("{'passed': True, 'reasons': ['ok',],}", (True, ["ok"])),
        ('Sure!\n```json\n{"passed": false, "reasons": ["x"]}\n```', (False, ["x"])),
        ('{"passed": false, "reasons": ["missing tes', (False, ["missing tes"])),
        ('{"passed": "false", "reasons": "one reason"}', (False, ["one reason"])),
    ],
)
def test_verdicts_are_read_and_repaired(
    text: str, verdict: tuple[bool, list[str]]
) -> None:
    assert parse_verdict(text) == verdict


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "The work looks good to me, PASS.",
        '{"passed": "maybe", "reasons": []}',
        '{"reasons": ["fine"]}',
        "[true]",
        '{"passed": true} {"passed": false}',
    ],
)
def test_garbage_is_a_failure_that_says_so(text: str) -> None:
    not_a_verdict(text)


def test_not_a_verdict_quotes_the_answer_briefly() -> None:
    reason = not_a_verdict("looks fine " * 100)

    assert '"looks fine looks fine' in reason
    assert len(reason) < 250


def test_a_failure_without_reasons_gets_a_generic_one() -> None:
    passed, reasons = parse_verdict('{"passed": false, "reasons": ["", "  ", 3]}')

    assert passed is False
    assert reasons == ["the reviewer failed the attempt without giving a reason"]


def test_reasons_are_trimmed_deduplicated_and_capped() -> None:
    many = [" same ", "same", *(f"r{i}" for i in range(9)), "x" * 1000]

    passed, reasons = parse_verdict(json.dumps({"passed": False, "reasons": many}))

    assert passed is False
    assert reasons == ["same", "r0", "r1", "r2", "r3"]


# --- tally ----------------------------------------------------------------------


def votes(*passes: bool) -> list[Vote]:
    return [
        Vote(f"m{i}/lens", ok, () if ok else (f"bad {i}",))
        for i, ok in enumerate(passes)
    ]


def test_exactly_the_quorum_passes() -> None:
    assert tally(votes(True, True, False), 2) == Consensus(
        passed=True, for_count=2, against_count=1, reasons=("m2/lens: bad 2",)
    )


def test_one_short_of_the_quorum_fails_with_the_dissenters_reasons() -> None:
    result = tally(votes(True, False, False), 2)

    assert (result.passed, result.for_count, result.against_count) == (False, 1, 2)
    assert result.reasons == ("m1/lens: bad 1", "m2/lens: bad 2")


def test_unanimity_and_a_single_vote() -> None:
    assert tally(votes(True, True, True), 3).passed
    assert not tally(votes(True, True, False), 3).passed
    assert tally(votes(True), 1) == Consensus(True, 1, 0, ())
    assert tally(votes(False), 1).reasons == ("m0/lens: bad 0",)


def test_a_silent_failing_vote_still_gives_a_reason() -> None:
    result = tally([Vote("m/skeptic", False)], 1)

    assert result.reasons == (
        "m/skeptic: the reviewer failed the attempt without giving a reason",
    )


@pytest.mark.parametrize(("ballots", "quorum"), [(3, 0), (3, 4), (0, 1), (2, -1)])
def test_an_impossible_or_empty_quorum_is_refused(ballots: int, quorum: int) -> None:
    with pytest.raises(ValueError, match="quorum"):
        tally(votes(*[True] * ballots), quorum)


# --- voters ---------------------------------------------------------------------


def names(n: int) -> list[tuple[str, str]]:
    return [(f"m{i}", f"provider-{i}") for i in range(n)]


@pytest.mark.parametrize("models", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("lens_count", [1, 2, 3])
def test_every_vote_is_a_distinct_model_and_lens_pair(
    models: int, lens_count: int
) -> None:
    lenses = LENSES[:lens_count]
    for count in range(1, models * lens_count + 1):
        voters = plan_voters(names(models), count, lenses)

        pairs = [(provider, lens) for _, provider, lens in voters]
        assert len(set(pairs)) == count
        first = voters[: min(models, lens_count)]
        assert len({provider for _, provider, _ in first}) == len(first)
        assert len({lens for _, _, lens in first}) == len(first)


def test_voters_spread_over_models_and_lenses_and_are_labelled() -> None:
    voters = plan_voters(names(2), 3)

    assert [label for label, _, _ in voters] == [
        "m0/requirements",
        "m1/correctness",
        "m0/skeptic",
    ]
    assert [provider for _, provider, _ in voters] == [
        "provider-0",
        "provider-1",
        "provider-0",
    ]


def test_more_votes_than_pairs_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"cannot plan 4 distinct votes .* = 3 "):
        plan_voters(names(1), 4)


@pytest.mark.parametrize(
    ("providers", "count", "lenses", "match"),
    [
        (names(2), 0, LENSES, "cannot plan 0"),
        ([], 1, LENSES, "at least one verifier model"),
        (names(1), 1, (), "at least one verifier model and one lens"),
        ([("m", "a"), ("m", "b")], 2, LENSES, "distinct name"),
        (names(1), 2, (Lens("x", "a"), Lens("x", "b")), "distinct name"),
    ],
)
def test_bad_voter_plans_are_refused(
    providers: list[tuple[str, str]], count: int, lenses: tuple[Lens, ...], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        plan_voters(providers, count, lenses)


# --- extraction -----------------------------------------------------------------


def test_extraction_request_is_constrained_and_shows_the_evidence() -> None:
    request = extraction_request(EVIDENCE, 6000, max_tokens=128)

    assert request.params.json_schema == LEARNED_SCHEMA
    assert (request.params.temperature, request.params.max_tokens) == (0, 128)
    assert "fact" in request.messages[0].content
    assert "### calc.py" in request.messages[1].content
    assert "EXECUTOR'S CLAIMS (not evidence" in request.messages[1].content


def test_learned_items_are_read_cleaned_and_filtered() -> None:
    items = [
        {"kind": "Fact", "text": " tests run with  pytest -q "},
        {"kind": "fact", "text": "Tests run with pytest -q"},
        {"kind": "pattern", "text": "write the test first"},
        {"kind": "idea", "text": "unknown kind"},
        {"kind": "fact", "text": "   "},
        {"kind": "fact", "text": "y" * 301},
        {"kind": "fact"},
        "not an object",
    ]

    assert parse_learned(json.dumps({"learned": items})) == [
        ("fact", "tests run with pytest -q"),
        ("pattern", "write the test first"),
    ]


def test_learned_answers_are_repaired_and_capped() -> None:
    many = ", ".join(f"{{'kind': 'fact', 'text': 'f{i}'}}" for i in range(8))

    assert parse_learned(f"{{learned: [{many},]}}") == [
        ("fact", f"f{i}") for i in range(5)
    ]
    assert parse_learned('[{"kind": "pattern", "text": "p"}]') == [("pattern", "p")]


@pytest.mark.parametrize(
    "text", ["", "nothing new", '{"learned": "none"}', "42", '{"learned": [1, 2]}']
)
def test_unreadable_learning_gives_nothing(text: str) -> None:
    assert parse_learned(text) == []
