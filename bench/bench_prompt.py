"""Latency of ``assemble`` over a 10,000-turn conversation.

Target (2-core machine): median ``assemble`` <= 20 ms at budgets of 8k and
32k tokens, with or without a warm ``TokenMemo``.

The history is a seeded mix of realistic turns: user messages (50-600
characters), plain assistant answers (100-1,500), and tool exchanges (an
assistant message calling read_file, grep, run_shell or edit_file one to three
times, with results of 100-6,000 characters, most of them short). The system
sections have the sizes Loom's own are near: identity 1.2k characters,
process 0.8k, tool guidance 1.5k, workspace 6k; the request is 300.

Modes: ``cold`` assembles with no memo, so every turn the walk reaches is
counted on each call; ``memo`` shares one ``TokenMemo`` across calls, as a
session does, so after the first call no turn is counted again. The ``all``
row (every turn fits) is the worst case, not a target: the walk cannot stop
early and counts all 10,000 turns.

    python bench/bench_prompt.py           # full run
    python bench/bench_prompt.py --quick   # smoke run
"""

from __future__ import annotations

import argparse
import random
import time

from _common import Spread, machine, percentile, print_table, verdict

from loom.domain.events import ToolCall
from loom.domain.models import ChatMessage
from loom.domain.prompt import (
    EstimatedCounter,
    PromptParts,
    TokenMemo,
    Turn,
    assemble,
)

TARGET_MS = 20.0
TURNS = 10_000
BUDGETS = {"8k": 8_192, "32k": 32_768, "all": 10**9}

_WORDS = (
    *("the", "parser", "reads", "each", "token", "and", "tree", "keeps", "its"),
    *("spans", "so", "a", "later", "pass", "can", "rewrite", "imports", "tests"),
    *("after", "change", "file", "module", "error", "function", "returns"),
    *("value", "line", "column", "config", "path", "def", "return", "self"),
)
_TOOLS = ("read_file", "grep", "run_shell", "edit_file")


def words(rng: random.Random, low: int, high: int) -> str:
    """About ``low``..``high`` characters of prose-like text."""
    target = rng.randint(low, high)
    parts: list[str] = []
    size = 0
    while size < target:
        word = rng.choice(_WORDS)
        parts.append(word)
        size += len(word) + 1
    return " ".join(parts)[:target]


def arguments(rng: random.Random, tool: str) -> dict[str, object]:
    path = f"src/pkg_{rng.randint(1, 40)}/mod_{rng.randint(1, 99)}.py"
    if tool == "grep":
        return {"pattern": words(rng, 5, 25), "path": "src"}
    if tool == "run_shell":
        return {"command": f"python -m pytest {path} -q"}
    if tool == "edit_file":
        return {"path": path, "old": words(rng, 40, 300), "new": words(rng, 40, 300)}
    return {"path": path, "start": rng.randint(1, 400)}


def exchange(rng: random.Random, number: int) -> Turn:
    calls = [
        ToolCall(id=f"call-{number}-{i}", name=tool, arguments=arguments(rng, tool))
        for i, tool in enumerate(rng.choices(_TOOLS, k=rng.randint(1, 3)))
    ]
    asked = ChatMessage(role="assistant", content=words(rng, 0, 200), tool_calls=calls)
    # Most results are short (a status line, a few grep hits); some are files.
    answers = [
        ChatMessage(
            role="tool",
            content=words(rng, 100, 6_000 if rng.random() < 0.3 else 1_200),
            tool_call_id=c.id,
            name=c.name,
        )
        for c in calls
    ]
    return Turn(number, (asked, *answers))


def history(count: int, seed: int = 0) -> list[Turn]:
    """``count`` turns, numbered from 1, of a seeded mix of kinds."""
    rng = random.Random(seed)
    turns: list[Turn] = []
    for number in range(1, count + 1):
        pick = rng.random()
        if pick < 0.3:
            message = ChatMessage(role="user", content=words(rng, 50, 600))
            turns.append(Turn(number, (message,)))
        elif pick < 0.5:
            message = ChatMessage(role="assistant", content=words(rng, 100, 1_500))
            turns.append(Turn(number, (message,)))
        else:
            turns.append(exchange(rng, number))
    return turns


def parts_for(turns: list[Turn]) -> PromptParts:
    rng = random.Random(1)
    workspace = (
        "\n".join(f"  src/pkg_{i // 10}/mod_{i}.py" for i in range(120))
        + "\n"
        + words(rng, 2_500, 2_500)
    )
    return PromptParts(
        identity=words(rng, 1_200, 1_200),
        process=words(rng, 800, 800),
        tool_guidance=words(rng, 1_500, 1_500),
        workspace=workspace,
        history=turns,
        request=ChatMessage(role="user", content=words(rng, 300, 300)),
    )


def measure(parts: PromptParts, budget: int, reps: int, warm: bool) -> list[float]:
    """Milliseconds of ``reps`` assemblies (after one untimed warm-up call)."""
    counter = EstimatedCounter()
    memo = TokenMemo(counter) if warm else None
    assemble(parts, budget, counter, memo=memo)
    samples: list[float] = []
    for _ in range(reps):
        start = time.perf_counter()
        assemble(parts, budget, counter, memo=memo)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def row(parts: PromptParts, name: str, mode: str, reps: int) -> list[str]:
    """One table row: the budget ``name`` assembled ``reps`` times in ``mode``."""
    budget = BUDGETS[name]
    target = name != "all"
    prompt = assemble(parts, budget, EstimatedCounter())
    samples = measure(parts, budget, reps if target else 10, mode == "memo")
    spread = Spread.of(samples)
    return [
        name,
        mode,
        f"{len(prompt.kept_turns):,}",
        f"{prompt.tokens:,}",
        spread.fmt(2),
        f"{percentile(samples, 95):.2f}",
        f"<= {TARGET_MS:.0f}" if target else "-",
        verdict(spread.median <= TARGET_MS) if target else "-",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--reps", type=int, default=None, help="timed runs per row")
    args = parser.parse_args()
    reps = args.reps or (50 if args.quick else 300)
    print(machine())
    built = time.perf_counter()
    turns = history(TURNS)
    parts = parts_for(turns)
    print(
        f"{TURNS:,} turns, {sum(len(t.messages) for t in turns):,} messages, "
        f"built in {time.perf_counter() - built:.1f} s; {reps} timed runs per row\n"
    )
    rows = [
        row(parts, name, mode, reps)
        for name in BUDGETS
        for mode in ("cold", "memo")
        if not (args.quick and name == "all" and mode == "cold")
    ]
    print_table(
        ["budget", "mode", "kept turns", "tokens", "median ms (min-max)", "p95 ms",
         "target ms", "verdict"],
        rows,
    )  # fmt: skip


if __name__ == "__main__":
    main()
