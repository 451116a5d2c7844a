"""Finding and reading process definitions (YAML files named ``NAME.yaml``).

``NAME`` is looked for in the workspace's ``.loom/processes/``, then in
``LOOM_HOME/processes/``, then among the built-ins shipped with Loom (the
repository's ``processes/``, packaged as ``loom/builtin_processes``). The
first found wins, so a project or a user can replace a built-in. A file that
does not parse or does not match the format is an error naming the file and
the field, never a silently ignored process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from loom.domain.errors import LoomError
from loom.domain.process import ProcessDefinition

__all__ = [
    "BUILTIN_PROCESSES",
    "FoundProcess",
    "ProcessError",
    "find_processes",
    "load_process",
    "read_process",
]

BUILTIN_PROCESSES = Path(__file__).resolve().parent.parent / "builtin_processes"


class ProcessError(LoomError):
    """A process definition is missing or unusable."""


@dataclass(frozen=True)
class FoundProcess:
    """A process definition and where it was found."""

    definition: ProcessDefinition
    path: Path
    source: str
    """``workspace``, ``user`` or ``built-in``."""


def search_path(workspace: Path, home: Path) -> list[tuple[str, Path]]:
    """Where process definitions are looked for, first match first."""
    return [
        ("workspace", workspace / ".loom" / "processes"),
        ("user", home / "processes"),
        ("built-in", BUILTIN_PROCESSES),
    ]


def load_process(name: str, workspace: Path, home: Path) -> FoundProcess:
    """The process called ``name``, from the first place that has it."""
    for source, folder in search_path(workspace, home):
        path = folder / f"{name}.yaml"
        if path.is_file():
            return FoundProcess(read_process(path), path, source)
    found, _ = find_processes(workspace, home)
    known = ", ".join(p.definition.name for p in found) or "none"
    raise ProcessError(
        f"no process named {name!r} (available: {known}; see `loom processes`)"
    )


def find_processes(workspace: Path, home: Path) -> tuple[list[FoundProcess], list[str]]:
    """Every usable process (first match per name) and the problems of the
    files that are not usable."""
    found: dict[str, FoundProcess] = {}
    problems: list[str] = []
    for source, folder in search_path(workspace, home):
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            if path.stem in found:
                continue
            try:
                found[path.stem] = FoundProcess(read_process(path), path, source)
            except ProcessError as error:
                problems.append(str(error))
    return sorted(found.values(), key=lambda p: p.definition.name), problems


def read_process(path: Path) -> ProcessDefinition:
    """Read and check one definition file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ProcessError(f"{path}: cannot read it: {error}") from error
    except yaml.YAMLError as error:
        raise ProcessError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise ProcessError(f"{path}: expected a mapping of fields at the top")
    try:
        definition = ProcessDefinition.model_validate(data)
    except ValidationError as error:
        raise ProcessError(f"{path}: {_first_problem(error)}") from error
    if definition.name != path.stem:
        raise ProcessError(
            f"{path}: its name is {definition.name!r}; a process file is named "
            f"after its process ({definition.name}.yaml)"
        )
    return definition


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]) or "(top)"
    return f"{where}: {problem['msg']}"
