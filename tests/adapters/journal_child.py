"""A child process that notes and records events on one stream through the
async log, and acknowledges each awaited record.

Usage: python journal_child.py STORE_URL STREAM

Each round stages (notes) a few events, one of them a file snapshot whose
blob travels with it, then records one and awaits it, then prints
``acked VERSION``: everything up to VERSION must then be in the log.
"""

from __future__ import annotations

import asyncio
import random
import sys

from loom.adapters.blobs import digest_of
from loom.adapters.determinism import RandomIds, SystemClock, context_from
from loom.adapters.eventstore.backends import open_backend
from loom.adapters.eventstore.journal import StreamJournal
from loom.adapters.eventstore.log import AsyncEventLog
from loom.adapters.eventstore.store import EventStore
from loom.domain.events import FileSnapshotted, UserMessaged


async def main(url: str, stream: str) -> None:
    log = AsyncEventLog(EventStore(open_backend(url)))
    context = context_from(SystemClock(), RandomIds())
    journal = await StreamJournal.open(log, stream, context)
    print("ready", flush=True)
    rounds = 0
    while True:
        rounds += 1
        for n in range(random.randint(0, 3)):
            journal.note(UserMessaged, text=f"noted {rounds}.{n}")
        data = f"before {rounds} {random.random()}".encode()
        journal.note(
            FileSnapshotted, with_blobs=[data], path="a.py", before=digest_of(data)
        )
        event = await journal.record(UserMessaged, text=f"recorded {rounds}")
        print(f"acked {event.version}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
