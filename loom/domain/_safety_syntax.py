"""Reading the syntax tree without walking it (private).

Helpers of ``_safety_walk``: evaluate a command node into words, follow what
flows through a pipeline, and recognise downloads, without classifying
anything themselves.
"""

from __future__ import annotations

from tree_sitter import Node

from loom.domain._safety_feeds import (
    DOWNLOADERS,
    SHELLS,
    producer_feed,
    static_output,
    unwrap_simple,
)
from loom.domain._safety_scan import Feed, Scan, command_name
from loom.domain._safety_words import Env, Word, evaluate, fields, node_text

__all__ = [
    "SOCKETS",
    "argv",
    "assignment_parts",
    "calls",
    "feed_of",
    "has_download",
    "input_feed",
    "note_output",
    "stage_names",
    "substitute",
]

SOCKETS = frozenset({"nc", "ncat", "netcat", "socat", "telnet", "openssl"})


def argv(node: Node, env: Env) -> tuple[list[Word], list[Node]]:
    """Evaluate a command node into its words and its prefix assignments."""
    words: list[Word] = []
    assignments: list[Node] = []
    for index, child in enumerate(node.children):
        field = node.field_name_for_child(index)
        if child.type == "variable_assignment":
            assignments.append(child)
        elif field in ("name", "argument") or child.type == "command_name":
            words.extend(evaluate(child, env))
    return words, assignments


def stage_names(node: Node, env: Env) -> set[str]:
    """Command names in a pipeline (tree-sitter nests redirected stages)."""
    if node.type == "pipeline":
        return {
            name for stage in node.named_children for name in stage_names(stage, env)
        }
    if node.type == "redirected_statement":
        body = node.child_by_field_name("body")
        return stage_names(body, env) if body is not None else set()
    if node.type != "command":
        return set()
    words = unwrap_simple(argv(node, env)[0])
    if not words or not words[0].static:
        return set()
    name = command_name(words[0].text)
    rest = [word.text for word in words[1:] if word.text != "-i"]
    if name in SHELLS and (not rest or rest[0] in ("-", "-s")):
        return {"<stdin shell>"}
    return {name}


def feed_of(stage: Node, scan: Scan, feed: Feed | None) -> Feed:
    if stage.type == "redirected_statement":
        body = stage.child_by_field_name("body")
        for child in stage.named_children:
            if child.type in ("file_redirect", "herestring_redirect"):
                feed = input_feed(child, scan) or feed
        return feed_of(body, scan, feed) if body is not None else Feed("other", "")
    if stage.type == "command":
        return producer_feed(argv(stage, scan.env)[0], scan, feed)
    if stage.type == "pipeline":
        for inner in stage.named_children:
            feed = feed_of(inner, scan, feed)
        return feed or Feed("other", "")
    shown = node_text(stage)[:80]
    return Feed("download" if has_download(stage) else "other", shown)


def input_feed(node: Node, scan: Scan) -> Feed | None:
    shown = node_text(node)
    if node.type == "herestring_redirect":
        words = [w for c in node.named_children for w in evaluate(c, scan.env)]
        text = " ".join(w.text for w in words)
        return Feed("text" if all(w.static for w in words) else "other", shown, text)
    destination = node.child_by_field_name("destination")
    operator = next((c.type for c in node.children if not c.is_named), "")
    if destination is None or operator != "<":
        return None
    for word in evaluate(destination, scan.env):
        kind = scan.secret(word)
        if kind is not None:
            scan.add("ask", f"`{shown}` reads {kind}")
            return Feed("secret", shown)
        if scan.place(word).path in scan.downloads:
            return Feed("download", shown)
    return Feed("other", shown)


def note_output(
    scan: Scan, body: list[Word], target: Word, source: Feed | None
) -> None:
    """Remember files that hold downloads, secrets or known text."""
    rest = unwrap_simple(body)
    path = scan.place(target).path
    output = producer_feed(body, scan, source) if body else None
    if path is not None and output is not None and output.kind == "text":
        scan.files[path] = output.text or ""
    dumper = rest or body[:1]
    if len(dumper) == 1 and command_name(dumper[0].text) in ("env", "printenv"):
        scan.secrets.append("the environment")
    downloads = rest and rest[0].static and command_name(rest[0].text) in DOWNLOADERS
    if downloads and path is not None:
        scan.downloads.add(path)


def calls(node: Node, name: str) -> bool:
    if node.type == "command_name":
        return node_text(node).strip("\\'\"") == name
    return any(calls(child, name) for child in node.children)


def assignment_parts(node: Node, env: Env) -> tuple[str, str | None]:
    name_node = node.child_by_field_name("name")
    value_node = node.child_by_field_name("value")
    name = node_text(name_node) if name_node is not None else ""
    if value_node is None:
        return name, ""
    if value_node.type == "array":
        items = [w for c in value_node.named_children for w in evaluate(c, env)]
        static = all(word.static for word in items)
        return name, fields([word.text for word in items]) if static else None
    words = evaluate(value_node, env)
    if not all(word.static for word in words) or "+=" in node_text(node):
        return name, None
    return name, " ".join(word.text for word in words)


def has_download(node: Node) -> bool:
    if node.type == "command":
        words = unwrap_simple(argv(node, Env(home="~", cwd=None))[0])
        if words and command_name(words[0].text) in DOWNLOADERS:
            return True
    return any(has_download(child) for child in node.children)


def substitute(node: Node, env: Env, scan: Scan) -> str | None:
    """The output of ``$(...)`` when the text alone determines it."""
    statements = node.named_children
    if len(statements) != 1:
        return None
    if statements[0].type == "command":
        return static_output(argv(statements[0], env)[0], env)
    if statements[0].type != "pipeline":
        return None
    feed: Feed | None = None
    for stage in statements[0].named_children:
        if stage.type != "command":
            return None
        feed = producer_feed(argv(stage, env)[0], scan, feed)
    known = feed is not None and feed.kind in ("text", "decoded")
    return feed.text if known and feed is not None else None
