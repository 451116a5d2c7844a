"""Assembling the model's prompt from prioritised sections within a token budget.

A prompt is one system message (identity and rules, process instructions,
tool guidance, workspace context, memory index, in that order), then the most
recent turns of the conversation, then the current request. What fits is
decided by priority: identity and request are always kept; then tool
guidance, process instructions and workspace context (the workspace cut to
fit rather than dropped whole, and cut short of the few tokens the memory
index needs when turns will be out of view); then turns, newest first, whole
turns only, stopping at the first that does not fit, so the window is always
a contiguous run of the latest turns.

Turns that do not fit are not lost: the conversation is stored verbatim, and
the memory index tells the model how many earlier turns exist and how to read
them again with the ``conversation_recall`` tool. Because a :class:`Turn`
holds an assistant's tool calls together with all of their results, no cut
can separate a call from its answer.

Assembly runs before every model call over a history that only grows, so it
never counts the whole history: it counts turns newest-first, stops at the
first one that does not fit, and with a :class:`TokenMemo` counts each turn
once for the life of a session.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

from loom.domain._prompt_cut import cut_head, cut_middle, largest_fitting
from loom.domain._prompt_tokens import (
    MESSAGE_OVERHEAD,
    EstimatedCounter,
    TokenCounter,
    TokenMemo,
    Turn,
    message_tokens,
    turn_tokens,
)
from loom.domain.models import ChatMessage

__all__ = [
    "MESSAGE_OVERHEAD",
    "RECALL_TOOL",
    "SECTIONS",
    "AssembledPrompt",
    "EstimatedCounter",
    "PromptParts",
    "TokenCounter",
    "TokenMemo",
    "Turn",
    "assemble",
    "memory_index",
    "message_tokens",
    "turn_tokens",
]

RECALL_TOOL = "conversation_recall"
"""The tool the memory index points the model to."""

SECTIONS = (
    "identity",
    "process",
    "tool_guidance",
    "workspace",
    "memory_index",
    "history",
    "request",
)
"""The prompt's sections, in the order they appear in it."""

_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class PromptParts:
    """What a prompt is made of, before it is fitted to a budget.

    Attributes:
        identity: Who the model is and the rules it keeps (always kept).
        process: Instructions of the process being followed.
        tool_guidance: How to use the tools well.
        workspace: Tree, git status and key files of the workspace.
        history: Turns before the request, oldest first, numbered
            consecutively; may be only a recent slice of the conversation.
        request: The current request (always kept, cut in the middle if it
            must be). None when the model is called again within a turn,
            e.g. after tool results, and the request is already in history.
        total_turns: How many turns the conversation has before the request.
            Defaults to the number of the last turn of ``history``, which it
            must equal when given; needed only when ``history`` is empty.
        recall_numbers: When the recall tool numbers the conversation more
            finely than these turns (each message its own number), entry
            ``n - 1`` is the recall number of the last message of turn ``n``;
            the memory index then speaks in recall numbers.
    """

    identity: str
    process: str = ""
    tool_guidance: str = ""
    workspace: str = ""
    history: Sequence[Turn] = ()
    request: ChatMessage | None = None
    total_turns: int | None = None
    recall_numbers: Sequence[int] = ()


@dataclass(frozen=True)
class AssembledPrompt:
    """A prompt fitted to a budget, and what fitting it cost.

    Attributes:
        messages: The system message, the kept turns' messages, the request.
        kept_turns: Numbers of the turns in the window, ascending.
        dropped_turns: Numbers of the turns of ``history`` left out,
            ascending (turns before a history slice are not listed).
        tokens: Tokens of ``messages`` as :func:`message_tokens` counts them.
        sections: Tokens each section took when it was fitted, by the names
            in :data:`SECTIONS`; 0 for a section left out or empty. A text
            section includes the separator before it, ``identity`` the system
            message's framing. Their sum is at least ``tokens``: the joined
            system message can count a little less than its parts.
        truncated: Sections that were cut to fit (``workspace``, ``request``).
        omitted: Sections that had content but were left out entirely.
    """

    messages: list[ChatMessage]
    kept_turns: list[int]
    dropped_turns: list[int]
    tokens: int
    sections: dict[str, int]
    truncated: tuple[str, ...] = ()
    omitted: tuple[str, ...] = ()


