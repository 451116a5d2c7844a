"""Rules for commands that run code: shells, interpreters, eval (private).

Shells and ``eval`` get their code string parsed and classified recursively;
scripts the command itself wrote or downloaded are judged by that content;
inline interpreter code is scanned by ``_safety_code``. Builtins that assign
variables (``set --``, ``read``, ``printf -v``) feed the static evaluator.
"""

from __future__ import annotations

from collections.abc import Sequence

from loom.domain._safety_code import inline_code, stdin_code
from loom.domain._safety_feeds import SHELLS, static_output
from loom.domain._safety_paths import is_under
from loom.domain._safety_scan import Call, Rule, parse_opts
from loom.domain._safety_words import Word, fields

__all__ = ["CODE_RULES", "run_file", "run_stdin"]

_EDITORS = frozenset(
    {"vi", "vim", "nvim", "nano", "emacs", "pico", "ed", "ex", "micro", "hx", "kak"}
    | {"code", "subl", "gedit", "kate", "joe", "mcedit", "sudoedit", "vipw", "view"}
)
_RISKY_MODULES = frozenset({"http.server", "smtpd", "ensurepip", "webbrowser"})
_TOOL_MODULES = frozenset({"pip", "pytest", "mypy", "ruff", "black", "isort", "pylint"})


def _trap(call: Call) -> None:
    operands = call.opts().operands
    if operands and operands[0].text not in ("-", ""):
        call.script(operands[0].text)


def _eval(call: Call) -> None:
    words = call.args
    if not all(word.static for word in words):
        if call.scan.runner.downloads([s for w in words for s in w.subs]):
            call.block("evaluates code downloaded from the network")
        else:
            call.ask("evaluates code only known at runtime")
    call.script(" ".join(word.text for word in words), call.feed)


def _source(call: Call) -> None:
    operands = call.opts().operands
    if operands:
        run_file(call, operands[0], code="shell")


def _alias(call: Call) -> None:
    for word in call.args:
        _, equals, value = word.text.partition("=")
        if equals and value:
            call.script(value)


def _shell(call: Call) -> None:
    valued = ("-o", "+o", "-O", "+O", "--rcfile", "--init-file")
    opts = parse_opts(call.args, frozenset(valued), permute=False)
    if opts.has("--version", "--help", "-n"):
        return
    operands = opts.operands
    if opts.has("-c") and operands:
        _run_code_word(call, operands[0], code="shell")
    elif operands and not opts.has("-s") and operands[0].text != "-":
        run_file(call, operands[0], code="shell")
    else:
        run_stdin(call, code="shell")


def _run_code_word(call: Call, word: Word, code: str) -> None:
    """Classify a code string given on the command line (``-c``, ``-e``)."""
    if not word.static:
        if call.scan.runner.downloads(word.subs):
            call.block("runs code downloaded from the network")
            return
        call.ask("runs code only known at runtime")
    _run_text(call, word.text, code)


def run_file(call: Call, word: Word, code: str) -> None:
    """Classify running a script file (or a process substitution)."""
    processes = [sub for sub in word.subs if sub.type == "process_substitution"]
    if processes:
        if call.scan.runner.downloads(processes):
            call.block("runs code downloaded from the network")
            return
        text = call.scan.runner.output(call.scan, processes[0])
        if text is None:
            call.ask("runs code produced by another command")
        else:
            _run_text(call, text, code)
        return
    place = call.scan.place(word)
    if place.path in call.scan.downloads:
        call.block("runs a file the command downloaded")
    elif place.path is not None and place.path in call.scan.files:
        # The command wrote this script itself: judge what it wrote.
        _run_text(call, call.scan.files[place.path], code)
    elif word.text == "/dev/stdin":
        run_stdin(call, code)
    else:
        workspace = call.scan.where.workspace
        path = place.path
        if not workspace or path is None or not is_under(path, workspace):
            call.ask("runs a script outside the workspace")


def _run_text(call: Call, text: str, code: str) -> None:
    if code == "shell":
        call.script(text, call.feed)
    else:
        inline_code(call, text)


def run_stdin(call: Call, code: str) -> None:
    """Classify an interpreter that reads its program from standard input."""
    feed = call.feed
    if feed is None:
        call.ask("starts an interactive shell or interpreter")
        return
    stdin_code(call, feed, code)


def _python(call: Call) -> None:
    opts = call.opts(("-c", "-m", "-W", "-X"), permute=False)
    if opts.has("--version", "-V", "--help", "-h"):
        return
    if opts.has("-c"):
        _run_code_word(call, _valued_word(call, "-c"), code="python")
        return
    modules = opts.values("-m")
    if modules:
        _python_module(call, modules[0], opts.operands)
    elif opts.operands and opts.operands[0].text != "-":
        run_file(call, opts.operands[0], code="python")
    else:
        run_stdin(call, code="python")


