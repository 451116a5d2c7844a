"""Finding a task's streams in the log: its agents', and their delegates'."""

from __future__ import annotations

from collections.abc import Sequence

from loom.domain.eventbase import Event
from loom.domain.events import SubtaskStarted
from loom.domain.ports import EventLog

__all__ = ["agent_streams", "delegate_stream"]


def delegate_stream(parent: str, number: int) -> str:
    """The stream of ``parent``'s ``number``-th delegated sub-agent."""
    return f"{parent}/delegate-{number}"


async def agent_streams(log: EventLog, task_events: Sequence[Event]) -> list[str]:
    """Every agent stream of a task, in the order the attempts started, each
    followed by its delegates' streams (depth first)."""
    found: list[str] = []
    for event in task_events:
        if isinstance(event, SubtaskStarted) and event.agent_stream:
            await _add(log, event.agent_stream, found)
    return found


async def _add(log: EventLog, stream: str, found: list[str]) -> None:
    found.append(stream)
    number = 1
    while await log.stream_version(delegate_stream(stream, number)):
        await _add(log, delegate_stream(stream, number), found)
        number += 1
