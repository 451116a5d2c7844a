"""A run context for the orchestrator benchmarks: one model in every role,
live adapters, on a given log and workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loom.adapters.blobs import AsyncBlobStore
from loom.adapters.eventstore.log import AsyncEventLog
from loom.app.autonomy.runtime import LiveAdapters, RunContext, RunModels
from loom.app.autonomy.settings import ModelInfo, RunSettings
from loom.domain.ports import ModelProvider


def one_model_run(
    log: AsyncEventLog, workspace: Path, model: ModelProvider, **settings: Any
) -> RunContext:
    """``model`` plans, executes and verifies; ``settings`` are RunSettings
    fields (learnings are off: the benchmarks time the critical path)."""
    models = RunModels(planner=model, executor=model, verifiers=[model])
    run_settings = RunSettings(
        extract_learnings=False,
        roles=models.roles(),
        models={model.name: ModelInfo.of(model)},
        **settings,
    )
    return RunContext(
        log=log,
        blobs=AsyncBlobStore(log.store.backend),
        workspace=workspace,
        settings=run_settings,
        models=models,
        adapters=LiveAdapters(log, workspace, run_settings),
    )
