"""What a session engine is given and gives back: its dependencies, the
listener of its live output, a forced first call, and a turn's outcome."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from loom.adapters.tools import Tool, ToolContext, ToolRunner
from loom.app.observations import Observations
from loom.app.prompts import IDENTITY, TOOL_GUIDANCE
from loom.domain.eventbase import Context, Event
from loom.domain.models import Delta, ToolSpec
from loom.domain.ports import (
    ApprovalPort,
    BlobStore,
    EventLog,
    ModelProvider,
    QuestionPort,
    ViewStore,
)

__all__ = [
    "ContextFactory",
    "Delegate",
    "ForcedCall",
    "SessionDeps",
    "SessionListener",
    "ToolRunnerFactory",
    "TurnOutcome",
]

ContextFactory = Callable[[str, int], Context]
"""The ``Context`` (clock and ids) of a stream opened at a version."""
ToolRunnerFactory = Callable[[ToolContext, dict[str, type[Tool]]], ToolRunner]
Delegate = Callable[[str, str, str], Awaitable[str]]
"""Runs a sub-agent: (parent stream, task, extra context) -> its report."""


class SessionListener(Protocol):
    """Receives what happens live (a client's display)."""

    def on_delta(self, delta: Delta) -> None: ...
    def on_event(self, event: Event) -> None: ...


@dataclass
class SessionDeps:
    """Everything a session needs from the outside."""

    log: EventLog
    blobs: BlobStore
    context: Context
    provider: ModelProvider
    approvals: ApprovalPort
    views: ViewStore | None = None
    questions: QuestionPort | None = None
    loom_home: Path | None = None
    auto_approve: frozenset[str] = frozenset({"read", "compute"})
    max_loop_iterations: int = 25
    max_tokens: int = 1024
    temperature: float = 0.1
    listeners: list[SessionListener] = field(default_factory=list)
    contexts: ContextFactory | None = None
    """Per-stream clocks and ids; without it every stream shares ``context``."""
    identity: str = IDENTITY
    tool_guidance: str = TOOL_GUIDANCE
    tools: dict[str, type[Tool]] | None = None
    """The tools offered to the model; None offers every registered tool."""
    tool_runner: ToolRunnerFactory | None = None
    observations: Observations | None = None
    delegate: Delegate | None = None
    role: str = "executor"
    subtask_id: str | None = None
    """The subtask an agent works on; its tool calls and changes carry it."""
    durable_turns: bool = True
    """Wait for a turn's staged events to commit before returning its outcome
    (a person may read the answer). An agent's caller commits at its own
    next awaited event instead."""


@dataclass(frozen=True)
class ForcedCall:
    """Make the next model call a call of ``tool``, with some arguments
    restricted to listed values (``{"path": ["hello.py"]}``)."""

    tool: str
    choices: dict[str, list[str]] = field(default_factory=dict)
    draft: str | None = None
    """For ``write_file`` onto one path: get the content as a code block
    drafted from this brief (:mod:`loom.domain.whole_file`)."""

    def narrow(self, spec: ToolSpec) -> ToolSpec:
        if spec.name != self.tool or not self.choices:
            return spec
        parameters = dict(spec.parameters)
        properties = dict(parameters.get("properties", {}))
        for name, values in self.choices.items():
            properties[name] = {**properties.get(name, {}), "enum": values}
        parameters["properties"] = properties
        return spec.model_copy(update={"parameters": parameters})


@dataclass(frozen=True)
class TurnOutcome:
    """How a turn ended: ``answered``, ``loop_limit``, ``cancelled`` or ``failed``
    (the model call failed; ``answer`` then holds the error)."""

    status: str
    answer: str = ""
