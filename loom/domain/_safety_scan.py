"""The state of one classification and the vocabulary rules use (private)."""

from __future__ import annotations

import dataclasses
import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from tree_sitter import Node

from loom.domain._safety_paths import (
    Judgement,
    Place,
    Where,
    delete_verdict,
    is_under,
    perm_verdict,
    resolve,
    secret_kind,
    write_verdict,
)
from loom.domain._safety_words import Env, Word

__all__ = [
    "RANK",
    "Action",
    "Call",
    "Feed",
    "Finding",
    "Opts",
    "Rule",
    "Runner",
    "Scan",
    "command_name",
    "parse_opts",
    "strip_version",
]

Action = Literal["allow", "ask", "block"]
RANK: dict[Action, int] = {"allow": 0, "ask": 1, "block": 2}
_SHOWN_LIMIT = 120
_VERSION = re.compile(r"(?<=[a-z+])-?\d+(\.\d+)*$")


@dataclass(frozen=True)
class Finding:
    """One part of a command and what it deserves."""

    action: Action
    reason: str


@dataclass(frozen=True)
class Feed:
    """What a command reads on standard input.

    Attributes:
        kind: ``download`` (network content), ``text`` (known text),
            ``decoded`` (output of a decoder), ``secret`` (credentials) or
            ``other``.
        source: The producing command, for reasons.
        text: The content, when it is known from the command text.
    """

    kind: Literal["download", "text", "decoded", "secret", "other"]
    source: str
    text: str | None = None


class Runner(Protocol):
    """Re-entry into the walker, for wrappers and nested shells."""

    def words(self, scan: Scan, words: Sequence[Word], feed: Feed | None) -> None:
        """Classify an argument vector as one simple command."""

    def script(self, scan: Scan, text: str, feed: Feed | None) -> None:
        """Parse and classify shell text, as ``bash -c`` would run it."""

    def downloads(self, nodes: Sequence[Node]) -> bool:
        """True when any of the subtrees runs a download command."""

    def output(self, scan: Scan, node: Node) -> str | None:
        """The output of a substitution, when the text alone determines it."""


@dataclass
class Scan:
    """Everything learned while walking one command.

    Attributes:
        where: Workspace and home.
        env: Statically known variables and working directory.
        runner: The walker, for nested commands.
        findings: What each part deserves, in walk order.
        depth: Nesting of shells inside shells.
        nesting: Syntax-tree depth of the programs being walked, summed.
        elevated: How many privilege wrappers (sudo, doas) enclose the walk.
        secrets: Credential paths the command reads.
        network: Commands that reach the network.
        downloads: Paths that downloads write to.
        functions: Shell functions the command defines, name to body.
        calling: Functions being walked, to stop recursion.
        commands: Names of the commands seen, for the allow reason.
        links: Symbolic links the command creates, link path to target path.
        files: Files the command writes with known content, path to text.
    """

    where: Where
    env: Env
    runner: Runner
    findings: list[Finding] = field(default_factory=list)
    depth: int = 0
    nesting: int = 0
    elevated: int = 0
    secrets: list[str] = field(default_factory=list)
    network: list[str] = field(default_factory=list)
    downloads: set[str] = field(default_factory=set)
    functions: dict[str, Node] = field(default_factory=dict)
    calling: set[str] = field(default_factory=set)
    commands: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def add(self, action: Action, reason: str) -> None:
        """Record what one part of the command deserves."""
        self.findings.append(Finding(action, reason))

    def place(self, word: Word) -> Place:
        """Resolve a path word against the current directory and known links."""
        home = self.env.variables.get("HOME") or self.where.home
        place = resolve(word, self.env.cwd, home)
        if place.path is None:
            return place
        for link, target in self.links.items():
            if is_under(place.path, link):
                path = posixpath.normpath(target + place.path[len(link) :])
                return dataclasses.replace(place, path=path)
        return place

    def harm(
        self, judgement: Judgement, shown: str, word: Word, verb: str = "modifies"
    ) -> None:
        """Record a write, delete or permission change; root makes it worse."""
        action, why = judgement
        if self.elevated and action != "block":
            action, why = "block", f"as root, {why or verb}"
        if action != "allow":
            self.add(action, f"`{shown}` {why}: {word.raw}")

    def delete(self, word: Word, shown: str) -> None:
        """Judge deleting or moving away the path a word names."""
        self.harm(delete_verdict(self.place(word), self.where), shown, word, "deletes")

    def write(self, word: Word, shown: str) -> None:
        """Judge creating or overwriting the path a word names."""
        self.harm(write_verdict(self.place(word), self.where), shown, word, "writes")

    def chmod(self, word: Word, shown: str) -> None:
        """Judge changing permissions or ownership of a path."""
        verdict = perm_verdict(self.place(word), self.where)
        self.harm(verdict, shown, word, "changes permissions of")

    def secret(self, word: Word) -> str | None:
        """Name the secret a word refers to, recording the read."""
        if not word.text or word.text.startswith("-"):
            return None
        kind = secret_kind(self.place(word), self.where)
        if kind is not None:
            self.secrets.append(word.raw)
        return kind


