"""Running git: judged like a shell command, run without a shell, changes recorded.

The arguments are a list, one item per argument, not a command string: a
commit message or a path with spaces or quotes reaches git exactly as given,
and nothing is left for a shell (or a parser guessing at one) to interpret.
The command is judged as ``git <args>`` by the same classifier as shell
commands, so ``push --force``, ``reset --hard`` and ``clean -f`` are blocked and
network commands need approval. Git runs in the workspace root with no
terminal to prompt on and no pager; a ``git commit`` without ``-m`` fails at
once instead of waiting for an editor. Files a checkout, merge or stash
changes are recorded like a shell command's, so undo covers them.
"""

from __future__ import annotations

import shlex
from typing import ClassVar

from pydantic import Field, field_validator

from loom.adapters.tools.base import Tool, ToolArgs, ToolContext
from loom.adapters.tools.shell import (
    DEFAULT_TIMEOUT,
    MAX_TIMEOUT,
    authorise,
    report,
    run_tracked,
)

__all__ = ["GitCommand"]

# No editor either: git fails fast ("empty commit message") instead of waiting.
_GIT_ENV = {"GIT_EDITOR": "true", "GIT_SEQUENCE_EDITOR": "true"}


class GitArgs(ToolArgs):
    args: list[str] = Field(
        min_length=1,
        description='Arguments after "git", one item each, e.g. ["commit", "-m", '
        '"Fix the parser"] or ["log", "--oneline", "-5"].',
    )
    timeout: float = Field(
        default=DEFAULT_TIMEOUT,
        gt=0,
        le=MAX_TIMEOUT,
        description=f"Seconds before git is killed (at most {MAX_TIMEOUT:g}).",
    )

    @field_validator("args")
    @classmethod
    def _without_git(cls, args: list[str]) -> list[str]:
        # Models often repeat the program name; git has no subcommand "git".
        args = args[1:] if args and args[0] == "git" else args
        if not args:
            raise ValueError("give at least a git subcommand, e.g. ['status']")
        if any("\x00" in arg for arg in args):
            raise ValueError("arguments may not contain NUL characters")
        return args


class GitCommand(Tool):
    name = "git_command"
    description = (
        "Run git in the workspace with the given arguments (a list, no shell "
        "quoting needed) and return its exit code and output. History-destroying "
        "commands are refused; network commands need approval. Files it changes "
        "(checkout, merge, stash...) are recorded and can be undone."
    )
    kind = "git"
    Args = GitArgs
    timeout: ClassVar[float] = MAX_TIMEOUT + 60.0

    async def run(self, args: GitArgs, ctx: ToolContext) -> str:
        await authorise(ctx, "git " + shlex.join(args.args))
        argv = ["git", *args.args]
        completed, summary = await run_tracked(
            ctx, argv, ctx.workspace.root, args.timeout, env=_GIT_ENV
        )
        return report(completed, summary, args.timeout)
