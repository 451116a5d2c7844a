"""Asking the user a question in the middle of work."""

from __future__ import annotations

from pydantic import Field

from loom.adapters.tools.base import Tool, ToolArgs, ToolContext, ToolError
from loom.domain.events import UserQuestionAnswered, UserQuestionAsked

__all__ = ["AskUser"]


class AskUserArgs(ToolArgs):
    question: str = Field(
        min_length=1, description="One clear question; say why you need to know."
    )


class AskUser(Tool):
    name = "ask_user"
    description = (
        "Ask the user a question when you cannot go on without their decision "
        "or knowledge. Do not ask for things you can find out with other tools."
    )
    kind = "compute"
    Args = AskUserArgs
    timeout = 24 * 3600.0

    async def run(self, args: AskUserArgs, ctx: ToolContext) -> str:
        if ctx.questions is None:
            raise ToolError(
                "no one is available to answer questions here; decide yourself "
                "and say what you assumed"
            )
        question_id = ctx.journal.new_id()
        await ctx.journal.record(
            UserQuestionAsked, question_id=question_id, question=args.question
        )
        answer = await ctx.questions.ask(args.question)
        await ctx.journal.record(
            UserQuestionAnswered, question_id=question_id, answer=answer
        )
        return f"The user answered: {answer}"
