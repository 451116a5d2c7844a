"""Process definitions: what specialises a run for a domain, as data.

A process gives the planner a persona and a blueprint of phases to plan in,
gives every agent the persona and extra tool guidance, may narrow the tools,
and sets verification rules the plan cannot lower: a least tier for every
subtask and check commands every subtask must pass. ``loom run --process
NAME`` loads one (``loom/app/processes.py``); the run records the whole
definition in ``task.created``, so a replay follows the same process however
the file has changed since.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from loom.domain.events import PlannedSubtask
from loom.domain.plan import Plan

__all__ = ["Phase", "ProcessDefinition", "ProcessVerification", "apply_process"]

_NAME = r"^[a-z0-9][a-z0-9-]{0,63}$"


class Phase(BaseModel):
    """One step of the blueprint the planner plans in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=_NAME)
    description: str = Field(min_length=1)


class ProcessVerification(BaseModel):
    """Rules every subtask's verification follows, whatever the plan says."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tier: int = Field(default=1, ge=1, le=3)
    """The least verification tier of every subtask."""
    checks: list[str] = Field(default_factory=list)
    """Shell commands every subtask must pass (run in the workspace)."""


class ProcessDefinition(BaseModel):
    """A process definition, as written in its YAML file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_NAME)
    description: str = Field(min_length=1)
    persona: str = ""
    """Who the planner and the agents are in this domain."""
    phases: list[Phase] = Field(default_factory=list)
    tool_guidance: str = ""
    """Added to every agent's guidance on using its tools."""
    tools: list[str] = Field(default_factory=list)
    """The only tools the agents may use (empty: the run's own choice)."""
    verification: ProcessVerification = Field(default_factory=ProcessVerification)

    def planner_guidance(self) -> str:
        """What the planner is told of the process, before the goal."""
        lines = [f"Process: {self.name} ({self.description})"]
        if self.persona:
            lines.append(self.persona.strip())
        if self.phases:
            lines.append("Plan the work in these phases, in this order:")
            lines += [f"- {p.id}: {p.description.strip()}" for p in self.phases]
        return "\n".join(lines)

    def agent_identity(self, identity: str) -> str:
        """An agent's instructions with the process's persona first."""
        if not self.persona:
            return identity
        return f"{self.persona.strip()}\n\n{identity}"

    def agent_tool_guidance(self, guidance: str) -> str:
        if not self.tool_guidance:
            return guidance
        return f"{guidance}\n{self.tool_guidance.strip()}"


def apply_process(plan: Plan, process: ProcessDefinition) -> Plan:
    """The plan with the process's verification rules: every subtask at least
    at the process's tier, and with its checks after the plan's own."""
    rules = process.verification
    return Plan(tuple(_ruled(s, rules) for s in plan.subtasks))


def _ruled(subtask: PlannedSubtask, rules: ProcessVerification) -> PlannedSubtask:
    checks = [*subtask.checks, *(c for c in rules.checks if c not in subtask.checks)]
    tier = max(subtask.verification_tier, rules.tier)
    return subtask.model_copy(update={"verification_tier": tier, "checks": checks})
