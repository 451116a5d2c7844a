"""What the model last knew of each file: the stale-file guard's memory.

Folded from one stream's events: a read, a write by a tool, or an undo sets the
digest the model can be assumed to know. Kept in memory by the tool context and
rebuilt from the log on resume, so "known from the log" holds across restarts.
"""

from __future__ import annotations

from collections.abc import Iterable

from loom.domain.events import Event, FileChanged, FileRead

__all__ = ["FileKnowledge"]


class FileKnowledge:
    """Workspace-relative path -> sha256 of the content the model last saw."""

    def __init__(self) -> None:
        self._digests: dict[str, str | None] = {}

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> FileKnowledge:
        knowledge = cls()
        for event in events:
            knowledge.apply(event)
        return knowledge

    def apply(self, event: Event) -> None:
        """Fold one event."""
        if isinstance(event, FileRead):
            self._digests[event.path] = event.digest
        elif isinstance(event, FileChanged):
            if event.kind == "rename" and event.new_path is not None:
                self._digests.pop(event.path, None)
                self._digests[event.new_path] = event.after
            else:
                self._digests[event.path] = event.after

    def known(self, path: str) -> tuple[bool, str | None]:
        """Whether ``path`` was seen, and its digest then (None: did not exist)."""
        if path in self._digests:
            return True, self._digests[path]
        return False, None
