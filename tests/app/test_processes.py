"""Finding and reading process definitions, and ``loom processes``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loom.app.processes import (
    BUILTIN_PROCESSES,
    ProcessError,
    load_process,
    read_process,
)
from tests.app.autonomy.test_control import loom

REPOSITORY_PROCESSES = Path(__file__).parents[2] / "processes"


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def definition(name: str, description: str) -> str:
    return f"name: {name}\ndescription: {description}\n"


@pytest.fixture
def places(tmp_path: Path) -> tuple[Path, Path]:
    workspace, home = tmp_path / "ws", tmp_path / "home"
    workspace.mkdir()
    home.mkdir()
    return workspace, home


@pytest.mark.parametrize("path", sorted(REPOSITORY_PROCESSES.glob("*.yaml")))
def test_every_built_in_process_is_valid_and_shipped(path: Path) -> None:
    assert read_process(path).name == path.stem
    assert (BUILTIN_PROCESSES / path.name).read_bytes() == path.read_bytes()


def test_the_workspace_replaces_the_user_who_replaces_the_built_in(
    places: tuple[Path, Path],
) -> None:
    workspace, home = places
    assert load_process("research-report", workspace, home).source == "built-in"
    write(home / "processes", "research-report", definition("research-report", "mine"))
    assert load_process("research-report", workspace, home).source == "user"
    project = workspace / ".loom" / "processes"
    write(project, "research-report", definition("research-report", "the project's"))
    found = load_process("research-report", workspace, home)
    assert (found.source, found.definition.description) == (
        "workspace",
        "the project's",
    )


def test_an_unknown_process_names_the_ones_there_are(
    places: tuple[Path, Path],
) -> None:
    with pytest.raises(ProcessError, match=r"no process named 'nope' \(available: .*"):
        load_process("nope", *places)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: [unclosed\n", "not valid YAML"),
        ("- a list\n", "expected a mapping of fields"),
        ("name: broken\n", "description: Field required"),
        ("name: other\ndescription: x\n", "its name is 'other'"),
        (
            "name: broken\ndescription: x\nverification: {tier: 9}\n",
            "verification.tier",
        ),
    ],
)
def test_a_broken_file_is_an_error_that_names_it(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = write(tmp_path, "broken", text)
    with pytest.raises(ProcessError, match=problem) as refused:
        read_process(path)
    assert str(refused.value).startswith(str(path))


def test_loom_processes_lists_them_and_reports_broken_files(
    places: tuple[Path, Path],
) -> None:
    workspace, home = places
    write(home / "processes", "mine", definition("mine", "My own process."))
    listed = loom(home, "processes", "-w", str(workspace))
    assert listed.returncode == 0, listed.stderr
    rows = [line.split()[:2] for line in listed.stdout.splitlines()]
    assert ["mine", "user"] in rows
    assert ["python-package", "built-in"] in rows
    as_json = [
        json.loads(x) for x in loom(home, "processes", "--json").stdout.split("\n") if x
    ]
    assert {"mine", "research-report"} <= {row["name"] for row in as_json}

    write(home / "processes", "broken", "name: broken\n")
    broken = loom(home, "processes")
    assert broken.returncode == 1
    assert "broken.yaml: description: Field required" in broken.stderr
    assert "mine" in broken.stdout


def test_loom_run_with_an_unknown_process_stops_before_any_model(
    places: tuple[Path, Path],
) -> None:
    workspace, home = places
    ran = loom(home, "run", "a goal", "-w", str(workspace), "--process", "nope")
    assert ran.returncode == 2
    assert "no process named 'nope'" in ran.stderr
    assert "python-package" in ran.stderr
