"""Planning an undo: which files to restore, in what order, and what blocks it.

Undo never deletes history: it restores each change's before-state with new
changes of its own. Changes are undone newest first, and each is checked
against the state the file should be in after the later undos, so a file
someone (or something) changed since is reported instead of overwritten —
unless the undo is forced, in which case the current content is snapshotted
first by whoever carries the plan out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from loom.domain.events import FileChanged

__all__ = ["Conflict", "UndoPlan", "UndoStep", "plan_undo"]

StepAction = Literal["write", "delete", "move"]


@dataclass(frozen=True)
class UndoStep:
    """One restoring action: write ``content`` to ``path``, delete it, or move it."""

    change_id: str
    action: StepAction
    path: str
    content: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Conflict:
    """A file that is no longer as the change left it."""

    change_id: str
    path: str
    expected: str | None
    found: str | None

    def describe(self) -> str:
        def state(digest: str | None) -> str:
            return "absent" if digest is None else f"content {digest[:12]}"

        return (
            f"{self.path} changed since change {self.change_id[:8]}: expected "
            f"{state(self.expected)}, found {state(self.found)}"
        )


@dataclass(frozen=True)
class UndoPlan:
    """The steps to run, newest change first, the conflicts found, and the
    changes that cannot be undone because no copy of the before-state was kept
    (a file a shell command changed that was too large to keep)."""

    steps: list[UndoStep]
    conflicts: list[Conflict]
    unrestorable: list[FileChanged]


def plan_undo(
    changes: Sequence[FileChanged], current: Mapping[str, str | None]
) -> UndoPlan:
    """Plan undoing ``changes`` (oldest first) given each path's current digest.

    ``current`` must hold every path the changes touch (None: the file is absent).
    """
    state = dict(current)
    steps: list[UndoStep] = []
    conflicts: list[Conflict] = []
    lost = [c for c in changes if c.kind in ("modify", "delete") and c.before is None]
    for change in reversed(changes):
        target = change.new_path if change.kind == "rename" else change.path
        assert target is not None
        if state.get(target) != change.after:
            conflicts.append(
                Conflict(change.change_id, target, change.after, state.get(target))
            )
        steps.append(_step(change))
        _apply(state, change)
    return UndoPlan(steps, conflicts, lost)


def _step(change: FileChanged) -> UndoStep:
    if change.kind == "rename":
        assert change.new_path is not None
        return UndoStep(change.change_id, "move", change.path, source=change.new_path)
    if change.before is None:
        return UndoStep(change.change_id, "delete", change.path)
    return UndoStep(change.change_id, "write", change.path, content=change.before)


def _apply(state: dict[str, str | None], change: FileChanged) -> None:
    if change.kind == "rename":
        assert change.new_path is not None
        state[change.path] = state.pop(change.new_path, None)
    else:
        state[change.path] = change.before