def memory_index(hidden: int) -> str:
    """The note telling the model that turns ``1..hidden`` are out of view.

    Raises:
        ValueError: ``hidden`` is below 1.
    """
    if hidden < 1:
        raise ValueError(f"a memory index needs hidden turns, not {hidden}")
    if hidden == 1:
        which, they, them = "Turn 1 (1 earlier turn) is", "It is", "it"
    else:
        which = f"Turns 1-{hidden} ({hidden} earlier turns) are"
        they, them = "They are", "them"
    return (
        f"Memory index: {which} not shown here; the context window holds only "
        f"the later turns. {they} stored verbatim: nothing was summarised or "
        f"lost. To read {them} again, call the {RECALL_TOOL} tool in one of "
        "its modes: turns by number or range, tool calls by tool name, "
        "full-text search, or the last N turns. Recall what you need instead "
        "of guessing what was said or done earlier."
    )


def assemble(
    parts: PromptParts,
    budget: int,
    counter: TokenCounter,
    *,
    reserve: int = 0,
    memo: TokenMemo | None = None,
) -> AssembledPrompt:
    """Fit ``parts`` into ``budget - reserve`` tokens, by priority.

    The result fits whenever identity and request fit together; when they do
    not, the request is cut from the middle down to what fits (or to its
    marker alone), everything else is left out, and ``tokens`` exceeds the
    budget.

    Args:
        parts: The sections and the history.
        budget: Tokens the prompt may take.
        counter: The tokenizer or its estimate.
        reserve: Tokens to keep free, e.g. for the answer.
        memo: Turn counts kept across calls; made with ``counter``.

    Raises:
        ValueError: ``reserve`` is negative, ``memo`` was made with another
            counter, history turns are not numbered consecutively, or
            ``total_turns`` disagrees with them.
    """
    if reserve < 0:
        raise ValueError(f"reserve must not be negative, not {reserve}")
    if memo is None:
        memo = TokenMemo(counter)
    elif memo.counter is not counter:
        raise ValueError("the memo was made with a different counter")
    fit = _Fit(counter, budget - reserve, _total_turns(parts))
    fit.labels = parts.recall_numbers
    fit.required(parts.identity, parts.request)
    fit.whole("tool_guidance", parts.tool_guidance)
    fit.whole("process", parts.process)
    history = _Suffix(parts.history, memo)
    kept = fit.workspace_and_history(parts.workspace, history)
    return _finish(fit, history, kept)


def _total_turns(parts: PromptParts) -> int:
    history, given = parts.history, parts.total_turns
    if not history:
        if given is not None and given < 0:
            raise ValueError(f"total_turns must not be negative, not {given}")
        return given or 0
    first = history[0].number
    for offset, turn in enumerate(history):
        if turn.number != first + offset:
            raise ValueError(
                f"history turns must be numbered consecutively: turn {turn.number} "
                f"follows turn {first + offset - 1}"
            )
    last = history[-1].number
    if given is not None and given != last:
        raise ValueError(f"total_turns is {given} but the last turn is {last}")
    return last


class _Suffix:
    """Newest-first running totals of turn tokens, extended only as needed."""

    def __init__(self, turns: Sequence[Turn], memo: TokenMemo) -> None:
        self.turns = turns
        self._memo = memo
        self._totals = [0]  # _totals[k]: tokens of the newest k turns

    def fit(self, limit: int) -> int:
        """How many of the newest turns fit in ``limit`` tokens together."""
        totals, turns = self._totals, self.turns
        while totals[-1] <= limit and len(totals) <= len(turns):
            totals.append(totals[-1] + self._memo.tokens(turns[-len(totals)]))
        return max(bisect_right(totals, limit) - 1, 0)

    def tokens(self, newest: int) -> int:
        """Tokens of the newest ``newest`` turns (already walked by :meth:`fit`)."""
        return self._totals[newest]


