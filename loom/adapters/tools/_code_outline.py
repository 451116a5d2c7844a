"""Definitions in a syntax tree, per language (private).

One walk over the tree finds every definition: a table per language maps a
node type to a rule that turns the node into :class:`Symbol` s (or nothing);
nodes without a rule are walked through, so nested definitions are found
wherever they are. The outline and the symbol list are both views of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tree_sitter import Node

from loom.adapters.tools._code_langs import signature, text

__all__ = ["Symbol", "definitions"]

_MAX_DEPTH = 400


@dataclass
class Symbol:
    """A defined name; ``scope`` is what its members are qualified with."""

    kind: str
    name: str
    start: int
    end: int
    signature: str = ""
    scope: str = ""
    children: list[Symbol] = field(default_factory=list)


Rule = Callable[[Node, bytes], list[Symbol]]


def definitions(language: str, root: Node, source: bytes) -> list[Symbol]:
    """Every definition in the tree, nested as in the source."""
    return _walk(root, _RULES[language], source, 0)


def _walk(
    node: Node, rules: dict[str, Rule], source: bytes, depth: int
) -> list[Symbol]:
    found: list[Symbol] = []
    if depth > _MAX_DEPTH:
        return found
    for child in node.named_children:
        rule = rules.get(child.type)
        symbols = rule(child, source) if rule else []
        for symbol in symbols:
            symbol.children = _walk(child, rules, source, depth + 1)
        if symbols:
            found.extend(symbols)
        else:
            found.extend(_walk(child, rules, source, depth + 1))
    return found


def _symbol(
    kind: str, name: str, node: Node, sig: str = "", start: Node | None = None
) -> list[Symbol]:
    first = (start or node).start_point.row + 1
    return [Symbol(kind, name, first, node.end_point.row + 1, sig, name)]


def _name(node: Node, source: bytes, field_name: str = "name") -> str:
    return text(node.child_by_field_name(field_name), source)


def _in_class(node: Node, bodies: tuple[str, ...]) -> bool:
    return node.parent is not None and node.parent.type in bodies


def _owner_type(node: Node, body: str) -> str:
    """The type of the node whose ``body`` holds ``node`` ('' if not in one)."""
    parent = node.parent
    if parent is None or parent.type != body or parent.parent is None:
        return ""
    return parent.parent.type


def _parent_type(node: Node | None) -> str:
    return "" if node is None or node.parent is None else node.parent.type


# Python


def _py_function(node: Node, source: bytes) -> list[Symbol]:
    parent = node.parent
    decorated = parent if parent and parent.type == "decorated_definition" else None
    in_class = _owner_type(decorated or node, "block") == "class_definition"
    kind = _async(node, "method" if in_class else "function")
    sig = signature(
        source,
        ("", node.child_by_field_name("parameters")),
        (" -> ", node.child_by_field_name("return_type")),
    )
    return _symbol(kind, _name(node, source), node, sig, decorated)


def _py_class(node: Node, source: bytes) -> list[Symbol]:
    parent = node.parent
    decorated = parent if parent and parent.type == "decorated_definition" else None
    bases = signature(source, ("", node.child_by_field_name("superclasses")))
    return _symbol("class", _name(node, source), node, bases, decorated)


def _py_assignment(node: Node, source: bytes) -> list[Symbol]:
    assignment = node.named_children[0] if node.named_children else None
    if assignment is None or assignment.type != "assignment":
        return []
    target = assignment.child_by_field_name("left")
    if target is None or target.type != "identifier":
        return []
    name = text(target, source)
    if _parent_type(node) == "module":
        kind = "constant" if name.isupper() else "variable"
    elif _owner_type(node, "block") == "class_definition":
        kind = "attribute"
    else:
        return []
    return _symbol(kind, name, node)


_PYTHON: dict[str, Rule] = {
    "function_definition": _py_function,
    "class_definition": _py_class,
    "expression_statement": _py_assignment,
}


# JavaScript and TypeScript

_JS_CLASS_BODIES = ("class_body",)
_JS_FUNCTION_VALUES = (
    "arrow_function",
    "function_expression",
    "function",
    "generator_function",
)


def _js_function(node: Node, source: bytes) -> list[Symbol]:
    name = _name(node, source) or "default"
    kind = "generator" if "generator" in node.type else "function"
    return _symbol(_async(node, kind), name, node, _js_signature(node, source))


def _async(node: Node, kind: str) -> str:
    """``async kind`` when the node's own tokens include ``async``."""
    is_async = any(c.type == "async" for c in node.children if not c.is_named)
    return f"async {kind}" if is_async else kind


