"""``loom replay ID``: re-run a recorded task or session and compare."""

from __future__ import annotations

import asyncio
import json

import click

from loom.app.config import load_config
from loom.app.replay.session import replay_session
from loom.app.replay.task import ReplayReport, replay_task
from loom.app.wiring import open_stores
from loom.domain.errors import LoomError

__all__ = ["register"]


def register(group: click.Group) -> None:
    group.add_command(replay)


@click.command()
@click.argument("run_id")
@click.option(
    "--until", type=click.IntRange(min=1), default=None,
    help="Stop once every recorded event up to this log position is reproduced.",
)  # fmt: skip
@click.option(
    "--live-tools", is_flag=True,
    help="Re-execute tools against a scratch copy of the workspace, restored "
    "to how it was before the run, instead of using recorded results.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def replay(run_id: str, until: int | None, live_tools: bool, as_json: bool) -> None:
    """Re-run task or session RUN_ID's decisions and compare every event.

    Prints "identical: N events", or the first divergent event with a diff of
    recorded against replayed. Exit code 0 when identical, 1 when not.
    """
    try:
        report = asyncio.run(_replay(run_id, until, live_tools))
    except LookupError as error:
        click.echo(f"error: {error.args[0]}", err=True)
        raise SystemExit(2) from None
    except LoomError as error:
        click.echo(f"error: {error}", err=True)
        raise SystemExit(2) from None
    click.echo(json.dumps(report.as_json()) if as_json else report.text())
    raise SystemExit(0 if report.identical else 1)


async def _replay(run_id: str, until: int | None, live_tools: bool) -> ReplayReport:
    stores = open_stores(load_config())
    try:
        if run_id.startswith("session-"):
            return await replay_session(
                stores.log, stores.blobs, run_id, until=until, live_tools=live_tools
            )
        task = run_id if run_id.startswith("task-") else f"task-{run_id}"
        return await replay_task(
            stores.log, stores.blobs, task, until=until, live_tools=live_tools
        )
    finally:
        await stores.close()
