"""Loading ``loom.toml``: the working directory's, else the one in ``LOOM_HOME``.

Only the sections the current capabilities use are validated strictly; other
sections are kept for the capabilities that own them. Every error names the
file, the key and what was expected.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from loom.domain.errors import ConfigError

__all__ = ["LoomConfig", "StoreConfig", "load_config", "loom_home"]

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


class LoomConfig(BaseModel):
    """The whole configuration file."""

    model_config = ConfigDict(extra="allow", frozen=True)

    store: StoreConfig = StoreConfig()
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
