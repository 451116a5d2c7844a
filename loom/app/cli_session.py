"""``loom cowork``, ``loom sessions`` and ``loom --resume``: interactive sessions."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import click
from rich.console import Console

from loom.adapters.determinism import (
    RandomIds,
    SystemClock,
    context_from,
    stream_context,
)
from loom.app.config import LoomConfig, load_config, loom_home
from loom.app.cowork import (
    Command,
    LineClient,
    LineInput,
    TerminalApprovals,
    TerminalQuestions,
)
from loom.app.models import (
    ConfiguredModel,
    build_provider,
    configured_models,
    default_model_notice,
    model_for_role,
)
from loom.app.session import SessionDeps, SessionEngine
from loom.app.undo import UndoError, undo_changes
from loom.app.wiring import Stores, open_stores
from loom.domain.errors import ConfigError, LoomError
from loom.domain.events import ChangeReverted, FileChanged, SessionStarted
from loom.projections.runner import ProjectionRunner
from loom.projections.stream_index import StreamIndex, list_streams

__all__ = ["SessionRow", "list_sessions", "run_cowork"]


@dataclass(frozen=True)
class SessionRow:
    """One line of ``loom sessions``."""

    id: str
    workspace: str
    title: str
    last_activity: str
    turns: int


async def list_sessions(stores: Stores) -> list[SessionRow]:
    """Every session, most recently active first."""
    views = await stores.open_views()
    try:
        await ProjectionRunner(stores.log, views, StreamIndex()).catch_up()
        streams = [s for s in await list_streams(views) if s.kind == "session"]
    finally:
        await views.close()
    rows = []
    for summary in streams:
        events = await stores.log.read_stream(summary.stream)
        started = next((e for e in events if isinstance(e, SessionStarted)), None)
        turns = sum(1 for e in events if e.type == "user.messaged")
        rows.append(
            SessionRow(
                id=summary.stream,
                workspace=started.workspace if started else "",
                title=summary.title,
                last_activity=summary.last_at[:19],
                turns=turns,
            )
        )
    return rows


def pick_model(config: LoomConfig, name: str | None) -> ConfiguredModel:
    """The model named ``-m NAME``, else the executor-role model."""
    if name is None:
        return model_for_role(config, "executor")
    for candidate in configured_models(config):
        if candidate.name == name:
            return candidate
    names = ", ".join(m.name for m in configured_models(config))
    raise ConfigError(f"no model named {name!r} in loom.toml (models: {names})")


async def run_cowork(
    config: LoomConfig, workspace: Path, model: str | None, resume: str | None
) -> None:
    """The line-mode REPL until the user quits or input ends."""
    console = Console(highlight=False, soft_wrap=True)
    chosen = pick_model(config, model)
    if chosen.embedded and (notice := default_model_notice(loom_home())):
        console.print(notice, style="yellow", markup=False)
    stores = open_stores(config)
    views = await stores.open_views()
    lines = LineInput()
    deps = SessionDeps(
        log=stores.log,
        blobs=stores.blobs,
        context=context_from(SystemClock(), RandomIds()),
        provider=build_provider(chosen),
        approvals=TerminalApprovals(console, lines),
        questions=TerminalQuestions(console, lines),
        views=views,
        loom_home=loom_home(),
        auto_approve=frozenset(config.approval.auto_approve),
        max_loop_iterations=config.execution.max_loop_iterations,
        max_tokens=chosen.config.max_tokens,
        temperature=chosen.config.temperature,
        # Ids and times per stream, so the session can be replayed exactly.
        contexts=lambda stream, version: stream_context(stream, version, SystemClock()),
    )
    try:
        engine = await _open(deps, workspace, resume)
        client = LineClient(console, engine, lines)
        deps.listeners.append(client)
        client.commands = _commands(client, deps, stores, config, workspace, console)
        await client.run()
    finally:
        await deps.provider.aclose()
        await views.close()
        await stores.close()


async def _open(
    deps: SessionDeps, workspace: Path, resume: str | None
) -> SessionEngine:
    if resume is None:
        return await SessionEngine.start(deps, workspace)
    try:
        return await SessionEngine.resume(deps, resume)
    except LookupError as error:
        raise ConfigError(str(error)) from error


def _commands(
    client: LineClient,
    deps: SessionDeps,
    stores: Stores,
    config: LoomConfig,
    workspace: Path,
    console: Console,
) -> dict[str, Command]:
    async def sessions(_: str) -> bool:
        for row in await list_sessions(stores):
            console.print(_session_line(row), markup=False)
        return True

    async def new(_: str) -> bool:
        client.engine = await SessionEngine.start(deps, workspace)
        console.print(f"[dim]new session {client.engine.stream}[/]")
        return True

    async def resume(argument: str) -> bool:
        try:
            client.engine = await SessionEngine.resume(deps, argument)
        except LookupError as error:
            console.print(str(error), style="red")
        else:
            console.print(f"[dim]resumed {client.engine.stream}[/]")
        return True

    async def undo(_: str) -> bool:
        last = await _last_change(stores, client.engine.stream)
        if last is None:
            console.print("nothing to undo in this session")
            return True
        try:
            await undo_changes(
                stores.log, stores.blobs, deps.context, client.engine.stream,
                change_ids=[last.change_id],
            )  # fmt: skip
        except UndoError as error:
            console.print(str(error), style="red", markup=False)
        else:
            console.print(f"undid the last change to {last.path}")
        return True

    async def model(argument: str) -> bool:
        try:
            chosen = pick_model(config, argument or None)
        except ConfigError as error:
            console.print(str(error), style="red", markup=False)
            return True
        await deps.provider.aclose()
        client.engine.use_provider(build_provider(chosen))
        console.print(f"now using {chosen.name}")
        return True

    return {
        "sessions": sessions,
        "new": new,
        "resume": resume,
        "undo": undo,
        "model": model,
    }


async def _last_change(stores: Stores, stream: str) -> FileChanged | None:
    events = await stores.log.read_stream(stream)
    reverted = {e.change_id for e in events if isinstance(e, ChangeReverted)}
    changes = [
        e for e in events if isinstance(e, FileChanged) and e.change_id not in reverted
    ]
    return changes[-1] if changes else None


def _session_line(row: SessionRow) -> str:
    title = f"  {row.title}" if row.title else ""
    return (
        f"{row.id}  {row.last_activity}  {row.turns:>3} turns  {row.workspace}{title}"
    )


def register(main: click.Group) -> None:
    """Add the session commands to the ``loom`` group."""

    @main.command()
    @click.option(
        "-w",
        "--workspace",
        type=click.Path(file_okay=False, path_type=Path),
        default=".",
    )
    @click.option("-m", "--model", "model", help="A model name from loom.toml.")
    @click.option("--resume", "resume", help="Continue this session.")
    @click.option(
        "--plain", is_flag=True, help="Line mode (the default without a TUI)."
    )
    def cowork(
        workspace: Path, model: str | None, resume: str | None, plain: bool
    ) -> None:
        """Work with a model in your workspace, approving its tool calls."""
        run_session(workspace, model, resume)

    @main.command()
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
    def sessions(as_json: bool) -> None:
        """List sessions: id, workspace, title, last activity, turns."""

        async def show() -> None:
            stores = open_stores(load_config())
            try:
                rows = await list_sessions(stores)
            finally:
                await stores.close()
            for row in rows:
                click.echo(json.dumps(asdict(row)) if as_json else _session_line(row))

        _guarded(show)


def run_session(workspace: Path, model: str | None, resume: str | None) -> None:
    """Entry point shared by ``loom cowork`` and ``loom --resume``."""

    workspace.mkdir(parents=True, exist_ok=True)
    root = workspace.resolve()

    async def go() -> None:
        await run_cowork(load_config(), root, model, resume)

    _guarded(go)


def _guarded(job: object) -> None:
    try:
        asyncio.run(job())  # type: ignore[operator]
    except KeyboardInterrupt:
        sys.exit(130)
    except ConfigError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except LoomError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
