"""A session's conversation as the model sees it, folded from its events.

:class:`ConversationState` folds one stream's events into the history of turns
(each tool call grouped with its results, so no cut can separate them), the
tool calls still waiting for a result, the tools the user approved for the
whole session, and the recent calls the doom-loop check looks at. The engine
keeps one up to date as it records events, and a resume folds the stored
stream into a fresh one, so both see exactly the same state.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from loom.domain.eventbase import Event
from loom.domain.events import (
    ModelCallCompleted,
    ModelCallStarted,
    TodoItem,
    TodoListUpdated,
    ToolCall,
    ToolCallApproved,
    ToolCallCompleted,
    ToolCallDenied,
    ToolCallInterrupted,
    ToolCallRequested,
    UserMessaged,
)
from loom.domain.models import ChatMessage
from loom.domain.prompt import Turn

__all__ = ["DOOM_LOOP_REPEATS", "ConversationState", "PendingCall"]

DOOM_LOOP_REPEATS = 3


@dataclass(frozen=True)
class PendingCall:
    """A tool call that was requested and has no outcome yet."""

    call_id: str
    tool: str
    arguments: dict[str, Any]


@dataclass
class ConversationState:
    """The fold of one session's (or task's) events that the engine needs."""

    turns: list[Turn] = field(default_factory=list)
    pending: dict[str, PendingCall] = field(default_factory=dict)
    always_approved: set[str] = field(default_factory=set)
    todos: list[TodoItem] = field(default_factory=list)
    recent_calls: list[tuple[str, str, str]] = field(default_factory=list)
    results: dict[str, str] = field(default_factory=dict)
    entries: int = 0
    recall_numbers: list[int] = field(default_factory=list)
    _roles: dict[str, str] = field(default_factory=dict)
    _open: list[ChatMessage] = field(default_factory=list)
    _waiting: set[str] = field(default_factory=set)

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> ConversationState:
        state = cls()
        for event in events:
            state.apply(event)
        return state

    def apply(self, event: Event) -> None:
        """Fold one event."""
        if isinstance(event, UserMessaged):
            self._add_turn(ChatMessage(role="user", content=event.text))
        elif isinstance(event, ModelCallStarted):
            self._roles[event.call_id] = event.role
        elif isinstance(event, ModelCallCompleted):
            self._assistant(event)
        elif isinstance(event, ToolCallRequested):
            self._requested(event)
        elif isinstance(event, ToolCallApproved) and event.remember_for_session:
            call = self.pending.get(event.call_id)
            if call is not None:
                self.always_approved.add(call.tool)
        elif isinstance(event, ToolCallCompleted):
            self._tool_result(event.call_id, event.result)
        elif isinstance(event, ToolCallDenied):
            reason = f": {event.reason}" if event.reason else ""
            self._tool_result(event.call_id, f"denied by the {event.by}{reason}")
        elif isinstance(event, ToolCallInterrupted):
            self._tool_result(event.call_id, f"interrupted, not run: {event.reason}")
        elif isinstance(event, TodoListUpdated):
            self.todos = list(event.items)

    def repeats_of(self, tool: str, arguments: dict[str, Any]) -> int:
        """How many of the latest recorded calls in a row were exactly this one."""
        key = (tool, _canonical(arguments))
        count = 0
        for earlier_tool, earlier_args, _ in reversed(self.recent_calls):
            if (earlier_tool, earlier_args) != key:
                break
            count += 1
        return count

    def last_result_of(self, tool: str, arguments: dict[str, Any]) -> str:
        """The result of the latest call of ``tool`` with ``arguments``."""
        key = (tool, _canonical(arguments))
        for earlier_tool, earlier_args, call_id in reversed(self.recent_calls):
            if (earlier_tool, earlier_args) == key and call_id in self.results:
                return self.results[call_id]
        return ""

    def _add_turn(self, *messages: ChatMessage) -> None:
        self._close_open_turn()
        self.entries += 1
        self._append(messages)

    def _append(self, messages: tuple[ChatMessage, ...] | list[ChatMessage]) -> None:
        # The conversation projection (and so conversation_recall) numbers every
        # user, assistant and tool message; a turn here groups a call with its
        # results, so each turn also keeps the number its last message has there.
        self.turns.append(Turn(number=len(self.turns) + 1, messages=tuple(messages)))
        self.recall_numbers.append(self.entries)

    def _assistant(self, event: ModelCallCompleted) -> None:
        if self._roles.get(event.call_id, "executor") != "executor":
            return
        message = ChatMessage(
            role="assistant", content=event.text, tool_calls=list(event.tool_calls)
        )
        if not event.tool_calls:
            self._add_turn(message)
            return
        self._close_open_turn()
        self.entries += 1
        self._open = [message]
        self._waiting = {call.id for call in event.tool_calls}

    def _requested(self, event: ToolCallRequested) -> None:
        self.pending[event.call_id] = PendingCall(
            event.call_id, event.tool, event.arguments
        )
        self.recent_calls.append(
            (event.tool, _canonical(event.arguments), event.call_id)
        )
        del self.recent_calls[: -DOOM_LOOP_REPEATS * 4]
        recent = {call_id for _, _, call_id in self.recent_calls}
        for stale in [c for c in self.results if c not in recent]:
            del self.results[stale]

    def _tool_result(self, call_id: str, content: str) -> None:
        self.entries += 1
        call = self.pending.pop(call_id, None)
        self.results[call_id] = content
        if call_id not in self._waiting:
            return
        name = call.tool if call else None
        self._open.append(
            ChatMessage(role="tool", content=content, tool_call_id=call_id, name=name)
        )
        self._waiting.discard(call_id)
        if not self._waiting:
            self._close_open_turn()

    def _close_open_turn(self) -> None:
        if not self._open:
            return
        # Calls that never got a result still need one, or the model's API
        # (and the prompt assembler) would see a call without its answer.
        for call_id in sorted(self._waiting):
            self._open.append(
                ChatMessage(
                    role="tool",
                    content="no result: the call did not run",
                    tool_call_id=call_id,
                )
            )
        opened, self._open, self._waiting = self._open, [], set()
        self._append(opened)

    def open_calls(self) -> list[ToolCall]:
        """Calls of the current assistant message still waiting for results."""
        if not self._open:
            return []
        return [c for c in self._open[0].tool_calls if c.id in self._waiting]


def _canonical(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, sort_keys=True, ensure_ascii=False)
