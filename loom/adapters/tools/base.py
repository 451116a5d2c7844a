"""The tool machinery: the base class, its registry, and the runner.

A tool subclasses :class:`Tool`, declares its arguments as a pydantic model
(the JSON Schema sent to models is generated from it) and registers itself by
being defined. The :class:`ToolRunner` never lets a tool crash the harness:
unknown tools and bad arguments become structured errors the model can act on,
every call has a timeout, and output over the cap is cut with a note while the
whole of it is kept as a blob.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from loom.adapters.tools.changes import ChangeRecorder
from loom.adapters.tools.scanner import WorkspaceScanner
from loom.adapters.tools.workspace import Workspace, WorkspaceError
from loom.domain.errors import LoomError
from loom.domain.models import ToolSpec
from loom.domain.ports import BlobStore, EventLog, Journal, QuestionPort, ViewStore
from loom.domain.toolcalls import ParsedToolCall, validate_tool_call
from loom.projections.file_knowledge import FileKnowledge

__all__ = [
    "DEFAULT_OUTPUT_CAP",
    "Approver",
    "Delegator",
    "Tool",
    "ToolArgs",
    "ToolContext",
    "ToolError",
    "ToolKind",
    "ToolResult",
    "ToolRunner",
    "registered_tools",
]

ToolKind = Literal["read", "write", "shell", "git", "network", "compute"]
DEFAULT_OUTPUT_CAP = 30_000

_REGISTRY: dict[str, type[Tool]] = {}
_SPECS: dict[type[Tool], ToolSpec] = {}


class ToolError(LoomError):
    """A tool could not do what was asked; the message goes to the model."""


class ToolArgs(BaseModel):
    """Base of every tool's arguments: unknown arguments are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Approver = Callable[[str, str], Awaitable[bool]]
Delegator = Callable[[str, str], Awaitable[str]]
"""Runs a sub-agent on (task, context) and returns its report."""
"""Asked ``(what, why)`` before a risky action; True means go ahead."""


@dataclass
class ToolContext:
    """What a running tool may use.

    ``approve`` is how a tool asks a human (or an autonomous policy) before a
    risky action such as a network command; without one, such actions are
    refused, the safe default.
    """

    workspace: Workspace
    journal: Journal
    blobs: BlobStore
    knowledge: FileKnowledge = field(default_factory=FileKnowledge)
    subtask_id: str | None = None
    loom_home: Path | None = None
    approve: Approver | None = None
    log: EventLog | None = None
    views: ViewStore | None = None
    questions: QuestionPort | None = None
    delegate: Delegator | None = None
    workspace_scanner: WorkspaceScanner | None = field(
        default=None, repr=False, compare=False
    )

    async def confirm(self, what: str, why: str) -> None:
        """Raise ``ToolError`` unless the approver allows ``what``."""
        if self.approve is None:
            raise ToolError(
                f"{what} needs approval ({why}) and no one is here to approve it"
            )
        if not await self.approve(what, why):
            raise ToolError(f"{what} was not approved ({why})")

    @property
    def changes(self) -> ChangeRecorder:
        return ChangeRecorder(
            self.workspace,
            self.journal,
            self.blobs,
            self.knowledge,
            subtask_id=self.subtask_id,
        )


class Tool(ABC):
    """Base class of every tool.

    Attributes:
        name: what the model calls it.
        description: what it does, for the model.
        kind: read, write, shell, git, network or compute (drives approval).
        Args: the pydantic model of its arguments.
        timeout: seconds before the call is abandoned.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    kind: ClassVar[ToolKind]
    Args: ClassVar[type[ToolArgs]]
    timeout: ClassVar[float] = 60.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            existing = _REGISTRY.get(cls.name)
            if existing is not None and existing.__qualname__ != cls.__qualname__:
                raise TypeError(f"tool {cls.name!r} is already registered")
            _REGISTRY[cls.name] = cls

    @classmethod
    def spec(cls) -> ToolSpec:
        """How the tool is described to a model (generated once per class)."""
        cached = _SPECS.get(cls)
        if cached is None:
            schema = _without_titles(cls.Args.model_json_schema())
            cached = _SPECS[cls] = ToolSpec(
                name=cls.name, description=cls.description, parameters=schema
            )
        return cached

    @abstractmethod
    async def run(self, args: Any, ctx: ToolContext) -> str:
        """Do the work; return the text the model sees or raise ``ToolError``."""


def registered_tools() -> dict[str, type[Tool]]:
    """Every tool class by name (importing ``loom.adapters.tools`` registers all)."""
    return dict(sorted(_REGISTRY.items()))


@dataclass(frozen=True)
class ToolResult:
    """The outcome of one tool call."""

    text: str
    is_error: bool
    duration_ms: float
    full_output: str | None = None


class ToolRunner:
    """Runs tool calls by name with validation, a timeout and an output cap."""

    def __init__(
        self,
        ctx: ToolContext,
        tools: dict[str, type[Tool]] | None = None,
        *,
        output_cap: int = DEFAULT_OUTPUT_CAP,
    ) -> None:
        self.ctx = ctx
        self.tools = tools if tools is not None else registered_tools()
        self.output_cap = output_cap

    def specs(self) -> list[ToolSpec]:
        return [tool.spec() for tool in self.tools.values()]

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        started = time.perf_counter()
        try:
            text = await self._run(name, arguments)
            is_error = False
        except (ToolError, WorkspaceError) as error:
            text, is_error = f"error: {error}", True
        except TimeoutError:
            limit = self.tools[name].timeout
            text, is_error = f"error: {name} did not finish within {limit:g} s", True
        except Exception as error:  # a tool bug must not take the harness down
            text, is_error = (
                f"error: {name} failed: {type(error).__name__}: {error}",
                True,
            )
        return await self._result(text, is_error, started)

    async def _run(self, name: str, arguments: dict[str, Any]) -> str:
        cls = self.tools.get(name)
        if cls is None:
            problem = validate_tool_call(ParsedToolCall(name, arguments), self.specs())
            raise ToolError(problem.message if problem else f"unknown tool {name!r}")
        try:
            args = cls.Args.model_validate(arguments)
        except ValidationError as error:
            raise ToolError(_describe_invalid(cls, error)) from None
        return await asyncio.wait_for(cls().run(args, self.ctx), cls.timeout)

    async def _result(self, text: str, is_error: bool, started: float) -> ToolResult:
        full = None
        if len(text) > self.output_cap:
            full = await self.ctx.blobs.put(text.encode())
            cut = len(text) - self.output_cap
            text = (
                f"{text[: self.output_cap]}\n[output cut: {cut} of {len(text)} "
                f"characters not shown; the full output is kept as blob {full[:12]}]"
            )
        duration = (time.perf_counter() - started) * 1000
        return ToolResult(text, is_error, duration, full)


def _without_titles(schema: Any) -> Any:
    """The schema without pydantic's generated titles (noise in small contexts)."""
    if isinstance(schema, dict):
        return {
            key: _without_titles(value)
            for key, value in schema.items()
            if not (key == "title" and isinstance(value, str))
        }
    if isinstance(schema, list):
        return [_without_titles(item) for item in schema]
    return schema


def _describe_invalid(cls: type[Tool], error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "arguments"
        problems.append(f"{where}: {item['msg']}")
    fields = ", ".join(
        f"{name}{'' if info.is_required() else '?'}"
        for name, info in cls.Args.model_fields.items()
    )
    return f"invalid arguments for {cls.name} ({fields}): " + "; ".join(problems)
