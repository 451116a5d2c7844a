"""Lexical path resolution and what touching a path means (private).

Paths are resolved against the workspace from the text alone: ``~`` and
``$HOME`` become the home directory implied by the workspace path, ``..`` is
folded lexically, and symlinks are never followed (there is no filesystem to
look at). A word with a glob or a runtime part names *something under* its
static directory, and is judged by that directory.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Literal

from loom.domain._safety_words import Word

__all__ = [
    "Judgement",
    "Place",
    "Where",
    "delete_verdict",
    "is_under",
    "perm_verdict",
    "resolve",
    "secret_kind",
    "write_verdict",
]

Action = Literal["allow", "ask", "block"]
Judgement = tuple[Action, str]

_HOME = re.compile(r"^(/home/[^/]+|/Users/[^/]+|/root)(?=/|$)")
_SYSTEM = (
    "/bin",
    "/boot",
    "/dev",
    "/efi",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/sbin",
    "/usr",
    "/sys",
    "/proc",
    "/run",
    "/snap",
    "/System",
    "/Library",
    "/Applications",
    "/private/etc",
    "/private/var",
    "/var/lib",
    "/var/db",
    "/var/spool",
    "/var/cache",
)
_SINKS = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/zero")
_DEVICE = re.compile(
    r"^/dev/(sd[a-z]|hd[a-z]|vd[a-z]|xvd[a-z]|nvme\d|mmcblk\d|r?disk\d|md\d|dm-\d"
    r"|mapper/|loop\d|sr\d|nbd\d|mem$|kmem$|port$|fd\d$|block/|disk/)"
)
# Home entries whose modification runs code later or hands out access.
_PERSISTENT = (
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zshenv",
    ".zprofile",
    ".zlogin",
    ".zlogout",
    ".kshrc",
    ".cshrc",
    ".tcshrc",
    ".mkshrc",
    ".inputrc",
    ".xinitrc",
    ".xprofile",
    ".pam_environment",
    ".gitconfig",
    ".vimrc",
    ".curlrc",
    ".wgetrc",
    ".npmrc",
    ".pypirc",
    ".netrc",
    ".git-credentials",
    ".ssh",
    ".gnupg",
    ".aws",
    ".kube",
    ".docker",
    ".local/bin",
    ".config/fish",
    ".config/git",
    ".config/autostart",
    ".config/systemd",
    ".config/environment.d",
    "Library/LaunchAgents",
)
_HOME_SECRETS = (
    ".ssh",
    ".aws",
    ".netrc",
    ".git-credentials",
    ".gnupg",
    ".docker/config.json",
    ".kube/config",
    ".config/gh",
    ".config/hub",
    ".config/gcloud",
    ".azure",
    ".npmrc",
    ".pypirc",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".gem/credentials",
    ".password-store",
    ".local/share/keyrings",
    ".pgpass",
    ".my.cnf",
    ".vault-token",
    ".terraform.d/credentials.tfrc.json",
    ".bash_history",
    ".zsh_history",
)
_SYSTEM_SECRETS = (
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/master.passwd",
    "/etc/sudoers",
    "/etc/ssh",
    "/root",
    "/var/lib/secrets",
)
_SECRET_NAME = re.compile(
    r"^(\.env(\.(?!example$|sample$|template$|dist$|defaults$)[\w.-]+)?"
    r"|id_(rsa|dsa|ecdsa|ed25519)(_sk)?|.*\.(pem|key|p12|pfx|jks|keystore|kdbx)"
    r"|credentials(\.json)?|service[-_]account.*\.json|\.htpasswd|\.pgpass"
    r"|secrets?\.(ya?ml|json|toml|env))$"
)
_PUBLIC = re.compile(r"(\.pub|known_hosts|/config)$")
_EMPTY_VAR_ROOT = re.compile(r"^\$\{?[A-Za-z_]\w*\}?/\*?$")


@dataclass(frozen=True)
class Where:
    """The fixed points of a classification: workspace and home.

    Attributes:
        workspace: Normalized absolute workspace path ("" when unusable).
        home: The home directory implied by the workspace path.
    """

    workspace: str
    home: str

    @classmethod
    def of(cls, workspace: str) -> Where:
        """Derive the home directory from the workspace path alone.

        A workspace that is the home directory, or contains it, grants
        nothing: every write then counts as outside the workspace.
        """
        normalized = _normalize(workspace) if workspace.startswith("/") else ""
        match = _HOME.match(normalized)
        home = match.group(1) if match else "/home/~"
        if normalized and (is_under(home, normalized) or normalized == "/home"):
            normalized = ""
        return cls(normalized, home)


@dataclass(frozen=True)
class Place:
    """A lexically resolved path.

    Attributes:
        path: Normalized absolute path, or None when it cannot be known.
        text: The word's evaluated text.
        partial: True when the word names something *under* ``path``.
        tail: The glob or runtime remainder below ``path``.
    """

    path: str | None
    text: str
    partial: bool = False
    tail: str = ""


def resolve(word: Word, cwd: str | None, home: str) -> Place:
    """Resolve a word naming a path against the working directory."""
    partial = not word.static or word.glob
    text = word.head if partial else word.text
    tail = ""
    if partial:
        cut = text.rfind("/") + 1
        text, tail = text[:cut], word.text[cut:]
        if not text and not word.static and not word.head:
            return Place(None, word.text, partial=True, tail=tail)
    text = _expand_tilde(text, home)
    if not text.startswith("/"):
        if cwd is None:
            return Place(None, word.text, partial, tail)
        text = f"{cwd}/{text}"
    return Place(_normalize(text), word.text, partial, tail)


def is_under(path: str, root: str) -> bool:
    """True when ``path`` is ``root`` or lies inside it (lexically)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def secret_kind(place: Place, where: Where) -> str | None:
    """Name the kind of secret a path holds, or None."""
    path = place.path
    if path is None or _PUBLIC.search(path):
        return None
    if any(is_under(path, f"{where.home}/{entry}") for entry in _HOME_SECRETS):
        return "credentials in the home directory"
    if any(is_under(path, root) for root in _SYSTEM_SECRETS):
        return "system credentials"
    if re.match(r"^/proc/[^/]+/environ$", path):
        return "a process environment"
    if _DEVICE.match(path):
        return "raw disk or memory contents"
    if not place.partial and _SECRET_NAME.match(posixpath.basename(path)):
        return "a secrets file"
    return None