def _python_module(call: Call, module: str, args: list[Word]) -> None:
    if module in _RISKY_MODULES:
        call.ask(f"runs the {module} module")
    elif module in _TOOL_MODULES:
        call.run([Word.literal(module), *args], call.feed)


def _valued_word(call: Call, flag: str) -> Word:
    """The word following an option, keeping its syntax (substitutions)."""
    args = call.args
    for index, word in enumerate(args):
        if word.text == flag and index + 1 < len(args):
            return args[index + 1]
        if word.text.startswith(flag) and len(word.text) > len(flag):
            return Word.literal(word.text[len(flag) :])
    return Word.literal("")


def _scripting(flags: Sequence[str], valued: Sequence[str], name: str) -> Rule:
    """Rule for perl, ruby, node and friends: inline code, a file or stdin."""

    def rule(call: Call) -> None:
        opts = call.opts((*flags, *valued), permute=False)
        if opts.has("--version", "-v", "--help", "-h"):
            return
        if opts.has("-i") or any(w.text.startswith("-pi") for w in call.args):
            for word in opts.operands:
                call.scan.write(word, call.shown)
        codes = [_valued_word(call, flag) for flag in flags if opts.has(flag)]
        for code in codes:
            _run_code_word(call, code, code=name)
        if codes:
            return
        if opts.operands and opts.operands[0].text != "-":
            run_file(call, opts.operands[0], code=name)
        else:
            run_stdin(call, code=name)

    return rule


def _editor(call: Call) -> None:
    call.ask("opens an interactive editor")
    opts = call.opts(("-c", "-S", "-u", "-i", "--cmd"))
    for command in opts.values("-c", "--cmd"):
        _editor_command(call, command)
    for word in opts.operands:
        if word.text.startswith("+"):
            _editor_command(call, word.text[1:])
        else:
            call.scan.write(word, call.shown)


def _editor_command(call: Call, command: str) -> None:
    """Editor commands like ``:!cmd`` run a shell command."""
    bang = command.lstrip(":").lstrip()
    if bang.startswith("!"):
        call.script(bang[1:])


def _pager(call: Call) -> None:
    """less and man: ``+!cmd`` and ``-P cmd`` run shell commands."""
    opts = call.opts(("-P", "--pager", "-H", "-M"))
    for pager in opts.values("-P", "--pager") if call.name == "man" else []:
        call.script(pager)
    for word in opts.operands:
        if word.text.startswith("+"):
            _editor_command(call, word.text[1:])


def _set(call: Call) -> None:
    """``set -- a b c`` assigns the positional parameters."""
    texts = [word.text for word in call.args]
    if "--" in texts and all(word.static for word in call.args):
        values = texts[texts.index("--") + 1 :]
        call.scan.env.variables.update({"@": fields(values), "*": " ".join(values)})
        call.scan.env.variables.update({str(i): v for i, v in enumerate(values, 1)})


def _read(call: Call) -> None:
    """``read x <<< text`` assigns what the here-string says."""
    names = [w.text for w in call.opts(("-d", "-n", "-N", "-p", "-t", "-u")).operands]
    feed = call.feed
    text = feed.text if feed is not None and feed.kind == "text" else None
    line = text.splitlines()[0] if text else text
    values = line.split(None, max(len(names) - 1, 0)) if line is not None else []
    for index, name in enumerate(names):
        known = line is not None
        value = values[index] if index < len(values) else ""
        call.scan.env.variables[name] = value if known else None


def _printf(call: Call) -> None:
    """``printf -v var fmt args`` assigns the formatted text."""
    opts = call.opts(("-v",))
    for name in opts.values("-v"):
        words = [Word.literal("printf"), *opts.operands]
        call.scan.env.variables[name] = static_output(words, call.scan.env)


CODE_RULES: dict[str, Rule] = {
    "trap": _trap,
    "eval": _eval,
    "source": _source,
    ".": _source,
    "alias": _alias,
    **dict.fromkeys(SHELLS, _shell),
    "python": _python,
    "pypy": _python,
    "perl": _scripting(("-e", "-E"), ("-I", "-M", "-m", "-F", "-x"), "perl"),
    "ruby": _scripting(("-e",), ("-I", "-r", "-C", "-F", "-x"), "ruby"),
    "node": _scripting(("-e", "--eval", "-p", "--print"), ("-r", "--require"), "js"),
    "nodejs": _scripting(("-e", "--eval", "-p", "--print"), ("-r",), "js"),
    "php": _scripting(("-r",), ("-d", "-c", "-f", "-z"), "php"),
    "lua": _scripting(("-e",), ("-l",), "lua"),
    **dict.fromkeys(_EDITORS, _editor),
    "less": _pager,
    "more": _pager,
    "man": _pager,
    "set": _set,
    "read": _read,
    "printf": _printf,
}
