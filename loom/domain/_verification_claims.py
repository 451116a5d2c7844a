"""The claim type, and the word tables that find commands and paths in a clause.

Private helper of :mod:`loom.domain.verification` (which re-exports
:class:`Claim` and :data:`ClaimKind`). The prose parser in
:mod:`loom.domain._verification_prose` splits an answer into clauses and finds
their verbs; the functions here read the words after a verb and say which of
them name a command or a file. Inline code spans arrive masked (``_MASK``), and
:func:`_code_of` unmasks them. The underscore names are shared only with the
other private verification modules.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Literal

from loom.domain._verification_paths import normalize_path

__all__ = [
    "_MASK",
    "_RUNNERS",
    "Claim",
    "ClaimKind",
    "_code_of",
    "_commands",
    "_names_object",
    "_paths",
    "_starts_with_item",
    "_tokens",
]

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
