"""Plain-text tables for the command line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.table import Table

from loom.app.models import ConfiguredModel
from loom.domain.models import ProbeResult
from loom.projections.changelog import ChangeRow

__all__ = ["render_change", "render_models"]


def render_models(
    listed: Sequence[ConfiguredModel], probes: Mapping[str, ProbeResult]
) -> str:
    """The ``loom models`` table (with probe columns after ``--check``)."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("NAME", "PROVIDER", "MODEL", "ROLES", "WHERE"):
        table.add_column(column)
    if probes:
        for column in ("REACHABLE", "NATIVE TOOLS", "CONTEXT"):
            table.add_column(column)
    for item in listed:
        c = item.config
        where = str(
            c.model_path or c.base_url or ("embedded" if item.embedded else "-")
        )
        row = [item.name, c.provider, c.model or "-", ", ".join(c.roles), where]
        if probes:
            row += _probe_cells(probes[item.name])
        table.add_row(*row)
    console = Console(width=200, color_system=None)
    with console.capture() as captured:
        console.print(table)
        for name, probe in probes.items():
            if probe.detail:
                console.print(f"{name}: {probe.detail}")
    return captured.get().rstrip()


def _probe_cells(probe: ProbeResult) -> list[str]:
    tools = {True: "yes", False: "no", None: "unknown"}[probe.native_tools]
    context = str(probe.context_length) if probe.context_length else "unknown"
    return ["yes" if probe.reachable else "NO", tools, context]


def render_change(row: ChangeRow) -> str:
    """One line of ``loom changes``."""
    path = f"{row.path} -> {row.new_path}" if row.new_path else row.path
    flags = " (reverted)" if row.reverted else ""
    where = row.stream + (f"/{row.subtask_id}" if row.subtask_id else "")
    return (
        f"{row.change_id[:8]}  {row.at[:19]}  {row.kind:<6}  {path}  "
        f"[{row.cause}, {where}]{flags}"
    )