def delete_verdict(place: Place, where: Where) -> Judgement:
    """How dangerous deleting (or moving away) a path is."""
    if place.path is None:
        if _EMPTY_VAR_ROOT.match(place.text):
            return "block", "deletes the root filesystem if the variable is empty"
        return "ask", "deletes a path only known at runtime"
    special = _protected(place.path, where, contents=place.partial)
    if special is not None:
        return special
    if place.partial and place.path == where.workspace:
        if place.tail in ("*", ".*", "./*") or place.tail.startswith("$"):
            return "block", "deletes the entire workspace"
        return "allow", ""
    allow_tmp = place.path != "/tmp" or (
        place.partial and place.tail not in ("*", ".*")
    )
    return _local(place.path, where, "deletes", allow_tmp=allow_tmp)


def write_verdict(place: Place, where: Where) -> Judgement:
    """How dangerous creating or overwriting a path is."""
    path = place.path
    if path is None:
        return "ask", "writes to a path only known at runtime"
    if path.startswith(("/dev/tcp/", "/dev/udp/")):
        return "block", "opens a raw network connection through /dev/tcp or /dev/udp"
    if path in _SINKS or path.startswith("/dev/fd/"):
        return "allow", ""
    if _DEVICE.match(path):
        return "block", "writes raw data to a disk or memory device"
    if _is_loom(path, where):
        return "block", "modifies Loom's own configuration or state"
    if _is_persistent(path, where):
        return "block", "modifies shell startup, credential or git config files"
    if "/.git/hooks" in path or path == f"{where.workspace}/.git/config":
        return "block", "writes git hooks or git config that can run commands"
    if path == "/" or (not _inside(path, where) and _is_system(path)):
        return "block", "writes to system files"
    return _local(path, where, "writes", allow_tmp=True)


