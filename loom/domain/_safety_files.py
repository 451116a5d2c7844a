"""Rules for commands that create, change or delete files (private).

Each rule finds the paths a command writes, deletes or re-permissions and
judges them lexically against the workspace (see ``_safety_paths``).
"""

from __future__ import annotations

import posixpath
import re

from loom.domain._safety_scan import Call, Rule
from loom.domain._safety_words import Word

__all__ = ["FILE_RULES"]

_DEVICE = re.compile(r"^/dev/(sd|hd|vd|xvd|nvme|mmcblk|r?disk|md|dm-|mapper/|loop)")
_SETUID = re.compile(r"^([0-7]?[2-7][0-7]{3}|.*[ugo]*\+[rwx]*s.*)$")
_SED_EXEC = re.compile(
    r"(^|[;\n{}])\s*(\d+|\$|/[^/]*/)?(,(\d+|\$|/[^/]*/))?\s*[eWw](\s|$)"
    r"|s(.).*\5.*\5[gpiImM0-9]*[ew]"
)
_AWK_EXEC = re.compile(r"\bsystem\s*\(|\|\s*getline|\|&|print[^;]*\|\s*\"")
_AWK_SYSTEM = re.compile(r"system\s*\(\s*\"((?:[^\"\\]|\\.)*)\"")


def _rm(call: Call) -> None:
    opts = call.opts()
    if opts.has("--no-preserve-root"):
        call.block("disables rm's protection of the root directory")
    for word in opts.operands:
        call.scan.delete(word, call.shown)


def _rmdir(call: Call) -> None:
    # rmdir only removes empty directories, so the worst case is a confirmation.
    for word in call.opts().operands:
        if call.scan.place(word).path != call.scan.place(Word.literal(".")).path:
            _capped(call, word)


def _capped(call: Call, word: Word) -> None:
    before = len(call.scan.findings)
    call.scan.delete(word, call.shown)
    for index in range(before, len(call.scan.findings)):
        finding = call.scan.findings[index]
        if finding.action == "block" and not call.scan.elevated:
            call.scan.findings[index] = type(finding)("ask", finding.reason)


def _shred(call: Call) -> None:
    for word in call.opts(("-n", "-s", "--iterations", "--size")).operands:
        if _DEVICE.match(word.text):
            call.block("overwrites a disk device")
        call.scan.delete(word, call.shown)


def _copy(*, moves: bool) -> Rule:
    """cp, mv and install: sources are read (or moved away), the target written."""

    def rule(call: Call) -> None:
        opts = call.opts(
            ("-t", "--target-directory", "-S", "--suffix", "-m", "-o", "-g")
        )
        targets = [
            Word.literal(value) for value in opts.values("-t", "--target-directory")
        ]
        operands = opts.operands
        if opts.has("-d", "--directory") and call.name == "install":
            targets, operands = operands, []
        elif not targets and len(operands) >= 2:
            targets, operands = [operands[-1]], operands[:-1]
        if moves:
            for word in operands:
                call.scan.delete(word, call.shown)
        for word in targets:
            call.scan.write(word, call.shown)

    return rule


def _ln(call: Call) -> None:
    opts = call.opts(("-t", "--target-directory", "-S", "--suffix"))
    for value in opts.values("-t", "--target-directory"):
        call.scan.write(Word.literal(value), call.shown)
    if len(opts.operands) >= 2 and not opts.has("-t", "--target-directory"):
        call.scan.write(opts.operands[-1], call.shown)
        _remember_link(call, opts.operands[0], opts.operands[-1])


def _remember_link(call: Call, target: Word, name: Word) -> None:
    """Later paths through the link resolve to its target: `ln -s / x; rm -rf x/`."""
    link = call.scan.place(name).path
    if link is None:
        return
    saved = call.scan.env.cwd
    if not target.text.startswith(("/", "~")):
        call.scan.env.cwd = posixpath.dirname(link)
    destination = call.scan.place(target).path
    call.scan.env.cwd = saved
    if destination is not None:
        call.scan.links[link] = destination


