"""Code that is not a shell command line: inline scripts, stdin, env (private).

Interpreter one-liners (``python -c``, ``perl -e``...) cannot be parsed as
shell, so they are scanned for fork bombs, for the shell commands they embed
(parsed and classified like any other), and for the paths they delete or
write. Environment assignments are checked for variables that inject code
into later commands.
"""

from __future__ import annotations

import base64
import binascii
import re

from loom.domain._safety_scan import Call, Feed, Scan
from loom.domain._safety_words import Word

__all__ = ["check_assignment", "inline_code", "stdin_code"]

_FORK = re.compile(
    r"fork\s*(\(\s*\))?\s*while\s+fork|while\b[^\n]{0,60}\bfork\s*\("
    r"|\bfork\s*\(\s*\)[^\n]{0,60}\bwhile\b|for\s*\(\s*;\s*;\s*\)\s*\{?\s*fork",
    re.S,
)
_EXECUTES = re.compile(
    r"\b(system|popen|Popen|subprocess|spawn\w*|exec[lv]?p?e?|child_process"
    r"|shell_exec|passthru|proc_open|Open3|getRuntime|execSync|run)\s*[(.\['\"]|`"
)
_DELETES = re.compile(
    r"rmtree|\bremove\s*\(|\bunlink|rmdir|rmSync|rm_r|FileUtils\.rm|rimraf"
    r"|File\.delete|Remove-Item|\.rm\s*\("
)
_WRITES = re.compile(
    r"open\s*\([^)]*,\s*['\"][wax+]|write_text|write_bytes|writeFile|appendFile"
    r"|File\.write|chmod|chown|rename\s*\(|shutil\.(move|copy)|symlink"
)
_NETWORK = re.compile(
    r"\bsocket\b|urllib|urlopen|requests\.|http\.client|httpx|\bfetch\s*\("
    r"|XMLHttpRequest|Net::HTTP|LWP|IO::Socket|net\.connect|https?\.get"
    r"|curl_exec|fsockopen|smtplib|ftplib|paramiko"
)
_SHELL_HANDOFF = re.compile(r"dup2|pty\.spawn|/bin/\w*sh\b|\b(ba)?sh\s+-i|cmd\.exe")
_MAX_CODE_DEPTH = 3
_BASE64 = re.compile(r"^[A-Za-z0-9+/]{8,}={0,2}$")
_EVALS = re.compile(r"\b(exec|eval|compile|Function)\s*\(|\beval\b")
_STRINGS = re.compile(
    r"'''(.*?)'''|\"\"\"(.*?)\"\"\"|'((?:[^'\\\n]|\\.)*)'"
    r"|\"((?:[^\"\\\n]|\\.)*)\"|`((?:[^`\\]|\\.)*)`",
    re.S,
)
# Several quoted strings separated by commas: an argv (`["rm", "-rf", "/"]`).
_LISTS = re.compile(r"((?:(['\"])[^'\"\n]*\2\s*,\s*)+(['\"])[^'\"\n]*\3)")
_PATHLIKE = re.compile(r"^(~|/|\.{1,2}/|\.\w|[\w.-]+/)[^\s]*$|^[\w-]+\.\w+$")
_GIT_KEYS = re.compile(
    r"hookspath|sshcommand|fsmonitor|gitproxy|askpass|pager|editor|textconv"
    r"|external|credential|\.clean|\.smudge|\.process|alias\.",
    re.I,
)
_COMMAND_VARIABLES = frozenset(
    {"GIT_SSH_COMMAND", "GIT_SSH", "GIT_PROXY_COMMAND", "GIT_EXTERNAL_DIFF"}
    | {"GIT_EDITOR", "GIT_SEQUENCE_EDITOR", "GIT_PAGER", "GIT_ASKPASS", "SSH_ASKPASS"}
    | {"EDITOR", "VISUAL", "PAGER", "PROMPT_COMMAND"}
)
_RISKY_ENV = frozenset(
    {
        "PATH",
        "IFS",
        "HOME",
        "BASH_ENV",
        "ENV",
        "PROMPT_COMMAND",
        "SHELLOPTS",
        "BASHOPTS",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "LD_AUDIT",
        "DYLD_INSERT_LIBRARIES",
        "DYLD_LIBRARY_PATH",
        "NODE_OPTIONS",
        "PYTHONSTARTUP",
        "PYTHONHOME",
        "PERL5OPT",
        "PERL5LIB",
        "RUBYOPT",
        "JAVA_TOOL_OPTIONS",
        "HISTFILE",
        "HISTSIZE",
        "HISTFILESIZE",
        "LOOM_HOME",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_EXEC_PATH",
        "GIT_EXTERNAL_DIFF",
        "GIT_ASKPASS",
        "SSH_ASKPASS",
        "GIT_PROXY_COMMAND",
        "GIT_EDITOR",
        "GIT_SEQUENCE_EDITOR",
        "GIT_PAGER",
        "EDITOR",
        "VISUAL",
        "PAGER",
    }
)


