"""Rules for wrappers: commands that run another command (private).

``sudo``, ``env``, ``timeout``, ``nice``, ``xargs``, ``find -exec``,
``parallel``, ``tmux`` and friends are peeled off and the wrapped command is
classified in their place. Privilege wrappers make every write a block.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from loom.domain._safety_code import check_assignment, stdin_code
from loom.domain._safety_exec import run_file, run_stdin
from loom.domain._safety_feeds import SHELLS
from loom.domain._safety_scan import Call, Rule
from loom.domain._safety_words import Word

__all__ = ["WRAPPER_RULES"]

_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")
_SUDO_VALUED = (
    *("-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-T", "-U", "--user"),
    *("--group", "--host", "--prompt", "--chdir", "--role", "--type"),
    *("--other-user", "--close-from", "--command-timeout"),
)
_XARGS_VALUED = (
    *("-I", "-d", "-E", "-e", "-L", "-l", "-n", "-P", "-s", "-a", "--arg-file"),
    *("--delimiter", "--max-args", "--max-procs", "--max-lines", "--max-chars"),
    "--eof",
)
_TRACE_VALUED = ("-o", "-e", "-p", "-s", "-u", "-E", "-n", "-a", "-O", "-S")
_FIND_EXEC = ("-exec", "-execdir", "-ok", "-okdir")
_FIND_WRITES = ("-fprint", "-fprint0", "-fprintf", "-fls")
# Tests that narrow what find matches: without one, find matches everything.
_FIND_FILTERS = frozenset(
    {"-name", "-iname", "-path", "-ipath", "-wholename", "-regex", "-iregex"}
    | {"-newer", "-mtime", "-mmin", "-atime", "-ctime", "-size", "-empty"}
    | {"-user", "-group", "-perm", "-links", "-inum", "-samefile", "-mindepth"}
)
_RUNS_CODE = SHELLS | {"python", "python3", "perl", "ruby", "node", "php", "eval"}


def _peel(call: Call, valued: Sequence[str] = (), skip: int = 0) -> list[Word]:
    """The wrapped command: operands after the wrapper's options."""
    operands = call.opts(valued, permute=False).operands[skip:]
    while operands and _ASSIGNMENT.match(operands[0].text):
        operands = operands[1:]
    return operands


def _wrapper(valued: Sequence[str] = (), skip: int = 0, why: str = "") -> Rule:
    def rule(call: Call) -> None:
        if why:
            call.ask(why)
        call.run(_peel(call, valued, skip), call.feed)

    return rule


def _env(call: Call) -> None:
    valued = ("-u", "--unset", "-C", "--chdir", "-S", "--split-string")
    opts = call.opts(valued, permute=False)
    rest = _peel(call, valued)
    for assignment in opts.operands[: len(opts.operands) - len(rest)]:
        name, _, value = assignment.text.partition("=")
        check_assignment(call.scan, name, value)
    split = opts.values("-S", "--split-string")
    if split:
        call.script(" ".join([*split, *(word.text for word in rest)]), call.feed)
    elif rest:
        call.run(rest, call.feed)


def _sudo(call: Call) -> None:
    opts = call.opts(_SUDO_VALUED, permute=False)
    rest = _peel(call, _SUDO_VALUED)
    call.ask("runs with elevated privileges")
    call.scan.elevated += 1
    try:
        if opts.has("-e", "--edit"):
            for word in rest:
                call.scan.write(word, call.shown)
        elif rest:
            call.run(rest, call.feed)
        elif opts.has("-s", "-i", "--shell", "--login"):
            run_stdin(call, code="shell")
    finally:
        call.scan.elevated -= 1


def _su(call: Call) -> None:
    opts = call.opts(("-c", "--command", "-s", "--shell", "-g", "-G", "-u"))
    call.ask("switches user")
    call.scan.elevated += 1
    try:
        codes = opts.values("-c", "--command")
        for code in codes:
            call.script(code, call.feed)
        if not codes:
            run_stdin(call, code="shell")
    finally:
        call.scan.elevated -= 1


