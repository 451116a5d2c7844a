"""The ``loom`` command line."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from loom import __version__
from loom.adapters.determinism import RandomIds, SystemClock, context_from
from loom.app import cli_processes, cli_replay, cli_run, cli_session, cli_tasks
from loom.app.config import load_config, loom_home
from loom.app.models import (
    ConfiguredModel,
    build_provider,
    configured_models,
    default_model_notice,
)
from loom.app.render import render_change, render_models
from loom.app.undo import (
    UndoError,
    find_change_stream,
    find_subtask_stream,
    undo_changes,
    undo_task,
)
from loom.app.wiring import Stores, open_stores
from loom.domain.errors import LoomError
from loom.domain.eventbase import ENVELOPE_FIELDS
from loom.domain.models import ProbeResult
from loom.domain.ports import Recorded
from loom.projections.changelog import Changelog, list_changes
from loom.projections.runner import ProjectionRunner
from loom.projections.task_board import task_of

__all__ = ["main"]

EXIT_USAGE = 2


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="loom")
@click.option("--resume", "resume", help="Continue a session where it stopped.")
@click.option(
    "-w",
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    help="The workspace (default: the current directory).",
)
@click.option("-m", "--model", "model", help="A model name from loom.toml.")
@click.pass_context
def main(
    ctx: click.Context, resume: str | None, workspace: Path, model: str | None
) -> None:
    """Loom: an agent harness for local models, built on an event log."""
    if ctx.invoked_subcommand is not None:
        return
    if resume is not None:
        cli_session.run_session(workspace, model, resume)
    else:
        click.echo(ctx.get_help())


@main.command()
@click.argument("stream", required=False)
@click.option(
    "--since",
    "since",
    type=click.IntRange(min=0),
    default=0,
    help="Only events after this global log position.",
)
@click.option(
    "--follow", "-f", is_flag=True, help="Keep printing new events as they land."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def events(stream: str | None, since: int, follow: bool, as_json: bool) -> None:
    """Print events from the log, all of them or one STREAM's."""
    printer = _json_line if as_json else _human_line
    _run(lambda stores: _print_events(stores, stream, since, follow, printer))


async def _print_events(
    stores: Stores,
    stream: str | None,
    since: int,
    follow: bool,
    printer: Callable[[Recorded], str],
) -> None:
    log = stores.log
    streams = [stream] if stream else []
    if stream and await log.stream_version(stream) == 0:
        raise _UsageFailure(
            f"no stream named {stream!r} in the event log ({_redact(stores.url)})"
        )
    if follow:
        async for recorded in log.tail(after=since, streams=streams):
            click.echo(printer(recorded))
        return
    position = since
    while page := await log.read_all(after=position, limit=1000, streams=streams):
        for recorded in page:
            click.echo(printer(recorded))
        position = page[-1].position


@main.command()
@click.option(
    "--check", is_flag=True, help="Probe each model: reachable, tools, context."
)
def models(check: bool) -> None:
    """List the configured models and their roles."""
    try:
        config = load_config()
    except LoomError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    listed = configured_models(config)
    if any(m.embedded for m in listed) and (
        notice := default_model_notice(loom_home())
    ):
        click.echo(notice, err=True)
    probes = asyncio.run(_probe_all(listed)) if check else {}
    click.echo(render_models(listed, probes))
    if any(not p.reachable for p in probes.values()):
        sys.exit(1)


async def _probe_all(listed: list[ConfiguredModel]) -> dict[str, ProbeResult]:
    results: dict[str, ProbeResult] = {}
    for configured in listed:
        results[configured.name] = await _probe(configured)
    return results


async def _probe(configured: ConfiguredModel) -> ProbeResult:
    try:
        provider = build_provider(configured)
    except LoomError as error:
        return ProbeResult(reachable=False, detail=str(error))
    try:
        probe = getattr(provider, "probe", None)
        if probe is None:
            return ProbeResult(reachable=False, detail="this provider cannot be probed")
        result: ProbeResult = await probe()
        return result
    finally:
        await provider.aclose()