def _creates(valued: tuple[str, ...] = (), skip: int = 0) -> Rule:
    """Commands whose operands are all written: touch, mkdir, truncate..."""

    def rule(call: Call) -> None:
        for word in call.opts(valued).operands[skip:]:
            call.scan.write(word, call.shown)

    return rule


def _tee(call: Call) -> None:
    feed = call.feed
    for word in call.opts().operands:
        call.scan.write(word, call.shown)
        path = call.scan.place(word).path
        if path is not None and feed is not None and feed.kind == "text":
            call.scan.files[path] = feed.text or ""


def _dd(call: Call) -> None:
    for word in call.args:
        key, equals, value = word.text.partition("=")
        if not equals:
            continue
        target = Word(value, word.raw, word.static, word.glob, value, word.subs)
        if key == "of":
            if _DEVICE.match(value):
                call.block("writes raw data over a disk device")
            call.scan.write(target, call.shown)


def _chmod(call: Call) -> None:
    opts = call.opts(("--reference",))
    operands = opts.operands if opts.has("--reference") else opts.operands[1:]
    mode = "" if opts.has("--reference") or not opts.operands else opts.operands[0].text
    if _SETUID.match(mode):
        call.ask("sets a setuid or setgid bit")
    recursive = opts.has("-R", "--recursive")
    for word in operands:
        _permission(call, word, recursive=recursive and call.name != "chmod")


def _chown(call: Call) -> None:
    opts = call.opts(("--reference", "--from"))
    operands = opts.operands if opts.has("--reference") else opts.operands[1:]
    recursive = opts.has("-R", "--recursive")
    call.ask("changes file ownership")
    for word in operands:
        _permission(call, word, recursive=recursive)


def _permission(call: Call, word: Word, *, recursive: bool) -> None:
    before = len(call.scan.findings)
    call.scan.chmod(word, call.shown)
    added = call.scan.findings[before:]
    if recursive and any(finding.action == "ask" for finding in added):
        call.block(f"changes ownership recursively outside the workspace: {word.raw}")


def _sed(call: Call) -> None:
    opts = call.opts(("-e", "--expression", "-f", "--file", "-l", "--line-length"))
    scripts = opts.values("-e", "--expression")
    files = opts.operands if scripts or opts.has("-f", "--file") else opts.operands[1:]
    if not scripts and opts.operands:
        scripts = [opts.operands[0].text]
    if any(_SED_EXEC.search(script) for script in scripts):
        call.ask("uses sed commands that run programs or write files")
    if opts.has("-i", "--in-place") or any(w.text.startswith("-i") for w in call.args):
        for word in files:
            call.scan.write(word, call.shown)


def _awk(call: Call) -> None:
    opts = call.opts(("-F", "-v", "-f", "-i", "--file", "--include", "-e"))
    programs = [w.text for w in opts.operands[:1]] if not opts.has("-f") else []
    for program in programs:
        if "/inet/" in program:
            call.block("opens a network socket from awk (reverse shell pattern)")
        for command in _AWK_SYSTEM.findall(program):
            call.script(command)
        if _AWK_EXEC.search(program):
            call.ask("runs an awk program that executes commands")
        if re.search(r"print[^;}]*>", program):
            call.ask("runs an awk program that writes files")
    if "inplace" in opts.values("-i", "--include"):
        for word in opts.operands[1:]:
            call.scan.write(word, call.shown)


def _tar(call: Call) -> None:
    texts = [word.text for word in call.args]
    first = texts[0] if texts else ""
    cluster = first.lstrip("-") if not first.startswith("--") else ""
    extract = "x" in cluster or any(t in ("--extract", "--get", "-x") for t in texts)
    create = "c" in cluster or "r" in cluster or "u" in cluster
    if any(
        t.startswith(("--to-command", "--checkpoint-action", "--use-compress"))
        for t in texts
    ):
        call.ask("runs programs while archiving")
    directory = _value_after(call.args, ("-C", "--directory"))
    if extract:
        call.scan.write(directory or Word.literal("."), call.shown)
        if "P" in cluster or "--absolute-names" in texts:
            call.ask("extracts absolute paths")
    archive = _value_after(call.args, ("-f", "--file"), cluster_flag="f")
    if create and archive is not None and archive.text != "-":
        call.scan.write(archive, call.shown)


