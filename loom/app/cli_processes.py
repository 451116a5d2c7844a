"""``loom processes``: the process definitions ``loom run --process`` can follow."""

from __future__ import annotations

import json
from pathlib import Path

import click

from loom.app.config import loom_home
from loom.app.processes import find_processes

__all__ = ["register"]


def register(group: click.Group) -> None:
    """Add ``loom processes`` to the ``loom`` group."""
    group.add_command(processes)


@click.command()
@click.option(
    "-w",
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    help="The workspace whose .loom/processes/ is searched first.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def processes(workspace: Path, as_json: bool) -> None:
    """List the process definitions: the workspace's, yours, then built-ins."""
    found, problems = find_processes(workspace.resolve(), loom_home())
    for process in found:
        definition = process.definition
        if as_json:
            row = {
                "name": definition.name,
                "source": process.source,
                "path": str(process.path),
                "description": definition.description,
                "phases": [phase.id for phase in definition.phases],
            }
            click.echo(json.dumps(row))
        else:
            click.echo(
                f"{definition.name:<24} {process.source:<10} {definition.description}"
            )
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    if not found and not as_json:
        click.echo("no process definitions found")
    if problems:
        raise SystemExit(1)
