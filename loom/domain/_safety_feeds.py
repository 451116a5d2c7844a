"""What flows between commands: pipes, here-documents, static output (private).

A pipe is judged by what feeds it: a download piped into a shell is the
classic remote-code-execution pattern, credentials piped into a network
client are exfiltration, and known text piped into a shell is simply parsed
and classified like any other command.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from collections.abc import Sequence

from loom.domain._safety_scan import Feed, Scan, command_name, parse_opts
from loom.domain._safety_words import Env, Word

__all__ = [
    "DOWNLOADERS",
    "SHELLS",
    "producer_feed",
    "static_output",
    "unwrap_simple",
]

DOWNLOADERS = frozenset(
    {
        "curl",
        "wget",
        "fetch",
        "aria2c",
        "http",
        "https",
        "xh",
        "lwp-request",
        "get",
        "nc",
        "ncat",
        "netcat",
        "socat",
        "telnet",
        "ftp",
        "tftp",
        "lftp",
    }
)
SHELLS = frozenset(
    {"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "rbash"}
)
_DECODERS = {
    "base64": ("-d", "--decode", "-D"),
    "base32": ("-d", "--decode"),
    "basenc": ("-d", "--decode"),
    "xxd": ("-r",),
    "uudecode": (),
    "openssl": ("-d", "-base64", "base64"),
    "gunzip": (),
    "zcat": (),
    "gzip": ("-d", "--decompress"),
    "bzip2": ("-d",),
    "bzcat": (),
    "xz": ("-d",),
    "xzcat": (),
    "zstd": ("-d",),
    "rev": (),
    "tr": (),
    "gpg": ("-d", "--decrypt"),
}
# Filters that pass their input through, so a download stays a download.
_FILTERS = frozenset(
    {
        "cat",
        "tee",
        "head",
        "tail",
        "sort",
        "uniq",
        "grep",
        "egrep",
        "fgrep",
        "cut",
        "sed",
        "awk",
        "dos2unix",
        "iconv",
        "pv",
        "tac",
        "unbuffer",
        "buffer",
        "stdbuf",
    }
)
_SCRIPTED = frozenset({"grep", "egrep", "fgrep", "sed", "awk"})
_ENV_DUMPERS = frozenset({"env", "printenv", "set", "export", "declare", "compgen"})
_WRAPPERS = frozenset(
    {"sudo", "doas", "env", "nohup", "time", "nice", "stdbuf", "command", "exec"}
)
_PRINTF = re.compile(r"%(?:%|[-+ #0]*\d*(?:\.\d+)?[sbdqc])")


def unwrap_simple(words: Sequence[Word]) -> list[Word]:
    """Drop common prefix wrappers (sudo, env, nohup...) and their options."""
    rest = list(words)
    while rest and rest[0].static and command_name(rest[0].text) in _WRAPPERS:
        rest = rest[1:]
        while rest and (rest[0].text.startswith("-") or "=" in rest[0].text):
            rest = rest[1:]
    return rest


def producer_feed(words: Sequence[Word], scan: Scan, feed: Feed | None) -> Feed:
    """What a command writes to its standard output, as the next stage sees it."""
    rest = unwrap_simple(words)
    shown = " ".join(word.raw for word in words)[:80]
    if words and not rest and words[0].static and words[0].text in _ENV_DUMPERS:
        return Feed("secret", "the environment")
    if not rest or not rest[0].static:
        return Feed("other", shown)
    name = command_name(rest[0].text)
    args = rest[1:]
    if name in DOWNLOADERS:
        return Feed("download", shown)
    if any(scan.secret(word) for word in args):
        return Feed("secret", shown)
    if name == "gpg" and any(w.text.startswith("--export-secret") for w in args):
        return Feed("secret", shown)
    if name in _ENV_DUMPERS and all(word.text.startswith("-") for word in args):
        return Feed("secret", "the environment")
    if name in ("echo", "printf"):
        text = static_output(rest, scan.env)
        return Feed("other", shown) if text is None else Feed("text", shown, text)
    if name in _DECODERS and _decodes(name, args):
        return Feed("decoded", shown, _decode(name, feed))
    if (
        name in _FILTERS
        and feed is not None
        and (name == "tee" or _reads_stdin(name, args))
    ):
        keep_text = name in ("cat", "tee", "pv", "unbuffer", "stdbuf", "buffer")
        return Feed(feed.kind, feed.source, feed.text if keep_text else None)
    return Feed("other", shown)


def static_output(words: Sequence[Word], env: Env) -> str | None:
    """The output of simple commands that only print their arguments."""
    if not words or not all(word.static for word in words):
        return None
    name = command_name(words[0].text)
    args = [word.text for word in words[1:]]
    if name == "pwd":
        return env.cwd
    if name == "echo":
        while args and re.fullmatch(r"-[neE]+", args[0]):
            args = args[1:]
        return " ".join(args)
    if name == "printf" and args:
        return _printf(args[0], args[1:])
    if name in ("which", "command", "type", "whereis") and args:
        return args[-1]
    if name in ("dirname", "basename") and args:
        split = posixpath.dirname if name == "dirname" else posixpath.basename
        return split(args[-1].rstrip("/") or "/") or "."
    if name == "mktemp" and not any(a.startswith(("-p", "--tmpdir")) for a in args):
        return "/tmp/tmp.XXXXXXXXXX"
    return None


def _printf(template: str, args: list[str]) -> str:
    values = iter(args)
    text = _PRINTF.sub(lambda m: "%" if m[0] == "%%" else next(values, ""), template)
    return _unescape(text)


def _unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] == "x" and len(code) > 1:
            return chr(int(code[1:], 16))
        if code[0].isdigit():
            return chr(int(code, 8))
        return {"n": "\n", "t": "\t", "\\": "\\"}.get(code, code)

    return re.sub(r"\\(x[0-9a-fA-F]{1,2}|0?[0-7]{1,3}|.)", one, text)


def _decodes(name: str, args: Sequence[Word]) -> bool:
    flags = _DECODERS[name]
    return not flags or any(word.text in flags for word in args)


def _decode(name: str, feed: Feed | None) -> str | None:
    if feed is None or feed.text is None:
        return None
    if name == "rev":
        return "\n".join(line[::-1] for line in feed.text.splitlines())
    if name not in ("base64", "openssl"):
        return None
    try:
        return base64.b64decode(feed.text.strip(), validate=False).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _reads_stdin(name: str, args: Sequence[Word]) -> bool:
    operands = parse_opts(args, frozenset({"-n", "-c", "-e", "-f"})).operands
    if name in _SCRIPTED:
        operands = operands[1:]
    return not operands or any(word.text == "-" for word in operands)
