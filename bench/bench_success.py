"""How often the embedded default model gets trivial goals done through Loom.

Runs ``loom run GOAL -w TMP`` as a user would (a fresh process, a fresh
workspace and LOOM_HOME each time) for a few trivial goals, and counts:

- completed: the run ended with exit code 0 (every subtask passed Loom's own
  independent verification);
- correct: an objective check of the result passes (the script prints what
  was asked, the function returns the right value, ...).

SmolLM2-135M alone rarely produces a usable file from a bare prompt; the
difference is what the harness (constrained plans and first calls, repair,
verification with feedback, retries) adds to a weak model.

Usage: python bench/bench_success.py [--runs N] [--goal NAME] [--keep DIR]
       python bench/bench_success.py --baseline
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def _output_of(path: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=path, capture_output=True, text=True, timeout=20
    )
    return done.stdout if done.returncode == 0 else ""


@dataclass(frozen=True)
class Goal:
    name: str
    text: str
    correct: Callable[[Path], bool]


GOALS = [
    Goal(
        "hello",
        "create hello.py that prints hello",
        lambda ws: (
            (ws / "hello.py").exists() and "hello" in _output_of(ws, "hello.py").lower()
        ),
    ),
    Goal(
        "add",
        "create add.py with a function add(a, b) that returns a + b",
        lambda ws: (
            (ws / "add.py").exists()
            and _output_of(ws, "-c", "from add import add; print(add(2, 3))").strip()
            == "5"
        ),
    ),
    Goal(
        "greet",
        "create greet.py that prints good morning",
        lambda ws: (
            (ws / "greet.py").exists()
            and "good morning" in _output_of(ws, "greet.py").lower()
        ),
    ),
]


KEEP: Path | None = None
"""Where to keep each run's LOOM_HOME, workspace and output (``--keep DIR``)."""


def run_once(goal: Goal) -> tuple[int, bool, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {**os.environ, "LOOM_HOME": str(root / "home")}
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "loom", "run", goal.text, "-w", str(root / "ws")],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        took = time.perf_counter() - started
        correct = goal.correct(root / "ws")
        if KEEP is not None:
            kept = KEEP / f"{goal.name}-{int(started * 1000)}"
            shutil.copytree(root, kept, symlinks=True)
            (kept / "output.txt").write_text(done.stdout + done.stderr)
        return done.returncode, correct, took


async def baseline_once(goal: Goal) -> bool:
    """The model alone: one schema-constrained ``write_file`` call for the goal,
    written as it comes (no plan, no draft, no verification, no retry)."""
    from loom.adapters.models.llamacpp import LlamaCppProvider, default_model_path
    from loom.adapters.tools import registered_tools
    from loom.domain.models import ChatMessage, Completion, ModelParams, ModelRequest

    provider = LlamaCppProvider(
        name="smollm2", model_path=Path(default_model_path()), context_length=8192
    )
    request = ModelRequest(
        messages=[
            ChatMessage(role="system", content="You are a coding agent with tools."),
            ChatMessage(role="user", content=goal.text),
        ],
        tools=[registered_tools()["write_file"].spec()],
        params=ModelParams(max_tokens=512, temperature=0.0, force_tool="write_file"),
    )
    try:
        async for item in provider.stream(request):
            if isinstance(item, Completion) and item.tool_calls:
                args = item.tool_calls[0].arguments
                with tempfile.TemporaryDirectory() as tmp:
                    target = Path(tmp) / str(args.get("path", "out.txt")).lstrip("/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(str(args.get("content", "")))
                    return goal.correct(Path(tmp))
        return False
    finally:
        await provider.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--goal", choices=[g.name for g in GOALS])
    parser.add_argument("--keep", type=Path, help="keep every run's files here")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="the model alone, one constrained write_file call per goal",
    )
    args = parser.parse_args()
    global KEEP
    KEEP = args.keep
    if args.baseline:
        import asyncio

        print("| goal | model alone: correct |\n|---|---|")
        for goal in GOALS:
            ok = asyncio.run(baseline_once(goal))
            print(f"| {goal.text} | {'yes' if ok else 'no'} |", flush=True)
        return
    goals = [g for g in GOALS if args.goal in (None, g.name)]
    print("| goal | runs | completed (exit 0) | correct | median s |")
    print("|---|---|---|---|---|")
    totals = [0, 0, 0]
    for goal in goals:
        results = [run_once(goal) for _ in range(args.runs)]
        completed = sum(1 for code, _, _ in results if code == 0)
        correct = sum(1 for _, ok, _ in results if ok)
        times = sorted(t for _, _, t in results)
        median = times[len(times) // 2]
        totals = [totals[0] + len(results), totals[1] + completed, totals[2] + correct]
        print(
            f"| {goal.text} | {len(results)} | {completed} | {correct} "
            f"| {median:.0f} |",
            flush=True,
        )
    print(f"| all | {totals[0]} | {totals[1]} | {totals[2]} | |")


if __name__ == "__main__":
    main()