def _value_after(
    args: tuple[Word, ...], flags: tuple[str, ...], cluster_flag: str = ""
) -> Word | None:
    for index, word in enumerate(args):
        text = word.text
        for flag in flags:
            if text.startswith(flag + "="):
                return Word.literal(text[len(flag) + 1 :])
        is_cluster = cluster_flag and index == 0 and cluster_flag in text.lstrip("-")
        if (text in flags or is_cluster) and index + 1 < len(args):
            return args[index + 1]
    return None


def _unzip(call: Call) -> None:
    directory = _value_after(call.args, ("-d",))
    call.scan.write(directory or Word.literal("."), call.shown)


def _zip(call: Call) -> None:
    opts = call.opts(("-b", "-n", "-t", "-tt", "-x", "-i", "-P", "-O", "-TT"))
    if opts.has("-T", "-TT", "--unzip-command"):
        call.ask("runs a test command on the archive")
    if opts.operands:
        call.scan.write(opts.operands[0], call.shown)


def _compress(call: Call) -> None:
    opts = call.opts(("-S", "--suffix", "-o"))
    if opts.has("-c", "--stdout", "-t", "--test", "-l", "--list"):
        return
    for word in opts.operands:
        call.scan.write(word, call.shown)


def _sort(call: Call) -> None:
    for value in call.opts(("-o", "--output", "-k", "-t", "-T", "-S")).values(
        "-o", "--output"
    ):
        call.scan.write(Word.literal(value), call.shown)


def _uniq(call: Call) -> None:
    operands = call.opts(("-f", "-s", "-w")).operands
    if len(operands) >= 2:
        call.scan.write(operands[1], call.shown)


def _patch(call: Call) -> None:
    opts = call.opts(("-p", "-i", "-o", "-d", "-r", "-B", "-D", "-F", "-z", "-V"))
    for value in opts.values("-o", "-d", "-r"):
        call.scan.write(Word.literal(value), call.shown)
    if len(opts.operands) >= 1:
        call.scan.write(opts.operands[0], call.shown)


def _cd(call: Call) -> None:
    operands = [w for w in call.opts(permute=False).operands]
    env = call.scan.env
    if not operands:
        env.cwd = call.scan.where.home
    elif operands[0].text == "-":
        env.cwd = None
    else:
        place = call.scan.place(operands[0])
        env.cwd = None if place.partial else place.path


def _popd(call: Call) -> None:
    call.scan.env.cwd = None


FILE_RULES: dict[str, Rule] = {
    "rm": _rm,
    "srm": _rm,
    "unlink": _rm,
    "rmdir": _rmdir,
    "shred": _shred,
    "wipe": _shred,
    "cp": _copy(moves=False),
    "install": _copy(moves=False),
    "mv": _copy(moves=True),
    "ln": _ln,
    "link": _ln,
    "touch": _creates(("-r", "-d", "-t", "--reference", "--date")),
    "mkdir": _creates(("-m", "--mode")),
    "mkfifo": _creates(("-m", "--mode")),
    "truncate": _creates(("-s", "--size", "-r", "--reference")),
    "fallocate": _creates(("-l", "-o", "--length", "--offset")),
    "tee": _tee,
    "dd": _dd,
    "chmod": _chmod,
    "setfacl": _chmod,
    "chown": _chown,
    "chgrp": _chown,
    "sed": _sed,
    "gsed": _sed,
    "awk": _awk,
    "gawk": _awk,
    "mawk": _awk,
    "nawk": _awk,
    "tar": _tar,
    "gtar": _tar,
    "bsdtar": _tar,
    "unzip": _unzip,
    "zip": _zip,
    "gzip": _compress,
    "gunzip": _compress,
    "bzip2": _compress,
    "bunzip2": _compress,
    "xz": _compress,
    "unxz": _compress,
    "zstd": _compress,
    "lz4": _compress,
    "sort": _sort,
    "uniq": _uniq,
    "patch": _patch,
    "cd": _cd,
    "pushd": _cd,
    "popd": _popd,
}
