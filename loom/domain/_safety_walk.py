"""Walk a bash syntax tree and classify every command in it (private).

Every statement is visited: lists, pipelines, subshells, groups, loops,
function bodies and command or process substitutions. Simple commands are
evaluated into argument vectors and handed to the rule for their name;
wrappers and nested shells come back in through :class:`Walker`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tree_sitter import Node

from loom.domain._safety_feeds import (
    producer_feed,
)
from loom.domain._safety_paths import Where, is_under
from loom.domain._safety_rules import (
    RULES,
    check_assignment,
    check_secrets,
    dynamic_command,
)
from loom.domain._safety_scan import (
    Call,
    Feed,
    Scan,
    command_name,
    strip_version,
)
from loom.domain._safety_syntax import (
    SOCKETS,
    argv,
    assignment_parts,
    calls,
    feed_of,
    has_download,
    input_feed,
    note_output,
    stage_names,
    substitute,
)
from loom.domain._safety_words import Env, Word, evaluate, fields, node_text, parse

__all__ = ["scan_command"]

_MAX_DEPTH = 8
_MAX_LOOP = 8
_MAX_NESTING = 120
_FEED_THROUGH = frozenset({"program", "list", "subshell", "compound_statement"})
_ISOLATED = frozenset({"subshell", "command_substitution", "process_substitution"})
_WRITE_OPERATORS = frozenset({">", ">>", "&>", "&>>", ">|", "<>", ">&"})
_BIN_DIRS = (
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/opt/homebrew/bin",
    "/snap/bin",
)
_CATASTROPHIC = re.compile(
    r"\brm\s+(-\S+\s+)*(/|/\*|~/?|\$\{?HOME\}?/?)(\s|$|;|&|\||\))|--no-preserve-root"
    r"|\bmkfs|\bdd\b[^\n]*\bof=/dev/|>\s*/dev/(sd|nvme|hd|vd|disk)|:\(\)\s*\{"
    r"|/dev/(tcp|udp)/|\b(curl|wget)\b[^\n]*\|\s*(sudo\s+)?\w*sh\b"
    r"|\b(shutdown|reboot|halt|poweroff|wipefs|fdisk)\b|chmod\s+-R\s+0?777\s+/"
    r"|\bgit\s+push\b[^\n]*(\s-f\b|--force)|\breset\s+--hard"
)
_BRACE_WORDS = re.compile(r"(?<![\w$]){([^{}\s]*,[^{}\s]*)}")


def scan_command(command: str, workspace: str) -> Scan:
    """Walk one command line and collect findings for each of its parts."""
    where = Where.of(workspace)
    env = Env(home=where.home, cwd=where.workspace or None)
    scan = Scan(where=where, env=env, runner=_WALKER)
    env.substitute = lambda node, env: substitute(node, env, scan)
    _program(scan, command, None)
    if scan.secrets and scan.network:
        scan.add(
            "block",
            f"sends credentials ({scan.secrets[0]}) over the network "
            f"({scan.network[0]})",
        )
    return scan


class Walker:
    """Re-entry point for rules that run nested commands."""

    def words(self, scan: Scan, words: Sequence[Word], feed: Feed | None) -> None:
        """Classify an argument vector as one simple command."""
        _run_words(scan, list(words), feed)

    def script(self, scan: Scan, text: str, feed: Feed | None) -> None:
        """Parse and classify shell text one level deeper."""
        if scan.depth >= _MAX_DEPTH:
            scan.add("ask", "nests shells too deeply to inspect")
            _catastrophic(scan, text)
            return
        scan.depth += 1
        saved_cwd, saved_vars = scan.env.cwd, dict(scan.env.variables)
        try:
            _program(scan, text, feed)
        finally:
            scan.depth -= 1
            scan.env.cwd, scan.env.variables = saved_cwd, saved_vars

    def downloads(self, nodes: Sequence[Node]) -> bool:
        """True when any subtree runs a download command."""
        return any(has_download(node) for node in nodes)

    def output(self, scan: Scan, node: Node) -> str | None:
        """The output of a substitution, when the text alone determines it."""
        return substitute(node, scan.env, scan)


_WALKER = Walker()


def _program(scan: Scan, text: str, feed: Feed | None) -> None:
    root = parse(text)
    nesting = _nesting(root)
    if scan.nesting + nesting > _MAX_NESTING:
        # The walk is recursive; absurd nesting is suspicious on its own.
        scan.add("ask", "is nested too deeply to inspect")
        _catastrophic(scan, text)
        return
    if root.has_error:
        _parse_error(scan, text)
    scan.nesting += nesting
    try:
        _walk(root, scan, feed)
    finally:
        scan.nesting -= nesting


def _nesting(root: Node) -> int:
    deepest = 0
    stack = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.children)
    return deepest


def _parse_error(scan: Scan, text: str) -> None:
    scan.add("ask", f"could not be parsed completely: `{text[:80]}`")
    _catastrophic(scan, text)
    expanded = _BRACE_WORDS.sub(lambda m: m.group(1).replace(",", " "), text)
    if expanded != text and not parse(expanded).has_error:
        _WALKER.script(scan, expanded, None)


def _catastrophic(scan: Scan, text: str) -> None:
    """Last resort for text that cannot be walked: look for known disasters."""
    flat = re.sub(r"[\"'\\]", "", text)
    match = _CATASTROPHIC.search(flat)
    if match:
        scan.add("block", f"contains a catastrophic pattern: `{match.group(0)}`")


def _walk(node: Node, scan: Scan, feed: Feed | None = None) -> None:
    handler = _HANDLERS.get(node.type)
    if handler is not None:
        handler(node, scan, feed)
        return
    inner = feed if node.type in _FEED_THROUGH else None
    if node.type in _ISOLATED:
        saved_cwd, saved_vars = scan.env.cwd, dict(scan.env.variables)
        for child in node.named_children:
            _walk(child, scan, inner)
        scan.env.cwd, scan.env.variables = saved_cwd, saved_vars
        return
    for child in node.named_children:
        _walk(child, scan, inner)


def _command(node: Node, scan: Scan, feed: Feed | None) -> None:
    words, assignments = argv(node, scan.env)
    for assignment in assignments:
        check_assignment(scan, *assignment_parts(assignment, scan.env))
    for child in node.named_children:
        if child.type.endswith("redirect"):
            feed = _redirect(child, scan, words) or feed
    _run_words(scan, words, feed)
    _walk_substitutions(node, scan)
    for child in node.named_children:
        # `time (rm -rf /)`: tree-sitter hangs the subshell off the command.
        if child.type in ("subshell", "compound_statement", "pipeline", "list"):
            _walk(child, scan)


def _run_words(scan: Scan, words: list[Word], feed: Feed | None) -> None:
    if not words:
        return
    first = words[0]
    if not first.static or first.glob:
        dynamic_command(Call.of(words, first.raw, scan, feed), first)
        return
    name = command_name(first.text)
    call = Call.of(words, name, scan, feed)
    scan.commands.append(name)
    check_secrets(call)
    rule = RULES.get(name) or RULES.get(strip_version(name))
    if rule is None and name.startswith(("mkfs", "mke2fs", "fsck")):
        rule = RULES["mkfs"]
    if "/" in first.text and _exec_path(call, first, known=rule is not None):
        return
    if rule is not None:
        rule(call)
    elif name in scan.functions:
        _call_function(scan, name, words[1:])
    else:
        call.ask("runs a command Loom does not know to be safe")


def _call_function(scan: Scan, name: str, args: list[Word]) -> None:
    """Walk a function body again with its positional parameters bound."""
    if name in scan.calling or scan.depth >= _MAX_DEPTH:
        return
    saved = dict(scan.env.variables)
    texts = [word.text for word in args]
    static = all(word.static for word in args)
    positional = {str(i): t for i, t in enumerate(texts, start=1)} if static else {}
    scan.env.variables.update(positional)
    scan.env.variables.update(
        {"@": fields(texts), "*": " ".join(texts), "#": str(len(texts))}
        if static
        else {"@": None, "*": None}
    )
    scan.calling.add(name)
    try:
        _walk(scan.functions[name], scan)
    finally:
        scan.calling.discard(name)
        scan.env.variables = saved


def _exec_path(call: Call, first: Word, *, known: bool) -> bool:
    """Judge running a program by path; True when nothing more is needed."""
    scan = call.scan
    place = scan.place(first)
    if place.path in scan.downloads:
        call.block("executes a file the command downloaded")
        return True
    if place.path is not None and place.path in scan.files:
        call.script(scan.files[place.path])
        return True
    inside = bool(place.path and scan.where.workspace)
    inside = inside and is_under(place.path or "", scan.where.workspace)
    standard = place.path is not None and place.path.rsplit("/", 1)[0] in _BIN_DIRS
    if known:
        # `/bin/rm` is rm; `/tmp/x/rm` is some other program called rm.
        if not inside and not standard:
            call.ask("runs a program outside the workspace")
        return False
    if not inside:
        call.ask("runs a program Loom does not know to be safe")
    return True


def _pipeline(node: Node, scan: Scan, feed: Feed | None) -> None:
    current = feed
    for stage in node.named_children:
        saved_cwd = scan.env.cwd
        _walk(stage, scan, current)
        scan.env.cwd = saved_cwd
        current = feed_of(stage, scan, current)
    names = stage_names(node, scan.env)
    if names & SOCKETS and "<stdin shell>" in names:
        scan.add("block", f"`{node_text(node)[:80]}` wires a shell to a network socket")


def _redirected(node: Node, scan: Scan, feed: Feed | None) -> None:
    body = node.child_by_field_name("body")
    words = (
        argv(body, scan.env)[0] if body is not None and body.type == "command" else []
    )
    for child in node.named_children:
        if child.type.endswith("redirect"):
            feed = _redirect(child, scan, words, feed) or feed
    if body is not None:
        _walk(body, scan, feed)


def _redirect(
    node: Node, scan: Scan, body: list[Word], source: Feed | None = None
) -> Feed | None:
    """Judge one redirection; return the input it gives the command, if any."""
    if node.type == "heredoc_redirect":
        return _heredoc(node, scan, body)
    _walk_substitutions(node, scan)
    if node.type == "herestring_redirect":
        return input_feed(node, scan)
    destination = node.child_by_field_name("destination")
    operator = next((c.type for c in node.children if not c.is_named), "")
    if destination is None or destination.type in ("number", "file_descriptor"):
        return None
    shown = node_text(node)
    for word in evaluate(destination, scan.env):
        if word.text.startswith(("/dev/tcp/", "/dev/udp/")):
            scan.add("block", f"`{shown}` opens a raw network connection")
        elif operator in _WRITE_OPERATORS and word.text != "-":
            scan.write(word, shown)
            note_output(scan, body, word, source)
    return input_feed(node, scan) if operator == "<" else None


def _heredoc(node: Node, scan: Scan, body: list[Word]) -> Feed:
    content = next((c for c in node.named_children if c.type == "heredoc_body"), None)
    feed = Feed("text", "a here-document", node_text(content) if content else "")
    output = producer_feed(body, scan, feed) if body else feed
    for child in node.named_children:
        if child.type == "file_redirect":
            _redirect(child, scan, body, feed)
        elif child.type == "pipeline":
            for stage in child.named_children:
                _walk(stage, scan, output)
                output = feed_of(stage, scan, output)
        elif child.type not in ("heredoc_start", "heredoc_end"):
            _walk(child, scan)
    return feed


def _function(node: Node, scan: Scan, feed: Feed | None) -> None:
    name_node = node.child_by_field_name("name")
    body = node.child_by_field_name("body")
    if name_node is None or body is None:
        return
    name = node_text(name_node)
    scan.functions[name] = body
    text = node_text(body)
    if calls(body, name) and ("&" in text or "|" in text):
        scan.add("block", f"`{node_text(node)[:60]}` defines a fork bomb")
    saved_cwd = scan.env.cwd
    _walk(body, scan)
    scan.env.cwd = saved_cwd


def _assignment(node: Node, scan: Scan, feed: Feed | None) -> None:
    name, value = assignment_parts(node, scan.env)
    check_assignment(scan, name, value)
    scan.env.variables[name] = value
    _walk_substitutions(node, scan)


def _unset(node: Node, scan: Scan, feed: Feed | None) -> None:
    for child in node.named_children:
        if child.type in ("variable_name", "word"):
            scan.env.variables[node_text(child)] = ""


def _for(node: Node, scan: Scan, feed: Feed | None) -> None:
    variable = node.child_by_field_name("variable")
    body = node.child_by_field_name("body")
    values = [
        word
        for child in node.children_by_field_name("value")
        for word in evaluate(child, scan.env)
    ]
    for child in node.children_by_field_name("value"):
        _walk_substitutions(child, scan)
    if variable is None or body is None:
        return
    name = node_text(variable)
    known = values and len(values) <= _MAX_LOOP and all(w.static for w in values)
    for value in values if known else [None]:
        scan.env.variables[name] = value.text if value is not None else None
        _walk(body, scan)


def _walk_substitutions(node: Node, scan: Scan) -> None:
    for child in node.children:
        if child.type in ("command_substitution", "process_substitution"):
            _walk(child, scan)
        elif child.type != "heredoc_redirect":
            _walk_substitutions(child, scan)


def _lone_redirect(node: Node, scan: Scan, feed: Feed | None) -> None:
    """A redirection with no command, as in ``$(< file)``."""
    _redirect(node, scan, [])


_HANDLERS = {
    "file_redirect": _lone_redirect,
    "command": _command,
    "pipeline": _pipeline,
    "redirected_statement": _redirected,
    "function_definition": _function,
    "variable_assignment": _assignment,
    "unset_command": _unset,
    "for_statement": _for,
}
