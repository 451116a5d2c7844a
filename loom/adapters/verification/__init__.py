"""Verifiers of subtask attempts; tier 1 (deterministic) needs no model."""

from __future__ import annotations

from loom.adapters.verification.deterministic import (
    DiskProbe,
    ProbeError,
    syntax_problem,
    verify_deterministic,
)

__all__ = ["DiskProbe", "ProbeError", "syntax_problem", "verify_deterministic"]
