"""Latency of ``classify_command`` over the command corpus.

Target: median classification <= 1 ms, p99 <= 10 ms, so the check adds nothing
noticeable in front of a shell tool call.

Every command of ``tests/fixtures/commands/{block,ask,allow}.txt`` is
classified ``--reps`` times; the table shows per-call latency per corpus.

    python bench/bench_safety.py           # full run
    python bench/bench_safety.py --quick   # smoke run
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from loom.domain.safety import classify_command

MEDIAN_TARGET_S = 0.001
P99_TARGET_S = 0.010
WORKSPACE = "/home/dev/project"
CORPUS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "commands"


def load(name: str) -> list[str]:
    """Corpus lines, with `\\` continuations joined and `<NL>` as newlines."""
    commands: list[str] = []
    pending = ""
    for line in (CORPUS / name).read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending += line + "\n"
            continue
        commands.append((pending + line).replace("<NL>", "\n"))
        pending = ""
    return commands


def timings(commands: list[str], reps: int) -> list[float]:
    """Seconds per call, one sample per command and repetition."""
    samples: list[float] = []
    for _ in range(reps):
        for command in commands:
            start = time.perf_counter()
            classify_command(command, WORKSPACE)
            samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    reps = 2 if args.quick else args.reps
    everything: list[float] = []
    print(
        f"{'corpus':<8} {'commands':>8} {'median µs':>10} {'p99 µs':>8} {'max µs':>8}"
    )
    for name in ("block.txt", "ask.txt", "allow.txt"):
        commands = load(name)
        samples = timings(commands, reps)
        everything += samples
        p99 = statistics.quantiles(samples, n=100)[98]
        print(
            f"{name[:-4]:<8} {len(commands):>8} "
            f"{statistics.median(samples) * 1e6:>10.0f} {p99 * 1e6:>8.0f} "
            f"{max(samples) * 1e6:>8.0f}"
        )
    median = statistics.median(everything)
    p99 = statistics.quantiles(everything, n=100)[98]
    ok = median <= MEDIAN_TARGET_S and p99 <= P99_TARGET_S
    print(
        f"all: median {median * 1e6:.0f} µs, p99 {p99 * 1e6:.0f} µs "
        f"-> {'PASS' if ok else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