def _runuser(call: Call) -> None:
    if call.opts(("-u", "--user"), permute=False).has("-u", "--user"):
        _sudo(call)
    else:
        _su(call)


def _command(call: Call) -> None:
    opts = call.opts(permute=False)
    if not opts.has("-v", "-V"):
        call.run(opts.operands, call.feed)


def _taskset(call: Call) -> None:
    # The CPU mask is an operand unless -c gave a CPU list instead.
    skip = 0 if call.opts(("-c",), permute=False).has("-c", "--cpu-list") else 1
    call.run(_peel(call, ("-c",), skip), call.feed)


def _flock(call: Call) -> None:
    opts = call.opts(("-w", "-E", "--timeout", "-c", "--command"), permute=False)
    for code in opts.values("-c", "--command"):
        call.script(code, call.feed)
    call.run(opts.operands[1:], call.feed)


def _watch(call: Call) -> None:
    opts = call.opts(("-n", "--interval", "-q", "--equexit"), permute=False)
    if opts.has("-x", "--exec"):
        call.run(opts.operands, call.feed)
    elif opts.operands:
        call.script(" ".join(word.text for word in opts.operands))


def _at(call: Call) -> None:
    """at and batch run their standard input (or -f file) later, as a shell."""
    opts = call.opts(("-f", "-q", "-t"))
    if opts.has("-l", "-c", "-r", "-d"):
        return
    call.ask("schedules commands to run later")
    files = opts.values("-f")
    if files:
        run_file(call, Word.literal(files[0]), code="shell")
    elif call.feed is not None:
        stdin_code(call, call.feed, "shell")


def _multiplexer(call: Call) -> None:
    """tmux and screen run the commands they are given in a new terminal."""
    call.ask("runs commands in a terminal multiplexer")
    if call.name == "screen":
        valued = ("-S", "-c", "-p", "-t", "-T", "-X")
        call.run(call.opts(valued, permute=False).operands)
        return
    for word in call.args:
        if " " in word.text.strip():
            call.script(word.text)


def _script(call: Call) -> None:
    call.ask("records a terminal session")
    opts = call.opts(("-c", "--command", "-T", "-I", "-O", "-B"))
    for code in opts.values("-c", "--command"):
        call.script(code)


def _coproc(call: Call) -> None:
    words = list(call.args)
    if len(words) > 1 and words[1].text == "{":
        call.script(" ".join(word.text for word in words[2:]).rstrip("; "))
    else:
        call.run(words, call.feed)


def _xargs(call: Call) -> None:
    opts = call.opts(_XARGS_VALUED, permute=False)
    if "0" in opts.values("-P", "--max-procs"):
        call.ask("runs an unlimited number of parallel processes")
    marker = next(iter(opts.values("-I", "--replace", "-i")), None)
    if marker is None and opts.has("-i", "--replace"):
        marker = "{}"
    _fan_out(call, opts.operands or [Word.literal("echo")], _stdin_items(call), marker)


def _parallel(call: Call) -> None:
    texts = [word.text for word in call.args]
    cut = texts.index(":::") if ":::" in texts else len(texts)
    opts = call.opts(("-j", "--jobs", "-S", "--sshlogin", "--delay"), permute=False)
    command = [word for word in opts.operands if word in call.args[:cut]]
    items = list(call.args[cut + 1 :]) or _stdin_items(call)
    marker = "{}" if any("{}" in word.text for word in command) else None
    _fan_out(call, command, items, marker)


def _stdin_items(call: Call) -> list[Word]:
    feed = call.feed
    if feed is not None and feed.kind == "text" and feed.text is not None:
        items = [Word.literal(item) for item in feed.text.split()][:16]
        return items or [Word.unknown("<stdin items>")]
    return [Word.unknown("<stdin items>")]


def _fan_out(
    call: Call, command: list[Word], items: list[Word], marker: str | None
) -> None:
    """Run a command once per input item, as xargs and parallel do."""
    feed = call.feed
    runs_code = bool(command) and command[0].text in _RUNS_CODE
    if feed is not None and feed.kind in ("download", "decoded") and runs_code:
        call.block(f"runs code from `{feed.source}` through {call.name}")
    if not command:
        return
    if marker:
        for item in items[:4]:
            call.run([_replace(word, marker, item) for word in command])
    else:
        call.run([*command, *items])