@dataclass(frozen=True)
class Call:
    """One simple command, ready for its rule.

    Attributes:
        name: The command's normalized name (``/bin/rm`` is ``rm``).
        args: The arguments after the name.
        scan: The classification in progress.
        feed: What the command reads on standard input, when known.
        shown: The command as written, shortened, for reasons.
    """

    name: str
    args: tuple[Word, ...]
    scan: Scan
    feed: Feed | None
    shown: str

    @classmethod
    def of(
        cls, words: Sequence[Word], name: str, scan: Scan, feed: Feed | None
    ) -> Call:
        """Build a call, remembering how it was written."""
        shown = " ".join(
            word.raw
            for index, word in enumerate(words)
            if index == 0 or word.origin < 0 or word.origin != words[index - 1].origin
        )
        if len(shown) > _SHOWN_LIMIT:
            shown = shown[: _SHOWN_LIMIT - 3] + "..."
        return cls(name, tuple(words[1:]), scan, feed, shown)

    def ask(self, why: str) -> None:
        """This command deserves a confirmation."""
        self.scan.add("ask", f"`{self.shown}` {why}")

    def block(self, why: str) -> None:
        """This command must not run."""
        self.scan.add("block", f"`{self.shown}` {why}")

    def opts(self, valued: Sequence[str] = (), *, permute: bool = True) -> Opts:
        """Parse the arguments as options and operands."""
        return parse_opts(self.args, frozenset(valued), permute=permute)

    def run(self, words: Sequence[Word], feed: Feed | None = None) -> None:
        """Classify a wrapped command."""
        self.scan.runner.words(self.scan, words, feed)

    def script(self, text: str, feed: Feed | None = None) -> None:
        """Classify shell text this command would run."""
        self.scan.runner.script(self.scan, text, feed)


Rule = Callable[[Call], None]


@dataclass(frozen=True)
class Opts:
    """Parsed command-line options.

    Attributes:
        flags: Option name (``-r``, ``--force``) to the values given.
        operands: The non-option arguments, in order.
    """

    flags: dict[str, list[str]]
    operands: list[Word]

    def has(self, *names: str) -> bool:
        """True when any of the options was given."""
        return any(name in self.flags for name in names)

    def values(self, *names: str) -> list[str]:
        """The values given to any of the options."""
        return [value for name in names for value in self.flags.get(name, [])]


def parse_opts(
    args: Sequence[Word], valued: frozenset[str], *, permute: bool = True
) -> Opts:
    """Split arguments into options and operands, getopt-style.

    Args:
        args: The words after the command name.
        valued: Options that take a value (``-o``, ``--output``).
        permute: Accept options after operands (GNU style); when False,
            everything from the first operand on is an operand.
    """
    flags: dict[str, list[str]] = {}
    operands: list[Word] = []
    index = 0
    while index < len(args):
        word = args[index]
        text = word.text
        if (operands and not permute) or text == "-" or not text.startswith("-"):
            operands.append(word)
        elif text == "--":
            operands.extend(args[index + 1 :])
            break
        elif text.startswith("--"):
            index += _long(args, index, valued, flags)
        else:
            index += _short(args, index, valued, flags)
        index += 1
    return Opts(flags, operands)


def _long(
    args: Sequence[Word],
    index: int,
    valued: frozenset[str],
    flags: dict[str, list[str]],
) -> int:
    name, equals, value = args[index].text.partition("=")
    consumed = 0
    if not equals and name in valued and index + 1 < len(args):
        value, consumed = args[index + 1].text, 1
    flags.setdefault(name, []).append(value)
    return consumed


def _short(
    args: Sequence[Word],
    index: int,
    valued: frozenset[str],
    flags: dict[str, list[str]],
) -> int:
    text = args[index].text
    for position, char in enumerate(text[1:], start=2):
        name = f"-{char}"
        if name in valued:
            value = text[position:]
            if value or index + 1 >= len(args):
                flags.setdefault(name, []).append(value)
                return 0
            flags.setdefault(name, []).append(args[index + 1].text)
            return 1
        flags.setdefault(name, []).append("")
    return 0


def command_name(text: str) -> str:
    """Normalize a command word: ``/usr/bin/Python3.11`` is ``python``."""
    base = text.rsplit("/", 1)[-1].lower()
    return base


def strip_version(name: str) -> str:
    """Drop a version suffix: ``python3.11`` is ``python``, ``gcc-12`` is ``gcc``."""
    stripped = _VERSION.sub("", name)
    return stripped or name
