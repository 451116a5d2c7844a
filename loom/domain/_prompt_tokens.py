"""Counting a prompt's tokens: counters, message and turn counts, the turn memo."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from loom.domain.events import ToolCall
from loom.domain.models import ChatMessage

__all__ = [
    "MESSAGE_OVERHEAD",
    "EstimatedCounter",
    "TokenCounter",
    "TokenMemo",
    "Turn",
    "message_tokens",
    "turn_tokens",
]

MESSAGE_OVERHEAD = 4
"""Tokens a chat template spends framing one message (role markers, ends)."""


class TokenCounter(Protocol):
    """Counts the tokens a model's tokenizer makes of a text."""

    def count(self, text: str) -> int:
        """The number of tokens in ``text``."""
        ...


@dataclass(frozen=True)
class EstimatedCounter:
    """A tokenizer-free estimate: characters divided by characters per token.

    It rounds up, so the count of a concatenation never exceeds the sum of the
    counts of its parts; the assembler's budget guarantee relies on that.

    Attributes:
        chars_per_token: Average characters per token (3.5 suits English prose
            and code under common BPE vocabularies).
    """

    chars_per_token: float = 3.5

    def __post_init__(self) -> None:
        if not (math.isfinite(self.chars_per_token) and self.chars_per_token > 0):
            raise ValueError(
                f"chars_per_token must be positive, not {self.chars_per_token}"
            )

    @classmethod
    def calibrated(cls, samples: Iterable[tuple[str, int]]) -> EstimatedCounter:
        """A counter fitted to a real tokenizer's counts of sample texts.

        ``chars_per_token`` becomes the samples' total characters over their
        total tokens, so the estimate is exact over the samples as a whole
        and long samples weigh more than short ones.

        Args:
            samples: Pairs of a text and the true number of tokens in it.

        Raises:
            ValueError: A count is negative, or the samples hold no characters
                or no tokens.
        """
        chars = tokens = 0
        for text, count in samples:
            if count < 0:
                raise ValueError(f"negative token count {count} for {text[:40]!r}")
            chars += len(text)
            tokens += count
        if chars == 0 or tokens == 0:
            raise ValueError("calibration needs samples with characters and tokens")
        return cls(chars / tokens)

    def count(self, text: str) -> int:
        """The estimated number of tokens in ``text``, rounded up."""
        return math.ceil(len(text) / self.chars_per_token)


def _call_text(call: ToolCall) -> str:
    return json.dumps(
        {"name": call.name, "arguments": call.arguments}, ensure_ascii=False
    )


def message_tokens(message: ChatMessage, counter: TokenCounter) -> int:
    """Tokens ``message`` takes in a prompt: framing, content and tool calls.

    Each tool call counts as the JSON of its name and arguments; the call id
    and a tool result's name are left to :data:`MESSAGE_OVERHEAD`.
    """
    calls = sum(counter.count(_call_text(call)) for call in message.tool_calls)
    return MESSAGE_OVERHEAD + counter.count(message.content) + calls


def turn_tokens(turn: Turn, counter: TokenCounter) -> int:
    """Tokens all of ``turn``'s messages take in a prompt."""
    return sum(message_tokens(message, counter) for message in turn.messages)


@dataclass(frozen=True)
class Turn:
    """One unit of history that is kept or dropped whole.

    A user message; a plain assistant answer; or an assistant message with
    tool calls together with the results answering all of them.

    Attributes:
        number: The turn's position in the conversation, from 1.
        messages: The turn's messages, in order.

    Raises:
        ValueError: The turn is empty, its number is below 1, a tool result
            answers no earlier call of the turn, a call is answered twice or
            not at all, or a call id repeats.
    """

    number: int
    messages: tuple[ChatMessage, ...]

    def __post_init__(self) -> None:
        if self.number < 1:
            raise ValueError(f"turn numbers start at 1, not {self.number}")
        if not self.messages:
            raise ValueError(f"turn {self.number} has no messages")
        _check_calls_answered(self.number, self.messages)


def _check_calls_answered(number: int, messages: Sequence[ChatMessage]) -> None:
    seen: set[str] = set()
    waiting: set[str] = set()
    for message in messages:
        for call in message.tool_calls:
            if call.id in seen:
                raise ValueError(f"turn {number}: call id {call.id!r} repeats")
            seen.add(call.id)
            waiting.add(call.id)
        if message.role == "tool":
            if message.tool_call_id not in waiting:
                raise ValueError(
                    f"turn {number}: the tool result for {message.tool_call_id!r} "
                    "answers no open call earlier in the same turn"
                )
            waiting.discard(message.tool_call_id)
    if waiting:
        raise ValueError(
            f"turn {number}: call(s) {sorted(waiting)} have no result in the turn"
        )


class TokenMemo:
    """Token counts of turns under one counter, remembered across assemblies.

    Keep one per session next to its counter and pass it to every
    :func:`assemble`; each turn is then counted once however often the prompt
    is rebuilt. An entry is reused only for the very same :class:`Turn`
    object, so a turn rebuilt under an old number is counted afresh.
    """

    __slots__ = ("_counter", "_known")

    def __init__(self, counter: TokenCounter) -> None:
        self._counter = counter
        self._known: dict[int, tuple[Turn, int]] = {}

    @property
    def counter(self) -> TokenCounter:
        """The counter the remembered counts were made with."""
        return self._counter

    def tokens(self, turn: Turn) -> int:
        """``turn``'s tokens, counted on first sight only."""
        known = self._known.get(turn.number)
        if known is not None and known[0] is turn:
            return known[1]
        count = turn_tokens(turn, self._counter)
        self._known[turn.number] = (turn, count)
        return count
