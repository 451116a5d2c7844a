"""Loading ``loom.toml``: the working directory's, else the one in ``LOOM_HOME``.

Every section is validated strictly, so a misspelt key is an error rather than a
silently ignored setting; each error names the file, the key and what was
expected.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from loom.domain.errors import ConfigError

__all__ = [
    "ROLES",
    "ApprovalConfig",
    "ExecutionConfig",
    "LoomConfig",
    "ModelConfig",
    "StoreConfig",
    "load_config",
    "loom_home",
]

ROLES = ("planner", "executor", "verifier", "extractor")
Role = Literal["planner", "executor", "verifier", "extractor", "escalation"]
"""``escalation`` marks a stronger model that takes over a subtask whose retries
ran out; it is never a default role."""
Provider = Literal["ollama", "openai_compatible", "anthropic", "llamacpp"]

CONFIG_NAME = "loom.toml"


def loom_home() -> Path:
    """Where Loom keeps its state: ``$LOOM_HOME``, default ``~/.loom``."""
    return Path(os.environ.get("LOOM_HOME") or "~/.loom").expanduser()


class StoreConfig(BaseModel):
    """``[store]``: where the event log and the views live."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(
        default=None,
        description="postgresql://user:password@host:port/db; default: SQLite "
        "in LOOM_HOME.",
    )
    views_url: str | None = Field(
        default=None,
        description="Where projections live; default: the store's PostgreSQL "
        "database, or views.db in LOOM_HOME.",
    )

    @field_validator("url", "views_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(
            ("postgresql://", "postgres://", "sqlite:///")
        ):
            raise ValueError("a postgresql://... or sqlite:///... URL")
        return value


def _all_roles() -> list[Role]:
    return ["planner", "executor", "verifier", "extractor"]


class ModelConfig(BaseModel):
    """``[models.NAME]``: one model behind one server (or a local GGUF file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Provider
    model: str = Field(default="", description="The server's model id.")
    base_url: str | None = Field(default=None, description="Default per provider.")
    model_path: Path | None = Field(
        default=None, description="GGUF file for the llamacpp provider."
    )
    max_tokens: int = Field(default=4096, ge=1)
    temperature: float = Field(default=0.1, ge=0, le=2)
    context_length: int | None = Field(default=None, ge=256)
    roles: list[Role] = Field(default_factory=_all_roles)
    api_key: str | None = Field(default=None, repr=False)
    api_key_env: str | None = Field(
        default=None, description="Environment variable holding the API key."
    )
    timeout: float = Field(default=600.0, gt=0, description="Seconds; prefill is slow.")
    native_tools: bool = True
    structured_output: Literal["json_schema", "json_object", "none"] = "json_schema"
    tool_streaming: Literal["off", "buffer"] = Field(
        default="off", description="Ollama: stream while tools are attached?"
    )

    @field_validator("model")
    @classmethod
    def _model_named(cls, value: str) -> str:
        return value.strip()

    @field_validator("model_path")
    @classmethod
    def _expand_home(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    def resolved_api_key(self) -> str | None:
        if self.api_key_env:
            return os.environ.get(self.api_key_env) or self.api_key
        return self.api_key


class ExecutionConfig(BaseModel):
    """``[execution]``: limits of autonomous runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_subtask_retries: int = Field(default=2, ge=0, le=20)
    max_loop_iterations: int = Field(default=25, ge=1, le=1000)
    max_parallel_subtasks: int = Field(default=3, ge=1, le=64)
    max_replans: int = Field(default=1, ge=0, le=10)
    approval_policy: Literal["deny", "pause"] = Field(
        default="deny",
        description="What an autonomous run does with an action that needs "
        "approval: deny it, or pause until someone approves it.",
    )
    votes: int = Field(default=3, ge=1, le=15, description="Tier-3 voters.")
    quorum: int = Field(default=2, ge=1, le=15, description="Passing votes needed.")
    extract_learnings: bool = True


ToolKindName = Literal["read", "write", "shell", "git", "network", "compute"]


def _safe_kinds() -> list[ToolKindName]:
    return ["read", "compute"]


class ApprovalConfig(BaseModel):
    """``[approval]``: which kinds of tool call run without asking."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auto_approve: list[ToolKindName] = Field(
        default_factory=_safe_kinds,
        description="Tool kinds approved without asking (reads by default).",
    )


class LoomConfig(BaseModel):
    """The whole configuration file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    store: StoreConfig = StoreConfig()
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    execution: ExecutionConfig = ExecutionConfig()
    approval: ApprovalConfig = ApprovalConfig()
    source: Path | None = Field(default=None, exclude=True)

    def event_store_url(self, home: Path) -> str:
        return self.store.url or f"sqlite:///{home / 'loom.db'}"

    def views_url(self, home: Path) -> str:
        if self.store.views_url:
            return self.store.views_url
        if self.store.url and not self.store.url.startswith("sqlite"):
            return self.store.url
        return f"sqlite:///{home / 'views.db'}"


def load_config(cwd: Path | None = None, home: Path | None = None) -> LoomConfig:
    """Read the first ``loom.toml`` found, or the defaults when there is none."""
    for candidate in (
        (cwd or Path.cwd()) / CONFIG_NAME,
        (home or loom_home()) / CONFIG_NAME,
    ):
        if candidate.is_file():
            return _parse(candidate)
    return LoomConfig()


def _parse(path: Path) -> LoomConfig:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the file: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error
    try:
        return LoomConfig.model_validate({**data, "source": path})
    except ValidationError as error:
        raise ConfigError(_describe(path, error)) from error


def _describe(path: Path, error: ValidationError) -> str:
    lines = [f"{path}: invalid configuration"]
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"])
        expected = problem["msg"].removeprefix("Value error, ")
        got = problem.get("input")
        lines.append(f"  {key}: expected {expected} (got {got!r})")
    return "\n".join(lines)
