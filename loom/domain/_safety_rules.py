"""The rule table: command name to the rule that judges it (private)."""

from __future__ import annotations

import re

from loom.domain._safety_code import check_assignment
from loom.domain._safety_exec import CODE_RULES
from loom.domain._safety_files import FILE_RULES
from loom.domain._safety_git import GIT_RULES
from loom.domain._safety_net import NET_RULES
from loom.domain._safety_pkg import PACKAGE_RULES
from loom.domain._safety_scan import Call, Rule
from loom.domain._safety_system import SYSTEM_RULES
from loom.domain._safety_words import Word
from loom.domain._safety_wrap import WRAPPER_RULES

__all__ = ["RULES", "check_assignment", "check_secrets", "dynamic_command"]

RULES: dict[str, Rule] = {
    **SYSTEM_RULES,
    **FILE_RULES,
    **CODE_RULES,
    **WRAPPER_RULES,
    **NET_RULES,
    **PACKAGE_RULES,
    **GIT_RULES,
}
_RM_FLAGS = re.compile(r"^-[a-zA-Z]*[rRf]|^--(recursive|force|no-preserve-root)$")
# Commands that touch a credential file without reading it out.
_NOT_READING = frozenset(
    {"chmod", "chown", "chgrp", "ls", "stat", "test", "[", "mkdir", "touch", "rm"}
    | {"rmdir", "ssh-add", "ssh-keygen", "file", "du", "wc", "realpath", "basename"}
)
_COPIERS = frozenset({"cp", "mv", "install", "ln", "touch", "mkdir"})
_ARCHIVERS = frozenset({"tar", "zip", "7z", "scp", "rsync", "cp", "gtar", "bsdtar"})
_IDENTITY_USERS = frozenset({"ssh", "scp", "sftp", "ssh-add", "rsync", "git"})


def check_secrets(call: Call) -> None:
    """Ask when any argument names a credential file, and remember the read."""
    if call.name in _NOT_READING:
        return
    skip_next = False
    targets = call.args[-1:] if call.name in _COPIERS and len(call.args) > 1 else ()
    for word in call.args:
        if skip_next:
            skip_next = False
            continue
        if word.text == "-i" and call.name in _IDENTITY_USERS:
            skip_next = True
            continue
        if any(word is target for target in targets):
            continue
        if call.name in _ARCHIVERS and _is_everything(call, word):
            call.scan.secrets.append(word.raw)
            call.ask("copies or archives a whole home or root directory")
        for candidate in _candidates(word.text):
            kind = call.scan.secret(Word.literal(candidate) if word.static else word)
            if kind is not None:
                call.ask(f"reads {kind}")
                break


def _is_everything(call: Call, word: Word) -> bool:
    path = call.scan.place(word).path
    return path is not None and path in ("/", call.scan.where.home)


def _candidates(text: str) -> list[str]:
    """The path-like parts of an argument: ``of=x``, ``@file``, ``<file``."""
    parts = [text]
    if "=" in text:
        parts.append(text.rsplit("=", 1)[1])
    return [part.lstrip("@<") for part in parts if part.lstrip("@<")]


def dynamic_command(call: Call, name: Word) -> None:
    """Judge a command whose name is only known at runtime."""
    if call.scan.runner.downloads(name.subs):
        call.block("runs a command fetched from the network")
        return
    call.ask("runs a command whose name is only known at runtime")
    if any(_RM_FLAGS.match(word.text) for word in call.args):
        # `$X -rf /` is most likely rm: judge the arguments as rm would.
        RULES["rm"](Call("rm", call.args, call.scan, call.feed, call.shown))
