"""``loom replay TASK``: run the orchestrator again on the recording.

The orchestrator, its attempts and agents run unchanged on replay adapters
(:mod:`loom.app.replay.adapters`) and a comparing log
(:mod:`loom.app.replay.log`). The report says ``identical: N events`` or shows
the first divergent event with a readable diff; for a model request, which
part of the prompt changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loom.app.autonomy.orchestrator import Orchestrator
from loom.app.autonomy.runtime import RunContext, RunModels
from loom.app.autonomy.settings import ModelInfo, RunSettings, control_stream
from loom.app.autonomy.streams import agent_streams
from loom.app.replay.adapters import ReplayAdapters, first_before
from loom.app.replay.log import (
    Diverged,
    RecordedRun,
    ReplayBlobs,
    ReplayLog,
    ReplayStopped,
)
from loom.app.replay.models import UNKNOWN_CAPABILITIES, Parking
from loom.domain.eventbase import Event
from loom.domain.events import (
    ModelCallStarted,
    TaskCancelled,
    TaskCreated,
)
from loom.domain.ports import BlobStore, EventLog
from loom.domain.replay_diff import (
    EventDifference,
    describe_request_change,
    difference_as_json,
    render_difference,
)

__all__ = [
    "ReplayReport",
    "live_normalizer",
    "load_run",
    "replay_task",
    "report_of",
    "restore_before_run",
    "scratch_workspace",
    "watch_quiescence",
]

_QUIET = 0.05
_STALL = 2.0


@dataclass(frozen=True)
class ReplayReport:
    """The outcome of a replay."""

    identical: bool
    compared: int
    difference: EventDifference | None = None
    request_change: list[str] | None = None
    problem: str = ""
    until: int | None = None

    def text(self) -> str:
        if self.identical:
            upto = f" (up to position {self.until})" if self.until is not None else ""
            return f"identical: {self.compared} events{upto}"
        head = f"diverged after {self.compared} identical events"
        if self.difference is not None:
            body = render_difference(self.difference, self.request_change)
            return f"{head}\n{body}"
        return f"{head}: {self.problem}"

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "identical": self.identical,
            "compared": self.compared,
            "until": self.until,
            "problem": self.problem or None,
        }
        if self.difference is not None:
            found["difference"] = difference_as_json(
                self.difference, self.request_change
            )
        return found


async def load_run(log: EventLog, task_id: str) -> RecordedRun:
    """Every stream of a recorded task, with global positions."""
    task = await log.read_stream(task_id)
    if not task or not isinstance(task[0], TaskCreated):
        raise LookupError(f"no task named {task_id!r}")
    streams = {
        task_id: task,
        control_stream(task_id): await log.read_stream(control_stream(task_id)),
    }
    produced = {task_id}
    for stream in await agent_streams(log, task):
        streams[stream] = await log.read_stream(stream)
        produced.add(stream)
    run = RecordedRun(streams, produced=produced)
    await _add_positions(log, run)
    return run


async def _add_positions(log: EventLog, run: RecordedRun) -> None:
    after, names = 0, list(run.streams)
    while page := await log.read_all(after=after, limit=5000, streams=names):
        for recorded in page:
            event = recorded.event
            run.positions[(event.stream, event.version)] = recorded.position
        after = page[-1].position


async def replay_task(
    log: EventLog,
    blobs: BlobStore,
    task_id: str,
    *,
    until: int | None = None,
    live_tools: bool = False,
) -> ReplayReport:
    """Replay a recorded task and compare every event it produces."""
    recorded = await load_run(log, task_id)
    created = recorded.streams[task_id][0]
    assert isinstance(created, TaskCreated)
    settings = RunSettings.model_validate(created.settings)
    original = Path(created.workspace)
    with scratch_workspace(original, live_tools) as workspace:
        if live_tools:
            await restore_before_run(recorded, blobs, workspace)
        normalize = live_normalizer(original, workspace) if live_tools else None
        replay_blobs = ReplayBlobs(blobs)
        replay_log = ReplayLog(
            recorded, until=until, normalize=normalize, blobs=replay_blobs
        )
        adapters = ReplayAdapters(
            recorded,
            replay_log,
            replay_blobs,
            workspace,
            settings,
            live_tools=live_tools,
        )
        context = RunContext(
            log=replay_log,
            blobs=replay_blobs,
            workspace=workspace,
            settings=settings,
            models=_stand_ins(settings),
            adapters=adapters,
        )
        run = Orchestrator(context, task_id).run_goal(created.goal, created.process)
        cancelled = any(isinstance(e, TaskCancelled) for e in recorded.streams[task_id])

        def cancel() -> bool:
            adapters.cancelled().set()
            return True

        await watch_quiescence(
            run, replay_log, adapters.parking, cancel if cancelled else None
        )
        return await report_of(replay_log, blobs, replay_blobs, until)


async def watch_quiescence(
    run: Awaitable[Any],
    log: ReplayLog,
    parking: Parking,
    on_quiet: Callable[[], bool] | None = None,
) -> None:
    """Run ``run`` to its end, stepping in when it can go no further.

    When the work still going all waits for recorded answers that do not
    exist, the recording ended there: the run was cancelled or killed at that
    point, which ``on_quiet`` replays (returning True), or the replay has left
    the recording, which is reported as a divergence.
    """
    job = asyncio.ensure_future(run)
    asked = False
    try:
        while not job.done():
            await asyncio.wait([job], timeout=0.02)
            quiet = time.monotonic() - log.last_append
            if not parking.parked or job.done():
                continue
            if not asked and on_quiet is not None and quiet > _QUIET:
                asked = True
                if on_quiet():
                    continue
            if quiet > _STALL and log.divergence is None:
                waiting = ", ".join(sorted(parking.parked))
                log.divergence = Diverged(
                    None,
                    f"the replay is stuck: {waiting} asked for more than was recorded",
                )
                job.cancel()
        with contextlib.suppress(ReplayStopped, asyncio.CancelledError):
            await job
    finally:
        if not job.done():
            job.cancel()


async def report_of(
    log: ReplayLog, blobs: BlobStore, replay_blobs: BlobStore, until: int | None
) -> ReplayReport:
    diverged = log.divergence
    if diverged is not None:
        change = await _request_change(diverged, blobs, replay_blobs)
        return ReplayReport(
            False, log.matched, diverged.difference, change, diverged.problem, until
        )
    if until is None and (short := log.shortfall()):
        stream, event = short[0]
        problem = (
            f"the replay stopped before the recording did: {stream} v{event.version} "
            f"({event.type}) was never produced"
        )
        return ReplayReport(False, log.matched, problem=problem)
    return ReplayReport(True, log.matched, until=until)


async def _request_change(
    diverged: Diverged, blobs: BlobStore, replay_blobs: BlobStore
) -> list[str] | None:
    difference = diverged.difference
    if difference is None or difference.recorded_type != ModelCallStarted.type:
        return None
    paths = {f.path: f for f in difference.fields}
    request = paths.get("request")
    if request is None or not isinstance(request.recorded, str):
        return None
    try:
        before = await blobs.get(request.recorded)
        after = await replay_blobs.get(str(request.new))
    except KeyError:
        return None
    return describe_request_change(before, after)


def _stand_ins(settings: RunSettings) -> RunModels:
    """Providers with the recorded names and abilities; replay answers for them."""

    def model(name: str) -> _StandIn:
        info = settings.models.get(name) or ModelInfo(
            name=name, model=name, capabilities=UNKNOWN_CAPABILITIES
        )
        return _StandIn(info)

    roles = settings.roles
    extractor = roles.get("extractor")
    escalation = roles.get("escalation")
    return RunModels(
        planner=model(roles["planner"][0]),
        executor=model(roles["executor"][0]),
        verifiers=[model(n) for n in roles.get("verifier", [])],
        extractor=model(extractor[0]) if extractor else None,
        escalation=model(escalation[0]) if escalation else None,
    )


class _StandIn:
    """A recorded model's identity; its answers come from the replay adapters."""

    def __init__(self, info: ModelInfo) -> None:
        self.name, self.model, self.capabilities = (
            info.name,
            info.model,
            info.capabilities,
        )

    def stream(self, request: Any) -> Any:
        raise AssertionError("a stand-in model is only ever called through replay")

    async def aclose(self) -> None:
        return None


