"""The net change of each file over a run, and the diffstat that shows it.

Private helper of :mod:`loom.app._run_summary`, which re-exports
:class:`FileStat` and :func:`file_stats`. A run's ``file.changed`` events are
followed through renames to one net change per file, whose lines are counted
from the stored blobs; :func:`_diffstat` renders the counts for the end-of-run
summary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from loom.domain.eventbase import Event
from loom.domain.events import FileChanged
from loom.domain.ports import BlobStore

__all__ = ["FileStat", "_diffstat", "file_stats"]


@dataclass(frozen=True)
class FileStat:
    """The net change of one file over a run.

    ``note`` replaces the line counts when they cannot be given: ``binary``, or
    ``content not kept`` when no copy of the earlier content was stored.
    """

    path: str
    kind: str
    added: int = 0
    removed: int = 0
    note: str = ""
    old_path: str | None = None


@dataclass
class _Net:
    origin: str
    existed: bool
    before: str | None
    after: str | None = None


async def file_stats(events: Iterable[Event], blobs: BlobStore) -> list[FileStat]:
    """Line counts of every file the run changed, first before-state to last after.

    Several changes to one file (renames followed) count as one; a file created
    and deleted again, or changed and changed back, is left out.
    """
    nets: dict[str, _Net] = {}
    for change in events:
        if not isinstance(change, FileChanged):
            continue
        net = nets.pop(change.path, None) or _Net(
            change.path, change.kind != "create", change.before
        )
        net.after = change.after
        renamed = change.kind == "rename" and change.new_path
        nets[change.new_path if renamed and change.new_path else change.path] = net
    stats = [await _stat(path, net, blobs) for path, net in sorted(nets.items())]
    return [stat for stat in stats if stat is not None]


async def _stat(path: str, net: _Net, blobs: BlobStore) -> FileStat | None:
    moved = net.origin != path
    if not net.existed and net.after is None:
        return None
    if net.existed and net.before == net.after and not moved:
        return None
    kind = "create" if not net.existed else "delete" if net.after is None else "modify"
    kind = "rename" if moved and kind == "modify" else kind
    old_path = net.origin if moved else None
    if net.existed and net.before is None:
        return FileStat(path, kind, note="content not kept", old_path=old_path)
    before = await _content(net.before, blobs)
    after = await _content(net.after, blobs)
    if before is None or after is None:
        return FileStat(path, kind, note="binary", old_path=old_path)
    added, removed = await asyncio.to_thread(_count_lines, before, after)
    return FileStat(path, kind, added, removed, old_path=old_path)


async def _content(digest: str | None, blobs: BlobStore) -> list[str] | None:
    """A blob's lines, [] for an absent file, None for binary content."""
    if digest is None:
        return []
    data = await blobs.get(digest)
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode().splitlines()
    except UnicodeDecodeError:
        return None


def _count_lines(before: list[str], after: list[str]) -> tuple[int, int]:
    added = removed = 0
    matcher = SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            removed += i2 - i1
        if tag in ("replace", "insert"):
            added += j2 - j1
    return added, removed


def _diffstat(stats: Sequence[FileStat]) -> list[RenderableType]:
    if not stats:
        return [Text("no files changed", style="dim")]
    table = Table(box=None, pad_edge=False, show_header=False)
    for _ in range(3):
        table.add_column(overflow="fold")
    for stat in stats:
        path = f"{stat.old_path} → {stat.path}" if stat.old_path else stat.path
        table.add_row(path, stat.kind, _counts(stat))
    added = sum(stat.added for stat in stats)
    removed = sum(stat.removed for stat in stats)
    files = "file" if len(stats) == 1 else "files"
    total = Text(f"{len(stats)} {files} changed, ")
    total.append(f"+{added}", "green").append(f" -{removed}", "red")
    return [table, total]


def _counts(stat: FileStat) -> Text:
    if stat.note:
        return Text(stat.note, style="dim")
    return Text().append(f"+{stat.added}", "green").append(f" -{stat.removed}", "red")
