"""Snapshots and the change record of every file a tool (or undo) touches.

Before a write, edit, delete or move the file's current bytes go to the blob
store and ``file.snapshotted`` is recorded; after it, ``file.changed`` records
the kind of change with before and after hashes, the change id and the subtask.
Writes go through a temporary file and ``os.replace`` so a killed process never
leaves half a file behind.
"""

from __future__ import annotations

import asyncio
import difflib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from loom.adapters.tools.workspace import Workspace
from loom.domain.events import ChangeKind, FileChanged, FileSnapshotted
from loom.domain.ports import BlobStore, Journal
from loom.projections.file_knowledge import FileKnowledge

__all__ = ["ChangeRecorder", "RecordedChange", "unified_diff"]

_DIFF_LIMIT = 20_000


@dataclass(frozen=True)
class RecordedChange:
    """What a change did, for the tool's result."""

    change_id: str
    path: str
    kind: ChangeKind
    diff: str


class ChangeRecorder:
    """Makes file changes and records them in one stream's journal."""

    def __init__(
        self,
        workspace: Workspace,
        journal: Journal,
        blobs: BlobStore,
        knowledge: FileKnowledge,
        *,
        subtask_id: str | None = None,
        cause: str = "tool",
    ) -> None:
        self.workspace, self.knowledge = workspace, knowledge
        self._journal, self._blobs = journal, blobs
        self.subtask_id, self.cause = subtask_id, cause

    async def write(self, real: Path, data: bytes) -> RecordedChange:
        """Create or replace a file with ``data``."""
        before = await self.snapshot(real)
        await asyncio.to_thread(_atomic_write, real, data)
        kind: ChangeKind = "create" if before.data is None else "modify"
        return await self._changed(real, kind, before, data)

    async def delete(self, real: Path) -> RecordedChange:
        """Remove a file (its bytes stay in the blob store)."""
        before = await self.snapshot(real)
        await asyncio.to_thread(real.unlink)
        return await self._changed(real, "delete", before, None)

    async def move(self, source: Path, target: Path) -> RecordedChange:
        """Rename ``source`` to ``target`` (a new path)."""
        before = await self.snapshot(source)
        await asyncio.to_thread(_move, source, target)
        return await self._changed(source, "rename", before, before.data, target)

    async def snapshot(self, real: Path) -> _Snapshot:
        """Store and record a file's current bytes before changing it."""
        data = await asyncio.to_thread(_read_or_none, real)
        digest = None if data is None else await self._blobs.put(data)
        await self._journal.record(
            FileSnapshotted, path=self.workspace.relative(real), before=digest
        )
        return _Snapshot(data, digest)

    async def record_external(
        self, path: str, kind: ChangeKind, before: str | None, after: str | None
    ) -> str:
        """Record a change made outside Loom's tools (a shell command), by hashes."""
        change_id = self._journal.new_id()
        await self._journal.record(
            FileChanged,
            change_id=change_id,
            path=path,
            kind=kind,
            before=before,
            after=after,
            subtask_id=self.subtask_id,
            cause="shell",
        )
        # The model's knowledge of the file is left as it was, so the stale-file
        # guard refuses an edit until the model has read the new content.
        return change_id

    async def _changed(
        self,
        real: Path,
        kind: ChangeKind,
        before: _Snapshot,
        after_data: bytes | None,
        target: Path | None = None,
    ) -> RecordedChange:
        after = None if after_data is None else await self._blobs.put(after_data)
        path = self.workspace.relative(real)
        new_path = None if target is None else self.workspace.relative(target)
        change_id = self._journal.new_id()
        event = await self._journal.record(
            FileChanged,
            change_id=change_id,
            path=path,
            kind=kind,
            before=before.digest,
            after=after,
            new_path=new_path,
            subtask_id=self.subtask_id,
            cause=self.cause,
        )
        self.knowledge.apply(event)
        diff = unified_diff(path, before.data, after_data, new_path)
        return RecordedChange(change_id, new_path or path, kind, diff)


@dataclass(frozen=True)
class _Snapshot:
    data: bytes | None
    digest: str | None


def unified_diff(
    path: str, before: bytes | None, after: bytes | None, new_path: str | None = None
) -> str:
    """A unified diff of a change (binary files are summarised)."""
    old_text, new_text = _text(before), _text(after)
    if old_text is None or new_text is None:
        sizes = f"{len(before or b'')} -> {len(after or b'')} bytes"
        return f"Binary file {path} changed ({sizes})"
    diff = "".join(
        difflib.unified_diff(
            old_text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile="/dev/null" if before is None else f"a/{path}",
            tofile="/dev/null" if after is None else f"b/{new_path or path}",
        )
    )
    if len(diff) > _DIFF_LIMIT:
        return diff[:_DIFF_LIMIT] + f"\n... diff cut at {_DIFF_LIMIT} characters\n"
    return diff


def _text(data: bytes | None) -> str | None:
    if data is None:
        return ""
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode()
    except UnicodeDecodeError:
        return None


def _read_or_none(real: Path) -> bytes | None:
    try:
        return real.read_bytes()
    except FileNotFoundError:
        return None


def _atomic_write(real: Path, data: bytes) -> None:
    real.parent.mkdir(parents=True, exist_ok=True)
    mode = real.stat().st_mode & 0o7777 if real.exists() else None
    fd, temporary = tempfile.mkstemp(
        dir=real.parent, prefix=f".{real.name}.", suffix=".loom"
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, real)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _move(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise FileExistsError(f"{target} already exists")
    os.rename(source, target)
