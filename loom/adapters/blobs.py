"""The content-addressed blob store, on the same database as the events.

Blobs are keyed by the sha256 of their bytes, zlib-compressed, and stored once
however often they are put. ``put`` returns only after the blob is committed, so
an event naming it can be appended afterwards; the event store refuses events
whose blobs are missing.
"""

from __future__ import annotations

import asyncio
import hashlib
import zlib
from collections.abc import Collection

from loom.adapters.eventstore.backends import Backend
from loom.domain.errors import StoreError

__all__ = ["AsyncBlobStore", "SyncBlobStore", "digest_of"]

# Level 1: several times faster than the default 6 at a few percent less
# compression; model requests grow with the conversation and are stored on the
# critical path of every agent step.
_LEVEL = 1


def digest_of(data: bytes) -> str:
    """The sha256 (hex) a blob is stored under."""
    return hashlib.sha256(data).hexdigest()


class SyncBlobStore:
    """Blob storage for synchronous callers (the store's own thread, tools)."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        if not self._backend.present_blobs([digest]):
            self._backend.put_blob(digest, len(data), zlib.compress(data, _LEVEL))
        return digest

    def get(self, digest: str) -> bytes:
        stored = self._backend.get_blob(digest)
        if stored is None:
            raise KeyError(digest)
        data = zlib.decompress(stored)
        if digest_of(data) != digest:
            raise StoreError(f"blob {digest} is corrupt: its content hash differs")
        return data

    def missing(self, digests: Collection[str]) -> set[str]:
        return set(digests) - self._backend.present_blobs(digests)


class AsyncBlobStore:
    """Implements ``loom.domain.ports.BlobStore`` on worker threads."""

    def __init__(self, backend: Backend) -> None:
        self.sync = SyncBlobStore(backend)

    async def put(self, data: bytes) -> str:
        return await asyncio.to_thread(self.sync.put, data)

    async def get(self, digest: str) -> bytes:
        return await asyncio.to_thread(self.sync.get, digest)

    async def missing(self, digests: Collection[str]) -> set[str]:
        return await asyncio.to_thread(self.sync.missing, digests)
