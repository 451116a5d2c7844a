"""Import statements in a syntax tree and what they bring in (private)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tree_sitter import Node

from loom.adapters.tools._code_langs import text

__all__ = ["Import", "imports"]


@dataclass(frozen=True)
class Import:
    """One imported module (a statement may import several)."""

    line: int
    module: str
    names: list[str] = field(default_factory=list)
    note: str = ""


Extractor = Callable[[Node, bytes], list[Import]]


def imports(language: str, root: Node, source: bytes) -> list[Import]:
    """Every import in the file, in source order, nested ones included."""
    table = _EXTRACTORS[language]
    found: list[Import] = []
    for node in _nodes(root):
        extract = table.get(node.type)
        if extract is not None:
            found.extend(extract(node, source))
    return found


def _nodes(root: Node) -> Iterator[Node]:
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.named_children))


def _line(node: Node) -> int:
    return node.start_point.row + 1


def _aliased(node: Node, source: bytes, name: str = "name") -> str:
    """``x`` or ``x as y`` for a node with a name and an optional alias."""
    alias = node.child_by_field_name("alias")
    shown = text(node.child_by_field_name(name), source) or text(node, source)
    return f"{shown} as {text(alias, source)}" if alias else shown


# Python


def _py_import(node: Node, source: bytes) -> list[Import]:
    found = []
    for name in node.children_by_field_name("name"):
        if name.type == "aliased_import":
            found.append(Import(_line(node), _aliased(name, source)))
        else:
            found.append(Import(_line(node), text(name, source)))
    return found


def _py_from(node: Node, source: bytes) -> list[Import]:
    module = text(node.child_by_field_name("module_name"), source) or "__future__"
    names = [_aliased(n, source) for n in node.children_by_field_name("name")]
    if any(c.type == "wildcard_import" for c in node.named_children):
        names.append("*")
    return [Import(_line(node), module, names)]


# JavaScript and TypeScript


def _js_source(node: Node, source: bytes) -> str:
    string = node.child_by_field_name("source")
    return text(string, source).strip("'\"`")


def _js_import(node: Node, source: bytes) -> list[Import]:
    module = _js_source(node, source)
    if not module:
        return _ts_import_require(node, source)
    clause = next((c for c in node.named_children if c.type == "import_clause"), None)
    names = _js_clause(clause, source) if clause else []
    type_only = any(c.type == "type" for c in node.children)
    note = "types only" if type_only else ("" if names else "side effects only")
    return [Import(_line(node), module, names, note)]


def _js_clause(clause: Node, source: bytes) -> list[str]:
    names: list[str] = []
    for part in clause.named_children:
        if part.type == "identifier":
            names.append(f"default as {text(part, source)}")
        elif part.type == "namespace_import":
            names.append(f"* as {text(part.named_children[0], source)}")
        elif part.type == "named_imports":
            names += [_aliased(s, source) for s in part.named_children]
    return names


def _ts_import_require(node: Node, source: bytes) -> list[Import]:
    clause = next(
        (c for c in node.named_children if c.type == "import_require_clause"), None
    )
    if clause is None:
        return []
    strings = [c for c in clause.named_children if c.type == "string"]
    name = text(clause.named_children[0], source) if clause.named_children else ""
    module = text(strings[0], source).strip("'\"") if strings else ""
    return [Import(_line(node), module, [f"* as {name}"], "import = require")]


def _js_reexport(node: Node, source: bytes) -> list[Import]:
    module = _js_source(node, source)
    if not module:
        return []
    clause = next((c for c in node.named_children if c.type == "export_clause"), None)
    names = [_aliased(s, source) for s in clause.named_children] if clause else ["*"]
    return [Import(_line(node), module, names, "re-export")]


def _js_call(node: Node, source: bytes) -> list[Import]:
    function = node.child_by_field_name("function")
    kind = function.type if function else ""
    called = text(function, source)
    if not (kind == "import" or (kind == "identifier" and called == "require")):
        return []
    arguments = node.child_by_field_name("arguments")
    first = (
        arguments.named_children[0] if arguments and arguments.named_children else None
    )
    if first is None or first.type != "string":
        return []
    note = "dynamic import" if kind == "import" else "require"
    return [Import(_line(node), text(first, source).strip("'\""), note=note)]


# Go


def _go_spec(node: Node, source: bytes) -> list[Import]:
    path = text(node.child_by_field_name("path"), source).strip('"`')
    name = node.child_by_field_name("name")
    notes = {"blank_identifier": "blank: side effects only", "dot": "dot: names merged"}
    if name is None:
        return [Import(_line(node), path)]
    note = notes.get(name.type, f"as {text(name, source)}")
    return [Import(_line(node), path, note=note)]


# Rust


def _rs_use(node: Node, source: bytes) -> list[Import]:
    argument = node.child_by_field_name("argument")
    if argument is None:
        return []
    return [Import(_line(node), path) for path in _use_paths(argument, source, "")]


def _use_paths(node: Node, source: bytes, prefix: str) -> list[str]:
    kind = node.type
    if kind == "use_as_clause":
        path = _join(prefix, text(node.child_by_field_name("path"), source))
        return [f"{path} as {text(node.child_by_field_name('alias'), source)}"]
    if kind == "use_wildcard":
        inner = node.named_children[0] if node.named_children else None
        return [_join(_join(prefix, text(inner, source)), "*")]
    if kind == "scoped_use_list":
        path = _join(prefix, text(node.child_by_field_name("path"), source))
        listed = node.child_by_field_name("list")
        return _use_paths(listed, source, path) if listed else [path]
    if kind == "use_list":
        return [
            p
            for child in node.named_children
            for p in _use_paths(child, source, prefix)
        ]
    if kind == "self":
        return [prefix or "self"]
    return [_join(prefix, text(node, source))]


def _join(prefix: str, path: str) -> str:
    return f"{prefix}::{path}" if prefix and path else prefix or path


def _rs_extern(node: Node, source: bytes) -> list[Import]:
    return [Import(_line(node), _aliased(node, source), note="extern crate")]


_JS: dict[str, Extractor] = {
    "import_statement": _js_import,
    "export_statement": _js_reexport,
    "call_expression": _js_call,
}
_EXTRACTORS: dict[str, dict[str, Extractor]] = {
    "Python": {
        "import_statement": _py_import,
        "import_from_statement": _py_from,
        "future_import_statement": _py_from,
    },
    "JavaScript": _JS,
    "TypeScript": _JS,
    "TSX": _JS,
    "Go": {"import_spec": _go_spec},
    "Rust": {"use_declaration": _rs_use, "extern_crate_declaration": _rs_extern},
}
