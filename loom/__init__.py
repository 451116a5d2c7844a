"""Loom: an agent harness for local models, built on an event log."""

__version__ = "0.1.0"
__all__ = ["__version__"]