def inline_code(call: Call, code: str, depth: int = 0) -> None:
    """Judge interpreter code given inline (``python -c``, ``perl -e``)."""
    if _FORK.search(code):
        call.block("runs a fork bomb")
        return
    strings = _strings(code)
    if _EVALS.search(code):
        _evaluated(call, code, strings, depth)
    if _EXECUTES.search(code):
        call.ask("runs inline code that executes commands")
        for text in strings:
            call.script(text)
    paths = [Word.literal(text) for text in strings if _PATHLIKE.match(text)]
    for path in paths:
        call.scan.secret(path)
    if _DELETES.search(code):
        for path in paths:
            call.scan.delete(path, call.shown)
        if not paths:
            call.ask("deletes files named at runtime")
    if _WRITES.search(code):
        for path in paths:
            call.scan.write(path, call.shown)
    if _NETWORK.search(code):
        if _SHELL_HANDOFF.search(code):
            call.block("connects a shell to the network (reverse shell)")
        call.scan.network.append(call.shown)
        call.ask("reaches the network")


def _evaluated(call: Call, code: str, strings: list[str], depth: int) -> None:
    """Code that evaluates code: judge the strings (and base64) it evaluates."""
    feed = call.feed
    if feed and feed.kind in ("download", "decoded"):
        call.block(f"runs code piped from `{feed.source}`")
    call.ask("evaluates code built at runtime")
    if depth >= _MAX_CODE_DEPTH:
        return
    for text in strings:
        inner = _decoded(text) if "b64decode" in code or "base64" in code else None
        inner = inner or re.sub(r"\\(.)", r"\1", text)
        if inner != code:
            inline_code(call, inner, depth + 1)


def _decoded(text: str) -> str | None:
    if not _BASE64.match(text):
        return None
    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def stdin_code(call: Call, feed: Feed, code: str) -> None:
    """Judge a shell or interpreter that reads its program from stdin."""
    if feed.kind == "download":
        call.block(f"pipes a download (`{feed.source}`) into an interpreter")
        return
    if feed.kind in ("text", "decoded") and feed.text is not None:
        if feed.kind == "decoded":
            call.ask(f"runs decoded code from `{feed.source}`")
        if code == "shell":
            call.script(feed.text)
        else:
            inline_code(call, feed.text)
        return
    if feed.kind == "decoded":
        call.block(f"runs obfuscated code decoded by `{feed.source}`")
        return
    call.ask(f"runs code read from `{feed.source}`")


def check_assignment(scan: Scan, name: str, value: str | None) -> None:
    """Judge setting an environment variable that later commands obey."""
    if name.startswith("GIT_CONFIG") and _GIT_KEYS.search(f"{name} {value or ''}"):
        scan.add("block", f"`{name}=...` injects git config that runs commands")
    elif name in _RISKY_ENV or name.startswith(("GIT_CONFIG", "LD_", "DYLD_")):
        scan.add("ask", f"`{name}=...` changes how later commands run")
    if name in _COMMAND_VARIABLES and value:
        # Git and friends run these values as shell commands later.
        scan.runner.script(scan, value, None)


def _strings(code: str) -> list[str]:
    found = [
        next(g for g in m.groups() if g is not None) for m in _STRINGS.finditer(code)
    ]
    for match in _LISTS.finditer(code):
        items = re.findall(r"['\"]([^'\"\n]*)['\"]", match.group(1))
        found.append(" ".join(items))
    return [text for text in found if text.strip()]
