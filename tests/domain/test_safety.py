"""Shell command classification: a corpus of blocked, asked and allowed commands.

Given a workspace, when a command from the corpus is classified, then its
verdict is at least as severe as the corpus says (block for block.txt, ask or
block for ask.txt) and exactly allow for allow.txt.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from loom.domain.safety import CommandVerdict, classify_command

WORKSPACE = "/home/dev/project"
CORPUS = Path(__file__).parent.parent / "fixtures" / "commands"
MAX_FALSE_ASK_RATE = 0.05
_RANK = {"allow": 0, "ask": 1, "block": 2}


def load(name: str) -> list[str]:
    """Read a corpus file: `#` comments, `\\` continuations, `<NL>` newlines."""
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


BLOCK = load("block.txt")
ASK = load("ask.txt")
ALLOW = load("allow.txt")


@pytest.mark.parametrize("command", BLOCK)
def test_dangerous_commands_are_blocked(command: str) -> None:
    verdict = classify_command(command, WORKSPACE)
    assert verdict.action == "block", verdict.reason


@pytest.mark.parametrize("command", ASK)
def test_risky_commands_need_at_least_a_confirmation(command: str) -> None:
    verdict = classify_command(command, WORKSPACE)
    assert verdict.action in ("ask", "block"), verdict.reason


@pytest.mark.parametrize("command", ALLOW)
def test_everyday_commands_are_allowed(command: str) -> None:
    verdict = classify_command(command, WORKSPACE)
    assert verdict.action == "allow", verdict.reason


def test_false_ask_rate_on_the_allow_corpus_stays_low() -> None:
    flagged = [c for c in ALLOW if classify_command(c, WORKSPACE).action != "allow"]
    rate = len(flagged) / len(ALLOW)
    print(f"\nfalse-ask rate: {rate:.1%} ({len(flagged)}/{len(ALLOW)})")
    assert rate < MAX_FALSE_ASK_RATE, flagged


def test_classification_is_fast() -> None:
    commands = BLOCK + ASK + ALLOW
    timings = []
    for command in commands:
        start = time.perf_counter()
        classify_command(command, WORKSPACE)
        timings.append(time.perf_counter() - start)
    median = statistics.median(timings)
    print(f"\nmedian classify time: {median * 1e6:.0f} µs over {len(commands)}")
    assert median < 0.01


def test_corpus_is_broad() -> None:
    assert (len(BLOCK), len(ASK), len(ALLOW)) >= (150, 80, 150)


def test_verdict_is_a_frozen_value() -> None:
    verdict = classify_command("ls", WORKSPACE)
    assert verdict == CommandVerdict("allow", verdict.reason)
    with pytest.raises(AttributeError):
        verdict.action = "block"  # type: ignore[misc]


def test_the_most_severe_part_decides_and_names_itself() -> None:
    verdict = classify_command("ls && curl https://x.io && rm -rf ~", WORKSPACE)
    assert verdict.action == "block"
    assert "rm -rf ~" in verdict.reason


def test_same_input_gives_the_same_verdict() -> None:
    command = "X=rm; cd / && $X -rf * | tee out"
    first = classify_command(command, WORKSPACE)
    assert all(classify_command(command, WORKSPACE) == first for _ in range(3))


@pytest.mark.parametrize(
    ("command", "workspace", "action"),
    [
        ("rm -rf build", "/srv/app", "allow"),
        ("rm -rf /srv/app/build", "/srv/app", "allow"),
        ("rm -rf /srv/app", "/srv/app", "block"),
        ("rm -rf build", "relative/path", "ask"),
        ("echo x > /Users/me/code/out.txt", "/Users/me/code", "allow"),
        ("rm -rf ~/Library", "/Users/me/code", "block"),
    ],
)
def test_paths_are_judged_against_the_given_workspace(
    command: str, workspace: str, action: str
) -> None:
    assert classify_command(command, workspace).action == action


@pytest.mark.parametrize(
    "workspace", ["/workspace", "/Users/me/code/project", "/usr/src/app", "/srv/app"]
)
def test_the_allow_corpus_holds_in_other_workspaces(workspace: str) -> None:
    portable = [command for command in ALLOW if WORKSPACE not in command]
    flagged = [c for c in portable if classify_command(c, workspace).action != "allow"]
    assert flagged == []


@pytest.mark.parametrize("workspace", ["/home/dev", "/", "/home", "relative"])
def test_a_workspace_that_holds_home_grants_no_writes(workspace: str) -> None:
    assert classify_command("rm -rf ~/Documents", workspace).action == "block"
    assert classify_command("rm -f notes.txt", workspace).action == "ask"


@pytest.mark.parametrize("command", ["", "   ", "\n"])
def test_empty_commands_are_allowed(command: str) -> None:
    assert classify_command(command, WORKSPACE).action == "allow"


@pytest.mark.parametrize(("inner", "action"), [("ls", "ask"), ("rm -rf /", "block")])
def test_deep_nesting_is_judged_without_recursing_forever(
    inner: str, action: str
) -> None:
    command = inner
    for _ in range(12):
        command = f"bash -c {_quote(command)}"
    assert classify_command(command, WORKSPACE).action == action


@pytest.mark.parametrize("levels", [1, 3, 6])
def test_nested_shells_are_parsed_recursively(levels: int) -> None:
    command = "rm -rf ~"
    for _ in range(levels):
        command = f"sh -c {_quote(command)}"
    verdict = classify_command(command, WORKSPACE)
    assert verdict.action == "block", verdict.reason


@pytest.mark.parametrize(
    "command",
    ["(" * 3000 + "ls" + ")" * 3000, "a && " * 3000 + "b", "echo $(" * 300 + ")" * 300],
)
def test_absurd_nesting_asks_without_crashing(command: str) -> None:
    assert classify_command(command, WORKSPACE).action == "ask"


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'
