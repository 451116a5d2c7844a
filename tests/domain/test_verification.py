"""Given an attempt's events and answer, when tier 1 judges them, then..."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from loom.domain.eventbase import Context, Event, StreamCursor
from loom.domain.events import (
    AgentFinished,
    AgentStarted,
    ChangeKind,
    FileChanged,
    ModelCallCompleted,
    PlannedSubtask,
    ToolCall,
    ToolCallApproved,
    ToolCallCompleted,
    ToolCallDenied,
    ToolCallRequested,
)
from loom.domain.verification import (
    Claim,
    check_reason,
    claim_reason,
    expected_paths,
    extract_claims,
    missing_reason,
    names_file,
    normalize_path,
    parse_problem,
    unexecuted,
    unexecuted_claims,
    written_paths,
)


class Attempt:
    """The events of one attempt's agent stream, built call by call."""

    def __init__(self) -> None:
        ids = itertools.count(1)
        context = Context(
            now=lambda: datetime(2026, 1, 1, tzinfo=UTC),
            new_id=lambda: UUID(int=next(ids)),
        )
        self._cursor = StreamCursor("agent-s1-1", 0, context)
        self._calls = itertools.count(1)
        self.events: list[Event] = [
            self._cursor.new(
                AgentStarted,
                task_id="task-1",
                subtask_id="s1",
                workspace="/work/app",
                brief="write hello.py",
            )
        ]

    def call(
        self,
        tool: str,
        arguments: dict[str, Any],
        *,
        completes: bool = True,
        error: bool = False,
        changes: tuple[FileChanged, ...] = (),
    ) -> Attempt:
        call_id = f"call-{next(self._calls)}"
        call = ToolCall(id=call_id, name=tool, arguments=arguments)
        self._add(
            ModelCallCompleted, call_id=f"m-{call_id}", tool_calls=[call], latency_ms=1
        )
        self._add(ToolCallRequested, call_id=call_id, tool=tool, arguments=arguments)
        if not completes:
            self._add(ToolCallDenied, call_id=call_id, by="user", reason="no")
            return self
        self._add(ToolCallApproved, call_id=call_id, by="policy")
        self.events.extend(changes)
        self._add(
            ToolCallCompleted,
            call_id=call_id,
            result="done",
            is_error=error,
            duration_ms=1,
        )
        return self

    def shell(self, command: str, **options: Any) -> Attempt:
        return self.call("shell_execute", {"command": command}, **options)

    def git(self, *args: str) -> Attempt:
        return self.call("git_command", {"args": list(args)})

    def write(self, path: str, kind: ChangeKind = "create", **fields: Any) -> Attempt:
        return self.call(
            "write_file",
            {"path": path, "content": "x"},
            changes=(self.change(path, kind, **fields),),
        )

    def change(
        self, path: str, kind: ChangeKind = "create", **fields: Any
    ) -> FileChanged:
        return self._cursor.new(
            FileChanged, change_id=f"change-{path}", path=path, kind=kind, **fields
        )

    def finish(self, answer: str) -> Attempt:
        self._add(AgentFinished, status="answered", answer=answer)
        return self

    def _add(self, cls: type[Event], **fields: Any) -> None:
        self.events.append(self._cursor.new(cls, **fields))


def subtask(*expected: str, checks: tuple[str, ...] = ()) -> PlannedSubtask:
    return PlannedSubtask(
        id="s1",
        description="write hello.py",
        expected_files=list(expected),
        checks=list(checks),
    )


# --- paths -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("./a.py", "a.py"),
        ("a.py", "a.py"),
        ("src//pkg/./m.py", "src/pkg/m.py"),
        ("src\\m.py", "src/m.py"),
        (" `a.py` ", "a.py"),
        ("", ""),
    ],
)
def test_paths_are_normalized_to_one_spelling(raw: str, normal: str) -> None:
    assert normalize_path(raw) == normal


def test_expected_paths_drop_directories_and_duplicates() -> None:
    planned = subtask("./hello.py", "hello.py", "src/", "docs\\", "./", "pkg/m.py")
    assert expected_paths(planned) == ["hello.py", "pkg/m.py"]


