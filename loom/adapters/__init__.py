"""The edges of Loom: each module implements one port from loom.domain.ports."""
