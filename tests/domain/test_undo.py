"""Given changes and the files' current state, when undo is planned, then..."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from loom.domain.events import ChangeKind, FileChanged
from loom.domain.undo import Conflict, UndoStep, plan_undo

A, B, C = "a" * 64, "b" * 64, "c" * 64
_count = iter(range(1, 1000))


def change(
    kind: ChangeKind,
    path: str,
    before: str | None,
    after: str | None,
    new_path: str | None = None,
) -> FileChanged:
    n = next(_count)
    return FileChanged(
        stream="task-1",
        version=n,
        id=UUID(int=n),
        at=datetime(2026, 1, 1, tzinfo=UTC),
        change_id=f"change-{n}",
        path=path,
        kind=kind,
        before=before,
        after=after,
        new_path=new_path,
    )


def test_each_kind_is_undone_by_its_inverse() -> None:
    created = change("create", "new.py", None, A)
    modified = change("modify", "old.py", A, B)
    deleted = change("delete", "gone.py", C, None)
    renamed = change("rename", "x.py", A, A, new_path="y.py")
    plan = plan_undo(
        [created, modified, deleted, renamed],
        {"new.py": A, "old.py": B, "gone.py": None, "y.py": A, "x.py": None},
    )
    assert plan.conflicts == []
    assert plan.steps == [
        UndoStep(renamed.change_id, "move", "x.py", source="y.py"),
        UndoStep(deleted.change_id, "write", "gone.py", content=C),
        UndoStep(modified.change_id, "write", "old.py", content=A),
        UndoStep(created.change_id, "delete", "new.py"),
    ]


def test_several_changes_to_one_file_unwind_newest_first() -> None:
    created = change("create", "f.py", None, A)
    edited = change("modify", "f.py", A, B)
    plan = plan_undo([created, edited], {"f.py": B})
    assert plan.conflicts == []
    assert [s.action for s in plan.steps] == ["write", "delete"]


def test_a_file_changed_since_is_a_conflict() -> None:
    edited = change("modify", "f.py", A, B)
    plan = plan_undo([edited], {"f.py": C})
    assert plan.conflicts == [Conflict(edited.change_id, "f.py", B, C)]
    assert "expected content bbbbbbbbbbbb, found content cccccccccccc" in (
        plan.conflicts[0].describe()
    )


def test_a_recreated_file_conflicts_with_undoing_its_deletion() -> None:
    deleted = change("delete", "f.py", A, None)
    plan = plan_undo([deleted], {"f.py": B})
    assert plan.conflicts[0].found == B
    assert plan.conflicts[0].expected is None


def test_a_change_whose_before_state_was_not_kept_is_unrestorable() -> None:
    lost = change("modify", "big.bin", None, A)
    plan = plan_undo([lost], {"big.bin": A})
    assert plan.unrestorable == [lost]
