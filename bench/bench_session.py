"""Session-engine benchmarks: harness overhead per agent step, and resume time.

1. Overhead per step: a scripted model answers every request with a
   ``read_file`` call (a different file each time, so no doom loop). Measured
   from the moment the model's completion is handed to the engine to the moment
   the next request reaches the model: tool approval, the tool run, and every
   event durably appended to a real SQLite store in between.
2. Resume: a session stream of about 10,000 events (user messages, model calls,
   tool calls and results, file reads) is resumed, from ``SessionEngine.resume``
   being called to the engine being ready for input.

Usage: python bench/bench_session.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from loom.adapters.blobs import AsyncBlobStore
from loom.adapters.determinism import RandomIds, SystemClock, context_from
from loom.adapters.eventstore.backends import SQLiteBackend
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.app.session import SessionDeps, SessionEngine
from loom.domain.events import ToolCall
from loom.domain.models import Capabilities, Completion, ModelRequest, StreamItem
from loom.domain.ports import ApprovalAnswer, ApprovalRequest


class SteppingModel:
    """Calls read_file on f0, f1, ... and timestamps its answers and requests."""

    name = model = "stepping"
    capabilities = Capabilities(
        native_tools=True,
        context_length=32768,
        streams_tool_calls=True,
        constrained_output=True,
    )

    def __init__(self, steps: int) -> None:
        self.steps, self.calls = steps, 0
        self.answered_at: float | None = None
        self.gaps: list[float] = []

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        return self._stream()

    async def aclose(self) -> None:
        return None

    async def _stream(self) -> AsyncIterator[StreamItem]:
        if self.answered_at is not None:
            self.gaps.append((time.perf_counter() - self.answered_at) * 1000)
        n, self.calls = self.calls, self.calls + 1
        if n >= self.steps:
            self.answered_at = None
            yield Completion(text="done", finish_reason="stop")
            return
        call = ToolCall(
            id=f"c{n}", name="read_file", arguments={"path": f"f{n % 50}.txt"}
        )
        self.answered_at = time.perf_counter()
        yield Completion(tool_calls=[call], finish_reason="tool_calls")


class Never:
    async def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        raise AssertionError("reads need no approval")


def deps(log: AsyncEventLog, model: SteppingModel, loops: int) -> SessionDeps:
    return SessionDeps(
        log=log,
        blobs=AsyncBlobStore(log.store.backend),
        context=context_from(SystemClock(), RandomIds()),
        provider=model,
        approvals=Never(),
        max_loop_iterations=loops,
    )


async def overhead(root: Path, steps: int) -> list[float]:
    workspace = root / "ws"
    workspace.mkdir()
    for n in range(50):
        (workspace / f"f{n}.txt").write_text(f"file {n}\n" * 20)
    log = AsyncEventLog(EventStore(SQLiteBackend(root / "steps.db")))
    model = SteppingModel(steps)
    engine = await SessionEngine.start(deps(log, model, steps + 1), workspace)
    await engine.send("read everything")
    await log.close()
    return model.gaps


async def resume(root: Path, steps: int) -> tuple[int, list[float]]:
    workspace = root / "ws2"
    workspace.mkdir()
    for n in range(50):
        (workspace / f"f{n}.txt").write_text(f"file {n}\n")
    log = AsyncEventLog(EventStore(SQLiteBackend(root / "resume.db")))
    model = SteppingModel(10**9)
    engine = await SessionEngine.start(deps(log, model, 25), workspace)
    while await log.stream_version(engine.stream) < 10_000 and steps > 0:
        model.steps = model.calls + 24
        await engine.send("keep reading")
        steps -= 24
    events = await log.stream_version(engine.stream)
    timings = []
    for _ in range(7):
        started = time.perf_counter()
        await SessionEngine.resume(deps(log, model, 25), engine.stream)
        timings.append((time.perf_counter() - started) * 1000)
    await log.close()
    return events, timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        gaps = asyncio.run(overhead(root, 60 if args.quick else 400))
        budget = 200 if args.quick else 10_000
        events, timings = asyncio.run(resume(root, budget))
    gaps.sort()
    print(
        f"overhead per step over {len(gaps)} steps (ms): median "
        f"{statistics.median(gaps):.2f}, p95 {gaps[int(len(gaps) * 0.95)]:.2f} "
        "(target: median <= 3 ms)"
    )
    print(
        f"resume of a {events}-event session (ms): median "
        f"{statistics.median(timings):.0f}, max {max(timings):.0f} (target <= 500 ms)"
    )


if __name__ == "__main__":
    main()