def _js_signature(node: Node, source: bytes) -> str:
    return signature(
        source,
        ("", node.child_by_field_name("parameters")),
        ("", node.child_by_field_name("return_type")),
    )


def _js_method(node: Node, source: bytes) -> list[Symbol]:
    kinds = {"method_definition": "method", "abstract_method_signature": "method"}
    kind = kinds.get(node.type, "method")
    accessor = node.children[0].type if node.children else ""
    if accessor in ("get", "set"):
        kind = f"{accessor}ter"
    return _symbol(
        _async(node, kind), _name(node, source), node, _js_signature(node, source)
    )


def _js_class_member(kind: str) -> Rule:
    def rule(node: Node, source: bytes) -> list[Symbol]:
        if not _in_class(node, (*_JS_CLASS_BODIES, "interface_body", "object_type")):
            return []
        if kind == "method":
            return _js_method(node, source)
        return _symbol(
            kind, _name(node, source) or _name(node, source, "property"), node
        )

    return rule


def _js_class(kind: str) -> Rule:
    def rule(node: Node, source: bytes) -> list[Symbol]:
        name = _name(node, source) or "default"
        heritage = next((c for c in node.children if c.type == "class_heritage"), None)
        return _symbol(kind, name, node, signature(source, (" ", heritage)))

    return rule


def _js_declarator(node: Node, source: bytes) -> list[Symbol]:
    value = node.child_by_field_name("value")
    name = _name(node, source)
    if value is not None and value.type in _JS_FUNCTION_VALUES:
        kind = _async(value, "function")
        return _symbol(kind, name, node, _js_signature(value, source))
    if value is not None and value.type == "class":
        return _symbol("class", name, node)
    declaration = node.parent
    holder = declaration.parent if declaration else None
    if holder is not None and holder.type == "export_statement":
        holder = holder.parent
    if holder is None or holder.type != "program" or not name:
        return []
    constant = declaration is not None and text(declaration, source).startswith("const")
    return _symbol("constant" if constant else "variable", name, node)


def _named(kind: str) -> Rule:
    def rule(node: Node, source: bytes) -> list[Symbol]:
        return _symbol(kind, _name(node, source), node)

    return rule


_JAVASCRIPT: dict[str, Rule] = {
    "function_declaration": _js_function,
    "generator_function_declaration": _js_function,
    "class_declaration": _js_class("class"),
    "class": _js_class("class"),
    "method_definition": _js_class_member("method"),
    "field_definition": _js_class_member("field"),
    "variable_declarator": _js_declarator,
}
_TYPESCRIPT: dict[str, Rule] = {
    **_JAVASCRIPT,
    "abstract_class_declaration": _js_class("abstract class"),
    "interface_declaration": _js_class("interface"),
    "type_alias_declaration": _named("type"),
    "enum_declaration": _named("enum"),
    "internal_module": _named("namespace"),
    "module": _named("module"),
    "function_signature": _js_function,
    "abstract_method_signature": _js_class_member("method"),
    "method_signature": _js_class_member("method"),
    "property_signature": _js_class_member("property"),
    "public_field_definition": _js_class_member("field"),
}


# Go


