"""Fast detection of the files a command created, modified or deleted.

A :class:`WorkspaceScanner` keeps an index of the workspace, path ->
(size, mtime_ns, sha256), and keeps the bytes of every indexed file in the blob
store, so that when a shell command later changes a file its before-state is
there for undo (the store deduplicates, so rescanning unchanged files is
cheap). ``changes()`` rescans with ``lstat`` alone and reads and hashes only
the files whose size or mtime moved, and new files; a rescan of a workspace
costs about one ``lstat`` per watched file.

Watched are the regular files under the root except ``.git`` (at any depth),
the paths given as ``exclude`` (Loom's own home) and what the workspace's
ignore files ignore: the ``.gitignore`` of every directory, relative to that
directory, a deeper file overriding a shallower one as in git, and
``.git/info/exclude`` at the root. Ignored directories are pruned, not entered.

Limits:

* Symbolic links are neither followed nor watched; nor are sockets or FIFOs.
* Global excludes (``core.excludesFile``) are not read, and a file git tracks
  although an ignore rule matches it is skipped like any ignored file.
* Files over ``max_file_bytes``, and files that cannot be read, are watched by
  size and mtime only. Their bytes are not kept, so a change to such a file is
  reported with ``None`` as the digest of the side that was too large, and
  undo cannot restore that side.
* The walk stops after ``max_files`` files and sets ``truncated``. Indexed
  files it did not reach are then checked one by one, so their changes are
  still seen (and the index may grow past ``max_files`` by the new files the
  walk met first), but new files in directories it no longer reaches go
  unnoticed. Which files make the cut follows the order of the listings.
* A change that keeps both size and mtime is missed, except for files modified
  shortly before the previous scan (``_RACY_NS``): those are re-hashed on the
  next scan, as git does for "racily clean" index entries, because a write in
  the same timestamp tick would not move their mtime.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from pathspec import GitIgnoreSpec

from loom.domain.events import ChangeKind
from loom.domain.ports import BlobStore

__all__ = [
    "DEFAULT_MAX_FILES",
    "DEFAULT_MAX_FILE_BYTES",
    "FileChange",
    "WorkspaceScanner",
]

DEFAULT_MAX_FILES = 50_000
DEFAULT_MAX_FILE_BYTES = 5 * 1024 * 1024
# Wider than the timestamp granularity of any common filesystem (FAT: 2 s).
_RACY_NS = 2_000_000_000
_BATCH_BYTES = 16 * 1024 * 1024
_BATCH_FILES = 256

Stat = tuple[int, int]
"""(size, mtime_ns) of a file."""


class FileChange(NamedTuple):
    """One file created, modified or deleted since the previous scan.

    ``before`` and ``after`` are blob digests; ``None`` where the file did not
    exist on that side, or its bytes were not kept (too large, unreadable).
    """

    path: str
    kind: ChangeKind
    before: str | None
    after: str | None


class _Entry(NamedTuple):
    size: int
    mtime_ns: int
    digest: str | None  # None: too large to keep, or unreadable


class _Read(NamedTuple):
    path: str
    entry: _Entry
    data: bytes | None  # the bytes to keep; None when they are not kept


class _Rules(NamedTuple):
    base: str  # the directory the patterns are relative to: "" or "a/b/"
    spec: GitIgnoreSpec
    serial: int  # unique per loaded version of an ignore file


Chain = tuple[_Rules, ...]
"""The ignore rules in force in a directory, shallowest first."""


class WorkspaceScanner:
    """An index of a workspace's files that reports what changed since last time.

    Calls are serialised by an internal lock. ``exclusive`` is a second lock for
    callers that must keep other commands out between their scans (the shell
    tool holds it from the scan before a command to the scan after it).
    """

    def __init__(
        self,
        root: Path,
        blobs: BlobStore,
        *,
        max_files: int = DEFAULT_MAX_FILES,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        exclude: Iterable[Path] = (),
    ) -> None:
        self.root = Path(os.path.realpath(root))
        self.max_files, self.max_file_bytes = max_files, max_file_bytes
        self.truncated = False
        self.exclusive = asyncio.Lock()
        self._blobs = blobs
        self._index: dict[str, _Entry] | None = None
        self._racy: set[str] = set()
        self._ignores = _Ignores(str(self.root))
        self._exclude = frozenset(_inside(self.root, Path(path)) for path in exclude)
        self._lock = asyncio.Lock()

    @property
    def has_baseline(self) -> bool:
        return self._index is not None

    def digest(self, path: str) -> str | None:
        """The indexed digest of ``path`` (workspace-relative), if it has one."""
        entry = (self._index or {}).get(path)
        return None if entry is None else entry.digest

    def __len__(self) -> int:
        return len(self._index or {})

    async def baseline(self) -> None:
        """Index the whole workspace afresh, keeping every file's bytes as a blob."""
        async with self._lock:
            await self._baseline()

    async def changes(self) -> list[FileChange]:
        """What changed since the previous scan, sorted by path; updates the index.

        The first call, when there is no baseline yet, takes one and returns
        nothing.
        """
        async with self._lock:
            if self._index is None:
                await self._baseline()
                return []
            return await self._scan(self._index)

    async def _baseline(self) -> None:
        index: dict[str, _Entry] = {}
        await self._scan(index)
        self._index = index  # only once complete: a failed baseline is no baseline

    async def _scan(self, index: dict[str, _Entry]) -> list[FileChange]:
        started = time.time_ns()
        stats, self.truncated = await asyncio.to_thread(self._walk, index)
        wanted = [path for path, now in stats.items() if self._moved(index, path, now)]
        fresh = await self._read_and_keep(wanted, stats)
        changes = [
            change
            for path, entry in fresh.items()
            if (change := _compare(path, index.get(path), entry)) is not None
        ]
        index.update(fresh)
        # Gone: not found by the walk, or found but vanished before it was read.
        gone = [path for path in index if path not in stats]
        gone += [path for path in wanted if path not in fresh and path in index]
        changes += [_deleted(path, index.pop(path)) for path in gone]
        cutoff = started - _RACY_NS
        self._racy = {path for path, (_, mtime) in stats.items() if mtime >= cutoff}
        return sorted(changes)

    def _walk(self, index: dict[str, _Entry]) -> tuple[dict[str, Stat], bool]:
        walk = _Walk(str(self.root), self._ignores, self._exclude, self.max_files)
        stats = walk.run()
        if walk.truncated:
            # Indexed files the cut-short walk did not reach are checked directly.
            stats.update(_restat(str(self.root), (p for p in index if p not in stats)))
        return stats, walk.truncated

    def _moved(self, index: dict[str, _Entry], path: str, now: Stat) -> bool:
        old = index.get(path)
        return old is None or (old.size, old.mtime_ns) != now or path in self._racy

    async def _read_and_keep(
        self, paths: list[str], stats: dict[str, Stat]
    ) -> dict[str, _Entry]:
        """Hash ``paths`` and keep their bytes, a bounded batch at a time."""
        entries: dict[str, _Entry] = {}
        root, limit = str(self.root), self.max_file_bytes
        for batch in _batches(paths, stats, limit):
            reads = await asyncio.to_thread(_read_batch, root, batch, limit)
            await self._keep(reads)
            entries.update((read.path, read.entry) for read in reads)
        return entries

    async def _keep(self, reads: list[_Read]) -> None:
        """Store the bytes the blob store does not hold yet."""
        kept = {
            read.entry.digest: read.data
            for read in reads
            if read.entry.digest is not None and read.data is not None
        }
        for digest in await self._blobs.missing(kept):
            await self._blobs.put(kept[digest])


