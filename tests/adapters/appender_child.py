"""A child process that appends batches to one stream and acknowledges each.

Usage: python appender_child.py STORE_URL STREAM [MAX_BATCHES]

After each append returns it prints ``acked FIRST LAST BATCH SIZE`` and
flushes, so the parent knows exactly which events were acknowledged before it
kills this process.
"""

from __future__ import annotations

import random
import sys
import uuid

from loom.adapters.determinism import RandomIds, SystemClock, context_from
from loom.adapters.eventstore.backends import open_backend
from loom.adapters.eventstore.store import EventStore
from loom.domain.eventbase import StreamCursor
from loom.domain.events import UserMessaged


def main(url: str, stream: str, max_batches: int) -> None:
    store = EventStore(open_backend(url))
    context = context_from(SystemClock(), RandomIds())
    cursor = StreamCursor(stream, store.stream_version(stream), context)
    print("ready", flush=True)
    for _ in range(max_batches):
        batch = uuid.uuid4().hex[:12]
        size = random.randint(1, 5)
        first = cursor.version + 1
        events = [
            cursor.new(UserMessaged, text=f"{batch}:{n}/{size}") for n in range(size)
        ]
        store.append(events)
        print(f"acked {first} {cursor.version} {batch} {size}", flush=True)
    store.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 10**9)
