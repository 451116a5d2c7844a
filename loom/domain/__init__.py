"""Loom's domain: pure, synchronous and deterministic.

Nothing here performs I/O, reads a clock or draws a random id: those arrive
through the ports in :mod:`loom.domain.ports`.
"""