@contextlib.contextmanager
def scratch_workspace(original: Path, live_tools: bool) -> Any:
    """With ``live_tools``, a scratch copy of ``original`` for tools to change;
    else ``original`` itself (replayed tools never touch it)."""
    if not live_tools:
        yield original
        return
    with tempfile.TemporaryDirectory(prefix="loom-replay-") as scratch:
        target = Path(scratch) / "workspace"
        if original.is_dir():
            shutil.copytree(original, target, symlinks=True)
        else:
            target.mkdir()
        yield target


async def restore_before_run(
    recorded: RecordedRun, blobs: BlobStore, target: Path
) -> None:
    """Put every file the run changed back the way it was before the run."""
    for path, before in first_before(recorded).items():
        file = target / path
        if before is None:
            file.unlink(missing_ok=True)
        else:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(await blobs.get(before))


_TIMING = re.compile(r"\(\d+(\.\d+)? s\)")


def live_normalizer(original: Path, scratch: Path) -> Any:
    """Makes re-executed tools comparable: the scratch path reads as the
    original, and measured times are not differences."""

    def normalize(recorded: Event, new: Event) -> Event:
        text = new.model_dump_json().replace(str(scratch), str(original))
        text = _TIMING.sub("(t s)", text)
        candidate = type(new).model_validate_json(text)
        if hasattr(recorded, "duration_ms"):
            candidate = candidate.model_copy(
                update={"duration_ms": recorded.duration_ms}
            )
        old = type(recorded).model_validate_json(
            _TIMING.sub("(t s)", recorded.model_dump_json())
        )
        return candidate if old == recorded else _retimed(candidate, recorded)

    return normalize


def _retimed(candidate: Event, recorded: Event) -> Event:
    # The recorded text had a timing in it: put the recorded one back where
    # the candidate's own was normalised, so only real differences remain.
    text = candidate.model_dump_json()
    for match in _TIMING.finditer(recorded.model_dump_json()):
        text = text.replace("(t s)", match.group(0), 1)
    return type(candidate).model_validate_json(text)
