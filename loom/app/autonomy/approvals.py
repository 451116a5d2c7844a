"""What an autonomous run does with an action that needs a human's approval.

``deny`` (the default) refuses it at once and tells the model why, so the run
goes on without it. ``pause`` records ``approval.requested`` on the agent's
stream and waits until someone appends ``approval.granted`` or
``approval.refused`` to the task's control stream (``loom approve``, or the API).
"""

from __future__ import annotations

import asyncio
from typing import Literal

from loom.adapters.eventstore.journal import StreamJournal
from loom.app.autonomy.settings import control_stream
from loom.domain.events import ApprovalGranted, ApprovalRefused, ApprovalRequested
from loom.domain.ports import ApprovalAnswer, ApprovalRequest, EventLog

__all__ = ["PolicyApprovals"]

_POLL = 0.2
DENIED = (
    "autonomous runs refuse actions that need approval (approval_policy = "
    '"deny" in loom.toml); do the work without it, or say what is needed'
)


class PolicyApprovals:
    """Implements ``ApprovalPort`` for autonomous runs."""

    def __init__(
        self,
        policy: Literal["deny", "pause"],
        journal: StreamJournal,
        control_log: EventLog,
        task_id: str,
    ) -> None:
        self._policy, self._journal = policy, journal
        self._control_log, self._task_id = control_log, task_id

    async def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        if self._policy == "deny":
            return ApprovalAnswer("deny", DENIED, by="policy")
        approval_id = self._journal.new_id()
        await self._journal.record(
            ApprovalRequested,
            approval_id=approval_id,
            call_id=request.call_id or None,
            description=_describe(request),
        )
        return await self._answer(approval_id)

    async def _answer(self, approval_id: str) -> ApprovalAnswer:
        stream, seen = control_stream(self._task_id), 0
        while True:
            events = await self._control_log.read_stream(stream, after=seen)
            for event in events:
                seen = event.version
                if (
                    isinstance(event, ApprovalGranted)
                    and event.approval_id == approval_id
                ):
                    return ApprovalAnswer("approve")
                if (
                    isinstance(event, ApprovalRefused)
                    and event.approval_id == approval_id
                ):
                    return ApprovalAnswer("deny", event.reason or "refused")
            await asyncio.sleep(_POLL)


def _describe(request: ApprovalRequest) -> str:
    if request.arguments:
        args = ", ".join(f"{k}={v!r}"[:120] for k, v in request.arguments.items())
        return f"{request.tool}({args}): {request.reason}"
    return f"{request.tool}: {request.reason}"