@dataclass
class _Fit:
    """The sections chosen so far and the room they leave."""

    counter: TokenCounter
    room: int
    total: int
    request: ChatMessage | None = None
    with_index: bool = False
    texts: dict[str, str] = field(default_factory=dict)
    sections: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SECTIONS, 0))
    truncated: list[str] = field(default_factory=list)
    omitted: list[str] = field(default_factory=list)
    labels: Sequence[int] = ()

    separator: int = field(init=False)
    limit: int = field(init=False)

    def __post_init__(self) -> None:
        self.separator = self.counter.count(_SEPARATOR)
        self.limit = self.room

    def required(self, identity: str, request: ChatMessage | None) -> None:
        """Take identity and request, cutting the request if they do not fit."""
        self._take(
            "identity", identity, MESSAGE_OVERHEAD + self.counter.count(identity)
        )
        if request is None:
            return
        cost = message_tokens(request, self.counter)
        if cost > self.room:
            request = self._cut_request(request, cost)
            cost = message_tokens(request, self.counter)
        self.request = request
        self._take("request", "", cost)

    def whole(self, name: str, text: str) -> None:
        """Take ``text`` if it fits whole, else leave it out."""
        if not text:
            return
        cost = self.cost(text)
        if cost <= self.room:
            self._take(name, text, cost)
        else:
            self.omitted.append(name)

    def cost(self, text: str) -> int:
        """Tokens ``text`` adds to the system message, separator included."""
        return self.separator + self.counter.count(text) if text else 0

    def workspace_and_history(self, workspace: str, history: _Suffix) -> int:
        """Fit the workspace, the memory index and the newest turns.

        Returns:
            How many of the newest turns fit.
        """
        index = self.cost(memory_index(self.total)) if self.total else 0
        earlier = self.total - len(history.turns)
        everything = self.room - self.cost(workspace)
        all_fit = earlier == 0 and history.fit(everything) == len(history.turns)
        # The index is tiny and is the model's only clue that turns are out
        # of view, so the workspace (priority above it) is cut to leave room
        # for it instead of crowding it out.
        self.with_index = not all_fit and index <= self.room
        self._workspace(workspace, self.room - index if self.with_index else self.room)
        if self.with_index:
            self.room -= index
        return history.fit(self.room)

    def _workspace(self, text: str, room: int) -> None:
        cost = self.cost(text)
        if cost <= room:
            self._take("workspace", text, cost)
            return
        keep = largest_fitting(
            len(text) - 1, lambda k: self.cost(cut_head(text, k)) <= room
        )
        if not keep:
            self.omitted.append("workspace")
            return
        cut = cut_head(text, keep)
        self._take("workspace", cut, self.cost(cut))
        self.truncated.append("workspace")

    def _cut_request(self, request: ChatMessage, cost: int) -> ChatMessage:
        content = request.content
        framing = cost - self.counter.count(content)
        keep = largest_fitting(
            len(content),
            lambda k: framing + self.counter.count(cut_middle(content, k)) <= self.room,
        )
        self.truncated.append("request")
        return request.model_copy(update={"content": cut_middle(content, keep or 0)})

    def _take(self, name: str, text: str, cost: int) -> None:
        self.texts[name] = text
        self.sections[name] = cost
        self.room -= cost


def _finish(fit: _Fit, history: _Suffix, kept: int) -> AssembledPrompt:
    while True:
        system = _system_message(fit, fit.total - kept if fit.with_index else 0)
        tokens = (
            message_tokens(system, fit.counter)
            + history.tokens(kept)
            + fit.sections["request"]
        )
        # A tokenizer may count the joined system message above the sum of
        # its parts; giving up the oldest kept turns restores the budget.
        if tokens <= fit.limit or kept == 0:
            break
        kept -= 1
    return _result(fit, history, kept, system, tokens)


def _system_message(fit: _Fit, hidden: int) -> ChatMessage:
    if 0 < hidden <= len(fit.labels):
        hidden = fit.labels[hidden - 1]
    index = memory_index(hidden) if hidden > 0 else ""
    fit.sections["memory_index"] = fit.cost(index)
    texts = [fit.texts.get(name, "") for name in SECTIONS[:4]]
    content = _SEPARATOR.join(text for text in (*texts, index) if text)
    return ChatMessage(role="system", content=content)


def _result(
    fit: _Fit, history: _Suffix, kept: int, system: ChatMessage, tokens: int
) -> AssembledPrompt:
    turns = history.turns
    cut = len(turns) - kept
    window = turns[cut:]
    messages = [system, *(m for turn in window for m in turn.messages)]
    if fit.request is not None:
        messages.append(fit.request)
    fit.sections["history"] = history.tokens(kept)
    if fit.total > kept and not fit.with_index:
        fit.omitted.append("memory_index")
    return AssembledPrompt(
        messages=messages,
        kept_turns=[turn.number for turn in window],
        dropped_turns=[turn.number for turn in turns[:cut]],
        tokens=tokens,
        sections=fit.sections,
        truncated=tuple(fit.truncated),
        omitted=tuple(fit.omitted),
    )