def test_written_paths_are_creations_modifications_and_rename_targets() -> None:
    attempt = Attempt()
    attempt.events += [
        attempt.change("./a.py"),
        attempt.change("b.py", "modify"),
        attempt.change("a.py", "modify"),
        attempt.change("old.py", "rename", new_path="new.py"),
        attempt.change("gone.py", "delete"),
    ]
    assert written_paths(attempt.events) == ["a.py", "b.py", "new.py"]


# --- parsing -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content", "problem"),
    [
        ("ok.py", b"def f():\n    return 1\n", None),
        ("bad.py", b"x = 1\ndef f(:\n    pass\n", "line 2: invalid syntax: def f(:"),
        ("open.py", b'print("hi"\n', "line 1: '(' was never closed: print(\"hi\""),
        ("nul.py", b"x = 1\x00\n", "source code string cannot contain null bytes"),
        # A SyntaxWarning is not an error (and pytest turns warnings into errors).
        ("warn.py", b'pattern = "\\d+"\n', None),
        ("stub.pyi", b"def f(x: int) -> int: ...\n", None),
        ("ok.json", b'{"a": [1, 2]}', None),
        (
            "bad.json",
            b'{"a": 1,}',
            "line 1, column 9: Expecting property name enclosed in double quotes",
        ),
        ("bytes.json", b"\xff\xfe\x00", "not valid UTF-8 text"),
        ("tsconfig.json", b"{\n  // comments are allowed here\n}", None),
        (".vscode/settings.json", b"{/* too */}", None),
        ("ok.toml", b'[tool]\nname = "x"\n', None),
        ("bad.toml", b"name = \n", "Invalid value (at line 1, column 8)"),
        ("notes.md", b"# anything {", None),
        ("app.js", b"function (", None),
    ],
)
def test_python_json_and_toml_are_parsed_and_other_files_skipped(
    path: str, content: bytes, problem: str | None
) -> None:
    assert parse_problem(path, content) == problem


# --- reasons -----------------------------------------------------------------


def test_reasons_tell_the_executor_what_to_do() -> None:
    assert missing_reason("hello.py") == (
        "hello.py was expected but does not exist; create it with write_file"
    )
    assert missing_reason("hello.py", claimed=True) == (
        "hello.py was expected but does not exist (your answer says you wrote it, "
        "but no tool call created it); create it with write_file"
    )


def test_a_failed_check_quotes_only_the_end_of_its_output() -> None:
    output = "head " + "x" * 900 + " the real error"
    reason = check_reason("pytest -q", output)
    assert reason.startswith(
        "the check `pytest -q` failed; make it pass. The end of its output:\n…"
    )
    assert reason.endswith("x the real error")
    assert "head" not in reason
    assert len(reason.split("\n", 1)[1]) == 801
    assert check_reason("make", "  ").endswith("output:\n(no output)")


# --- claims: what counts as one ------------------------------------------------

