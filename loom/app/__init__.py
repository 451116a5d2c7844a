"""Composition root and delivery: the CLI and, later, sessions, runs, TUI and API."""