def _go_function(node: Node, source: bytes) -> list[Symbol]:
    sig = signature(
        source,
        ("", node.child_by_field_name("type_parameters")),
        ("", node.child_by_field_name("parameters")),
        (" ", node.child_by_field_name("result")),
    )
    return _symbol("function", _name(node, source), node, sig)


def _go_method(node: Node, source: bytes) -> list[Symbol]:
    receiver = node.child_by_field_name("receiver")
    owner = ""
    if receiver is not None:
        parameter = next(iter(receiver.named_children), None)
        owner = text(
            parameter.child_by_field_name("type") if parameter else None, source
        )
        owner = owner.lstrip("*").split("[", 1)[0]
    name = _name(node, source)
    sig = signature(
        source,
        ("", node.child_by_field_name("parameters")),
        (" ", node.child_by_field_name("result")),
    )
    return _symbol("method", f"{owner}.{name}" if owner else name, node, sig)


def _go_type(node: Node, source: bytes) -> list[Symbol]:
    body = node.child_by_field_name("type")
    kinds = {"struct_type": "struct", "interface_type": "interface"}
    kind = "type alias" if node.type == "type_alias" else "type"
    kind = kinds.get(body.type if body else "", kind)
    return _symbol(kind, _name(node, source), node)


def _go_value(kind: str) -> Rule:
    def rule(node: Node, source: bytes) -> list[Symbol]:
        declaration = node.parent
        if declaration is not None and declaration.type.endswith("_spec_list"):
            declaration = declaration.parent
        if _parent_type(declaration) != "source_file":
            return []
        names = [
            c
            for c in node.children_by_field_name("name")
            if c.is_named and text(c, source) != "_"
        ]
        return [s for c in names for s in _symbol(kind, text(c, source), node)]

    return rule


def _go_method_elem(node: Node, source: bytes) -> list[Symbol]:
    return _symbol(
        "method", _name(node, source), node, _go_function(node, source)[0].signature
    )


_GO: dict[str, Rule] = {
    "function_declaration": _go_function,
    "method_declaration": _go_method,
    "type_spec": _go_type,
    "type_alias": _go_type,
    "method_elem": _go_method_elem,
    "const_spec": _go_value("constant"),
    "var_spec": _go_value("variable"),
}


# Rust


def _rs_function(node: Node, source: bytes) -> list[Symbol]:
    method = _owner_type(node, "declaration_list") in ("impl_item", "trait_item")
    kind = "method" if method else "function"
    modifiers = next((c for c in node.children if c.type == "function_modifiers"), None)
    if modifiers is not None:
        kind = f"{text(modifiers, source)} {kind}"
    sig = signature(
        source,
        ("", node.child_by_field_name("type_parameters")),
        ("", node.child_by_field_name("parameters")),
        (" -> ", node.child_by_field_name("return_type")),
    )
    return _symbol(kind, _name(node, source), node, sig)


def _rs_impl(node: Node, source: bytes) -> list[Symbol]:
    target = node.child_by_field_name("type")
    trait = node.child_by_field_name("trait")
    shown = text(target, source)
    name = f"{text(trait, source)} for {shown}" if trait else shown
    symbols = _symbol("impl", name, node)
    symbols[0].scope = shown.split("<", 1)[0]
    return symbols


_RUST: dict[str, Rule] = {
    "function_item": _rs_function,
    "function_signature_item": _rs_function,
    "impl_item": _rs_impl,
    "struct_item": _named("struct"),
    "enum_item": _named("enum"),
    "union_item": _named("union"),
    "trait_item": _named("trait"),
    "mod_item": _named("module"),
    "type_item": _named("type"),
    "const_item": _named("constant"),
    "static_item": _named("static"),
    "macro_definition": _named("macro"),
}

_RULES: dict[str, dict[str, Rule]] = {
    "Python": _PYTHON,
    "JavaScript": _JAVASCRIPT,
    "TypeScript": _TYPESCRIPT,
    "TSX": _TYPESCRIPT,
    "Go": _GO,
    "Rust": _RUST,
}
