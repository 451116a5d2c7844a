"""Tier-1 verification against a real workspace directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from loom.adapters.tools.workspace import WorkspaceError
from loom.adapters.verification import DiskProbe, syntax_problem, verify_deterministic
from loom.domain.events import PlannedSubtask
from loom.domain.verification import CheckResult, Verdict
from tests.domain.test_verification import Attempt, subtask


class Checks:
    """A check runner that records the commands and fails the ones it is told to."""

    def __init__(self, failing: dict[str, str] | None = None) -> None:
        self.failing = failing or {}
        self.ran: list[str] = []

    async def __call__(self, command: str) -> CheckResult:
        self.ran.append(command)
        if command in self.failing:
            return CheckResult(ok=False, output=self.failing[command])
        return CheckResult(ok=True, output="fine")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


# --- DiskProbe -----------------------------------------------------------------


async def test_the_probe_reads_files_and_reports_missing_ones(workspace: Path) -> None:
    (workspace / "src").mkdir()
    (workspace / "src" / "a.py").write_bytes(b"x = 1\n")
    probe = DiskProbe(workspace)
    assert await probe.read("src/a.py") == b"x = 1\n"
    assert await probe.read("./src//a.py") == b"x = 1\n"
    assert await probe.read(str(workspace / "src" / "a.py")) == b"x = 1\n"
    assert await probe.read("src/b.py") is None
    assert await probe.read("src") is None  # a directory is not a file
    assert await probe.read("nowhere/b.py") is None


async def test_the_probe_refuses_a_path_out_of_the_workspace(workspace: Path) -> None:
    (workspace.parent / "secret.txt").write_text("key")
    with pytest.raises(WorkspaceError, match="outside the workspace"):
        await DiskProbe(workspace).read("../secret.txt")


async def test_the_probe_refuses_a_symlink_out_of_the_workspace(
    workspace: Path,
) -> None:
    (workspace.parent / "secret.txt").write_text("key")
    (workspace / "link.txt").symlink_to(workspace.parent / "secret.txt")
    (workspace / "inside.txt").write_text("ok")
    (workspace / "alias.txt").symlink_to(workspace / "inside.txt")
    probe = DiskProbe(workspace)
    with pytest.raises(WorkspaceError, match="resolves to"):
        await probe.read("link.txt")
    assert await probe.read("alias.txt") == b"ok"


# --- syntax ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content", "problem"),
    [
        ("app.js", b"export const f = (a) => a * 2;\n", None),
        ("app.js", b"function f( {\n", "line 1, column 1: unexpected 'function f( {'"),
        ("app.mjs", b"const x = ;\n", "line 1, column 9: unexpected '='"),
        ("app.ts", b"const m: Map<string, number[]> = new Map();\n", None),
        ("app.ts", b"const x = ;\n", "line 1, column 9: unexpected '='"),
        ("App.tsx", b"export const A = () => <div>{1}</div>;\n", None),
        ("main.go", b'package main\nfunc main() { println("hi") }\n', None),
        (
            "main.go",
            b"package main\nfunc main() { f(\n}\n",
            "line 2, column 16: unexpected '('",
        ),
        ("main.rs", b'fn main() { println!("hi"); }\n', None),
        ("main.rs", b"fn main() { let x = ; }\n", "line 1, column 19: unexpected '='"),
        (
            "run.sh",
            b'#!/bin/bash\ncat <<EOF\n$HOME\nEOF\ncase "$1" in a) :;; esac\n',
            None,
        ),
        ("run.sh", b"if [ -f x ]; then\n  echo hi\n", "line 3, column 1: missing 'fi'"),
        ("hello.py", b"def f(:\n", "line 1: invalid syntax: def f(:"),
        ("notes.md", b"```unclosed", None),
        ("Makefile", b"all:\n\tcc x.c\n", None),
    ],
)
def test_code_files_are_parsed_by_their_language(
    path: str, content: bytes, problem: str | None
) -> None:
    assert syntax_problem(path, content) == problem


# --- the verifier ----------------------------------------------------------------


async def test_an_attempt_that_did_its_work_passes(workspace: Path) -> None:
    # Given a workspace with the expected file, written and run by the attempt
    (workspace / "hello.py").write_text("print('Hello')\n")
    (workspace / "notes.md").write_text("# notes {\n")
    attempt = Attempt().write("hello.py").write("notes.md").shell("python hello.py")
    checks = Checks()
    # When it is verified
    verdict = await verify_deterministic(
        subtask("./hello.py", "src/", checks=("python hello.py", "ruff check .")),
        attempt.events,
        "I created hello.py and ran `python hello.py`. Run `pytest` to test it.",
        DiskProbe(workspace),
        checks,
    )
    # Then it passes, every check ran in order, and the verdict says what was checked
    assert checks.ran == ["python hello.py", "ruff check ."]
    assert verdict == Verdict(
        passed=True,
        reasons=(
            "expected files exist: hello.py",
            "changed files parse: hello.py",
            "checks passed: `python hello.py`, `ruff check .`",
            "2 claimed action(s) match executed tool calls",
        ),
    )


async def test_every_problem_is_reported_at_once(workspace: Path) -> None:
    # Given an attempt that broke two files, deleted a broken one, and narrated
    (workspace / "app.py").write_text("def main(:\n    pass\n")
    (workspace / "data.json").write_text('{"a": 1,}')
    attempt = (
        Attempt()
        .write("app.py")
        .write("data.json")
        .write("scratch.py")
        .write("scratch.py", "delete")
    )
    checks = Checks({"pytest -q": "E   assert 1 == 2\n1 failed"})
    answer = "I created `hello.py`, fixed app.py and ran `pytest -q`: all tests pass."
    # When it is verified
    verdict = await verify_deterministic(
        subtask("hello.py", "app.py", checks=("pytest -q", "true")),
        attempt.events,
        answer,
        DiskProbe(workspace),
        checks,
    )
    # Then each problem has one actionable reason, the missing file says it was
    # claimed and its claim is not repeated
    assert checks.ran == ["pytest -q", "true"]
    assert verdict == Verdict(
        passed=False,
        reasons=(
            "hello.py was expected but does not exist (your answer says you wrote "
            "it, but no tool call created it); create it with write_file",
            "app.py does not parse (line 1: invalid syntax: def main(:); fix it "
            "with edit_file",
            "data.json does not parse (line 1, column 9: Expecting property name "
            "enclosed in double quotes); fix it with edit_file",
            "the check `pytest -q` failed; make it pass. The end of its output:\n"
            "E   assert 1 == 2\n1 failed",
            "your answer says you ran `pytest -q`, but this attempt never executed "
            "it; run it with shell_execute and report its real output instead of "
            "describing it",
            'your answer says "tests pass", but this attempt executed no shell '
            "command; run it with shell_execute and report the real result",
        ),
    )


async def test_an_expected_file_out_of_the_workspace_is_reported(
    workspace: Path,
) -> None:
    (workspace.parent / "outside.py").write_text("x = 1\n")
    verdict = await verify_deterministic(
        subtask("../outside.py"),
        Attempt().events,
        "",
        DiskProbe(workspace),
        Checks(),
    )
    assert not verdict.passed
    assert len(verdict.reasons) == 1
    assert verdict.reasons[0].startswith(
        "the expected file ../outside.py cannot be checked: path '../outside.py' "
        "is outside the workspace"
    )


async def test_a_missing_file_without_a_claim_is_reported_once(
    workspace: Path,
) -> None:
    verdict = await verify_deterministic(
        subtask("hello.py"), Attempt().events, "Done.", DiskProbe(workspace), Checks()
    )
    assert verdict == Verdict(
        passed=False,
        reasons=(
            "hello.py was expected but does not exist; create it with write_file",
        ),
    )


async def test_many_broken_files_are_summarised(workspace: Path) -> None:
    attempt = Attempt()
    for n in range(12):
        (workspace / f"m{n}.json").write_text("{")
        attempt.write(f"m{n}.json")
    verdict = await verify_deterministic(
        subtask(), attempt.events, "", DiskProbe(workspace), Checks()
    )
    assert len(verdict.reasons) == 11
    assert verdict.reasons[-1] == "2 more files do not parse"


async def test_an_expected_file_left_broken_by_an_earlier_attempt_fails(
    tmp_path: Path,
) -> None:
    (tmp_path / "hello.py").write_text("Hello, world!\n")
    subtask = PlannedSubtask(id="h", description="hello", expected_files=["hello.py"])

    verdict = await verify_deterministic(
        subtask, [], "", DiskProbe(tmp_path), _never_run
    )

    assert not verdict.passed
    assert verdict.reasons[0].startswith("hello.py does not parse (line 1")


async def _never_run(command: str) -> CheckResult:
    raise AssertionError(f"no check should run, got {command!r}")
