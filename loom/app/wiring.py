"""Building the stores from the configuration (the composition root)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loom.adapters.blobs import AsyncBlobStore
from loom.adapters.eventstore.backends import open_backend
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.adapters.views import open_views
from loom.app.config import LoomConfig, loom_home
from loom.domain.ports import ViewStore

__all__ = ["Stores", "open_stores"]


@dataclass
class Stores:
    """The event log, the blob store and where the views live."""

    log: AsyncEventLog
    blobs: AsyncBlobStore
    url: str
    views_url: str

    async def open_views(self) -> ViewStore:
        return await open_views(self.views_url)

    async def close(self) -> None:
        await self.log.close()


def open_stores(config: LoomConfig, home: Path | None = None) -> Stores:
    """Open the configured event store (SQLite in ``LOOM_HOME`` by default)."""
    home = home or loom_home()
    url = config.event_store_url(home)
    backend = open_backend(url)
    return Stores(
        log=AsyncEventLog(EventStore(backend)),
        blobs=AsyncBlobStore(backend),
        url=url,
        views_url=config.views_url(home),
    )
