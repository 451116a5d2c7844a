"""A scripted world for autonomous-run tests: a real SQLite log, a real workspace,
and models that answer by role and subtask (parallel calls arrive in any order)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loom.adapters.blobs import AsyncBlobStore
from loom.adapters.eventstore.backends import SQLiteBackend
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.adapters.models.scripted import ScriptedProvider
from loom.adapters.tools import registered_tools
from loom.app.autonomy.orchestrator import Orchestrator, TaskOutcome
from loom.app.autonomy.runtime import LiveAdapters, RunContext, RunModels
from loom.app.autonomy.settings import ModelInfo, RunSettings
from loom.domain.eventbase import Event
from loom.domain.events import SubtaskStarted, ToolCall
from loom.domain.models import Completion, ModelRequest

_SUBTASK = re.compile(r"Your subtask \(([^)]+)\)")


def plan(*subtasks: dict[str, Any]) -> str:
    full = [
        {
            "depends_on": [],
            "acceptance_criteria": [],
            "expected_files": [],
            "verification_tier": 1,
            **s,
        }
        for s in subtasks
    ]
    return json.dumps({"subtasks": full})


def tool(name: str, **arguments: Any) -> Completion:
    return Completion(
        tool_calls=[ToolCall(id=f"c-{name}", name=name, arguments=arguments)],
        finish_reason="tool_calls",
    )


def text(value: str) -> Completion:
    return Completion(text=value, finish_reason="stop")


def subtask_of(request: ModelRequest) -> str | None:
    for message in request.messages:
        if message.role == "user" and (found := _SUBTASK.search(message.content)):
            return found.group(1)
    return None


def tool_results(request: ModelRequest) -> int:
    return sum(1 for m in request.messages if m.role == "tool")


def is_planner(request: ModelRequest) -> bool:
    schema = request.params.json_schema or {}
    return "subtasks" in schema.get("properties", {})


Step = Callable[[ModelRequest], Completion]


@dataclass
class Script:
    """Answers by role: the planner's answers in turn, each subtask's steps."""

    plans: list[str]
    steps: dict[str, list[Completion]] = field(default_factory=dict)
    verdicts: list[str] = field(default_factory=list)
    default: Callable[[str, int], Completion] | None = None

    def __call__(self, request: ModelRequest) -> Completion:
        if is_planner(request):
            return text(self.plans.pop(0) if len(self.plans) > 1 else self.plans[0])
        schema = request.params.json_schema or {}
        if "passed" in schema.get("properties", {}):
            return text(self.verdicts.pop(0))
        if "learned" in schema.get("properties", {}):
            return text('{"learned": []}')
        sid = subtask_of(request) or "?"
        index = tool_results(request)
        steps = self.steps.get(sid)
        if steps is not None and index < len(steps):
            return steps[index]
        if self.default is not None:
            return self.default(sid, index)
        return text("done")


def write_then_answer(path: str, content: str = "x = 1\n") -> list[Completion]:
    return [tool("write_file", path=path, content=content), text(f"I wrote {path}.")]


class World:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.workspace = root / "ws"
        self.workspace.mkdir()
        self.log = AsyncEventLog(EventStore(SQLiteBackend(root / "loom.db")))
        self.blobs = AsyncBlobStore(self.log.store.backend)

    def context(
        self, models: RunModels, settings: RunSettings | None = None
    ) -> RunContext:
        settings = settings or RunSettings()
        settings = settings.model_copy(
            update={
                "tools": settings.tools or loom_tools(),
                "roles": models.roles(),
                "models": {n: ModelInfo.of(p) for n, p in models.by_name().items()},
            }
        )
        return RunContext(
            log=self.log,
            blobs=self.blobs,
            workspace=self.workspace,
            settings=settings,
            models=models,
            adapters=LiveAdapters(self.log, self.workspace, settings),
        )

    async def run(
        self,
        goal: str,
        models: RunModels,
        settings: RunSettings | None = None,
        task_id: str = "task-1",
    ) -> TaskOutcome:
        context = self.context(models, settings)
        return await Orchestrator(context, task_id).run_goal(goal)

    async def task_events(self, task_id: str = "task-1") -> list[Event]:
        return await self.log.read_stream(task_id)

    async def all_events(self, task_id: str = "task-1") -> list[Event]:
        events = await self.task_events(task_id)
        found = list(events)
        for e in events:
            if isinstance(e, SubtaskStarted) and e.agent_stream:
                found += await self.log.read_stream(e.agent_stream)
        return found


def loom_tools() -> list[str]:
    """Loom's own tools: other test modules register fakes that a ``loom``
    process started by a test (a replay from the CLI) would not have."""
    return sorted(
        name
        for name, tool in registered_tools().items()
        if tool.__module__.startswith("loom.")
    )


def models_for(script: Script, **more: Any) -> RunModels:
    provider = ScriptedProvider(handler=script, name="scripted", **more)
    return RunModels(
        planner=provider, executor=provider, verifiers=[provider], extractor=provider
    )
