"""Workspace change detection around shell commands: the cost per command.

A generated workspace of 10,000 watched files (nested packages of Python
modules, docs and data of 200 bytes to 20 KB), plus ignored bulk the scanner
must not pay for: a ``build/`` tree of 5,000 files and scattered ``__pycache__``
directories, both ignored by the root ``.gitignore``, and a nested
``.gitignore`` in ``docs/``. File times are set an hour back, as in a checkout.

Target (2-core machine): at most 150 ms for ``changes()`` per command, median
of at least 20 runs, with no change and with 10 changed files (6 modified,
2 created, 2 deleted). A shell command runs two scans (one before, one after),
so the pair is reported too. The baseline (walk, hash and keep every file in a
fresh SQLite blob store, and again with the blobs already stored, as in a
second session on the same workspace) is reported without a target.

    python bench/bench_scanner.py            # full run (about half a minute)
    python bench/bench_scanner.py --quick    # smoke run (2,000 files)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from _common import Spread, machine, print_table, scratch_dir, verdict

from loom.adapters.blobs import AsyncBlobStore
from loom.adapters.eventstore.backends import SQLiteBackend
from loom.adapters.tools.scanner import WorkspaceScanner

TARGET_MS = 150.0
CHANGED = 10
_WORDS = ("def", "return", "import", "class", "self", "value", "parser", "token")
_GITIGNORE = "build/\n__pycache__/\n*.pyc\n*.log\n.venv/\n"
_HOUR_NS = 3600 * 10**9


# --- the workspace -----------------------------------------------------------


def _text(rng: random.Random) -> bytes:
    size = int(rng.lognormvariate(7.5, 0.9))  # median ~1.8 KB
    size = max(200, min(size, 20_000))
    words = " ".join(rng.choice(_WORDS) for _ in range(size // 5))
    return words[:size].encode()


def _write(path: Path, data: bytes, when_ns: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(when_ns, when_ns))


def make_workspace(root: Path, files: int, seed: int = 0) -> list[Path]:
    """``files`` watched files under ``root``, plus ignored bulk; the watched list."""
    rng = random.Random(seed)
    past = time.time_ns() - _HOUR_NS
    _write(root / ".gitignore", _GITIGNORE.encode(), past)
    _write(root / "docs" / ".gitignore", b"_generated/\n", past)
    watched = [root / ".gitignore", root / "docs" / ".gitignore"]
    packages = max(1, files // 100)
    while len(watched) < files:
        n = len(watched)
        pkg, sub = f"pkg_{n % packages:03d}", f"sub_{(n // packages) % 5}"
        kind = rng.random()
        if kind < 0.8:
            path = root / "src" / pkg / sub / f"mod_{n}.py"
        elif kind < 0.9:
            path = root / "docs" / pkg / f"page_{n}.md"
        else:
            path = root / "tests" / pkg / f"test_{n}.py"
        _write(path, _text(rng), past)
        watched.append(path)
    _ignored_bulk(root, rng, past, packages)
    return watched


def _ignored_bulk(root: Path, rng: random.Random, past: int, packages: int) -> None:
    for n in range(5_000):
        _write(root / "build" / f"lib_{n % 50}" / f"obj_{n}.o", b"\0" * 64, past)
    for n in range(min(packages, 50)):
        cache = root / "src" / f"pkg_{n:03d}" / "__pycache__"
        for m in range(10):
            _write(cache / f"mod_{m}.cpython-311.pyc", b"\0" * 64, past)
    for n in range(100):
        _write(root / "docs" / "_generated" / f"api_{n}.html", _text(rng), past)


def change_files(root: Path, watched: list[Path], rng: random.Random) -> None:
    """6 modified, 2 created, 2 deleted (the deleted are replaced in ``watched``)."""
    for path in rng.sample(watched, 6):
        path.write_bytes(_text(rng))
    for _ in range(2):
        path = root / "src" / f"new_{rng.randrange(10**9)}.py"
        path.write_bytes(_text(rng))
        watched.append(path)
    for path in rng.sample(watched, 2):
        path.unlink()
        watched.remove(path)


# --- measurements --------------------------------------------------------------


async def timed(action: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await action()
    return (time.perf_counter() - started) * 1000


async def baselines(root: Path, scratch: Path, reps: int) -> tuple[Spread, Spread]:
    """Baseline into a fresh blob store, then into one holding the blobs already."""
    fresh, warm = [], []
    for rep in range(reps):
        backend = SQLiteBackend(scratch / f"blobs-{rep}.db")
        try:
            blobs = AsyncBlobStore(backend)
            fresh.append(await timed(WorkspaceScanner(root, blobs).baseline))
            warm.append(await timed(WorkspaceScanner(root, blobs).baseline))
        finally:
            backend.close()
    return Spread.of(fresh), Spread.of(warm)


async def per_command(
    root: Path, scanner: WorkspaceScanner, watched: list[Path], reps: int
) -> tuple[Spread, Spread, Spread]:
    """``changes()`` with nothing changed, with 10 changes, and the two together."""
    rng = random.Random(1)
    idle, busy, pairs = [], [], []
    for _ in range(reps):
        before = await timed(scanner.changes)
        change_files(root, watched, rng)
        started = time.perf_counter()
        found = await scanner.changes()
        after = (time.perf_counter() - started) * 1000
        if len(found) != CHANGED:
            raise AssertionError(f"expected {CHANGED} changes, found {found}")
        idle.append(before)
        busy.append(after)
        pairs.append(before + after)
    return Spread.of(idle), Spread.of(busy), Spread.of(pairs)


async def run(args: argparse.Namespace, scratch: Path) -> list[list[str]]:
    files = 2_000 if args.quick else 10_000
    root = scratch / "ws"
    started = time.perf_counter()
    watched = make_workspace(root, files)
    print(f"generated {files:,} watched files in {time.perf_counter() - started:.1f} s")
    fresh, warm = await baselines(root, scratch, max(1, min(args.reps // 10, 3)))
    backend = SQLiteBackend(scratch / "blobs.db")
    try:
        scanner = WorkspaceScanner(root, AsyncBlobStore(backend))
        await scanner.baseline()
        if len(scanner) != files:
            raise AssertionError(f"indexed {len(scanner)} files, expected {files}")
        idle, busy, pair = await per_command(root, scanner, watched, args.reps)
    finally:
        backend.close()
    target = f"<= {TARGET_MS:g}"
    return [
        [f"baseline, {files:,} files, fresh store (ms)", "-", fresh.fmt(), "-"],
        [f"baseline, {files:,} files, blobs stored (ms)", "-", warm.fmt(), "-"],
        ["changes(), nothing changed (ms)", target, idle.fmt(1), _verdict(idle)],
        [
            f"changes(), {CHANGED} files changed (ms)",
            target,
            busy.fmt(1),
            _verdict(busy),
        ],
        ["per command: scan before + after (ms)", "-", pair.fmt(1), "-"],
    ]


def _verdict(spread: Spread) -> str:
    return verdict(spread.median <= TARGET_MS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--reps", type=int, default=None, help="repetitions")
    parser.add_argument("--dir", default=None, help="parent of the scratch dir")
    args = parser.parse_args()
    if args.reps is None:
        args.reps = 5 if args.quick else 30
    print(machine())
    print(f"repetitions: {args.reps}; figures are median (min-max)\n")
    with scratch_dir(args.dir) as scratch:
        table = asyncio.run(run(args, scratch))
    print_table(["figure", "target", "loom", "verdict"], table)


if __name__ == "__main__":
    main()
