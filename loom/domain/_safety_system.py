"""Rules for the machine itself, and the commands known to be harmless (private).

Power control, disk formatting, killing every process and scheduled jobs are
blocked; services, users and mounts ask. Everyday read-only, build and test
tools are allowed (their path arguments are still checked for credentials).
"""

from __future__ import annotations

from loom.domain._safety_scan import Call, Rule

__all__ = ["SYSTEM_RULES"]

_POWER_STATES = frozenset({"0", "6", "s", "S", "1"})
_SYSTEMCTL_BLOCK = frozenset(
    {"poweroff", "reboot", "halt", "kexec", "suspend", "hibernate", "rescue"}
    | {"emergency", "isolate", "soft-reboot", "hybrid-sleep"}
)
_SYSTEMCTL_READ = frozenset(
    {"status", "list-units", "list-unit-files", "show", "cat", "is-active"}
    | {"is-enabled", "is-failed", "list-timers", "list-sockets", "--version", "help"}
)
_DISK_VERBS = frozenset(
    {"destroy", "labelclear", "luksformat", "erase", "lukserase", "luksremovekey"}
    | {"erasedisk", "erasevolume", "partitiondisk", "zerodisk", "randomdisk"}
    | {"secureerase", "reformat", "create", "--zero-superblock", "format"}
)
# A word table reads better than three hundred one-name lines.
_ALLOWED = frozenset(
    """
    ls ll la dir vdir cat tac nl head tail less more bat batcat most grep egrep
    fgrep rg ag ack wc cut tr paste join comm column fold fmt expand unexpand rev
    diff diff3 sdiff cmp colordiff delta echo printf pwd true false test [ [[ :
    which whereis type hash file stat du df free uptime uname whoami id groups date
    cal printenv tree realpath readlink basename dirname sleep seq yes jq yq xq
    xmllint md5sum sha1sum sha224sum sha256sum sha384sum sha512sum shasum cksum
    b2sum base64 base32 xxd od hexdump strings nm objdump readelf ldd size ps pgrep
    pidof top htop jobs wait read let shift set local declare typeset export
    readonly getopts exit return break continue umask ulimit tput clear locale man
    info help whatis apropos mktemp nproc lscpu lsblk lsusb lspci arch getconf tty
    logname users who w last expr bc dc factor numfmt shuf tsort iconv fd fdfind
    locate exa eza lsd pstree vmstat iostat journalctl pytest py.test tox nox
    coverage ruff mypy pyright black isort flake8 pylint bandit pydocstyle pyflakes
    autopep8 yapf rustc rustfmt gofmt golangci-lint staticcheck tsc eslint prettier
    jest vitest mocha webpack vite esbuild rollup javac java kotlinc scalac gcc g++
    cc c++ clang clang++ ld as ar ranlib strip swiftc zig ghc runghc elixir erl
    rake rspec phpunit gradlew mix pre-commit sphinx-build mkdocs cloc tokei
    hyperfine shellcheck shfmt hadolint actionlint markdownlint yamllint taplo
    biome tsx ts-node jupyter nbconvert pydoc unbuffer chronic diffstat wdiff tig
    lnav envsubst gettext ngettext unset shopt hostnamectl lsof ss netstat ip
    ifconfig bunzip2 zcat bzcat xzcat zless zgrep zdiff gzcat lz4cat unxz bind
    complete compgen disown fg bg uvicorn gunicorn hypercorn flask sbt swift
    """.split()  # noqa: SIM905
)


def _power(call: Call) -> None:
    call.block("shuts down or restarts the machine")


def _init(call: Call) -> None:
    operands = call.opts().operands
    if operands and operands[0].text in _POWER_STATES:
        call.block("changes the machine's runlevel (shutdown or reboot)")
    else:
        call.ask("talks to the init system")


def _systemctl(call: Call) -> None:
    verbs = {word.text for word in call.opts().operands[:1]}
    if verbs & _SYSTEMCTL_BLOCK:
        call.block("shuts down, restarts or isolates the machine")
    elif not verbs <= _SYSTEMCTL_READ:
        call.ask("changes system services")


def _loginctl(call: Call) -> None:
    verbs = {word.text for word in call.opts().operands[:1]}
    if verbs & (
        _SYSTEMCTL_BLOCK | {"terminate-user", "terminate-session", "kill-user"}
    ):
        call.block("ends sessions or shuts down the machine")
    elif not verbs <= {"list-sessions", "list-users", "show-session", "session-status"}:
        call.ask("manages login sessions")


