"""The BlobStore contract, run against a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import hashlib
import os

import pytest

from loom.adapters.blobs import AsyncBlobStore
from loom.adapters.eventstore.backends import Backend


@pytest.fixture
def blobs(backend: Backend) -> AsyncBlobStore:
    return AsyncBlobStore(backend)


async def test_put_returns_the_sha256_and_get_returns_the_bytes(
    blobs: AsyncBlobStore,
) -> None:
    data = b"print('hello')\n"
    digest = await blobs.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert await blobs.get(digest) == data


@pytest.mark.parametrize(
    "data",
    [b"", bytes(range(256)) * 4, os.urandom(100_000), b"x" * 5_000_000],
    ids=["empty", "binary", "random", "large"],
)
async def test_any_bytes_round_trip(blobs: AsyncBlobStore, data: bytes) -> None:
    assert await blobs.get(await blobs.put(data)) == data


async def test_the_same_content_is_stored_once(
    blobs: AsyncBlobStore, backend: Backend
) -> None:
    first = await blobs.put(b"same")
    second = await blobs.put(b"same")
    assert first == second
    assert backend.present_blobs([first]) == {first}


async def test_repetitive_content_is_compressed(
    blobs: AsyncBlobStore, backend: Backend
) -> None:
    digest = await blobs.put(b"line of source code\n" * 10_000)
    stored = backend.get_blob(digest)
    assert stored is not None
    assert len(stored) < 10_000


async def test_missing_and_absent_blobs(blobs: AsyncBlobStore) -> None:
    present = await blobs.put(b"here")
    absent = "f" * 64
    assert await blobs.missing([present, absent]) == {absent}
    with pytest.raises(KeyError):
        await blobs.get(absent)


async def test_a_blob_survives_reopening_the_store(store_url: str) -> None:
    from loom.adapters.eventstore.backends import open_backend

    first = open_backend(store_url)
    digest = await AsyncBlobStore(first).put(b"durable")
    first.close()
    second = open_backend(store_url)
    try:
        assert await AsyncBlobStore(second).get(digest) == b"durable"
    finally:
        second.close()


def test_an_unreachable_postgres_server_is_named_in_the_error() -> None:
    from loom.adapters.eventstore.backends import open_backend
    from loom.domain.errors import StoreError

    with pytest.raises(StoreError, match=r"127\.0\.0\.1:1 .*server is running") as info:
        open_backend("postgresql://loom:secret@127.0.0.1:1/loom")
    assert "secret" not in str(info.value)