def perm_verdict(place: Place, where: Where) -> Judgement:
    """How dangerous changing ownership or permissions of a path is."""
    path = place.path
    if path is None:
        return "ask", "changes permissions of a path only known at runtime"
    if path == "/" or (path.count("/") == 1 and path != "/tmp"):
        return "block", "changes permissions of a top-level directory"
    if _is_home(path) or (is_under(where.workspace, path) and path != where.workspace):
        return "block", "changes permissions of the home directory or its parents"
    if _is_loom(path, where) or (not _inside(path, where) and _is_system(path)):
        return "block", "changes permissions of system or Loom files"
    return _local(path, where, "changes permissions", allow_tmp=True)


def _protected(path: str, where: Where, *, contents: bool) -> Judgement | None:
    if path == "/":
        return "block", "deletes the root filesystem"
    if _is_loom(path, where):
        return "block", "deletes Loom's own configuration or state"
    if _is_home(path):
        return "block", "deletes the home directory"
    # The workspace itself may be emptied by a narrow glob, but never removed.
    inside = where.workspace and is_under(where.workspace, path)
    if inside and (path != where.workspace or not contents):
        return "block", "deletes the workspace or a directory containing it"
    if where.workspace and path == f"{where.workspace}/.git":
        return "block", "deletes the repository's history (.git)"
    if _is_persistent(path, where):
        return "block", "deletes credentials or shell startup files"
    if _inside(path, where):
        # A workspace may live in home, /usr/src or /srv: inside it, all is fair.
        return None
    if posixpath.dirname(path) == where.home and not contents:
        return "block", "deletes a top-level entry of the home directory"
    if path.count("/") == 1 and path != "/tmp":
        return "block", "deletes a top-level system directory"
    if _is_system(path):
        return "block", "deletes system files"
    return None


def _inside(path: str, where: Where) -> bool:
    return bool(where.workspace) and is_under(path, where.workspace)


def _local(path: str, where: Where, verb: str, *, allow_tmp: bool) -> Judgement:
    git_dir = f"{where.workspace}/.git"
    if where.workspace and is_under(path, git_dir) and not path.endswith(".lock"):
        return "ask", f"{verb} git internals"
    if where.workspace and is_under(path, where.workspace):
        return "allow", ""
    if allow_tmp and is_under(path, "/tmp"):
        return "allow", ""
    return "ask", f"{verb} outside the workspace"


def _is_system(path: str) -> bool:
    return any(is_under(path, root) for root in _SYSTEM)


def _is_home(path: str) -> bool:
    match = _HOME.match(path)
    return (match is not None and match.group(1) == path) or path == "/home/~"


def _is_loom(path: str, where: Where) -> bool:
    roots = [f"{where.home}/.loom"]
    if where.workspace:
        roots += [f"{where.workspace}/loom.toml", f"{where.workspace}/.loom"]
    return any(is_under(path, root) for root in roots)


def _is_persistent(path: str, where: Where) -> bool:
    return any(is_under(path, f"{where.home}/{entry}") for entry in _PERSISTENT)


def _expand_tilde(text: str, home: str) -> str:
    if text == "~" or text.startswith("~/"):
        return home + text[1:]
    if text.startswith("~") and re.match(r"^~[a-z_][\w-]*(/|$)", text):
        return "/home/" + text[1:]
    return text


def _normalize(path: str) -> str:
    normalized = posixpath.normpath(path)
    return "/" + normalized.lstrip("/") if normalized.startswith("//") else normalized
