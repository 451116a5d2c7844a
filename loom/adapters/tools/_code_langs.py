"""Languages analyze_code understands, and parsing with tree-sitter (private)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePath

import tree_sitter_go
import tree_sitter_javascript
import tree_sitter_python
import tree_sitter_rust
import tree_sitter_typescript
from tree_sitter import Language, Node, Parser, Tree

__all__ = [
    "EXTENSIONS",
    "SyntaxProblem",
    "language_of",
    "parse",
    "signature",
    "syntax_problems",
    "text",
]

_GRAMMARS: dict[str, Callable[[], object]] = {
    "Python": tree_sitter_python.language,
    "JavaScript": tree_sitter_javascript.language,
    "TypeScript": tree_sitter_typescript.language_typescript,
    "TSX": tree_sitter_typescript.language_tsx,
    "Go": tree_sitter_go.language,
    "Rust": tree_sitter_rust.language,
}
EXTENSIONS: dict[str, str] = {
    ".py": "Python",
    ".pyi": "Python",
    ".js": "JavaScript",
    ".jsx": "JavaScript",
    ".mjs": "JavaScript",
    ".cjs": "JavaScript",
    ".ts": "TypeScript",
    ".mts": "TypeScript",
    ".cts": "TypeScript",
    ".tsx": "TSX",
    ".go": "Go",
    ".rs": "Rust",
}
_SIGNATURE_CHARS = 120
_MAX_PROBLEMS = 10


def language_of(path: str) -> str | None:
    """The language of a file by its extension, or None when unsupported."""
    return EXTENSIONS.get(PurePath(path).suffix.lower())


@functools.cache
def _language(name: str) -> Language:
    return Language(_GRAMMARS[name]())


def parse(name: str, source: bytes) -> Tree:
    """The syntax tree of ``source`` (tree-sitter recovers from errors)."""
    return Parser(_language(name)).parse(source)


def text(node: Node | None, source: bytes) -> str:
    """The source text of ``node`` ('' for None)."""
    if node is None:
        return ""
    return source[node.start_byte : node.end_byte].decode(errors="replace")


def signature(source: bytes, *parts: tuple[str, Node | None]) -> str:
    """Parameter and result text joined, whitespace collapsed, length capped."""
    joined = "".join(prefix + text(node, source) for prefix, node in parts if node)
    flat = re.sub(r"\s+", " ", joined).rstrip()
    if len(flat) > _SIGNATURE_CHARS:
        return flat[: _SIGNATURE_CHARS - 1] + "…"
    return flat


@dataclass(frozen=True)
class SyntaxProblem:
    """Where the parser had to recover, 1-based."""

    line: int
    column: int
    message: str


def syntax_problems(tree: Tree, source: bytes) -> list[SyntaxProblem]:
    """Error and missing nodes, in order, at most ten."""
    problems: list[SyntaxProblem] = []
    for node in _broken(tree.root_node):
        row, column = node.start_point
        if node.is_missing:
            message = f"missing {node.type!r}"
        else:
            snippet = " ".join(text(node, source).split())[:40]
            message = f"unexpected {snippet!r}" if snippet else "syntax error"
        problems.append(SyntaxProblem(row + 1, column + 1, message))
        if len(problems) == _MAX_PROBLEMS:
            break
    return problems


def _broken(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        if current.is_error or current.is_missing:
            yield current
            continue
        # Only subtrees with an error somewhere are entered, so this is cheap.
        stack.extend(
            reversed([c for c in current.children if c.has_error or c.is_missing])
        )
