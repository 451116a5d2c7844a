"""Parse shell text with tree-sitter-bash and evaluate words statically.

Private helper of :mod:`loom.domain.safety`. A word is evaluated from the text
alone: quotes and escapes are removed, brace expansions are expanded, and
variables are substituted only when their value is known from the command
itself (or is one of the few whose meaning the workspace path implies, like
``$HOME``). Everything else stays *dynamic*, which the rules treat with
suspicion.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

__all__ = ["Env", "Word", "evaluate", "fields", "node_text", "parse"]

_LANGUAGE = Language(tree_sitter_bash.language())

# Private-use characters mark syntax that survives quote removal: unquoted
# braces and globs, dynamic parts, and word-splitting points.
_OPEN, _COMMA, _CLOSE = "\ue000", "\ue001", "\ue002"
_GLOBS = {"*": "\ue003", "?": "\ue004", "[": "\ue005"}
_DYN_START, _DYN_END, _SPLIT = "\ue006", "\ue007", "\ue008"
_UNMARK = {
    _OPEN: "{",
    _COMMA: ",",
    _CLOSE: "}",
    **{v: k for k, v in _GLOBS.items()},
    _DYN_START: "",
    _DYN_END: "",
    _SPLIT: " ",
}
_BARE_MARKS = {"{": _OPEN, ",": _COMMA, "}": _CLOSE, **_GLOBS}
_MAX_WORDS = 64
_DEFAULT_IFS = " \t\n"
_BRACE = re.compile(f"{_OPEN}([^{_OPEN}{_CLOSE}]*{_COMMA}[^{_OPEN}{_CLOSE}]*){_CLOSE}")
_ANSI_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}
_ANSI = re.compile(
    r"\\(x[0-9a-fA-F]{1,2}|u[0-9a-fA-F]{1,4}|U[0-9a-fA-F]{1,8}|[0-7]{1,3}|c.|.)",
    re.S,
)


def parse(source: str) -> Node:
    """Parse shell text into a tree-sitter syntax tree."""
    # A parser per call: parser objects carry state and are not thread-safe.
    parser = Parser(_LANGUAGE)
    return parser.parse(source.encode("utf-8", "replace")).root_node


def node_text(node: Node) -> str:
    """The source text of a node."""
    return (node.text or b"").decode("utf-8", "replace")


@dataclass
class Env:
    """What is statically known while walking a command.

    Attributes:
        home: The home directory implied by the workspace path.
        cwd: The working directory, or None once it cannot be known.
        variables: Values assigned earlier in the same command text.
        substitute: Static evaluator for ``$(...)``; returns None when unknown.
    """

    home: str
    cwd: str | None
    variables: dict[str, str | None] = field(default_factory=dict)
    substitute: Callable[[Node, Env], str | None] = lambda _node, _env: None

    def lookup(self, name: str) -> str | None:
        """The value of a variable, when the text alone determines it."""
        if name in self.variables:
            return self.variables[name]
        known = {
            "HOME": self.home,
            "PWD": self.cwd,
            "LOOM_HOME": f"{self.home}/.loom",
            "TMPDIR": "/tmp",
            "IFS": _DEFAULT_IFS,
            "XDG_CONFIG_HOME": f"{self.home}/.config",
            "XDG_DATA_HOME": f"{self.home}/.local/share",
            "XDG_CACHE_HOME": f"{self.home}/.cache",
        }
        return known.get(name)


@dataclass(frozen=True)
class Word:
    """One shell word after static evaluation.

    Attributes:
        text: The value, with dynamic parts left as written.
        raw: The word as written.
        static: True when no part depends on runtime values.
        glob: True when an unquoted glob character is present.
        head: The static, glob-free prefix of ``text``.
        subs: Command or process substitutions inside the word.
        origin: Start of the source node (words split from one node share it).
    """

    text: str
    raw: str
    static: bool = True
    glob: bool = False
    head: str = ""
    subs: tuple[Node, ...] = field(default=(), compare=False)
    origin: int = field(default=-1, compare=False)

    @classmethod
    def literal(cls, text: str) -> Word:
        """A static word that came from evaluated text rather than the tree."""
        return cls(text=text, raw=text, head=text)

    @classmethod
    def unknown(cls, raw: str) -> Word:
        """A word whose value is only known at runtime."""
        return cls(text=raw, raw=raw, static=False)


def evaluate(node: Node, env: Env) -> list[Word]:
    """Evaluate one argument node into the words the shell would pass."""
    marked = _marked(node, env)
    raw = node_text(node)
    subs = tuple(_substitutions(node))
    words: list[Word] = []
    for expanded in _expand_braces(marked):
        pieces = expanded.split(_SPLIT)
        if len(pieces) > 1:
            # Word splitting drops empty fields, as the shell does.
            pieces = [piece for piece in pieces if piece]
        words.extend(_to_word(piece, raw, subs, node.start_byte) for piece in pieces)
    return words[:_MAX_WORDS]


def _to_word(marked: str, raw: str, subs: tuple[Node, ...], origin: int) -> Word:
    stops = [marked.find(c) for c in (_DYN_START, *_GLOBS.values())]
    stop = min((s for s in stops if s >= 0), default=len(marked))
    return Word(
        text=_unmark(marked),
        raw=raw,
        static=_DYN_START not in marked,
        glob=any(g in marked for g in _GLOBS.values()),
        head=_unmark(marked[:stop]),
        subs=subs,
        origin=origin,
    )


def _unmark(marked: str) -> str:
    return "".join(_UNMARK.get(c, c) for c in marked)


def _expand_braces(marked: str) -> list[str]:
    results = [marked]
    for _ in range(8):
        expanded: list[str] = []
        for text in results:
            match = _BRACE.search(text)
            if match is None:
                expanded.append(text)
                continue
            for option in match.group(1).split(_COMMA):
                expanded.append(text[: match.start()] + option + text[match.end() :])
        if expanded == results or len(expanded) > _MAX_WORDS:
            break
        results = expanded
    return results


def _substitutions(node: Node) -> list[Node]:
    if node.type in ("command_substitution", "process_substitution"):
        return [node]
    found: list[Node] = []
    for child in node.children:
        found.extend(_substitutions(child))
    return found


def _marked(node: Node, env: Env) -> str:
    kind = node.type
    if kind == "raw_string":
        return node_text(node)[1:-1]
    if kind == "string":
        return _string(node, env)
    if kind == "ansi_c_string":
        return _ansi_c(node_text(node)[2:-1])
    if kind in ("concatenation", "command_name"):
        return "".join(_marked(child, env) for child in node.children)
    if kind in ("simple_expansion", "expansion", "command_substitution"):
        return _expansion(node, env, quoted=False)
    if kind == "process_substitution":
        return "/dev/fd/63"
    if kind in ("arithmetic_expansion", "brace_expression"):
        return _dynamic(node_text(node))
    return _bare(node_text(node))


def _bare(text: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            out.append("" if escaped == "\n" else escaped)
        else:
            out.append(_BARE_MARKS.get(char, char))
    return "".join(out)


def _string(node: Node, env: Env) -> str:
    out: list[str] = []
    cursor = node.start_byte + 1
    source = node.text or b""
    for child in node.children[1:-1]:
        gap = source[cursor - node.start_byte : child.start_byte - node.start_byte]
        out.append(_dquote(gap.decode("utf-8", "replace")))
        if child.type == "string_content":
            out.append(_dquote(node_text(child)))
        else:
            out.append(_expansion(child, env, quoted=True))
        cursor = child.end_byte
    tail = source[cursor - node.start_byte : len(source) - 1]
    out.append(_dquote(tail.decode("utf-8", "replace")))
    return "".join(out)


def _dquote(text: str) -> str:
    return re.sub(r"\\([$`\"\\\n])", lambda m: "" if m[1] == "\n" else m[1], text)


def _ansi_c(body: str) -> str:
    def decode(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] in "xuU" and len(code) > 1:
            return chr(min(int(code[1:], 16), 0x10FFFF))
        if code[0].isdigit():
            return chr(int(code, 8))
        if code[0] == "c":
            return chr(ord(code[1]) & 0x1F)
        return _ANSI_ESCAPES.get(code, "\\" + code)

    return _ANSI.sub(decode, body)


def _expansion(node: Node, env: Env, *, quoted: bool) -> str:
    value = _expansion_value(node, env)
    if value is None:
        return _dynamic(node_text(node))
    if quoted:
        return value
    # Unquoted expansions undergo word splitting and globbing:
    # `X="rm -rf /"; $X` runs rm, and so does `rm${IFS}-rf${IFS}/`.
    separators = env.variables.get("IFS") or _DEFAULT_IFS
    return "".join(_SPLIT if c in separators else _GLOBS.get(c, c) for c in value)


def _expansion_value(node: Node, env: Env) -> str | None:
    if node.type == "simple_expansion":
        names = [c for c in node.named_children if c.type.endswith("variable_name")]
        return env.lookup(node_text(names[0])) if names else None
    if node.type == "expansion":
        return _braced_expansion(node, env)
    if node.type == "command_substitution":
        return env.substitute(node, env)
    return None


def _braced_expansion(node: Node, env: Env) -> str | None:
    children = node.children[1:-1]
    if children and children[0].type == "subscript":
        return _element(children[0], env) if len(children) == 1 else None
    if not children or not children[0].type.endswith("variable_name"):
        return None
    value = env.lookup(node_text(children[0]))
    operator = node_text(children[1]) if len(children) > 1 else ""
    if len(children) == 1:
        return value
    alternative = "".join(_unmark(_marked(c, env)) for c in children[2:])
    if operator in (":-", "-", ":=", "=") and value is None:
        # An unset variable takes its default, so judge the default.
        return alternative
    if operator in (":?", "?"):
        return value
    if operator in (":+", "+") and value is not None:
        return alternative if value else ""
    return None


def _element(node: Node, env: Env) -> str | None:
    """``${arr[@]}`` or ``${arr[N]}`` of an array assigned in the text."""
    name = node.child_by_field_name("name")
    index = node.child_by_field_name("index")
    value = env.lookup(node_text(name)) if name is not None else None
    if value is None or index is None:
        return None
    key = node_text(index)
    if key in ("@", "*"):
        return value
    items = value.split(_SPLIT)
    return items[int(key)] if key.isdigit() and int(key) < len(items) else ""


def fields(texts: list[str]) -> str:
    """A variable value holding several words (an array, or ``$@``)."""
    return _SPLIT.join(texts)


def _dynamic(raw: str) -> str:
    return f"{_DYN_START}{raw}{_DYN_END}"