def _compare(path: str, old: _Entry | None, new: _Entry) -> FileChange | None:
    if old is None:
        return FileChange(path, "create", None, new.digest)
    if old.digest is not None and new.digest is not None:
        changed = old.digest != new.digest
    else:  # bytes not kept on one side: only the stat can tell
        changed = (old.size, old.mtime_ns) != (new.size, new.mtime_ns)
    return FileChange(path, "modify", old.digest, new.digest) if changed else None


def _deleted(path: str, old: _Entry) -> FileChange:
    return FileChange(path, "delete", old.digest, None)


def _inside(root: Path, path: Path) -> str:
    """``path`` relative to ``root``; a path outside it is never matched."""
    real = Path(os.path.realpath(path))
    return real.relative_to(root).as_posix() if real.is_relative_to(root) else "\0"


# --- walking ------------------------------------------------------------------


class _Walk:
    """One pass over the tree: the (size, mtime_ns) of every watched file."""

    def __init__(
        self, root: str, ignores: _Ignores, exclude: frozenset[str], limit: int
    ) -> None:
        self.root, self.ignores = root, ignores
        self.exclude, self.limit = exclude, limit
        self.stats: dict[str, Stat] = {}
        self.truncated = False

    def run(self) -> dict[str, Stat]:
        stack: list[tuple[str, Chain]] = [("", self.ignores.root_chain())]
        visited: list[str] = []
        while stack and not self.truncated:
            base, chain = stack.pop()
            visited.append(base)
            self._visit(base, chain, stack)
        if not self.truncated:
            self.ignores.forget_all_but(visited)
        return self.stats

    def _visit(self, base: str, chain: Chain, stack: list[tuple[str, Chain]]) -> None:
        try:
            with os.scandir(f"{self.root}/{base}") as listing:
                entries = list(listing)
        except OSError:  # vanished or unreadable: nothing in it is watched
            return
        chain = self.ignores.extend(base, entries, chain)
        decided = self.ignores.decisions(base, chain)
        stats = self.stats
        # The hot loop: one lstat per file (DirEntry caches it), dict lookups.
        for entry in entries:
            name = entry.name
            if name == ".git":
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            key = f"{name}/" if is_dir else name
            skip = decided.get(key)
            if skip is None:
                skip = decided[key] = self._skipped(chain, base, key)
            if skip:
                continue
            if is_dir:
                stack.append((base + key, chain))
            elif entry.is_file(follow_symlinks=False):
                if len(stats) >= self.limit:
                    self.truncated = True
                    return
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                stats[base + name] = (info.st_size, info.st_mtime_ns)

    def _skipped(self, chain: Chain, base: str, key: str) -> bool:
        return base + key.rstrip("/") in self.exclude or _ignored(chain, base + key)


