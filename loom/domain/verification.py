"""Tier-1 ("deterministic") verification of a subtask attempt: the pure parts.

The executor model never checks its own work. Tier 1 is the cheap verifier that
needs no model: expected files exist, changed files parse, the plan's check
commands pass, and every action the executor's answer claims shows up as an
executed tool call. The last one matters most with weak local models, which
often write "I ran the tests and they pass" without calling any tool.

This module holds what needs no I/O: the verdict and port types, path and
syntax helpers, and the claim finder (:func:`unexecuted_claims`). The adapter
``loom.adapters.verification.deterministic`` combines them with a
:class:`FileProbe` and a check runner. Reasons are written as instructions,
because they go back to the executor as feedback for its next attempt.
"""

from __future__ import annotations

import itertools
import json
import posixpath
import re
import shlex
import tomllib
import warnings
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from loom.domain.eventbase import Event
from loom.domain.events import (
    FileChanged,
    PlannedSubtask,
    ToolCallCompleted,
    ToolCallRequested,
)

__all__ = [
    "CheckResult",
    "CheckRunner",
    "Claim",
    "ClaimKind",
    "FileProbe",
    "Verdict",
    "check_reason",
    "claim_reason",
    "expected_paths",
    "extract_claims",
    "missing_reason",
    "names_file",
    "normalize_path",
    "parse_problem",
    "syntax_reason",
    "unexecuted",
    "unexecuted_claims",
    "written_paths",
]

OUTPUT_TAIL = 800
"""Characters of a failed check's output quoted back to the executor."""


@dataclass(frozen=True)
class CheckResult:
    """How one check command ended: whether it succeeded, and what it printed."""

    ok: bool
    output: str


CheckRunner = Callable[[str], Awaitable[CheckResult]]
"""Runs one check command (the orchestrator records it as a tool call)."""


class FileProbe(Protocol):
    """Reads workspace files for the verifier: from disk, or rebuilt from the log."""

    async def read(self, path: str) -> bytes | None:
        """The bytes of ``path`` (relative to the workspace), None when missing.

        Raises:
            LoomError: when the path cannot be read, e.g. it leads out of the
                workspace.
        """
        ...


@dataclass(frozen=True)
class Verdict:
    """A verifier's decision on one attempt.

    Attributes:
        passed: whether the attempt passed.
        reasons: on failure, what to fix (sent to the executor as feedback); on
            success, what was checked.
    """

    passed: bool
    reasons: tuple[str, ...]


# --- paths -------------------------------------------------------------------


def normalize_path(path: str) -> str:
    """``path`` as one spelling: POSIX separators, no ``./``, no doubled slashes."""
    cleaned = path.strip().strip("`'\"").replace("\\", "/")
    if not cleaned:
        return ""
    return posixpath.normpath(cleaned)


def expected_paths(subtask: PlannedSubtask) -> list[str]:
    """The subtask's expected files, normalized, without duplicates or directories."""
    paths: list[str] = []
    for raw in subtask.expected_files:
        # A planner lists a directory as "src/"; only files can be probed.
        if raw.strip().endswith(("/", "\\")):
            continue
        path = normalize_path(raw)
        if path and path != "." and path not in paths:
            paths.append(path)
    return paths


def written_paths(events: Sequence[Event]) -> list[str]:
    """Files the attempt created, modified or renamed into, in first-touch order."""
    paths: list[str] = []
    for event in events:
        if not isinstance(event, FileChanged) or event.kind == "delete":
            continue
        target = event.new_path if event.kind == "rename" else event.path
        path = normalize_path(target or "")
        if path and path not in paths:
            paths.append(path)
    return paths


# --- syntax --------------------------------------------------------------------

# Files that are JSON with comments by convention, which json.loads would reject.
_JSONC = re.compile(
    r"(^|/)(tsconfig[^/]*|jsconfig[^/]*)\.json$|(^|/)\.(vscode|devcontainer)/"
)


def parse_problem(path: str, content: bytes) -> str | None:
    """The first syntax error of a Python, JSON or TOML file, None when it parses.

    Other kinds of file (and JSON-with-comments files such as ``tsconfig.json``)
    are not judged here and give None.
    """
    suffix = posixpath.splitext(path)[1].lower()
    if suffix in (".py", ".pyi"):
        return _python_problem(path, content)
    if suffix == ".json" and not _JSONC.search(normalize_path(path)):
        return _json_problem(content)
    if suffix == ".toml":
        return _toml_problem(content)
    return None