CLAIMS: list[tuple[str, list[tuple[str, str]]]] = [
    ("I ran `python hello.py` and it printed Hello.", [("command", "python hello.py")]),
    ("Executed: `pytest -q`", [("command", "pytest -q")]),
    ("**Executed**: `pytest -q`", [("command", "pytest -q")]),
    (
        "Then I executed `git status` and `git diff`.",
        [("command", "git status"), ("command", "git diff")],
    ),
    ("I have also run `mypy --strict` which passed.", [("command", "mypy --strict")]),
    ("I've successfully run `pytest`.", [("command", "pytest")]),
    (
        "I verified it works by running `python hello.py`.",
        [("command", "python hello.py")],
    ),
    ("To verify, I ran `python hello.py`.", [("command", "python hello.py")]),
    ("When I ran `pytest`, 2 tests failed.", [("command", "pytest")]),
    ("The script was run with `python hello.py`.", [("command", "python hello.py")]),
    (
        "`pytest -q` was executed and 5 passed.",
        [("command", "pytest -q"), ("run", "5 passed")],
    ),
    ("I ran the script with python.", [("command", "python")]),
    ("I ran the tests and they pass.", [("run", "ran the tests")]),
    ("I tested it.", [("run", "tested it")]),
    ("All 3 tests pass.", [("run", "tests pass")]),
    ("I created hello.py.", [("file", "hello.py")]),
    (
        "I created hello.py, utils.py and test_hello.py.",
        [("file", "hello.py"), ("file", "utils.py"), ("file", "test_hello.py")],
    ),
    ("hello.py has been created.", [("file", "hello.py")]),
    ("The greeting was added to hello.py.", [("file", "hello.py")]),
    ("I added a `greet` function to hello.py.", [("file", "hello.py")]),
    ("I removed the unused import from main.py.", [("file", "main.py")]),
    ("I renamed old.py to new.py.", [("file", "new.py")]),
    ("I created b.py from a.py.", [("file", "b.py")]),
    ("I updated main.py to use config.json.", [("file", "main.py")]),
    ("I created hello.py in the src directory.", [("file", "hello.py")]),
    ("I fixed the bug in main.py:42.", [("file", "main.py")]),
    ("Summary: I created hello.py which prints a greeting.", [("file", "hello.py")]),
    ("I read config.json and created output.csv from it.", [("file", "output.csv")]),
    (
        "Files created: hello.py, README.md",
        [("file", "hello.py"), ("file", "README.md")],
    ),
    (
        "I've written `hello.py` and executed it with `python3 hello.py`.",
        [("file", "hello.py"), ("command", "python3 hello.py")],
    ),
    (
        "I implemented the parser in parser.py and added tests in tests/test_p.py.",
        [("file", "parser.py"), ("file", "tests/test_p.py")],
    ),
    (
        "**Changes made:**\n1. Created `calc.py` with add and subtract.\n"
        "2. Added tests in `test_calc.py`.\n3. Ran `pytest -q`: 4 passed.",
        [
            ("file", "calc.py"),
            ("file", "test_calc.py"),
            ("command", "pytest -q"),
            ("run", "4 passed"),
        ],
    ),
    (
        "- Created `src/app.py`\n- Ran `pytest -q`",
        [("file", "src/app.py"), ("command", "pytest -q")],
    ),
    (
        "I ran the following commands:\n```bash\npytest -q\npython hello.py\n```",
        [("command", "pytest -q"), ("command", "python hello.py")],
    ),
    (
        "Output:\n```\n$ python hello.py\nHello, world!\n```",
        [("command", "python hello.py")],
    ),
    (
        "```\n$ pytest\n3 passed\n```",
        [("command", "pytest"), ("run", "test output shown")],
    ),
    (
        "Test results:\n```\n===== 3 passed in 0.01s =====\n```",
        [("run", "test output shown")],
    ),
    (
        "The output of `pytest -q`:\n```\n3 passed\n```",
        [("command", "pytest -q"), ("run", "test output shown")],
    ),
]

