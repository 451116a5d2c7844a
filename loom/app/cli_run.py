"""``loom run``, ``loom cancel`` and ``loom approve``: autonomous tasks."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections.abc import Mapping
from pathlib import Path

import click
from rich.console import Console

from loom.adapters.determinism import SystemClock, stream_context
from loom.adapters.eventstore.journal import StreamJournal
from loom.adapters.tools import registered_tools
from loom.app.autonomy.orchestrator import Orchestrator, TaskOutcome
from loom.app.autonomy.runtime import LiveAdapters, RunContext, RunModels
from loom.app.autonomy.settings import ModelInfo, RunSettings, control_stream
from loom.app.autonomy.streams import agent_streams
from loom.app.config import LoomConfig, load_config, loom_home
from loom.app.models import (
    ConfiguredModel,
    build_provider,
    configured_models,
    default_model_notice,
)
from loom.app.processes import FoundProcess, load_process
from loom.app.run_view import RunView, file_stats, render_summary
from loom.app.wiring import Stores, open_stores
from loom.domain.errors import ConcurrencyError, ConfigError, LoomError
from loom.domain.eventbase import Event
from loom.domain.events import (
    ApprovalGranted,
    ApprovalRefused,
    TaskCancelRequested,
    TaskCreated,
)
from loom.domain.ports import ModelProvider

__all__ = ["EXIT_CODES", "register"]

EXIT_CODES = {"completed": 0, "failed": 1, "cancelled": 3}


def register(group: click.Group) -> None:
    """Add the task commands to the ``loom`` group."""
    group.add_command(run)
    group.add_command(cancel)
    group.add_command(approve)


@click.command()
@click.argument("goal")
@click.option(
    "-w",
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    help="The workspace (default: the current directory).",
)
@click.option("-m", "--model", "model", help="The executor model (a loom.toml name).")
@click.option("--process", "process", help="A process definition to follow.")
def run(goal: str, workspace: Path, model: str | None, process: str | None) -> None:
    """Plan GOAL, run its subtasks in parallel, verify each, and recover."""
    try:
        workspace.mkdir(parents=True, exist_ok=True)
        config = load_config(workspace.resolve())
        followed = None
        if process is not None:
            followed = load_process(process, workspace.resolve(), loom_home())
        outcome = asyncio.run(
            _run_task(config, goal, workspace.resolve(), model, followed)
        )
    except OSError as error:
        click.echo(f"error: cannot use {workspace} as the workspace: {error}", err=True)
        raise SystemExit(2) from None
    except LoomError as error:
        click.echo(f"error: {error}", err=True)
        raise SystemExit(2) from None
    raise SystemExit(EXIT_CODES[outcome.status])


@click.command()
@click.argument("task_id")
@click.option("--reason", default="", help="Why (recorded with the request).")
def cancel(task_id: str, reason: str) -> None:
    """Ask a running task to stop (it obeys within a second)."""
    _append_control(task_id, TaskCancelRequested, {"reason": reason})
    click.echo(f"cancel requested for {_task_name(task_id)}")


@click.command()
@click.argument("task_id")
@click.argument("approval_id")
@click.option("--deny", "deny", default=None, help="Refuse, with this reason.")
def approve(task_id: str, approval_id: str, deny: str | None) -> None:
    """Answer a paused task's approval request (approval_policy = "pause")."""
    if deny is None:
        _append_control(task_id, ApprovalGranted, {"approval_id": approval_id})
    else:
        fields = {"approval_id": approval_id, "reason": deny}
        _append_control(task_id, ApprovalRefused, fields)
    click.echo("answer recorded")


# --- running a task -------------------------------------------------------


async def _run_task(
    config: LoomConfig,
    goal: str,
    workspace: Path,
    model: str | None,
    process: FoundProcess | None,
) -> TaskOutcome:
    console = Console(highlight=False)
    stores = open_stores(config)
    providers = _Providers(config, model)
    try:
        models = providers.run_models()
        if providers.embedded and (notice := default_model_notice(loom_home())):
            console.print(notice, style="yellow", markup=False)
        if process is not None:
            where = f"{process.source}: {process.path}"
            console.print(f"process {process.definition.name} ({where})", markup=False)
        settings = RunSettings.from_config(
            config,
            max_tokens=providers.executor_max_tokens(),
            tools=sorted(registered_tools()),
            roles=models.roles(),
            models={n: ModelInfo.of(p) for n, p in models.by_name().items()},
            process=process.definition if process else None,
        )
        return await _orchestrate(stores, workspace, settings, models, goal, console)
    finally:
        await providers.close()
        await stores.close()


