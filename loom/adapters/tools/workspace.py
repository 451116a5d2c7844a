"""Workspace containment: every path a tool touches must stay inside the workspace.

Paths are resolved to real paths (symlinks followed) and containment is checked
by path components, never by string prefix, so ``/work/app-evil`` is not inside
``/work/app`` and a symlink that leads out is refused. Writes are also refused
to Loom's own state and configuration and to ``.git`` internals. Every refusal
names the path and the workspace, so a model can correct itself.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from loom.domain.errors import LoomError

__all__ = ["Workspace", "WorkspaceError"]


@functools.lru_cache(maxsize=256)
def _real_root(root: str) -> Path:
    # Every agent attempt and every verification opens a Workspace on the
    # same few roots, and realpath costs a system call per path component.
    # A root re-pointed while Loom runs keeps the target it had: containment
    # is still checked against one real directory.
    return Path(os.path.realpath(root))


class WorkspaceError(LoomError):
    """A path is outside the workspace or protected from writes."""


class Workspace:
    """The directory an agent may work in."""

    def __init__(self, root: Path, *, loom_home: Path | None = None) -> None:
        self.root = _real_root(str(root))
        self._protected = [self.root / "loom.toml"]
        if loom_home is not None:
            self._protected.append(_real_root(str(loom_home)))

    def resolve(self, path: str, *, for_write: bool = False) -> Path:
        """The real path of ``path`` (relative to the root, or absolute), checked."""
        if not path or "\x00" in path:
            raise WorkspaceError(f"invalid path {path!r}")
        raw = Path(path).expanduser()
        candidate = raw if raw.is_absolute() else self.root / raw
        real = Path(os.path.realpath(candidate))
        if not real.is_relative_to(self.root):
            raise WorkspaceError(self._outside(path, real))
        if for_write:
            self._check_writable(path, real)
        return real

    def relative(self, real: Path) -> str:
        """``real`` as a workspace-relative POSIX path ('.' for the root)."""
        return real.relative_to(self.root).as_posix() or "."

    def _check_writable(self, shown: str, real: Path) -> None:
        parts = real.relative_to(self.root).parts
        if ".git" in parts:
            raise WorkspaceError(
                f"refusing to write {shown!r}: it is inside .git, which only git may "
                "change; use git_command instead"
            )
        for protected in self._protected:
            if real == protected or real.is_relative_to(protected):
                raise WorkspaceError(
                    f"refusing to write {shown!r}: it is Loom's own configuration or "
                    f"state ({protected}), which tools may not change"
                )

    def _outside(self, shown: str, real: Path) -> str:
        via = "" if str(real) == shown else f" (it resolves to {real})"
        return (
            f"path {shown!r} is outside the workspace {self.root}{via}; use a path "
            "relative to the workspace root"
        )
