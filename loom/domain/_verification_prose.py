"""The claim finder: what an executor's answer says it did, read from its prose.

Private helper of :mod:`loom.domain.verification`, which re-exports
:func:`extract_claims`. An answer is cut into code fences and prose, prose into
sentences (inline code masked so a split cannot cut it) and sentences into
clauses; a clause claims something when a run or file verb stands in the
answer's own voice, and the words after the verb
(:mod:`loom.domain._verification_claims`) name what. A fence claims its
commands when it is a ``$ cmd`` transcript or follows a line like "I ran:".
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from loom.domain._verification_claims import (
    _MASK,
    _RUNNERS,
    Claim,
    ClaimKind,
    _code_of,
    _commands,
    _names_object,
    _paths,
    _starts_with_item,
    _tokens,
)

__all__ = ["extract_claims"]

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
