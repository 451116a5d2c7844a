"""Given prompt parts and a budget, when the prompt is assembled, then...

Most tests count one token per character (``Chars``) so every expected number
can be worked out by hand: a message costs ``MESSAGE_OVERHEAD`` (4) plus its
characters, and each system-message section after the identity costs its
characters plus 2 for the ``"\\n\\n"`` that joins it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loom.domain.events import ToolCall
from loom.domain.models import ChatMessage
from loom.domain.prompt import (
    MESSAGE_OVERHEAD,
    RECALL_TOOL,
    SECTIONS,
    AssembledPrompt,
    EstimatedCounter,
    PromptParts,
    TokenCounter,
    TokenMemo,
    Turn,
    assemble,
    memory_index,
    message_tokens,
)

SEP = 2  # tokens of "\n\n" under Chars


class Chars:
    """One token per character: additive, so sections sum to the total."""

    def count(self, text: str) -> int:
        return len(text)


class Words:
    """One token per whitespace-separated word."""

    def count(self, text: str) -> int:
        return len(text.split())


@dataclass
class Recording:
    """Chars that remembers every text it was asked to count."""

    seen: list[str] = field(default_factory=list)

    def count(self, text: str) -> int:
        self.seen.append(text)
        return len(text)


@dataclass
class Surcharged:
    """Chars, plus 20 for any text over 500 characters: not subadditive."""

    def count(self, text: str) -> int:
        return len(text) + (20 if len(text) > 500 else 0)


def user(number: int, size: int = 96, fill: str = "u") -> Turn:
    return Turn(number, (ChatMessage(role="user", content=fill * size),))


def call(call_id: str, tool: str = "read_file") -> ToolCall:
    return ToolCall(id=call_id, name=tool, arguments={"path": "src/app.py"})


def exchange(number: int, *results: int) -> Turn:
    """An assistant message calling a tool once per result, then the results."""
    ids = [f"call-{number}-{i}" for i in range(len(results))]
    asked = ChatMessage(role="assistant", tool_calls=[call(i) for i in ids])
    answers = [
        ChatMessage(role="tool", content="r" * size, tool_call_id=i, name="read_file")
        for i, size in zip(ids, results, strict=True)
    ]
    return Turn(number, (asked, *answers))


def index_cost(hidden: int) -> int:
    return SEP + len(memory_index(hidden))


def request(size: int = 46) -> ChatMessage:
    return ChatMessage(role="user", content="R" * size)


IDENTITY = "I" * 96  # costs 100 with the system message's framing
REQUEST_COST = 50  # request() costs 4 + 46
REQUIRED = 150


def system_text(prompt: AssembledPrompt) -> str:
    assert prompt.messages[0].role == "system"
    return prompt.messages[0].content


# --- required sections --------------------------------------------------------


def test_identity_and_request_survive_a_budget_too_small_for_them() -> None:
    content = "HEAD " + "x" * 500 + " TAIL"
    parts = PromptParts(
        identity=IDENTITY,
        process="P" * 50,
        tool_guidance="T" * 50,
        workspace="W" * 50,
        history=[user(1), user(2)],
        request=ChatMessage(role="user", content=content),
    )

    prompt = assemble(parts, 300, Chars())

    assert system_text(prompt) == IDENTITY
    cut = prompt.messages[-1].content
    assert len(prompt.messages) == 2
    head, marker, tail = cut.split("\n\n")
    removed = len(content) - len(head) - len(tail)
    assert head == content[: len(head)]
    assert tail == content[len(content) - len(tail) :]
    assert len(head) - len(tail) in (0, 1)
    assert marker == (
        f"[... {removed} characters cut from the middle of this message to fit "
        "the context window ...]"
    )
    assert prompt.tokens == 300  # the cut fills the budget exactly under Chars
    assert prompt.truncated == ("request",)
    assert prompt.omitted == ("tool_guidance", "process", "workspace", "memory_index")
    assert prompt.kept_turns == []
    assert prompt.dropped_turns == [1, 2]


def test_an_identity_over_budget_still_keeps_the_request_as_a_marker() -> None:
    parts = PromptParts(identity=IDENTITY, request=request(300))

    prompt = assemble(parts, 50, Chars())

    assert [m.role for m in prompt.messages] == ["system", "user"]
    assert prompt.messages[1].content == (
        "\n\n[... 300 characters cut from the middle of this message to fit "
        "the context window ...]\n\n"
    )
    assert prompt.tokens > 50
    assert prompt.truncated == ("request",)


# --- priority of the optional sections ---------------------------------------


def test_tool_guidance_is_kept_before_process_instructions() -> None:
    parts = PromptParts(
        identity=IDENTITY, process="P" * 98, tool_guidance="T" * 98, request=request()
    )

    prompt = assemble(parts, REQUIRED + 100, Chars())

    assert system_text(prompt) == IDENTITY + "\n\n" + "T" * 98
    assert prompt.omitted == ("process",)
    assert prompt.tokens == REQUIRED + 100


def test_a_lower_section_takes_room_a_higher_one_could_not_use() -> None:
    parts = PromptParts(
        identity=IDENTITY, process="P" * 98, tool_guidance="T" * 300, request=request()
    )

    prompt = assemble(parts, REQUIRED + 100, Chars())

    assert system_text(prompt) == IDENTITY + "\n\n" + "P" * 98
    assert prompt.omitted == ("tool_guidance",)


def test_sections_appear_in_prompt_order_and_workspace_yields_first() -> None:
    parts = PromptParts(
        identity=IDENTITY,
        process="P" * 98,
        tool_guidance="T" * 98,
        workspace="W" * 98,
        request=request(),
    )

    whole = assemble(parts, REQUIRED + 300, Chars())
    short = assemble(parts, REQUIRED + 200, Chars())

    assert system_text(whole) == "\n\n".join([IDENTITY, "P" * 98, "T" * 98, "W" * 98])
    assert system_text(short) == "\n\n".join([IDENTITY, "P" * 98, "T" * 98])
    assert short.omitted == ("workspace",)


# --- workspace truncation -------------------------------------------------------


def test_workspace_is_cut_to_whole_lines_that_fit_not_dropped() -> None:
    lines = [f"line {i:03d}" for i in range(100)]
    workspace = "\n".join(lines) + "\n"
    parts = PromptParts(identity=IDENTITY, workspace=workspace, request=request())

    prompt = assemble(parts, REQUIRED + 302, Chars())

    shown = system_text(prompt)[len(IDENTITY) + 2 :]
    kept, marker = shown.split("\n[... ")
    count = kept.count("\n") + 1
    assert kept == "\n".join(lines[:count])
    assert marker == (
        f"{len(workspace) - len(kept)} more characters of workspace context cut "
        "to fit the context window ...]"
    )
    assert prompt.tokens <= REQUIRED + 302
    longer = "\n".join(lines[: count + 1])
    one_more = (
        f"{longer}\n[... {len(workspace) - len(longer)} more characters of "
        "workspace context cut to fit the context window ...]"
    )
    assert SEP + len(one_more) > 302
    assert prompt.truncated == ("workspace",)
    assert prompt.sections["workspace"] == SEP + len(shown)


def test_workspace_is_cut_to_leave_room_for_the_memory_index() -> None:
    workspace = "\n".join(f"entry {i:04d}" for i in range(500))
    history = [user(n, 496) for n in range(1, 6)]
    parts = PromptParts(
        identity=IDENTITY, workspace=workspace, history=history, request=request()
    )

    prompt = assemble(parts, REQUIRED + 1000, Chars())

    assert memory_index(5) in system_text(prompt)
    assert prompt.truncated == ("workspace",)
    assert prompt.kept_turns == []
    assert prompt.dropped_turns == [1, 2, 3, 4, 5]
    assert prompt.tokens <= REQUIRED + 1000


# --- history --------------------------------------------------------------------


def test_newest_turns_are_kept_as_a_contiguous_suffix() -> None:
    history = [user(n, fill=str(n % 10)) for n in range(1, 11)]  # 100 tokens each
    parts = PromptParts(identity=IDENTITY, history=history, request=request())

    prompt = assemble(parts, REQUIRED + index_cost(10) + 300, Chars())

    assert prompt.kept_turns == [8, 9, 10]
    assert prompt.dropped_turns == [1, 2, 3, 4, 5, 6, 7]
    assert [m.content for m in prompt.messages[1:-1]] == ["8" * 96, "9" * 96, "0" * 96]
    assert prompt.messages[-1] == request()
    assert prompt.tokens == REQUIRED + index_cost(7) + 300


def test_history_stops_at_the_first_turn_that_does_not_fit() -> None:
    # Turn 8 is too big; the small turns 1-7 would fit but must not leave a gap.
    history = [*(user(n, 6) for n in range(1, 8)), user(8, 996), user(9), user(10)]
    parts = PromptParts(identity=IDENTITY, history=history, request=request())

    prompt = assemble(parts, REQUIRED + index_cost(10) + 300, Chars())

    assert prompt.kept_turns == [9, 10]
    assert prompt.dropped_turns == [1, 2, 3, 4, 5, 6, 7, 8]


def test_a_tool_call_and_its_results_are_kept_or_dropped_together() -> None:
    turns = [user(1, 996), exchange(2, 146, 146), user(3)]
    exchange_cost = message_tokens(turns[1].messages[0], Chars()) + 2 * 150
    parts = PromptParts(identity=IDENTITY, history=turns, request=request())
    room_for_one_result = REQUIRED + index_cost(3) + 100 + exchange_cost - 150

    split = assemble(parts, room_for_one_result, Chars())
    whole = assemble(parts, room_for_one_result + 150, Chars())

    assert split.kept_turns == [3]
    assert split.dropped_turns == [1, 2]
    assert [m.role for m in split.messages] == ["system", "user", "user"]
    assert whole.kept_turns == [2, 3]
    assert [m.role for m in whole.messages] == [
        "system",
        "assistant",
        "tool",
        "tool",
        "user",
        "user",
    ]
    assert [m.tool_call_id for m in whole.messages[2:4]] == ["call-2-0", "call-2-1"]


def test_without_a_request_the_prompt_ends_with_the_newest_turn() -> None:
    parts = PromptParts(identity=IDENTITY, history=[user(1), exchange(2, 10)])

    prompt = assemble(parts, 10_000, Chars())

    assert [m.role for m in prompt.messages] == ["system", "user", "assistant", "tool"]
    assert prompt.sections["request"] == 0


# --- memory index -----------------------------------------------------------------


def test_no_memory_index_when_every_turn_fits() -> None:
    parts = PromptParts(
        identity=IDENTITY, history=[user(1), user(2)], request=request()
    )

    prompt = assemble(parts, REQUIRED + 200, Chars())

    assert system_text(prompt) == IDENTITY
    assert prompt.kept_turns == [1, 2]
    assert prompt.dropped_turns == []
    assert prompt.sections["memory_index"] == 0


def test_memory_index_names_the_hidden_turns_and_the_recall_tool() -> None:
    parts = PromptParts(
        identity=IDENTITY,
        history=[user(n, 396) for n in range(1, 5)],
        request=request(),
    )

    prompt = assemble(parts, REQUIRED + index_cost(4) + 400, Chars())

    assert prompt.kept_turns == [4]
    assert system_text(prompt) == IDENTITY + "\n\n" + memory_index(3)
    assert "Turns 1-3 (3 earlier turns) are not shown here" in memory_index(3)
    assert "stored verbatim" in memory_index(3)
    assert RECALL_TOOL == "conversation_recall"
    assert RECALL_TOOL in memory_index(3)
    for mode in ("by number or range", "by tool name", "full-text search", "last N"):
        assert mode in memory_index(3)
    assert prompt.sections["memory_index"] == index_cost(3)


def test_memory_index_speaks_of_one_turn_in_the_singular() -> None:
    assert memory_index(1).startswith("Memory index: Turn 1 (1 earlier turn) is not")
    assert "It is stored verbatim" in memory_index(1)
    with pytest.raises(ValueError, match="needs hidden turns"):
        memory_index(0)


def test_a_recent_slice_that_fits_whole_still_indexes_the_turns_before_it() -> None:
    history = [user(n) for n in range(91, 101)]
    parts = PromptParts(
        identity=IDENTITY, history=history, request=request(), total_turns=100
    )

    prompt = assemble(parts, 100_000, Chars())

    assert prompt.kept_turns == list(range(91, 101))
    assert prompt.dropped_turns == []
    assert memory_index(90) in system_text(prompt)


def test_with_no_history_given_total_turns_are_indexed() -> None:
    parts = PromptParts(identity=IDENTITY, request=request(), total_turns=5)

    prompt = assemble(parts, 100_000, Chars())

    assert system_text(prompt) == IDENTITY + "\n\n" + memory_index(5)
    assert prompt.kept_turns == prompt.dropped_turns == []


# --- token accounting ---------------------------------------------------------------


CALL_JSON = '{"name": "read_file", "arguments": {"path": "src/app.py"}}'


def full_parts() -> PromptParts:
    return PromptParts(
        identity="You are Loom.",
        process="Plan, then act.",
        tool_guidance="One tool at a time.",
        workspace="src/\n  app.py\ngit status: clean",
        history=[user(1, 40), exchange(2, 300, 20), user(3, 60)],
        request=ChatMessage(role="user", content="Now add tests."),
    )


def test_sections_add_up_to_the_tokens_of_the_output() -> None:
    prompt = assemble(full_parts(), 10_000, Chars())

    assert prompt.tokens == sum(message_tokens(m, Chars()) for m in prompt.messages)
    assert prompt.sections == {
        "identity": 4 + 13,
        "process": SEP + 15,
        "tool_guidance": SEP + 19,
        "workspace": SEP + len("src/\n  app.py\ngit status: clean"),
        "memory_index": 0,
        "history": 44 + (4 + 2 * len(CALL_JSON)) + 304 + 24 + 64,
        "request": 4 + 14,
    }
    assert list(prompt.sections) == list(SECTIONS)
    assert sum(prompt.sections.values()) == prompt.tokens


def test_tokens_equal_the_counters_count_of_the_output_under_an_estimate() -> None:
    counter = EstimatedCounter()

    prompt = assemble(full_parts(), 120, counter)

    assert prompt.tokens == sum(message_tokens(m, counter) for m in prompt.messages)
    assert prompt.tokens <= sum(prompt.sections.values())
    assert prompt.tokens <= 120


def test_message_tokens_count_framing_content_and_each_call() -> None:
    message = ChatMessage(
        role="assistant", content="abc", tool_calls=[call("a"), call("b", "grep")]
    )

    tokens = message_tokens(message, Chars())

    second = '{"name": "grep", "arguments": {"path": "src/app.py"}}'
    assert tokens == MESSAGE_OVERHEAD + 3 + len(CALL_JSON) + len(second)


def test_reserve_comes_off_the_budget() -> None:
    parts = PromptParts(
        identity=IDENTITY, history=[user(1), user(2)], request=request()
    )

    unreserved = assemble(parts, REQUIRED + 200, Chars())
    reserved = assemble(parts, REQUIRED + 200, Chars(), reserve=100)

    assert unreserved.kept_turns == [1, 2]
    assert reserved.kept_turns == [2]
    assert reserved.tokens == REQUIRED + 100
    assert reserved.omitted == ("memory_index",)  # it would not fit in 100


def test_a_counter_that_counts_a_join_above_its_parts_costs_old_turns() -> None:
    # Every part stays under 500 characters, the joined system message does
    # not: the plan fits, the counted result is 20 over, one turn must go.
    history = [user(n) for n in range(1, 10)]
    parts = PromptParts(
        identity="I" * 300, process="P" * 100, history=history, request=request()
    )
    budget = assemble(parts, 1100, Chars()).tokens

    additive = assemble(parts, budget, Chars())
    surcharged = assemble(parts, budget, Surcharged())

    assert additive.kept_turns == [8, 9]
    assert additive.tokens == budget
    assert surcharged.kept_turns == [9]
    assert surcharged.tokens <= budget


# --- calibration --------------------------------------------------------------------


def test_calibration_fits_characters_per_token_over_all_samples() -> None:
    counter = EstimatedCounter.calibrated([("a" * 30, 10), ("b" * 90, 20)])

    assert counter.chars_per_token == 4.0
    assert counter.count("x" * 9) == 3  # rounded up
    assert counter.count("") == 0


def test_default_estimate_rounds_up() -> None:
    assert EstimatedCounter().count("x" * 7) == 2
    assert EstimatedCounter().count("x" * 8) == 3


@pytest.mark.parametrize(
    "samples",
    [[], [("", 0)], [("text", 0)], [("", 5)], [("text", -1), ("more", 9)]],
)
def test_calibration_refuses_samples_it_cannot_fit(
    samples: list[tuple[str, int]],
) -> None:
    with pytest.raises(ValueError, match=r"calibration|negative"):
        EstimatedCounter.calibrated(samples)


@pytest.mark.parametrize("ratio", [0.0, -1.0, float("nan"), float("inf")])
def test_a_counter_needs_a_positive_ratio(ratio: float) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        EstimatedCounter(ratio)


# --- turns and history are validated --------------------------------------------------


def test_a_turn_with_a_result_but_no_call_is_refused() -> None:
    orphan = ChatMessage(role="tool", content="ok", tool_call_id="c1")

    with pytest.raises(ValueError, match="answers no open call"):
        Turn(3, (ChatMessage(role="user", content="hi"), orphan))


def test_a_turn_with_a_call_but_no_result_is_refused() -> None:
    asked = ChatMessage(role="assistant", tool_calls=[call("c1"), call("c2")])
    answered = ChatMessage(role="tool", content="ok", tool_call_id="c1")

    with pytest.raises(ValueError, match=r"turn 4: call\(s\) \['c2'\] have no result"):
        Turn(4, (asked, answered))


def test_a_result_before_its_call_or_twice_is_refused() -> None:
    asked = ChatMessage(role="assistant", tool_calls=[call("c1")])
    answered = ChatMessage(role="tool", content="ok", tool_call_id="c1")

    with pytest.raises(ValueError, match="answers no open call"):
        Turn(1, (answered, asked))
    with pytest.raises(ValueError, match="answers no open call"):
        Turn(1, (asked, answered, answered))
    with pytest.raises(ValueError, match="repeats"):
        Turn(1, (asked, answered, asked, answered))


def test_turns_are_numbered_from_one_and_not_empty() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        user(0)
    with pytest.raises(ValueError, match="no messages"):
        Turn(1, ())


def test_history_must_be_numbered_consecutively() -> None:
    parts = PromptParts(identity="i", history=[user(1), user(3)])

    with pytest.raises(ValueError, match="turn 3 follows turn 1"):
        assemble(parts, 1000, Chars())


def test_total_turns_must_agree_with_the_history() -> None:
    parts = PromptParts(identity="i", history=[user(1), user(2)], total_turns=5)

    with pytest.raises(ValueError, match="total_turns is 5 but the last turn is 2"):
        assemble(parts, 1000, Chars())


def test_a_negative_reserve_is_refused() -> None:
    with pytest.raises(ValueError, match="reserve"):
        assemble(PromptParts(identity="i"), 1000, Chars(), reserve=-1)


# --- counting each turn once --------------------------------------------------------


def turn_texts(counter: Recording) -> int:
    return sum(1 for text in counter.seen if text.startswith("turn "))


def long_history(count: int) -> list[Turn]:
    return [
        Turn(n, (ChatMessage(role="user", content=f"turn {n:05d} " + "w" * 390),))
        for n in range(1, count + 1)
    ]


def test_assembly_counts_only_the_turns_it_walks() -> None:
    counter = Recording()
    parts = PromptParts(identity=IDENTITY, history=long_history(1000))

    prompt = assemble(parts, 3000, counter)

    assert len(prompt.kept_turns) == 6
    assert turn_texts(counter) <= len(prompt.kept_turns) + 2


def test_a_memo_counts_each_turn_once_across_assemblies() -> None:
    counter = Recording()
    memo = TokenMemo(counter)
    history = long_history(1000)
    assemble(
        PromptParts(identity=IDENTITY, history=history[:-1]), 3000, counter, memo=memo
    )
    counter.seen.clear()

    prompt = assemble(
        PromptParts(identity=IDENTITY, history=history), 3000, counter, memo=memo
    )

    assert turn_texts(counter) == 1  # only the new turn 1000
    assert prompt.kept_turns == list(range(995, 1001))


def test_a_memo_forgets_a_turn_rebuilt_under_the_same_number() -> None:
    counter = Recording()
    memo = TokenMemo(counter)
    memo.tokens(user(1, 10))

    assert memo.tokens(user(1, 20)) == 24


def test_a_memo_belongs_to_one_counter() -> None:
    with pytest.raises(ValueError, match="different counter"):
        assemble(PromptParts(identity="i"), 100, Chars(), memo=TokenMemo(Chars()))


# --- properties ---------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> list[Turn]:
    first = draw(st.integers(1, 40))
    kinds = draw(st.lists(st.sampled_from(["user", "answer", "tools"]), max_size=25))
    turns: list[Turn] = []
    for number, kind in enumerate(kinds, start=first):
        size = draw(st.integers(0, 300))
        if kind == "tools":
            results = draw(st.lists(st.integers(0, 300), min_size=1, max_size=3))
            turns.append(exchange(number, *results))
        else:
            role = "user" if kind == "user" else "assistant"
            words = ("word " * size)[:size]
            turns.append(Turn(number, (ChatMessage(role=role, content=words),)))
    return turns


COUNTERS: list[TokenCounter] = [
    Chars(),
    Words(),
    EstimatedCounter(),
    EstimatedCounter(1.3),
    EstimatedCounter(6.0),
]
TEXT = st.text(alphabet="ab \n", max_size=400)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    history=histories(),
    identity=TEXT,
    process=TEXT,
    guidance=TEXT,
    workspace=st.text(alphabet="ab \n", max_size=2000),
    asked=st.none() | TEXT.map(lambda t: ChatMessage(role="user", content=t)),
    budget=st.integers(0, 6000),
    reserve=st.integers(0, 300),
    counter=st.sampled_from(COUNTERS),
)
def test_any_history_fits_the_budget_as_a_contiguous_suffix(
    history: list[Turn],
    identity: str,
    process: str,
    guidance: str,
    workspace: str,
    asked: ChatMessage | None,
    budget: int,
    reserve: int,
    counter: TokenCounter,
) -> None:
    parts = PromptParts(identity, process, guidance, workspace, history, asked)

    prompt = assemble(parts, budget, counter, reserve=reserve)

    numbers = [turn.number for turn in history]
    assert prompt.dropped_turns + prompt.kept_turns == numbers
    assert prompt.kept_turns == numbers[len(numbers) - len(prompt.kept_turns) :]
    kept = [m for turn in history[len(prompt.dropped_turns) :] for m in turn.messages]
    tail = [asked] if asked is not None else []
    assert prompt.messages[1 : len(prompt.messages) - len(tail)] == kept
    assert prompt.tokens == sum(message_tokens(m, counter) for m in prompt.messages)
    required = MESSAGE_OVERHEAD + counter.count(identity)
    required += message_tokens(asked, counter) if asked is not None else 0
    if required <= budget - reserve:
        assert prompt.tokens <= budget - reserve
        assert prompt.messages[len(prompt.messages) - len(tail) :] == tail
    hidden = len(prompt.dropped_turns) + numbers[0] - 1 if numbers else 0
    shown = "Memory index:" in system_text(prompt)
    assert shown == (hidden > 0 and "memory_index" not in prompt.omitted)