def _ignored(chain: Chain, path: str) -> bool:
    """Whether git would ignore ``path`` (a directory ends with "/")."""
    for rules in reversed(chain):  # the deepest ignore file that decides wins
        include = rules.spec.check_file(path[len(rules.base) :]).include
        if include is not None:
            return include
    return False


def _restat(root: str, paths: Iterable[str]) -> Iterator[tuple[str, Stat]]:
    for path in paths:
        try:
            info = os.lstat(f"{root}/{path}")
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            yield path, (info.st_size, info.st_mtime_ns)


class _Ignores:
    """The workspace's ignore files, each parsed once per version, and decisions.

    Decisions are cached per directory and name, keyed by the versions of the
    ignore files in force there, so a rescan matches patterns only for new
    names or after an ignore file changed.
    """

    def __init__(self, root: str) -> None:
        self._root = root
        self._loaded: dict[str, tuple[Stat, _Rules]] = {}
        self._decided: dict[str, tuple[tuple[int, ...], dict[str, bool]]] = {}
        self._serial = 0

    def root_chain(self) -> Chain:
        rules = self._load(".git/info/exclude", "", None)
        return () if rules is None else (rules,)

    def extend(self, base: str, entries: list[os.DirEntry[str]], chain: Chain) -> Chain:
        for entry in entries:
            if entry.name == ".gitignore" and entry.is_file(follow_symlinks=False):
                rules = self._load(base + ".gitignore", base, entry)
                return chain if rules is None else (*chain, rules)
        return chain

    def decisions(self, base: str, chain: Chain) -> dict[str, bool]:
        key = tuple(rules.serial for rules in chain)
        cached = self._decided.get(base)
        if cached is None or cached[0] != key:
            cached = self._decided[base] = (key, {})
        return cached[1]

    def forget_all_but(self, bases: list[str]) -> None:
        self._decided = {b: self._decided[b] for b in bases if b in self._decided}

    def _load(
        self, path: str, base: str, entry: os.DirEntry[str] | None
    ) -> _Rules | None:
        try:
            info = (
                entry.stat(follow_symlinks=False)
                if entry
                else os.stat(f"{self._root}/{path}")
            )
        except OSError:
            return None
        version = (info.st_size, info.st_mtime_ns)
        cached = self._loaded.get(path)
        if cached is not None and cached[0] == version:
            return cached[1]
        try:
            with open(
                f"{self._root}/{path}", encoding="utf-8", errors="replace"
            ) as file:
                lines = file.read().splitlines()
        except OSError:
            return None
        self._serial += 1
        rules = _Rules(base, GitIgnoreSpec.from_lines(lines), self._serial)
        self._loaded[path] = (version, rules)
        return rules


# --- reading ------------------------------------------------------------------


def _batches(
    paths: list[str], stats: dict[str, Stat], limit: int
) -> Iterator[list[tuple[str, Stat]]]:
    """``paths`` in groups whose bytes to read stay under ``_BATCH_BYTES``."""
    batch: list[tuple[str, Stat]] = []
    size = 0
    for path in paths:
        now = stats[path]
        cost = now[0] if now[0] <= limit else 0
        if batch and (size + cost > _BATCH_BYTES or len(batch) >= _BATCH_FILES):
            yield batch
            batch, size = [], 0
        batch.append((path, now))
        size += cost
    if batch:
        yield batch


def _read_batch(root: str, batch: list[tuple[str, Stat]], limit: int) -> list[_Read]:
    reads = (_read(root, path, now, limit) for path, now in batch)
    return [read for read in reads if read is not None]


def _read(root: str, path: str, now: Stat, limit: int) -> _Read | None:
    """Hash one file; None when it is gone.

    The stat kept is taken before the read, so a write during or after the
    read moves the mtime past it and the next scan reads the file again.
    """
    if now[0] > limit:
        return _Read(path, _Entry(*now, None), None)
    try:
        # O_NONBLOCK: the path may have been replaced by a FIFO since the walk.
        fd = os.open(f"{root}/{path}", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError:  # unreadable: watched by its stat only
        return _Read(path, _Entry(*now, None), None)
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        data = file.read(limit + 1)
    size, mtime = info.st_size, info.st_mtime_ns
    if len(data) > limit:  # it grew past the limit since the walk
        return _Read(path, _Entry(size, mtime, None), None)
    if len(data) != size:
        size, mtime = len(data), -1  # it changed while being read: read it again
    return _Read(path, _Entry(size, mtime, hashlib.sha256(data).hexdigest()), data)
