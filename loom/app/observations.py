"""What an engine observes of the world outside the model and the tools.

A turn's prompt is built with a survey of the workspace, and its token budget
with the model's own counts of the prompt's fixed texts. Both are inputs that a
replay cannot recompute (the workspace has moved on, the model may not be
loaded), so the engine records them as events and a replay answers from those.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from loom.app.prompts import workspace_summary
from loom.domain.eventbase import Event
from loom.domain.events import TokenizerCalibrated, WorkspaceSurveyed
from loom.domain.ports import ModelProvider

__all__ = ["LiveObservations", "Observations", "RecordedObservations"]


class Observations(Protocol):
    """The engine's source of workspace surveys and token counts."""

    async def survey(self, workspace: Path) -> str | None:
        """The workspace overview now, or None when it is unchanged."""
        ...

    async def token_counts(self, texts: Sequence[str]) -> list[int] | None:
        """The model's token count of each text, or None without a tokenizer."""
        ...


class LiveObservations:
    """Reads the disk and asks the model's tokenizer."""

    def __init__(self, provider: ModelProvider) -> None:
        self._provider = provider

    async def survey(self, workspace: Path) -> str | None:
        if (workspace / ".git").exists():
            # ``git status`` runs a process: keep it off the event loop.
            return await asyncio.to_thread(workspace_summary, workspace)
        # Listing one directory costs less than a hop to a thread, and the hop
        # would let every other starting agent cut in before this one gets to
        # its model call.
        return workspace_summary(workspace)

    async def token_counts(self, texts: Sequence[str]) -> list[int] | None:
        count = getattr(self._provider, "count_tokens", None)
        if count is None:
            return None
        return [await asyncio.to_thread(count, text) for text in texts]


class RecordedObservations:
    """Answers from a recorded stream: whatever the run observed at this point.

    ``next_version`` tells where the replayed stream has got to; an observation
    recorded as the next event is the answer, anything else means the run
    observed nothing new there.
    """

    def __init__(self, recorded: Sequence[Event], next_version: _Version) -> None:
        self._recorded = recorded
        self._next_version = next_version

    async def survey(self, workspace: Path) -> str | None:
        event = self._upcoming()
        return event.summary if isinstance(event, WorkspaceSurveyed) else None

    async def token_counts(self, texts: Sequence[str]) -> list[int] | None:
        event = self._upcoming()
        return event.counts if isinstance(event, TokenizerCalibrated) else None

    def _upcoming(self) -> Event | None:
        index = self._next_version() - 1
        return self._recorded[index] if index < len(self._recorded) else None


class _Version(Protocol):
    def __call__(self) -> int: ...
