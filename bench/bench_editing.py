"""Latency of ``apply_edit`` on real source files of growing size.

Targets (2-core machine): median ``apply_edit`` <= 5 ms on files of up to
2,000 lines, exact or drifted; <= 200 ms for a drifted edit of a 50,000-line
file.

The files are real Python: standard-library modules, whole, in a fixed order,
cut to the size wanted. Each edit changes a six-line region about two thirds
of the way down (a line inserted, the last line changed). The kinds of edit:

- exact: ``old`` is the region as it stands;
- indent: ``old`` and ``new`` shifted four columns left (tolerant path);
- typo: one letter of ``old`` substituted (tolerant path, plus the search for
  near twins a fuzzy match triggers);
- indent+typo+crlf: all of that, and ``old`` with CRLF line endings;
- elided: ``old`` is the region's first two and last two lines around ``...``;
- refused: ``old`` resembles nothing in the file (the refusal, with the
  closest region, is built).

    python bench/bench_editing.py           # full run
    python bench/bench_editing.py --quick   # smoke run
"""

from __future__ import annotations

import argparse
import sysconfig
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from _common import Spread, machine, print_table, verdict

from loom.domain.editing import EditError, apply_edit

SMALL_TARGET_MS = 5.0
LARGE_TARGET_MS = 200.0
SIZES = (500, 1_000, 2_000, 50_000)
REGION_LINES = 6

Edit = tuple[str, str, str]  # text, old, new


def stdlib_text(lines: int) -> str:
    """The first ``lines`` lines of the standard library's modules, in order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    parts: list[str] = []
    total = 0
    for path in sorted(root.glob("*.py")):
        source = path.read_text(encoding="utf-8", errors="replace")
        parts.append(source)
        total += source.count("\n")
        if total >= lines:
            break
    return "".join("".join(parts).splitlines(True)[:lines])


def find_region(text: str) -> str:
    """A unique, indented six-line region about two thirds into ``text``."""
    lines = text.splitlines(True)
    for start in range(len(lines) * 2 // 3, len(lines) - REGION_LINES):
        block = lines[start : start + REGION_LINES]
        if all(
            line.startswith("        ") and len(line.strip()) > 12 for line in block
        ):
            region = "".join(block)
            if text.count(region) == 1:
                return region
    raise AssertionError("no suitable region")


def changed(region: str) -> str:
    lines = region.splitlines(True)
    indent = lines[1][: len(lines[1]) - len(lines[1].lstrip())]
    last = lines[-1].rstrip("\n") + "  # changed\n"
    return "".join([lines[0], f"{indent}checked = True\n", *lines[1:-1], last])


def dedent4(text: str) -> str:
    return "".join(line[4:] if line.strip() else line for line in text.splitlines(True))


def typo(text: str) -> str:
    lines = text.splitlines(True)
    row = len(lines) // 2
    column = next(
        c for c in range(len(lines[row]) // 2, 999) if lines[row][c].isalpha()
    )
    swapped = "q" if lines[row][column] != "q" else "z"
    lines[row] = lines[row][:column] + swapped + lines[row][column + 1 :]
    return "".join(lines)


def elided(text: str) -> str:
    lines = text.splitlines(True)
    return "".join([*lines[:2], "        ...\n", *lines[-2:]])


def edits(text: str) -> dict[str, tuple[Edit, str | None]]:
    """Each kind of edit of ``text`` and the file it must give (None: refused)."""
    region = find_region(text)
    new = changed(region)
    expected = text.replace(region, new)
    unrelated = "def frobnicate(widget):\n    return widget.quux(42) or None\n"
    return {
        "exact": ((text, region, new), expected),
        "indent": ((text, dedent4(region), dedent4(new)), expected),
        "typo": ((text, typo(region), new), expected),
        "indent+typo+crlf": (
            (text, typo(dedent4(region)).replace("\n", "\r\n"), dedent4(new)),
            expected,
        ),
        "elided": ((text, elided(region), new), expected),
        "refused": ((text, unrelated, "pass\n"), None),
    }


def run_once(edit: Edit) -> str | None:
    try:
        return apply_edit(*edit)
    except EditError:
        return None


def timed(call: Callable[[], object], reps: int) -> list[float]:
    samples: list[float] = []
    for _ in range(reps):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def measure(size: int, reps: int) -> list[list[str]]:
    text = stdlib_text(size)
    target = SMALL_TARGET_MS if size <= 2_000 else LARGE_TARGET_MS
    rows: list[list[str]] = []
    for kind, (edit, expected) in edits(text).items():
        if run_once(edit) != expected:
            raise AssertionError(f"{size} lines, {kind}: wrong result")
        spread = Spread.of(timed(partial(run_once, edit), reps))
        gated = kind != "refused"
        rows.append(
            [
                f"{size:,} lines, {kind}",
                f"<= {target:g} ms" if gated else "-",
                spread.fmt(3),
                verdict(spread.median <= target) if gated else "-",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--reps", type=int, default=None, help="repetitions")
    args = parser.parse_args()
    reps = args.reps or (5 if args.quick else 51)
    print(machine())
    large_reps = max(3, reps // 5)
    print(f"repetitions: {reps} (50,000 lines: {large_reps}); median (min-max)\n")
    rows: list[list[str]] = []
    for size in SIZES:
        rows += measure(size, reps if size <= 2_000 else large_reps)
    print_table(["apply_edit", "target", "loom (ms)", "verdict"], rows)


if __name__ == "__main__":
    main()
