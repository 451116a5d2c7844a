"""Loom's own error hierarchy.

Adapters translate their drivers' errors into these in one place, so callers
never need to know which database or library sits underneath.
"""

from __future__ import annotations

__all__ = [
    "ConcurrencyError",
    "ConfigError",
    "DanglingBlobError",
    "EventDecodeError",
    "LoomError",
    "StoreError",
    "UnknownEventTypeError",
    "UnknownStreamError",
]


class LoomError(Exception):
    """Base class of every error Loom raises on purpose."""


class StoreError(LoomError):
    """The event store or blob store failed for a reason outside Loom's control."""


class ConcurrencyError(StoreError):
    """Another writer appended to the stream first (optimistic concurrency)."""

    def __init__(self, stream: str, expected_version: int) -> None:
        self.stream = stream
        self.expected_version = expected_version
        super().__init__(
            f"stream {stream!r} is no longer at version {expected_version}: "
            "another writer appended to it first; reload the stream and retry"
        )


class UnknownStreamError(StoreError):
    """A stream was asked for that has no events."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        super().__init__(f"no stream named {stream!r} in the event log")


class UnknownEventTypeError(StoreError):
    """A stored event names a type that no event class (or alias) is registered for."""


class EventDecodeError(StoreError):
    """A stored event could not be turned back into its domain event."""


class DanglingBlobError(StoreError):
    """An event names a blob that the blob store does not hold."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            f"refusing to append events naming {len(missing)} blob(s) not in the "
            f"blob store (write the blob first): {', '.join(missing[:5])}"
        )


class ConfigError(LoomError):
    """A configuration file is missing, unreadable or invalid."""
