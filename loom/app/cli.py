"""The ``loom`` command line."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from loom import __version__
from loom.app.config import load_config, loom_home
from loom.app.models import (
    ConfiguredModel,
    build_provider,
    configured_models,
    default_model_notice,
)
from loom.app.render import render_models
from loom.app.wiring import Stores, open_stores
from loom.domain.errors import LoomError
from loom.domain.eventbase import ENVELOPE_FIELDS
from loom.domain.models import ProbeResult
from loom.domain.ports import Recorded

__all__ = ["main"]

EXIT_USAGE = 2


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="loom")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Loom: an agent harness for local models, built on an event log."""
    if ctx.invoked_subcommand is None:
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
