"""delegate_task: hand a self-contained piece of work to a sub-agent.

The sub-agent runs its own loop on a child stream of the caller's, with the
same workspace, tools and approval policy, and its final report comes back as
this tool's result. The caller's context stays small: it sees the report, not
the sub-agent's whole conversation.
"""

from __future__ import annotations

from pydantic import Field

from loom.adapters.tools.base import Tool, ToolArgs, ToolContext, ToolError

__all__ = ["DelegateTask"]


class DelegateArgs(ToolArgs):
    task: str = Field(
        min_length=1, description="What the sub-agent must do, self-contained."
    )
    context: str = Field(
        default="", description="Facts it needs: files, names, decisions so far."
    )


class DelegateTask(Tool):
    name = "delegate_task"
    description = (
        "Give a self-contained piece of work to a sub-agent with its own loop "
        "and tools; returns its report of what it did."
    )
    kind = "compute"
    Args = DelegateArgs
    timeout = 3600.0

    async def run(self, args: DelegateArgs, ctx: ToolContext) -> str:
        if ctx.delegate is None:
            raise ToolError("delegation is not available here (nesting too deep)")
        return await ctx.delegate(args.task, args.context)
