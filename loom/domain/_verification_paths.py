"""Path helpers of deterministic verification: one spelling for every path.

Private helper of :mod:`loom.domain.verification`, which re-exports its names.
It holds :func:`normalize_path`, which the claim finder and the evidence
matcher use to compare paths, and the two path lists a verifier starts from:
the subtask's expected files and the files the attempt wrote.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from loom.domain.eventbase import Event
from loom.domain.events import FileChanged, PlannedSubtask

__all__ = ["expected_paths", "normalize_path", "written_paths"]


def normalize_path(path: str) -> str:
    """``path`` as one spelling: POSIX separators, no ``./``, no doubled slashes."""
    cleaned = path.strip().strip("`'\"").replace("\\", "/")
    if not cleaned:
        return ""
    return posixpath.normpath(cleaned)


def expected_paths(subtask: PlannedSubtask) -> list[str]:
    """The subtask's expected files, normalized, without duplicates or directories."""
    paths: list[str] = []
    for raw in subtask.expected_files:
        # A planner lists a directory as "src/"; only files can be probed.
        if raw.strip().endswith(("/", "\\")):
            continue
        path = normalize_path(raw)
        if path and path != "." and path not in paths:
            paths.append(path)
    return paths


def written_paths(events: Sequence[Event]) -> list[str]:
    """Files the attempt created, modified or renamed into, in first-touch order."""
    paths: list[str] = []
    for event in events:
        if not isinstance(event, FileChanged) or event.kind == "delete":
            continue
        target = event.new_path if event.kind == "rename" else event.path
        path = normalize_path(target or "")
        if path and path not in paths:
            paths.append(path)
    return paths
