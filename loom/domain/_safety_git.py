"""Rules for git: destructive history edits, remotes and command injection.

Private helper of :mod:`loom.domain.safety`. Global options (``-C``, ``-c``,
``--git-dir``...) are read before the subcommand; config that makes git run
programs (hooks, ssh commands, aliases with ``!``) is blocked wherever it
appears.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from loom.domain._safety_paths import is_under
from loom.domain._safety_scan import Call, Opts, Rule, parse_opts
from loom.domain._safety_words import Word

__all__ = ["GIT_RULES"]

Sub = Callable[[Call, list[Word]], None]

_GLOBAL_VALUED = frozenset(
    """
    -C -c --git-dir --work-tree --namespace --exec-path --config-env --super-prefix
    """.split()  # noqa: SIM905
)
_RUNS_COMMANDS = re.compile(
    r"^(core\.(hookspath|sshcommand|fsmonitor|gitproxy|askpass|pager|editor|worktree)"
    r"|sequence\.editor|diff\.external|diff\..+\.(textconv|command)|merge\..+\.driver"
    r"|filter\..+\.(clean|smudge|process)|credential\..*helper|gpg\.(.+\.)?program"
    r"|uploadpack\.packobjectshook|remote\..+\.(uploadpack|receivepack|url|pushurl)"
    r"|include\.path|includeif\..+\.path|protocol\..*allow|pager\..+"
    r"|url\..+\.(insteadof|pushinsteadof))$",
    re.I,
)
_READ_ONLY = frozenset(
    """
    status diff log show blame annotate grep rev-parse rev-list ls-files ls-tree
    describe shortlog cat-file whatchanged show-ref for-each-ref name-rev merge-base
    fsck count-objects verify-commit verify-tag help version check-ignore check-attr
    range-diff var diff-tree diff-index diff-files cherry
    """.split()  # noqa: SIM905
)
_LOCAL = frozenset(
    """
    add mv init merge cherry-pick revert apply am format-patch bundle hash-object
    commit-tree mktree read-tree write-tree mergetool notes commit-graph pack-refs
    repack sparse-checkout
    """.split()  # noqa: SIM905
)
_NETWORK = frozenset(
    """
    fetch pull clone ls-remote send-email request-pull svn p4 lfs daemon instaweb
    http-backend fetch-pack send-pack
    """.split()  # noqa: SIM905
)
_RUNS_PROGRAM = frozenset({"--upload-pack", "--receive-pack"})
_ALL_PATHS = frozenset({".", "*", ":/", "./", ":/*", "-A", "--all"})
_COMMITISH = re.compile(
    r"^(HEAD|@|ORIG_HEAD)?[~^]\d*|^[0-9a-f]{7,40}$|^(origin|upstream)/"
)


def _git(call: Call) -> None:
    args = list(call.args)
    index, outside = 0, False
    while index < len(args) and args[index].text.startswith("-"):
        name, equals, value = args[index].text.partition("=")
        if not equals and name in _GLOBAL_VALUED and index + 1 < len(args):
            index += 1
            value = args[index].text
        index += 1
        if name in ("-c", "--config-env"):
            _config_pair(call, *value.partition("=")[::2])
        elif name in ("-C", "--git-dir", "--work-tree"):
            outside = outside or _outside(call, value)
        elif name == "--exec-path" and equals:
            call.ask("changes where git finds its programs")
    if index >= len(args):
        return
    sub, rest = args[index].text, args[index + 1 :]
    if outside and sub not in _READ_ONLY:
        call.ask("operates on a repository outside the workspace")
    _injections(call, rest)
    _dispatch(call, sub, rest)


def _injections(call: Call, rest: list[Word]) -> None:
    """Options of any subcommand that run programs or write files."""
    for index, word in enumerate(rest):
        name, equals, value = word.text.partition("=")
        if not equals and index + 1 < len(rest):
            value = rest[index + 1].text
        if name in _RUNS_PROGRAM:
            call.block(f"runs a program through `{name}`")
        elif name in ("--open-files-in-pager", "--extcmd", "-x") and equals:
            call.script(value)
        elif name == "--output" and value:
            call.scan.write(Word.literal(value), call.shown)
        elif word.text.startswith(("ext::", "fd::")):
            call.block("uses a git transport that runs commands (ext::)")


def _dispatch(call: Call, sub: str, rest: list[Word]) -> None:
    if sub in _READ_ONLY or sub in _LOCAL:
        return
    if sub in _NETWORK:
        _network(call, sub, rest)
        return
    handler = _SUBCOMMANDS.get(sub)
    if handler is None:
        call.ask(f"runs `git {sub}`, which Loom does not know (it may be an alias)")
    else:
        handler(call, rest)


def _outside(call: Call, path: str) -> bool:
    place = call.scan.place(Word.literal(path))
    workspace = call.scan.where.workspace
    return place.path is None or not workspace or not is_under(place.path, workspace)


def _config_pair(call: Call, key: str, value: str) -> None:
    if _RUNS_COMMANDS.match(key) or (
        key.lower().startswith("alias.") and value.startswith("!")
    ):
        call.block(
            f"sets git config `{key}`, which can run commands or redirect remotes"
        )


def _opts(rest: list[Word], valued: tuple[str, ...] = ()) -> Opts:
    return parse_opts(rest, frozenset(valued))


def _network(call: Call, sub: str, rest: list[Word]) -> None:
    call.scan.network.append(f"git {sub}")
    call.ask(f"runs `git {sub}`, which reaches the network")
    if sub == "clone":
        operands = _opts(rest, ("-b", "-o", "--depth", "--branch", "-c")).operands
        if len(operands) >= 2:
            call.scan.write(operands[1], call.shown)
        for value in _opts(rest, ("-c", "--config")).values("-c", "--config"):
            _config_pair(call, *value.partition("=")[::2])


def _push(call: Call, rest: list[Word]) -> None:
    opts = _opts(rest, ("-o", "--push-option", "--repo", "--receive-pack", "--exec"))
    forced = opts.has("-f", "--force", "--force-with-lease", "--force-if-includes")
    deletes = opts.has("-d", "--delete", "--mirror", "--prune")
    refspecs = [word.text for word in opts.operands[1:]]
    if forced or any(spec.startswith("+") for spec in refspecs):
        call.block("force-pushes, overwriting remote history")
    elif deletes or any(spec.startswith(":") for spec in refspecs):
        call.block("deletes or mirrors remote branches")
    elif opts.has("--receive-pack", "--exec"):
        call.block("runs a custom program on the remote")
    _network(call, "push", [])


def _commit(call: Call, rest: list[Word]) -> None:
    if _opts(rest, ("-m", "-F", "-C", "-c")).has("--amend"):
        call.ask("rewrites the last commit (--amend)")


def _checkout(call: Call, rest: list[Word]) -> None:
    opts = _opts(rest, ("-b", "-B", "--orphan", "--conflict"))
    texts = [word.text for word in rest]
    paths = texts[texts.index("--") + 1 :] if "--" in texts else []
    operands = [word.text for word in opts.operands]
    if opts.has("-f", "--force") or _ALL_PATHS & set(operands):
        call.block("discards all uncommitted changes")
    elif opts.has("-p", "--patch") or paths or len(operands) > 1:
        call.ask("overwrites working-tree files with another version")


def _switch(call: Call, rest: list[Word]) -> None:
    if _opts(rest, ("-c", "-C")).has("-f", "--force", "--discard-changes"):
        call.block("discards all uncommitted changes")


def _restore(call: Call, rest: list[Word]) -> None:
    opts = _opts(rest, ("-s", "--source"))
    if opts.has("-S", "--staged") and not opts.has("-W", "--worktree"):
        return
    if _ALL_PATHS & {word.text for word in opts.operands}:
        call.block("discards all uncommitted changes")
    else:
        call.ask("discards uncommitted changes to files")


def _reset(call: Call, rest: list[Word]) -> None:
    opts = _opts(rest)
    if opts.has("--hard"):
        call.block("discards uncommitted changes and commits (reset --hard)")
    elif (opts.has("--merge", "--keep", "--soft", "--mixed") and opts.operands) or any(
        _COMMITISH.match(word.text) for word in opts.operands
    ):
        call.ask("moves the branch to another commit")


def _clean(call: Call, rest: list[Word]) -> None:
    opts = _opts(rest, ("-e", "--exclude"))
    if opts.has("-n", "--dry-run"):
        return
    if opts.has("-f", "--force"):
        call.block("permanently deletes untracked files (clean -f)")
    else:
        call.ask("deletes untracked files")


def _branch(call: Call, rest: list[Word]) -> None:
    opts = _opts(rest, ("-u", "--set-upstream-to", "--contains", "--sort", "--format"))
    deletes = opts.has("-d", "--delete")
    if opts.has("-D") or (deletes and opts.has("-f", "--force")):
        call.block("force-deletes a branch, losing unmerged commits")
    elif deletes or opts.has("-f", "--force", "-M", "-m", "-C", "--edit-description"):
        call.ask("deletes, renames or resets a branch")


def _tag(call: Call, rest: list[Word]) -> None:
    if _opts(rest, ("-m", "-F", "-u")).has("-d", "--delete", "-f", "--force"):
        call.ask("deletes or moves a tag")


def _stash(call: Call, rest: list[Word]) -> None:
    operands = _opts(rest, ("-m", "--message")).operands
    if operands and operands[0].text in ("clear", "drop"):
        call.ask("discards stashed changes")


def _reflog(call: Call, rest: list[Word]) -> None:
    if rest and rest[0].text in ("expire", "delete"):
        call.block("destroys the reflog, the safety net for lost commits")


def _gc(call: Call, rest: list[Word]) -> None:
    prune = _opts(rest).values("--prune")
    if any(value in ("now", "all") for value in prune):
        call.block("prunes unreachable commits immediately")
    else:
        call.ask("garbage-collects the repository")


def _update_ref(call: Call, rest: list[Word]) -> None:
    if _opts(rest, ("-m",)).has("-d", "--stdin"):
        call.block("deletes refs directly (update-ref -d)")
    else:
        call.ask("moves refs directly (update-ref)")


def _rebase(call: Call, rest: list[Word]) -> None:
    opts = _opts(rest, ("-x", "--exec", "--onto", "-s", "--strategy", "-X"))
    if opts.has("--abort", "--continue", "--skip", "--quit", "--show-current-patch"):
        return
    for command in opts.values("-x", "--exec"):
        call.script(command)
    call.ask("rewrites history (rebase)")


def _config(call: Call, rest: list[Word]) -> None:
    opts = _opts(rest, ("-f", "--file", "--blob", "--type", "--default"))
    operands = [word.text for word in opts.operands]
    reading = opts.has("--get", "--get-all", "--get-regexp", "-l", "--list")
    if reading or (opts.has("--get-urlmatch", "--show-origin") and len(operands) < 2):
        return
    if opts.has("--unset", "--unset-all", "--remove-section", "--rename-section"):
        call.ask("removes git configuration")
        return
    if opts.has("-e", "--edit") or opts.has("-f", "--file"):
        call.ask("edits a git configuration file")
    if operands[:1] == ["set"]:
        operands = operands[1:]
    if len(operands) >= 2:
        _config_pair(call, operands[0], operands[1])
        if opts.has("--global", "--system"):
            call.ask("changes global git configuration")


def _remote(call: Call, rest: list[Word]) -> None:
    operands = _opts(rest, ("-t", "-m")).operands
    action = operands[0].text if operands else ""
    if action in ("set-url", "set-branches"):
        call.block("changes where the repository pushes and fetches")
    elif action in ("add", "remove", "rm", "rename", "prune", "update"):
        call.ask(f"changes remotes (`git remote {action}`)")


def _submodule(call: Call, rest: list[Word]) -> None:
    operands = _opts(rest).operands
    action = operands[0].text if operands else "status"
    if action == "foreach":
        call.script(" ".join(word.text for word in operands[1:]))
    elif action not in ("status", "summary"):
        _network(call, f"submodule {action}", [])


def _worktree(call: Call, rest: list[Word]) -> None:
    operands = _opts(rest, ("-b", "-B", "--reason")).operands
    action = operands[0].text if operands else "list"
    if action == "add" and len(operands) > 1:
        call.scan.write(operands[1], call.shown)
    elif action != "list":
        call.ask(f"changes worktrees (`git worktree {action}`)")


def _rm(call: Call, rest: list[Word]) -> None:
    opts = _opts(rest)
    if not opts.has("--cached") and _ALL_PATHS & {w.text for w in opts.operands}:
        call.ask("removes every tracked file")


def _archive(call: Call, rest: list[Word]) -> None:
    opts = _opts(rest, ("-o", "--output", "--remote", "--format", "--prefix"))
    for value in opts.values("-o", "--output"):
        call.scan.write(Word.literal(value), call.shown)
    if opts.has("--remote"):
        _network(call, "archive", [])


def _bisect(call: Call, rest: list[Word]) -> None:
    if rest and rest[0].text == "run":
        call.run(rest[1:])


def _blocked(why: str) -> Sub:
    def handler(call: Call, rest: list[Word]) -> None:
        call.block(why)

    return handler


def _asked(why: str) -> Sub:
    def handler(call: Call, rest: list[Word]) -> None:
        call.ask(why)

    return handler


_SUBCOMMANDS: dict[str, Sub] = {
    "push": _push,
    "commit": _commit,
    "checkout": _checkout,
    "switch": _switch,
    "restore": _restore,
    "reset": _reset,
    "clean": _clean,
    "branch": _branch,
    "tag": _tag,
    "stash": _stash,
    "reflog": _reflog,
    "gc": _gc,
    "update-ref": _update_ref,
    "rebase": _rebase,
    "config": _config,
    "remote": _remote,
    "submodule": _submodule,
    "worktree": _worktree,
    "rm": _rm,
    "archive": _archive,
    "bisect": _bisect,
    "filter-branch": _blocked("rewrites the whole history (filter-branch)"),
    "filter-repo": _blocked("rewrites the whole history (filter-repo)"),
    "replace": _asked("replaces objects in history"),
    "prune": _asked("prunes unreachable objects"),
    "symbolic-ref": _asked("moves HEAD directly"),
    "hook": _asked("runs git hooks"),
    "maintenance": _asked("schedules repository maintenance"),
    "difftool": _asked("runs an external diff tool"),
}

GIT_RULES: dict[str, Rule] = {"git": _git}