def _kill(call: Call) -> None:
    args = [word.text for word in call.args]
    if args[:1] in (["-l"], ["-L"], ["--list"]) or (args and args[-1].startswith("%")):
        # Listing signals, or a job of this very shell.
        return
    start = 0
    if args[:1] in (["-s"], ["-n"]):
        start = 2
    elif len(args) > 1 and args[0].startswith("-") and args[0] != "--":
        start = 1
    targets = args[start + 1 :] if args[start : start + 1] == ["--"] else args[start:]
    if any(target in ("-1", "1") for target in targets):
        call.block("kills every process (or init)")
    else:
        call.ask("kills processes")


def _killall(call: Call) -> None:
    opts = call.opts(("-u", "-U", "-g", "-G", "-P", "-s", "-t", "--signal", "--user"))
    patterns = {word.text for word in opts.operands}
    by_user = opts.has("-u", "-U", "--user") and not patterns
    if call.name == "killall5" or by_user or patterns & {".", ".*", ""}:
        call.block("kills every process (of a user)")
    else:
        call.ask("kills processes by name")


def _crontab(call: Call) -> None:
    opts = call.opts(("-u",))
    if opts.has("-l") and not opts.operands:
        return
    call.block("edits scheduled jobs (crontab)")


def _disk(call: Call) -> None:
    opts = call.opts()
    if call.name in ("fdisk", "sfdisk", "parted") and opts.has("-l", "--list"):
        return
    call.block("formats, partitions or wipes a disk")


def _disk_tool(call: Call) -> None:
    """zpool, zfs, diskutil, cryptsetup...: only some verbs destroy data."""
    texts = {word.text.lower() for word in call.args}
    if texts & _DISK_VERBS or any(t.startswith("--security-erase") for t in texts):
        call.block("destroys a disk, pool or volume")
    else:
        call.ask("manages disks or volumes")


def _badblocks(call: Call) -> None:
    if call.opts().has("-w"):
        call.block("overwrites a whole disk (badblocks -w)")
    else:
        call.ask("scans a disk")


def _history(call: Call) -> None:
    if call.opts(("-d",)).has("-c", "-d", "-w", "-r", "-a", "-n"):
        call.ask("changes the shell history")


def _hostname(call: Call) -> None:
    if call.opts(("-F",)).operands:
        call.ask("changes the machine's hostname")


def _date(call: Call) -> None:
    if call.opts(("-d", "--date", "-r", "--reference", "-I")).has("-s", "--set"):
        call.ask("changes the system clock")


def _asks(why: str) -> Rule:
    def rule(call: Call) -> None:
        call.ask(why)

    return rule


def _allowed(call: Call) -> None:
    """Known harmless: nothing to judge beyond the credential check."""


SYSTEM_RULES: dict[str, Rule] = {
    **dict.fromkeys(_ALLOWED, _allowed),
    **dict.fromkeys(("shutdown", "reboot", "halt", "poweroff"), _power),
    "init": _init,
    "loginctl": _loginctl,
    "telinit": _init,
    "systemctl": _systemctl,
    "kill": _kill,
    **dict.fromkeys(
        ("pkill", "killall", "killall5", "skill", "slay", "xkill"), _killall
    ),
    "crontab": _crontab,
    "mkfs": _disk,
    **dict.fromkeys(
        ("wipefs", "fdisk", "sfdisk", "cfdisk", "gdisk", "sgdisk", "parted"), _disk
    ),
    **dict.fromkeys(("mkswap", "blkdiscard", "mke2fs", "mkdosfs", "mformat"), _disk),
    **dict.fromkeys(("lvremove", "vgremove", "pvremove", "nvme"), _disk),
    **dict.fromkeys(
        ("zpool", "zfs", "diskutil", "cryptsetup", "mdadm", "hdparm"),
        _disk_tool,
    ),
    "badblocks": _badblocks,
    "history": _history,
    "hostname": _hostname,
    "date": _date,
    **dict.fromkeys(
        (
            *("useradd", "userdel", "usermod", "passwd", "chpasswd", "groupadd"),
            *("groupdel", "visudo", "adduser", "deluser", "chsh", "chfn"),
        ),
        _asks("changes users or passwords"),
    ),
    **dict.fromkeys(
        ("iptables", "ip6tables", "nft", "ufw", "firewall-cmd", "pfctl"),
        _asks("changes the firewall"),
    ),
    **dict.fromkeys(
        (
            *("mount", "umount", "swapon", "swapoff", "losetup", "sysctl", "modprobe"),
            *("insmod", "rmmod", "service", "launchctl"),
        ),
        _asks("changes system state or schedules jobs"),
    ),
    **dict.fromkeys(
        ("chattr", "chflags", "mknod"), _asks("changes special file attributes")
    ),
}