def _replace(word: Word, marker: str, item: Word) -> Word:
    if marker not in word.text:
        return word
    if not item.static:
        return Word.unknown(word.text.replace(marker, item.raw))
    return Word.literal(word.text.replace(marker, item.text))


def _find(call: Call) -> None:
    args = list(call.args)
    roots: list[Word] = []
    while args and not args[0].text.startswith(("-", "(", "!")):
        roots.append(args.pop(0))
    roots = roots or [Word.literal(".")]
    following = [*args[1:], Word.literal("")]
    narrowing = [
        arg
        for arg, value in zip(args, following, strict=False)
        if arg.text in _FIND_FILTERS and value.text not in ("*", ".*")
    ]
    if narrowing:
        roots = [_under(root, "<matches>") for root in roots]
    index = 0
    while index < len(args):
        flag = args[index].text
        if flag == "-delete":
            for root in roots:
                call.scan.delete(root if root.glob else _under(root, "*"), call.shown)
        elif flag in _FIND_WRITES and index + 1 < len(args):
            call.scan.write(args[index + 1], call.shown)
        elif flag in _FIND_EXEC:
            index = _find_exec(call, args, index + 1, roots)
        index += 1


def _under(root: Word, tail: str) -> Word:
    """Files below a find root: judged as a glob inside it."""
    head = root.text.rstrip("/") + "/"
    return Word(text=head + tail, raw=root.raw, glob=True, head=head)


def _find_exec(call: Call, args: list[Word], start: int, roots: list[Word]) -> int:
    end = start
    while end < len(args) and args[end].text not in (";", "+"):
        end += 1
    command = args[start:end]
    for root in roots:
        call.run([_replace(word, "{}", root) for word in command])
    return end


_TIMEOUT = ("-s", "--signal", "-k", "--kill-after")

WRAPPER_RULES: dict[str, Rule] = {
    "env": _env,
    "sudo": _sudo,
    "doas": _sudo,
    "pkexec": _sudo,
    "run0": _sudo,
    "su": _su,
    "runuser": _runuser,
    "command": _command,
    "taskset": _taskset,
    "flock": _flock,
    "watch": _watch,
    "at": _at,
    "batch": _at,
    "tmux": _multiplexer,
    "screen": _multiplexer,
    "script": _script,
    "coproc": _coproc,
    "xargs": _xargs,
    "parallel": _parallel,
    "find": _find,
    **dict.fromkeys(
        ("nohup", "setsid", "unbuffer", "catchsegv", "nocache", "chronic"), _wrapper()
    ),
    **dict.fromkeys(("builtin", "busybox", "toybox", "valgrind"), _wrapper()),
    "time": _wrapper(("-f", "-o", "--format", "--output")),
    "caffeinate": _wrapper(("-t", "-w")),
    "xvfb-run": _wrapper(("-s", "-n", "-f", "-e")),
    "nice": _wrapper(("-n", "--adjustment")),
    "ionice": _wrapper(("-c", "-n", "-p", "-P", "-u", "--class", "--classdata")),
    "chrt": _wrapper(skip=1),
    "timeout": _wrapper(_TIMEOUT, skip=1),
    "gtimeout": _wrapper(_TIMEOUT, skip=1),
    "stdbuf": _wrapper(("-i", "-o", "-e", "--input", "--output", "--error")),
    "exec": _wrapper(("-a",)),
    "strace": _wrapper(_TRACE_VALUED),
    "ltrace": _wrapper(_TRACE_VALUED),
    "gdb": _wrapper(("-ex", "-x", "-p"), why="runs a debugger"),
    "systemd-run": _wrapper(why="runs a command as a system service"),
    "chroot": _wrapper(skip=1, why="runs a command in another root"),
    "nsenter": _wrapper(why="runs a command in other namespaces"),
    "unshare": _wrapper(why="runs a command in new namespaces"),
    "proxychains": _wrapper(why="routes a command through a proxy"),
    "torsocks": _wrapper(why="routes a command through Tor"),
}
