"""Deterministic replay: re-run recorded decision code and compare every event.

See ``docs/adr/0017-deterministic-replay.md``.
"""