NOT_CLAIMS = [
    "You can run `python hello.py` to see the greeting.",
    "Run `pytest` to verify.",
    "To run the tests, use `pytest -q`.",
    "Tip: run `pytest -q` anytime to check.",
    "Please run `make test` to check.",
    "Next steps: run `pytest` and deploy.",
    "I recommend running `pytest` to verify.",
    "Verify it by running `python hello.py`.",
    "Once you've run `npm install`, start the app with `npm start`.",
    "After you run `python hello.py`, you'll see the output.",
    "Everything is set up. Run `python hello.py` to try it out!",
    "Running `python hello.py` prints Hello.",
    "I will create hello.py next.",
    "I'm going to run `pytest` after this.",
    "I did not run `pytest` because it is not installed.",
    "I would have run `pytest` but it is not installed.",
    "I couldn't run the tests because pytest is missing.",
    "Note: `pytest` was not run because it is not installed.",
    "I haven't created hello.py yet.",
    "I did not modify config.toml.",
    "I didn't need to modify requirements.txt.",
    "No other files were changed.",
    "It would be good to update README.md.",
    "Let me know if you want me to create a setup.py.",
    "Have you run `pytest`?",
    "The file hello.py contains the main function.",
    "The README.md explains how to run `python hello.py`.",
    "I left `config.toml` unchanged.",
    "This creates hello.py when run.",
    "You'll find the new code in utils.py.",
    "hello.py should have been created by the previous subtask.",
    "The previous subtask created utils.py, so I imported it.",
    "In a previous attempt I created hello.py.",
    "I was asked to create hello.py and run it.",
    "I created a script that reads data.csv.",
    "I updated the docstring as described in README.md.",
    "I wrote the server in Node.js.",
    "I used `os.path.join` in the code.",
    "I created the `src/` directory.",
    "I ran into a problem with the import.",
    "I ran out of time before creating tests.py.",
    "Make sure all tests pass before merging.",
    "If the tests pass, the feature is done.",
    "The tests should pass now.",
    "The test passes when the input is valid.",
    "I did not verify that the tests pass.",
    "I wasn't able to confirm the tests pass.",
    "Here is how to use it:\n```\n$ python hello.py\nHello\n```",
    "Usage:\n```\n$ python hello.py\n```",
    "Expected output:\n```\nHello\n```",
    "You should see:\n```\n$ pytest\n3 passed\n```",
    "To try it:\n```bash\npython hello.py\n```",
    "hello.py:\n```python\nprint('hello')\n```",
]


@pytest.mark.parametrize(("answer", "claims"), CLAIMS)
def test_claimed_actions_are_found(answer: str, claims: list[tuple[str, str]]) -> None:
    assert [(c.kind, c.subject) for c in extract_claims(answer)] == claims


@pytest.mark.parametrize("answer", NOT_CLAIMS)
def test_instructions_intentions_negations_and_mentions_are_not_claims(
    answer: str,
) -> None:
    assert extract_claims(answer) == []


def test_a_claim_made_twice_is_listed_once() -> None:
    claims = extract_claims("I ran `pytest`. Later I ran `pytest` again.")
    assert claims == [Claim("command", "pytest", "ran")]


# --- claims: what bears them out --------------------------------------------------


def test_a_claimed_command_needs_a_completed_shell_or_git_call() -> None:
    # Given an attempt that ran pytest (in a subdirectory) and git, and asked for
    # a command that was denied
    attempt = (
        Attempt()
        .shell("cd app &&  pytest -q   tests/")
        .git("status")
        .shell("python hello.py", completes=False)
    )
    # When its answer claims all three
    answer = "I ran `pytest -q tests`, `git status` and `python3 hello.py`."
    reasons = unexecuted_claims(answer, attempt.events)
    # Then only the denied one is unexecuted
    assert reasons == [
        "your answer says you ran `python3 hello.py`, but this attempt never "
        "executed it; run it with shell_execute and report its real output instead "
        "of describing it"
    ]


@pytest.mark.parametrize(
    ("claimed", "executed"),
    [
        ("pytest", "python -m pytest -q"),  # the claim is inside what ran
        ("python -m pytest -q tests/test_a.py", "pytest -q"),  # and vice versa
        ("python3 ./hello.py", "python hello.py"),
        ("echo 'hi there'", 'echo "hi there"'),
        ("$ pytest", "pytest"),
        ("git commit -m 'Add hello'", "git commit -m 'Add hello'"),
    ],
)
def test_commands_match_by_words_either_way(claimed: str, executed: str) -> None:
    attempt = Attempt()
    if executed.startswith("git "):
        attempt.git("git", *executed.split()[1:3], "Add hello")
    else:
        attempt.shell(executed, error=True)  # failing still counts as executed
    assert unexecuted_claims(f"I ran `{claimed}`.", attempt.events) == []


def test_a_command_is_not_matched_by_a_word_fragment() -> None:
    attempt = Attempt().shell("pytest")
    assert unexecuted([Claim("command", "py", "ran")], attempt.events) == [
        Claim("command", "py", "ran")
    ]