def _python_problem(path: str, content: bytes) -> str | None:
    try:
        # Warnings (invalid escapes...) are not errors, and must not leak.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(content, path, "exec", dont_inherit=True)
    except SyntaxError as error:
        code = (error.text or "").strip()[:80]
        where = f"line {error.lineno}: " if error.lineno else ""
        return f"{where}{error.msg}" + (f": {code}" if code else "")
    except ValueError as error:  # NUL bytes
        return str(error)
    except (RecursionError, MemoryError):
        return None  # too deep to judge here; the checks still run it
    return None


def _json_problem(content: bytes) -> str | None:
    try:
        json.loads(content)
    except UnicodeDecodeError:
        return "not valid UTF-8 text"
    except json.JSONDecodeError as error:
        return f"line {error.lineno}, column {error.colno}: {error.msg}"
    return None


def _toml_problem(content: bytes) -> str | None:
    try:
        tomllib.loads(content.decode("utf-8"))
    except UnicodeDecodeError:
        return "not valid UTF-8 text"
    except tomllib.TOMLDecodeError as error:
        return str(error)
    return None


# --- reasons -------------------------------------------------------------------


def missing_reason(path: str, *, claimed: bool = False) -> str:
    """Feedback for an expected file that does not exist."""
    said = (
        " (your answer says you wrote it, but no tool call created it)"
        if claimed
        else ""
    )
    return f"{path} was expected but does not exist{said}; create it with write_file"


def syntax_reason(path: str, problem: str) -> str:
    """Feedback for a changed file that does not parse."""
    return f"{path} does not parse ({problem}); fix it with edit_file"


def check_reason(command: str, output: str) -> str:
    """Feedback for a failed check command, quoting the end of its output."""
    text = output.strip()
    if len(text) > OUTPUT_TAIL:
        text = "…" + text[-OUTPUT_TAIL:]
    shown = text or "(no output)"
    return (
        f"the check `{command}` failed; make it pass. The end of its output:\n{shown}"
    )


# --- claims: what the answer says was done ------------------------------------

ClaimKind = Literal["command", "file", "run"]


@dataclass(frozen=True)
class Claim:
    """One action the executor's answer says it took.

    Attributes:
        kind: ``command`` (a named command was run), ``file`` (a file was
            created, changed or deleted) or ``run`` (something was run or tested,
            no command named).
        subject: the command, the path, or the words of a ``run`` claim.
        verb: the verb the answer used, for the feedback.
    """

    kind: ClaimKind
    subject: str
    verb: str