@main.command()
@click.argument("stream_or_change", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def changes(stream_or_change: str | None, as_json: bool) -> None:
    """List file changes: all, one session's or task's, or one change."""
    _run(lambda stores: _print_changes(stores, stream_or_change, as_json))


async def _print_changes(stores: Stores, key: str | None, as_json: bool) -> None:
    views = await stores.open_views()
    try:
        await ProjectionRunner(stores.log, views, Changelog()).catch_up()
        rows = await list_changes(views, stream=key) if key else []
        if key and not rows:
            rows = await list_changes(views, change_id=key)
        if not key:
            rows = await list_changes(views)
    finally:
        await views.close()
    if key and not rows:
        raise _UsageFailure(f"no session, task or change {key!r} has file changes")
    for row in rows:
        click.echo(json.dumps(asdict(row)) if as_json else render_change(row))


@main.command()
@click.argument("change", required=False)
@click.option(
    "--subtask", "subtask",
    help="Undo every change of this subtask (with --task: that task's subtask).",
)  # fmt: skip
@click.option("--task", "stream", help="Undo every change of this task or session.")
@click.option("--force", is_flag=True, help="Undo even files changed since.")
def undo(
    change: str | None, subtask: str | None, stream: str | None, force: bool
) -> None:
    """Undo one CHANGE, a subtask's changes, or a whole task's or session's."""
    # CHANGE alone, or --task and/or --subtask.
    if (change is None) == (subtask is None and stream is None):
        click.echo(
            "error: give one of CHANGE, --task ID, --subtask ID, "
            "or --task ID --subtask ID",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    _run(lambda stores: _undo(stores, change, subtask, stream, force))


async def _undo(
    stores: Stores,
    change: str | None,
    subtask: str | None,
    stream: str | None,
    force: bool,
) -> None:
    ids = None
    context = context_from(SystemClock(), RandomIds())
    try:
        if change is not None:
            stream, full_id = await find_change_stream(stores.log, change)
            ids = [full_id]
        elif subtask is not None and stream is None:
            # Its attempts (and retries) each have a stream; undo them all.
            stream = await find_subtask_stream(stores.log, subtask)
        assert stream is not None
        if await stores.log.stream_version(stream) == 0:
            raise UndoError(f"no session or task named {stream!r}")
        if change is None and task_of(stream) == stream:
            report = await undo_task(
                stores.log, stores.blobs, context, stream,
                subtask_id=subtask, force=force,
            )  # fmt: skip
        else:
            report = await undo_changes(
                stores.log, stores.blobs, context, stream,
                change_ids=ids, subtask_id=subtask, force=force,
            )  # fmt: skip
    except UndoError as error:
        raise _UsageFailure(str(error)) from error
    for restored in report.restored:
        click.echo(f"restored {restored.path} ({restored.kind})")
    click.echo(f"undid {len(report.reverted)} change(s) in {stream}")


def _payload(recorded: Recorded) -> dict[str, Any]:
    return recorded.event.model_dump(
        mode="json", exclude=ENVELOPE_FIELDS | {"id", "at"}
    )


def _json_line(recorded: Recorded) -> str:
    event = recorded.event
    return json.dumps(
        {
            "position": recorded.position,
            "type": event.type,
            "stream": event.stream,
            "version": event.version,
            "id": str(event.id),
            "at": event.at.isoformat(),
            "data": _payload(recorded),
        },
        ensure_ascii=False,
    )


def _human_line(recorded: Recorded) -> str:
    event = recorded.event
    data = json.dumps(_payload(recorded), ensure_ascii=False)
    if len(data) > 160:
        data = data[:157] + "..."
    at = event.at.strftime("%Y-%m-%d %H:%M:%S")
    where = f"{event.stream}@{event.version}"
    return f"{recorded.position:>7}  {at}  {where}  {event.type}  {data}"


class _UsageFailure(LoomError):
    """A problem with what the user asked for: exit code 2."""


def _run(job: Callable[[Stores], Any]) -> None:
    try:
        asyncio.run(_with_stores(job))
    except KeyboardInterrupt:
        sys.exit(130)
    except _UsageFailure as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    except LoomError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)


async def _with_stores(job: Callable[[Stores], Any]) -> None:
    try:
        config = load_config()
    except LoomError as error:
        raise _UsageFailure(str(error)) from error
    stores = open_stores(config)
    try:
        await job(stores)
    finally:
        await stores.close()


def _redact(url: str) -> str:
    """The URL without its password, fit to print."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if at and ":" in credentials:
        credentials = credentials.split(":", 1)[0] + ":***"
    return f"{scheme}{sep}{credentials}{at}{host}"


cli_session.register(main)
cli_run.register(main)
cli_tasks.register(main)
cli_replay.register(main)
cli_processes.register(main)