def test_claimed_tests_need_some_executed_shell_command() -> None:
    answer = "I ran the tests and all tests pass."
    read_only = Attempt().call("read_file", {"path": "hello.py"}).git("status")
    assert unexecuted_claims(answer, read_only.events) == [
        'your answer says "ran the tests", but this attempt executed no shell '
        "command; run it with shell_execute and report the real result",
        'your answer says "tests pass", but this attempt executed no shell '
        "command; run it with shell_execute and report the real result",
    ]
    assert unexecuted_claims(answer, Attempt().shell("pytest").events) == []


def test_a_claimed_file_needs_a_recorded_change() -> None:
    # Given an attempt that only wrote src/hello.py
    attempt = Attempt().write("src/hello.py")
    # When the answer claims it under its name, its path, and a file it never wrote
    answer = "I created hello.py, updated `./src/hello.py` and wrote test_hello.py."
    # Then only the unwritten file is reported
    assert unexecuted_claims(answer, attempt.events) == [
        "your answer says you wrote test_hello.py, but this attempt recorded no "
        "change to test_hello.py; make the change with a tool (write_file, "
        "edit_file...) instead of describing it"
    ]


def test_file_changes_by_shell_renames_and_deletes_count() -> None:
    attempt = Attempt().shell(
        "mv a.py b.py && rm old.txt && touch new.txt",
        changes=(),
    )
    attempt.events += [
        attempt.change("a.py", "rename", new_path="b.py", cause="shell"),
        attempt.change("old.txt", "delete", cause="shell"),
        attempt.change("new.txt", cause="shell"),
    ]
    answer = "I renamed a.py to b.py, deleted old.txt and created new.txt."
    assert unexecuted_claims(answer, attempt.events) == []


def test_a_successful_file_tool_call_counts_without_a_change() -> None:
    # Writing a file with the content it already has records no change.
    attempt = Attempt().call("write_file", {"path": "hello.py", "content": "x"})
    assert unexecuted_claims("I updated hello.py.", attempt.events) == []
    failed = Attempt().call("write_file", {"path": "hello.py"}, error=True)
    assert len(unexecuted_claims("I updated hello.py.", failed.events)) == 1


def test_a_bare_name_matching_two_changed_files_is_still_borne_out() -> None:
    attempt = Attempt().write("a/util.py").write("b/util.py")
    assert unexecuted_claims("I created util.py.", attempt.events) == []
    assert unexecuted_claims("I created c/util.py.", attempt.events) == [
        "your answer says you created c/util.py, but this attempt recorded no "
        "change to c/util.py; make the change with a tool (write_file, "
        "edit_file...) instead of describing it"
    ]


def test_the_narrating_model_is_caught() -> None:
    # Given an attempt whose model wrote its whole answer without calling a tool
    attempt = Attempt().finish("done")
    answer = (
        "I created `hello.py` with a greeting and ran it:\n"
        "```\n$ python hello.py\nHello, world!\n```\n"
        "All tests pass. You can run `python hello.py` yourself."
    )
    # Then every claim comes back, and the instruction does not
    assert [c.subject for c in unexecuted(extract_claims(answer), attempt.events)] == [
        "hello.py",
        "ran it",
        "python hello.py",
        "tests pass",
    ]


def test_an_honest_answer_passes() -> None:
    attempt = Attempt().write("hello.py").shell("python hello.py").shell("pytest -q")
    answer = (
        "I created hello.py and ran `python hello.py`, which printed Hello. "
        "Then I ran the tests with `pytest -q`: 2 passed. "
        "You can run `python hello.py` to see it yourself."
    )
    assert unexecuted_claims(answer, attempt.events) == []


def test_names_file_matches_path_or_name() -> None:
    claim = Claim("file", "hello.py", "created")
    assert names_file(claim, "./src/hello.py")
    assert names_file(claim, "hello.py")
    assert not names_file(claim, "hello.pyc")
    assert not names_file(Claim("command", "hello.py", "ran"), "hello.py")
    assert claim_reason(claim).startswith("your answer says you created hello.py")
