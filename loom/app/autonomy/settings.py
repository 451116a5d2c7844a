"""The settings a run decides with, and the names of its streams."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from loom.app.config import LoomConfig
from loom.domain.models import Capabilities
from loom.domain.ports import ModelProvider
from loom.domain.process import ProcessDefinition

__all__ = [
    "SMALL_CONTEXT",
    "ModelInfo",
    "RunSettings",
    "agent_stream",
    "control_stream",
]

SMALL_CONTEXT = 8192
"""Executors with at most this many tokens of context get five tools and a
drafted first write (docs/adr/0018)."""

# Writes stay inside the workspace and are undoable; shell and git commands
# still pass through the command classifier, whose "ask" goes to the policy.
_AUTONOMOUS_KINDS = ["read", "compute", "write", "shell", "git"]


class ModelInfo(BaseModel):
    """What a replay needs to stand in for a model: its names and abilities."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    model: str
    capabilities: Capabilities

    @classmethod
    def of(cls, provider: ModelProvider) -> ModelInfo:
        return cls(
            name=provider.name,
            model=provider.model,
            capabilities=provider.capabilities,
        )


class RunSettings(BaseModel):
    """Limits and policies of one run, recorded in ``task.created``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_parallel_subtasks: int = 3
    max_subtask_retries: int = 2
    max_loop_iterations: int = 25
    max_replans: int = 1
    approval_policy: Literal["deny", "pause"] = "deny"
    auto_approve: list[str] = Field(default_factory=lambda: list(_AUTONOMOUS_KINDS))
    votes: int = 3
    quorum: int = 2
    extract_learnings: bool = True
    max_tokens: int = 1024
    tools: list[str] = Field(
        default_factory=list,
        description="The tools runs may offer, by name (empty: every registered "
        "tool); recorded so a replay offers the same ones.",
    )
    roles: dict[str, list[str]] = Field(
        default_factory=dict, description="Model names per role, in order."
    )
    models: dict[str, ModelInfo] = Field(default_factory=dict)
    process: ProcessDefinition | None = Field(
        default=None,
        description="The process followed (loom run --process), whole, so a "
        "replay follows it however its file has changed since.",
    )

    @classmethod
    def from_config(cls, config: LoomConfig, **more: Any) -> RunSettings:
        e = config.execution
        return cls(
            max_parallel_subtasks=e.max_parallel_subtasks,
            max_subtask_retries=e.max_subtask_retries,
            max_loop_iterations=e.max_loop_iterations,
            max_replans=e.max_replans,
            approval_policy=e.approval_policy,
            votes=e.votes,
            quorum=min(e.quorum, e.votes),
            extract_learnings=e.extract_learnings,
            **more,
        )


def control_stream(task_id: str) -> str:
    """Where other processes write to a running task (cancel, approvals)."""
    return f"{task_id}/control"


def agent_stream(task_id: str, subtask_id: str, attempt: int) -> str:
    return f"{task_id}/{subtask_id}/{attempt}"