async def _orchestrate(
    stores: Stores,
    workspace: Path,
    settings: RunSettings,
    models: RunModels,
    goal: str,
    console: Console,
) -> TaskOutcome:
    task_id = f"task-{uuid.uuid4()}"
    adapters = LiveAdapters(stores.log, workspace, settings)
    view = RunView(console, goal=goal)
    context = RunContext(
        log=stores.log,
        blobs=stores.blobs,
        workspace=workspace,
        settings=settings,
        models=models,
        adapters=adapters,
        loom_home=loom_home(),
        listeners=[view],
    )
    view.on_notice(f"task {task_id} (stop it with: loom cancel {task_id})")
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, adapters.cancelled().set)
    with view:
        process = settings.process.name if settings.process else None
        outcome = await Orchestrator(context, task_id).run_goal(goal, process)
    events = await _task_events(stores, task_id)
    console.print(render_summary(events, await file_stats(events, stores.blobs)))
    return outcome


async def _task_events(stores: Stores, task_id: str) -> list[Event]:
    events = await stores.log.read_stream(task_id)
    found = list(events)
    for stream in await agent_streams(stores.log, events):
        found += await stores.log.read_stream(stream)
    return found


class _Providers:
    """One provider per configured model, shared by every role that uses it."""

    def __init__(self, config: LoomConfig, executor: str | None) -> None:
        self._config, self._executor = config, executor
        self._built: dict[str, ModelProvider] = {}
        self.embedded = False

    def run_models(self) -> RunModels:
        verifiers = [self._get(m) for m in self._all("verifier")]
        extractors = self._all("extractor")
        escalation = self._all("escalation")
        return RunModels(
            planner=self._get(self._one("planner")),
            executor=self._get(self._executor_model()),
            verifiers=verifiers or [self._get(self._one("executor"))],
            extractor=self._get(extractors[0]) if extractors else None,
            escalation=self._get(escalation[0]) if escalation else None,
        )

    def executor_max_tokens(self) -> int:
        return self._executor_model().config.max_tokens

    async def close(self) -> None:
        for provider in self._built.values():
            await provider.aclose()

    def _get(self, configured: ConfiguredModel) -> ModelProvider:
        if configured.name not in self._built:
            self._built[configured.name] = build_provider(configured)
            self.embedded = self.embedded or configured.embedded
        return self._built[configured.name]

    def _all(self, role: str) -> list[ConfiguredModel]:
        return [m for m in configured_models(self._config) if role in m.config.roles]

    def _one(self, role: str) -> ConfiguredModel:
        found = self._all(role)
        if not found:
            raise ConfigError(f"no model has the role {role!r}; add it in loom.toml")
        return found[0]

    def _executor_model(self) -> ConfiguredModel:
        if self._executor is None:
            return self._one("executor")
        for candidate in configured_models(self._config):
            if candidate.name == self._executor:
                return candidate
        raise ConfigError(f"no model named {self._executor!r} in loom.toml")


# --- the control stream ---------------------------------------------------


def _task_name(task_id: str) -> str:
    return task_id if task_id.startswith("task-") else f"task-{task_id}"


def _append_control(
    task_id: str, cls: type[Event], fields: Mapping[str, object]
) -> None:
    config = load_config()
    try:
        asyncio.run(_append(config, _task_name(task_id), cls, fields))
    except LookupError as error:
        click.echo(f"error: {error}", err=True)
        raise SystemExit(2) from None


async def _append(
    config: LoomConfig, task: str, cls: type[Event], fields: Mapping[str, object]
) -> None:
    stores = open_stores(config)
    try:
        if not any(
            isinstance(e, TaskCreated) for e in await stores.log.read_stream(task)
        ):
            raise LookupError(f"no task named {task!r}")
        stream = control_stream(task)
        for _ in range(20):  # another writer may append between read and write
            version = await stores.log.stream_version(stream)
            context = stream_context(stream, version, SystemClock())
            journal = StreamJournal(stores.log, stream, version, context)
            try:
                await journal.record(cls, **fields)
                return
            except ConcurrencyError:
                continue
    finally:
        await stores.close()
