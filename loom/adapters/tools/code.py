"""Code structure with tree-sitter: an outline, the symbols, or the imports.

Python, JavaScript (and JSX), TypeScript, TSX, Go and Rust are told apart by
file extension. The tree is walked node by node (no query files, so one set of
rules per language in :mod:`._code_outline` and :mod:`._code_imports`).
tree-sitter recovers from syntax errors, so a broken file still gets an
answer, with the places it had to recover listed first.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import Field

from loom.adapters.tools._code_imports import Import, imports
from loom.adapters.tools._code_langs import (
    EXTENSIONS,
    SyntaxProblem,
    language_of,
    parse,
    syntax_problems,
)
from loom.adapters.tools._code_outline import Symbol, definitions
from loom.adapters.tools.base import Tool, ToolArgs, ToolContext, ToolError

__all__ = ["AnalyzeCode", "analyze"]

Mode = Literal["outline", "symbols", "imports"]
_MAX_BYTES = 5_000_000
# Members that make an outline long without showing its shape; symbols has them.
_NOT_IN_OUTLINE = frozenset({"variable", "constant", "attribute", "field", "property"})


class AnalyzeCodeArgs(ToolArgs):
    path: str = Field(description="Source file, relative to the workspace root.")
    mode: Mode = Field(
        default="outline",
        description=(
            "outline: classes, functions and methods nested, with line ranges; "
            "symbols: every defined name with its kind and line; "
            "imports: each import and what it brings in."
        ),
    )


class AnalyzeCode(Tool):
    name = "analyze_code"
    description = (
        "Show the structure of a source file (Python, JavaScript, TypeScript, Go, "
        "Rust) without reading it all: an outline with line ranges, a symbol "
        "list, or its imports."
    )
    kind = "read"
    Args = AnalyzeCodeArgs

    async def run(self, args: AnalyzeCodeArgs, ctx: ToolContext) -> str:
        real = ctx.workspace.resolve(args.path)
        language = language_of(real.name)
        if language is None:
            known = ", ".join(sorted(EXTENSIONS))
            raise ToolError(
                f"analyze_code does not know {args.path}'s language; it reads {known}"
            )
        if real.is_dir():
            raise ToolError(f"{args.path} is a directory")
        try:
            source = await asyncio.to_thread(real.read_bytes)
        except FileNotFoundError:
            raise ToolError(f"no file {args.path!r} in the workspace") from None
        if len(source) > _MAX_BYTES:
            raise ToolError(
                f"{args.path} is too large to analyze ({len(source)} bytes)"
            )
        shown = ctx.workspace.relative(real)
        return await asyncio.to_thread(analyze, shown, language, source, args.mode)


def analyze(path: str, language: str, source: bytes, mode: Mode) -> str:
    """The report for one file in one mode."""
    tree = parse(language, source)
    lines = source.count(b"\n") + (0 if source.endswith(b"\n") or not source else 1)
    parts = [f"{path} ({language}, {lines} line{'' if lines == 1 else 's'}): {mode}"]
    problems = syntax_problems(tree, source)
    if problems:
        parts.append(_render_problems(problems))
    if mode == "imports":
        parts.append(_render_imports(imports(language, tree.root_node, source)))
    else:
        found = definitions(language, tree.root_node, source)
        render = _render_outline if mode == "outline" else _render_symbols
        parts.append(render(found))
    return "\n".join(parts)


def _render_problems(problems: list[SyntaxProblem]) -> str:
    lines = ["syntax errors (the parser recovered; what follows may be partial):"]
    lines += [f"  line {p.line}, column {p.column}: {p.message}" for p in problems]
    return "\n".join(lines)


def _render_outline(symbols: list[Symbol], depth: int = 0) -> str:
    lines = []
    for symbol in symbols:
        if symbol.kind in _NOT_IN_OUTLINE:
            continue
        span = (
            f"line {symbol.start}"
            if symbol.start == symbol.end
            else f"lines {symbol.start}-{symbol.end}"
        )
        lines.append(
            f"{'  ' * depth}{symbol.kind} {symbol.name}{symbol.signature}  ({span})"
        )
        nested = _render_outline(symbol.children, depth + 1)
        if nested:
            lines.append(nested)
    if not lines and depth == 0:
        return "(no classes or functions found)"
    return "\n".join(lines)


def _render_symbols(symbols: list[Symbol]) -> str:
    flat = sorted(_flatten(symbols, ""), key=lambda item: item[0].start)
    if not flat:
        return "(no definitions found)"
    return "\n".join(f"{s.start:>6}  {s.kind:<16} {name}" for s, name in flat)


def _flatten(symbols: list[Symbol], prefix: str) -> list[tuple[Symbol, str]]:
    flat: list[tuple[Symbol, str]] = []
    for symbol in symbols:
        qualified = f"{prefix}{symbol.name}"
        if symbol.kind != "impl":  # an impl block defines no name of its own
            flat.append((symbol, qualified))
        flat += _flatten(symbol.children, f"{prefix}{symbol.scope or symbol.name}.")
    return flat


def _render_imports(found: list[Import]) -> str:
    if not found:
        return "(no imports)"
    lines = []
    for item in found:
        line = f"{item.line:>6}  {item.module}"
        if item.names:
            line += ": " + ", ".join(item.names)
        if item.note:
            line += f"  ({item.note})"
        lines.append(line)
    return "\n".join(lines)