_MASK = "\ue000{}\ue001"
_MASKED = re.compile("\ue000(\\d+)\ue001")
_INLINE_CODE = re.compile(r"(`{1,2})([^`\n]+?)\1")
_FENCE = re.compile(
    r"^[ \t]*(```|~~~)[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)",
    re.M | re.S,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_CLAUSE = re.compile(
    r"\s*[;,]\s+|\s+(?:and\s+then|and|but|then|so(?!\s+that)|while|whereas)\s+"
    r"|\s+[-\u2013\u2014]\s+",
    re.I,
)
_MARKUP = re.compile(r"^\s*(?:[-*+>#]+|\d+[.)])\s+|\*\*")

_RUN_VERB = re.compile(
    r"\b(?:ran|re-?ran|executed|invoked|tested"
    r"|(?:have|has|had|'ve|was|were|been)\s+(?:also\s+|now\s+|just\s+|already\s+"
    r"|successfully\s+)?(?:run|re-?run|executed|invoked|tested)"
    r"|commands?\s+(?:run|executed)|^\W*executing)\b",
    re.I,
)
_CONDITION = re.compile(r"\b(?:when|whenever|if|once|as\s+long\s+as|provided)\b", re.I)
_CONTRACTED = re.compile(r"\b(I|we)'ve\b", re.I)
_BY_RUNNING = re.compile(r"\bby\s+(?:running|executing)\b", re.I)
_FILE_VERB = re.compile(
    r"\b(?P<aux>(?:was|were|been|is\s+now|are\s+now)\s+(?:also\s+|now\s+"
    r"|successfully\s+)?)?(?P<verb>created|wrote|written|rewrote|rewritten"
    r"|overwrote|overwritten|added|modified|updated|edited|changed|fixed"
    r"|implemented|deleted|removed|renamed|moved|saved)\b",
    re.I,
)
_TESTS_PASS = re.compile(
    r"\b(?:tests?|test\s+suite)\s+(?:now\s+|all\s+|still\s+)?(?:pass(?:ed|es)?"
    r"|succeed(?:ed|s)?|(?:are|were)\s+(?:passing|green|successful)"
    r"|ran\s+successfully)\b|\b\d+\s+passed\b",
    re.I,
)
_BLOCKED = re.compile(
    r"n't\b|'ll\b|'d\b|\b(?:not|never|no|nothing|none|neither|nor|without|unable"
    r"|cannot|can|could|would|should|shall|will|may|might|must|going|need|needs"
    r"|want|wants|plan|plans|intend|intends|try|tried|trying|attempt|attempted"
    r"|let|lets|please|you|your|if|unless|whether|ensure|make|verify|check"
    r"|confirm|to|once|expect|expected|hope|example|usage|e\.g|ensuring|making"
    r"|until|so\s+that)\b",
    re.I,
)
# Active claims need the answer's own voice: "I ran", "Then ran", "Files: created".
_SUBJECT_TAIL = re.compile(
    r"(?:^|[:>(\-\u2013\u2014]|\b(?:i|we)\b)(?:\s*\b(?:have|has|had|also|then|now|just"
    r"|already|successfully|first|finally|next|additionally|lastly|again|and|all"
    r"|both|here|thus)\b)*\s*$",
    re.I,
)
_LABEL_SUBJECT = re.compile(r"^\W*(?:\w+\s+)?(?:files?|commands?|tests?)\s*$", re.I)
_OTHER_HANDS = re.compile(
    r"\b(?:by\s+the|previous(?:ly)?|earlier|already|before)\b", re.I
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_RUN_FILLER = _words(
    "the a an this these it them with using via again both also successfully once "
    "locally first then just all whole full entire new unit final quick following "
    "command commands : - → and"
)
_RUN_OBJECTS = _words(
    "it them test tests suite script scripts program code app application server "
    "build check checks linter binary file example examples tool"
)
_RUNNERS = _words(
    "pytest python python3 node npm npx yarn pnpm go cargo make tox nox mypy ruff "
    "flake8 black eslint tsc jest vitest bash sh deno bun uv pip rustc gcc javac "
    "java unittest"
)
_FILE_STOPS = _words(
    "that which who where whose so because since as like similar based using uses "
    "use used via reads reading imports importing calls calling "
    "instead than matching mirroring per according if when with for by "
    "referencing references from"
)
_PREPOSITIONS = _words("to into in inside within")
_MOVE_PREPOSITIONS = _words("from")
_ARTICLES = _words("the a an existing new file")
_EXTENSIONS = _words(
    "py pyi pyx ipynb js jsx mjs cjs ts tsx mts cts json jsonc json5 toml yaml yml "
    "ini cfg conf env md markdown rst txt csv tsv xml html htm css scss sass less "
    "sql sh bash zsh fish ps1 bat cmd go mod sum rs c h cc cpp cxx hpp hh java kt "
    "kts scala rb php pl lua swift dart ex exs erl hs ml clj vue svelte lock "
    "properties gradle tf tfvars proto graphql gql dockerfile mk cmake jl zig sol "
    "tex bib xlsx docx pptx pdf png jpg jpeg gif svg ico webp wasm db sqlite pem "
    "crt patch diff tmpl j2 jinja hbs ejs"
)
_BARE_FILES = _words(
    "makefile dockerfile procfile gemfile rakefile justfile "
    ".gitignore .env .editorconfig .dockerignore .gitattributes .npmrc "
    ".prettierrc .eslintrc .flake8"
)
_NOT_FILES = _words(
    "node.js vue.js next.js nuxt.js react.js express.js three.js d3.js chart.js "
    "ember.js backbone.js angular.js"
)
_EDGE = "()[]{}\"'*,;:!?<>"
_SHELL_LANGS = frozenset({"", "bash", "sh", "shell", "console", "zsh", "terminal"})
_TEST_SUMMARY = re.compile(r"\b\d+\s+passed\b|^Ran \d+ tests?\b|^OK\s*$|^ok\s", re.M)
_OUTPUT_LEAD = re.compile(r"\b(?:output|result|results|transcript)\b", re.I)
_OUTPUT_OF = re.compile(r"\b(?:output|results?)\s+(?:of|from)\s+\ue000\d+\ue001", re.I)
_IMPERATIVE = re.compile(
    r"^\W*(?:run|execute|use|try|type|install|start|call|enter|paste|open|see|do)\b",
    re.I,
)


@dataclass(frozen=True)
class _Sentence:
    """A sentence whose inline code spans are masked, so splitting cannot cut them."""

    text: str
    codes: list[str]


_Carried = tuple[ClaimKind, str]


@dataclass(frozen=True)
class _Found:
    """A clause's claims, and what a following bare list item inherits."""

    claims: list[Claim]
    carried: _Carried | None


_NOTHING = _Found([], None)


def extract_claims(answer: str) -> list[Claim]:
    """The actions ``answer`` says were taken, in order, without duplicates.

    Instructions ("you can run ..."), intentions ("I will create ..."),
    negations ("I did not run ...") and paths merely mentioned are not claims.
    """
    claims: list[Claim] = []
    for claim in _claims_of(answer):
        if claim not in claims:
            claims.append(claim)
    return claims


def _claims_of(answer: str) -> Iterator[Claim]:
    text = _CONTRACTED.sub(r"\1 have", answer.replace("\u2019", "'"))
    start = 0
    for fence in _FENCE.finditer(text):
        prose = text[start : fence.start()]
        yield from _prose_claims(prose)
        yield from _fence_claims(_lead_in(prose), fence.group(2), fence.group(3))
        start = fence.end()
    yield from _prose_claims(text[start:])


def _sentences(prose: str) -> Iterator[_Sentence]:
    for line in prose.splitlines():
        codes: list[str] = []

        def mask(match: re.Match[str], codes: list[str] = codes) -> str:
            codes.append(match.group(2).strip())
            return _MASK.format(len(codes) - 1)

        masked = _MARKUP.sub(" ", _INLINE_CODE.sub(mask, line))
        for sentence in _SENTENCE.split(masked):
            if sentence.strip() and not sentence.rstrip().endswith("?"):
                yield _Sentence(sentence.strip(), codes)


def _prose_claims(prose: str) -> Iterator[Claim]:
    for sentence in _sentences(prose):
        yield from _sentence_claims(sentence)


def _sentence_claims(sentence: _Sentence) -> Iterator[Claim]:
    carried: _Carried | None = None
    for clause in _CLAUSE.split(sentence.text):
        found = _clause_claims(clause, sentence.codes, carried)
        carried = found.carried
        yield from found.claims
        yield from _tests_pass(clause)


def _clause_claims(clause: str, codes: list[str], carried: _Carried | None) -> _Found:
    for finder in (_run_claims, _file_claims):
        found = finder(clause, codes)
        if found is not None:
            return found
    # "I created a.py, b.py and c.py": the items after the first inherit its verb.
    if carried is None or not _starts_with_item(clause, codes):
        return _NOTHING
    kind, verb = carried
    finder_of = _commands if kind == "command" else _paths
    return _Found(finder_of(_tokens(clause), codes, verb), carried)


def _run_claims(clause: str, codes: list[str]) -> _Found | None:
    """Claims of running something; None when the clause has no such verb."""
    by = _BY_RUNNING.search(clause)
    past = re.search(r"\b\w+ed\b", clause[: by.start()]) if by else None
    if by is not None and past is not None:
        # "I checked it by running `x`" claims `x`; "Check it by running `x`" not.
        return _run_found(clause[: past.start()], clause[by.end() :], codes, "ran")
    match = _RUN_VERB.search(clause)
    if match is None:
        return None
    verb = match.group(0).split()[-1].lower()
    if match.group(0).lower().startswith(("was", "were", "been")):
        return _passive_run(clause, match, codes, verb)
    return _run_found(clause[: match.start()], clause[match.end() :], codes, verb)


def _run_found(prefix: str, rest: str, codes: list[str], verb: str) -> _Found:
    after = _tokens(rest)
    if not _voiced(prefix, after):
        return _NOTHING
    named = _commands(after, codes, verb)
    if named:
        return _Found(named, ("command", verb))
    if verb == "tested" or _names_object(after):
        subject = " ".join(f"{verb} {rest}".split()).strip(" .:")
        return _Found([Claim("run", subject, verb)], None)
    return _Found([], ("command", verb))


def _passive_run(
    clause: str, match: re.Match[str], codes: list[str], verb: str
) -> _Found:
    prefix = clause[: match.start()]
    if _BLOCKED.search(prefix) or _OTHER_HANDS.search(clause):
        return _NOTHING
    words = _tokens(prefix) + _tokens(clause[match.end() :])
    named = [c for c in _commands(words, codes, verb) if c.subject not in _RUNNERS]
    return _Found(named, ("command", verb))


def _file_claims(clause: str, codes: list[str]) -> _Found | None:
    """Claims of changing files; None when the clause has no such verb."""
    match = _FILE_VERB.search(clause)
    if match is None:
        return None
    verb = match.group("verb").lower()
    prefix, after = clause[: match.start()], _tokens(clause[match.end() :])
    if match.group("aux") is not None:
        if _BLOCKED.search(prefix) or _OTHER_HANDS.search(clause):
            return _NOTHING
        claims = _paths(_tokens(prefix), codes, verb) + _paths(after, codes, verb)
        return _Found(claims, ("file", verb))
    if not _voiced(prefix, after):
        return _NOTHING
    return _Found(_paths(after, codes, verb), ("file", verb))


def _voiced(prefix: str, after: list[str]) -> bool:
    """Whether an active verb states, in the answer's own voice, a thing done."""
    # "In the previous attempt I created a.py" is not about this attempt.
    if _BLOCKED.search(prefix) or _OTHER_HANDS.search(prefix):
        return False
    if _SUBJECT_TAIL.search(prefix):
        return True
    # "Files created: a.py" and "Commands run: `x`" are claims too.
    labelled = bool(after) and after[0].startswith(":")
    return labelled and bool(_LABEL_SUBJECT.match(prefix))


def _tests_pass(clause: str) -> Iterator[Claim]:
    match = _TESTS_PASS.search(clause)
    # "The test passes when the input is valid" describes, it does not report.
    if match and not (
        _BLOCKED.search(clause[: match.start()]) or _CONDITION.search(clause)
    ):
        yield Claim("run", match.group(0), "passed")


def _tokens(text: str) -> list[str]:
    return text.split()


def _bare(token: str) -> str:
    word = token.strip(_EDGE).rstrip(".")
    return word[:-2] if word.endswith("'s") else word


def _code_of(token: str, codes: list[str]) -> str | None:
    match = _MASKED.search(token)
    return codes[int(match.group(1))] if match else None


def _starts_with_item(clause: str, codes: list[str]) -> bool:
    skip = ("also", "the", "and", "then", "or")
    words = [w for w in _tokens(clause) if _bare(w).lower() not in skip]
    if not words:
        return False
    code = _code_of(words[0], codes)
    return code is not None or _is_path(_bare(words[0]), explicit=False)


def _commands(after: list[str], codes: list[str], verb: str) -> list[Claim]:
    claims: list[Claim] = []
    for token in after:
        word = _bare(token).lower()
        code = _code_of(token, codes)
        if code is not None:
            claims.append(Claim("command", code.removeprefix("$ ").strip(), verb))
        elif word in _RUNNERS:
            claims.append(Claim("command", word, verb))
        elif word and word not in _RUN_FILLER and word not in _RUN_OBJECTS:
            break
    return [c for c in claims if c.subject]


def _names_object(after: list[str]) -> bool:
    for token in after:
        word = _bare(token).lower()
        if word in _RUN_OBJECTS:
            return True
        if word and word not in _RUN_FILLER:
            return False
    return False


def _paths(after: list[str], codes: list[str], verb: str) -> list[Claim]:
    """Paths right after a file verb, or after its preposition when it has one."""
    movable = verb in ("removed", "deleted", "moved", "renamed")
    direct: list[str] = []
    targets: list[str] = []
    preposition = False
    for index, token in enumerate(after):
        word = _bare(token).lower()
        path = _path_of(token, codes)
        if path is not None:
            (targets if preposition else direct).append(path)
            continue
        if word in _PREPOSITIONS or (movable and word in _MOVE_PREPOSITIONS):
            preposition = _leads_to_path(after[index + 1 :], codes)
            if preposition:
                continue
        if word in _FILE_STOPS or word == "to":
            break
    return [Claim("file", path, verb) for path in (targets or direct)]


def _leads_to_path(rest: list[str], codes: list[str]) -> bool:
    for token in rest:
        if _path_of(token, codes) is not None:
            return True
        if _bare(token).lower() not in _ARTICLES:
            return False
    return False


def _path_of(token: str, codes: list[str]) -> str | None:
    code = _code_of(token, codes)
    if code is not None:
        return normalize_path(code) if _is_path(code, explicit=True) else None
    word = re.sub(r":\d+(?::\d+)?$", "", _bare(token))
    return normalize_path(word) if _is_path(word, explicit=False) else None


def _is_path(word: str, *, explicit: bool) -> bool:
    """Whether ``word`` names a file; ``explicit`` when it was in backticks."""
    if not word or any(c.isspace() for c in word) or word.endswith("/"):
        return False
    lowered = word.lower()
    if "://" in lowered or lowered.startswith("www.") or lowered in _NOT_FILES:
        return False
    name = posixpath.basename(lowered)
    stem, dot, extension = name.rpartition(".")
    if name in _BARE_FILES or (stem and dot and extension in _EXTENSIONS):
        return True
    return explicit and "/" in word and bool(re.fullmatch(r"[\w./@+-]+", word))


def _lead_in(prose: str) -> str:
    lines = [line for line in prose.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _fence_claims(lead: str, language: str, body: str) -> Iterator[Claim]:
    """Commands shown as run: a ``$ cmd`` transcript, or lines after "I ran:"."""
    mode = _lead_mode(lead)
    if mode == "instruction":
        return
    prompts = [
        line.strip()[2:].strip()
        for line in body.splitlines()
        if line.strip().startswith("$ ")
    ]
    if prompts and (mode == "claim" or _has_output(body)):
        yield from (Claim("command", p, "ran") for p in prompts if p)
    elif mode == "claim" and language.lower() in _SHELL_LANGS:
        yield from _listed_commands(body)
    if mode == "claim":
        yield from _output_of(lead)
    if _TEST_SUMMARY.search(body):
        yield Claim("run", "test output shown", "showed")
    elif mode == "claim" and not prompts and _OUTPUT_LEAD.search(lead):
        yield Claim("run", " ".join(lead.split()).strip(" :"), "showed")


def _lead_mode(lead: str) -> Literal["instruction", "claim", "neutral"]:
    """How the prose line before a code block presents it."""
    sentence = next(_sentences(lead), None)
    if sentence is None:
        return "neutral"
    if _BLOCKED.search(sentence.text) or _IMPERATIVE.match(sentence.text):
        return "instruction"
    found = _run_claims(sentence.text, sentence.codes)
    said_ran = found is not None and (bool(found.claims) or found.carried is not None)
    return "claim" if said_ran or _OUTPUT_LEAD.search(sentence.text) else "neutral"


def _output_of(lead: str) -> Iterator[Claim]:
    # "The output of `pytest -q`:" claims that `pytest -q` was run.
    for sentence in _sentences(lead):
        for match in _OUTPUT_OF.finditer(sentence.text):
            code = _code_of(match.group(0), sentence.codes)
            if code:
                yield Claim("command", code, "ran")


def _has_output(body: str) -> bool:
    lines = [line for line in body.splitlines() if line.strip()]
    return any(
        line.strip().startswith("$ ") and not nxt.strip().startswith("$ ")
        for line, nxt in itertools.pairwise(lines)
    )


def _listed_commands(body: str) -> Iterator[Claim]:
    for line in body.splitlines():
        words = line.split()
        if words and (words[0] in _RUNNERS or words[0] in ("git", "ls", "cat")):
            yield Claim("command", line.strip(), "ran")


# --- claims: what the events show was done --------------------------------------


@dataclass(frozen=True)
class _Evidence:
    commands: tuple[tuple[str, ...], ...]
    shell_ran: bool
    paths: tuple[str, ...]


_FILE_TOOLS = {
    "write_file": ("path",),
    "edit_file": ("path",),
    "delete_file": ("path",),
    "move_file": ("source", "destination"),
}


def _evidence(events: Sequence[Event]) -> _Evidence:
    completed = {e.call_id: e for e in events if isinstance(e, ToolCallCompleted)}
    requests = [
        e for e in events if isinstance(e, ToolCallRequested) and e.call_id in completed
    ]
    commands = tuple(c for c in map(_executed_command, requests) if c)
    shell_ran = any(r.tool == "shell_execute" for r in requests)
    paths = [p for e in events if isinstance(e, FileChanged) for p in _changed(e)]
    for request in requests:
        if not completed[request.call_id].is_error:
            paths += _tool_paths(request)
    return _Evidence(commands, shell_ran, tuple(normalize_path(p) for p in paths))


def _executed_command(request: ToolCallRequested) -> tuple[str, ...]:
    arguments = request.arguments
    if request.tool == "shell_execute" and isinstance(arguments.get("command"), str):
        return _command_words(arguments["command"])
    args = arguments.get("args")
    if request.tool == "git_command" and isinstance(args, list):
        words = [str(a) for a in args]
        return _normal_words(words if words[:1] == ["git"] else ["git", *words])
    return ()


def _changed(event: FileChanged) -> list[str]:
    return [event.path, *([event.new_path] if event.new_path else [])]


def _tool_paths(request: ToolCallRequested) -> list[str]:
    names = _FILE_TOOLS.get(request.tool, ())
    return [v for n in names if isinstance(v := request.arguments.get(n), str)]


def _command_words(command: str) -> tuple[str, ...]:
    try:
        words = shlex.split(command.removeprefix("$ "))
    except ValueError:  # an unclosed quote: compare the plain words
        words = command.removeprefix("$ ").split()
    return _normal_words(words)


def _normal_words(words: Sequence[str]) -> tuple[str, ...]:
    normal: list[str] = []
    for word in words:
        if len(word) > 2 and word.startswith("./"):
            word = word[2:]
        if len(word) > 1 and word.endswith("/"):
            word = word.rstrip("/") or "/"
        normal.append(re.sub(r"^python3(\.\d+)?$", "python", word))
    return tuple(normal)


def _within(big: tuple[str, ...], small: tuple[str, ...]) -> bool:
    width = len(small)
    return width > 0 and any(
        big[i : i + width] == small for i in range(len(big) - width + 1)
    )


def _satisfied(claim: Claim, evidence: _Evidence) -> bool:
    if claim.kind == "run":
        return evidence.shell_ran
    if claim.kind == "command":
        words = _command_words(claim.subject)
        return any(_within(c, words) or _within(words, c) for c in evidence.commands)
    return _path_done(claim.subject, evidence.paths)


def names_file(claim: Claim, path: str) -> bool:
    """Whether ``claim`` is a file claim about ``path`` (same path, or same name)."""
    if claim.kind != "file":
        return False
    path = normalize_path(path)
    return _same_file(claim.subject, path) or (
        posixpath.basename(claim.subject) == posixpath.basename(path)
    )


def _same_file(a: str, b: str) -> bool:
    return a == b or a.endswith("/" + b) or b.endswith("/" + a)


def _path_done(path: str, changed: Sequence[str]) -> bool:
    if any(_same_file(path, p) for p in changed):
        return True
    name = posixpath.basename(path)
    return len({p for p in changed if posixpath.basename(p) == name}) == 1


def unexecuted(claims: Sequence[Claim], events: Sequence[Event]) -> list[Claim]:
    """The claims that no executed tool call in ``events`` bears out."""
    evidence = _evidence(events)
    return [claim for claim in claims if not _satisfied(claim, evidence)]


def claim_reason(claim: Claim) -> str:
    """Feedback for a claim nothing in the attempt bears out."""
    if claim.kind == "command":
        return (
            f"your answer says you ran `{claim.subject}`, but this attempt never "
            "executed it; run it with shell_execute and report its real output "
            "instead of describing it"
        )
    if claim.kind == "file":
        return (
            f"your answer says you {claim.verb} {claim.subject}, but this attempt "
            f"recorded no change to {claim.subject}; make the change with a tool "
            "(write_file, edit_file...) instead of describing it"
        )
    return (
        f'your answer says "{claim.subject}", but this attempt executed no shell '
        "command; run it with shell_execute and report the real result"
    )


def unexecuted_claims(answer: str, events: Sequence[Event]) -> list[str]:
    """Feedback for every action ``answer`` claims that ``events`` do not show.

    A claimed command is borne out by a ``shell_execute`` or ``git_command``
    call that was requested and completed (error or not) whose command contains
    the claimed one or is contained in it; a claimed file action by a recorded
    change to that path (or the one changed file with its name); "I ran the
    tests" or "all tests pass" by any completed ``shell_execute`` call.
    """
    return [claim_reason(c) for c in unexecuted(extract_claims(answer), events)]
