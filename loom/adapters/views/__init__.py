"""Views databases for materialized projections (the ``ViewStore`` port)."""

from __future__ import annotations

from loom.adapters.views.postgres import PostgresViewStore
from loom.adapters.views.sqlite import SQLiteViewStore

__all__ = ["PostgresViewStore", "SQLiteViewStore", "open_views"]


async def open_views(url: str) -> SQLiteViewStore | PostgresViewStore:
    """Open ``sqlite:///PATH``, ``sqlite:///:memory:`` or ``postgresql://...``."""
    if url.startswith(("postgresql://", "postgres://")):
        return await PostgresViewStore.connect(url)
    return await SQLiteViewStore.connect(url.removeprefix("sqlite:///"))
