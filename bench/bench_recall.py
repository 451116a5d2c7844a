"""Full-text recall over a million stored conversation turns.

Target: a ``conversation_recall`` search over 1,000,000 turns answers with a
p95 of at most 50 ms (file-backed SQLite views, FTS5).

The views database is built once through ``Conversation().apply`` in batches,
from a seeded workload: 2,000 sessions of 500 turns in 100 workspaces, user
messages, executor answers with tool calls and tool results, their words drawn
from a Zipf-distributed vocabulary of about 20,000 words (a few hundred common
English and programming words, then a long tail of identifiers). It is cached
under the temp directory, keyed by the projection's and this workload's
version, so reruns skip the build. Then a few hundred searches of 1-3 words
(common and rare words, some prefixes) are timed through ``search`` scoped as
the tool scopes them (this session; this workspace's sessions), unscoped, and
through the tool itself. The log the tool catches up against is a stand-in
whose head is the views' position, so its catch-up is the position check it
does when nothing is new.

What makes the target: FTS5's ``bm25()`` first counts, for each query word,
every row of the table holding it (a scan of the word's whole doclist), so a
common word over a million turns cost 100-900 ms whatever the scope. A search
therefore takes the newest ``CANDIDATES`` matches straight off the index
(``ORDER BY rowid DESC LIMIT``, which FTS5 serves by walking rowids and
stopping, with each session's token in the match so a scope is an AND that
skips through the index) and ranks those by bm25 in Python; prefixes shorter
than four characters are searched as whole words (``the*`` alone took 75 ms).

    python bench/bench_recall.py           # 1,000,000 turns (first run builds)
    python bench/bench_recall.py --quick   # 50,000 turns
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from uuid import UUID

from _common import machine, percentile, print_table, verdict

from loom.adapters.tools.base import ToolContext, ToolRunner
from loom.adapters.tools.recall import ConversationRecall
from loom.adapters.views.sqlite import SQLiteViewStore
from loom.domain.events import (
    Event,
    ModelCallCompleted,
    ModelCallStarted,
    SessionStarted,
    ToolCall,
    ToolCallCompleted,
    ToolCallRequested,
    UserMessaged,
)
from loom.domain.ports import EventLog, Recorded
from loom.projections.conversation import Conversation, search
from loom.projections.runner import POSITIONS_TABLE

TARGET_P95_MS = 50.0
WORKLOAD_VERSION = 1
TURNS_PER_SESSION = 500
SESSIONS_PER_WORKSPACE = 20
ACTIVE_SESSIONS = 8
BATCH_EVENTS = 20_000
SEARCHES = 300
_REQUEST = "0" * 64

_COMMON_TEXT = """
the a to of and in is it that for this with on be not as are was you can i we
have but at or from an by if will do so what my all there they has when one
file function test error line module import return class value code change
config path run build fix parser token tree read write call tool result output
input string list dict type name data check case update add remove new old use
make need should would could look see find show log debug fail pass failed
passed warning exception trace stack frame variable argument parameter method
object instance field key index array buffer cache memory thread process task
session user model query search match pattern regex split join format parse
lexer compile compiler runtime version package dependency install server client
request response header status timeout retry socket connection database table
column row schema migration commit branch merge diff patch review issue bug
feature refactor rename move delete create open close save load start stop
because then than also just only into over after before while where which who
how why more most some any each every other such same different first last
next previous again still already yet here now very well really maybe think
know want try get set put keep let go went come take give tell ask work seem
feel leave mean help turn begin end point problem question answer reason idea
way thing part place time day week year number word example note comment doc
docs readme license setup script shell command option flag default env home
directory folder workspace project source src lib tests spec unit integration
mock fixture assert expected actual unicode utf encoding decode encode bytes
json yaml toml csv xml html http https url api endpoint route handler event
stream queue batch sync async await future promise callback loop iterator
generator lambda closure scope global local static dynamic public private
"""
_SYLLABLES_TEXT = """
ka ri to mo na se lu vi pe do ga zu ne xo qui bar baz foo qux lo fi ren tal
mor sen dak pil gor vex lin tor ban cel dim ern fol gan hep jor kel mun nor
"""
_COMMON = _COMMON_TEXT.split()
_SYLLABLES = _SYLLABLES_TEXT.split()


# --- the workload ---------------------------------------------------------------


def vocabulary(size: int = 20_000) -> list[str]:
    """Common words first, then made-up identifiers, all distinct."""
    words = list(dict.fromkeys(_COMMON))
    rng = random.Random(1)
    seen = set(words)
    while len(words) < size:
        parts = rng.randint(2, 3)
        word = "".join(rng.choice(_SYLLABLES) for _ in range(parts))
        if rng.random() < 0.3:
            word += f"_{rng.choice(_COMMON)}"
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


class Words:
    """Draws words by Zipf's law (rank r has weight 1 / r**1.07)."""

    def __init__(self, seed: int) -> None:
        self.words = vocabulary()
        self.rng = random.Random(seed)
        self.cum = list(
            itertools.accumulate(1 / r**1.07 for r in range(1, len(self.words) + 1))
        )

    def text(self, low: int, high: int) -> str:
        count = self.rng.randint(low, high)
        return " ".join(self.rng.choices(self.words, cum_weights=self.cum, k=count))

    def rare(self) -> str:
        return self.rng.choice(self.words[len(_COMMON) :])


class Session:
    """One session's events, exchange by exchange."""

    def __init__(self, n: int, words: Words, clock: Iterator[datetime]) -> None:
        self.stream = f"session-{n:05d}"
        self.workspace = f"/home/user/projects/p{n // SESSIONS_PER_WORKSPACE:03d}"
        self.words, self.clock = words, clock
        self.version = 0
        self.turns = 0

    def event(self, cls: type[Event], **fields: Any) -> Event:
        self.version += 1
        return cls.model_construct(
            stream=self.stream,
            version=self.version,
            id=UUID(int=self.version),
            at=next(self.clock),
            **fields,
        )

    def opening(self) -> list[Event]:
        title = self.words.text(3, 6)
        return [self.event(SessionStarted, workspace=self.workspace, title=title)]

    def exchange(self) -> list[Event]:
        """A message, an answer with 0-2 tool calls, their results, a reply."""
        rng, words = self.words.rng, self.words
        events = [self.event(UserMessaged, text=words.text(5, 40))]
        calls = [self._tool_call() for _ in range(rng.choice((0, 1, 1, 2)))]
        events += self._answer(words.text(5, 60), calls)
        for call in calls:
            events.append(
                self.event(
                    ToolCallRequested,
                    call_id=call.id,
                    tool=call.name,
                    arguments=call.arguments,
                )
            )
            result = words.text(10, 120)
            events.append(
                self.event(
                    ToolCallCompleted, call_id=call.id, result=result, is_error=False
                )
            )
        events += self._answer(words.text(5, 50), [])
        self.turns += 2 + len(calls) + 1
        return events

    def _tool_call(self) -> ToolCall:
        rng = self.words.rng
        name = rng.choice(("read_file", "grep", "run_shell", "edit_file"))
        target = f"src/{self.words.rare()}/{self.words.rare()}.py"
        return ToolCall(id=f"t{self.version}", name=name, arguments={"path": target})

    def _answer(self, text: str, calls: list[ToolCall]) -> list[Event]:
        call_id = f"m{self.version}"
        return [
            self.event(
                ModelCallStarted,
                call_id=call_id,
                role="executor",
                model="m",
                request=_REQUEST,
                fingerprint="f",
            ),
            self.event(
                ModelCallCompleted,
                call_id=call_id,
                text=text,
                tool_calls=calls,
                latency_ms=1.0,
            ),
        ]


def workload(turns: int) -> Iterator[Event]:
    """Events of ``turns // 500`` sessions, a few running at once, interleaved."""
    words = Words(seed=7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = (start + timedelta(seconds=n) for n in itertools.count())
    sessions = [Session(n, words, clock) for n in range(turns // TURNS_PER_SESSION)]
    waiting = iter(sessions)
    active: list[Session] = []
    while True:
        while len(active) < ACTIVE_SESSIONS and (new := next(waiting, None)):
            active.append(new)
            yield from new.opening()
        if not active:
            return
        session = words.rng.choice(active)
        yield from session.exchange()
        if session.turns >= TURNS_PER_SESSION:
            active.remove(session)


# --- building the views -----------------------------------------------------------


def cached_path(turns: int) -> Path:
    key = f"v{Conversation.version}-w{WORKLOAD_VERSION}-{turns}"
    return Path(tempfile.gettempdir()) / f"loom-bench-recall-{key}.db"


async def stored_position(views: SQLiteViewStore) -> int:
    try:
        rows = await views.fetchall(
            f"SELECT position FROM {POSITIONS_TABLE} WHERE name = ?",
            (Conversation.name,),
        )
    except Exception:  # no positions table: not built
        return 0
    return int(str(rows[0][0])) if rows else 0


async def build(path: Path, turns: int) -> int:
    """Fold the workload into a fresh views file; returns the last position."""
    await asyncio.to_thread(path.unlink, missing_ok=True)
    views = await SQLiteViewStore.connect(str(path))
    projection = Conversation()
    async with views.transaction() as tx:
        await tx.execute(
            f"CREATE TABLE {POSITIONS_TABLE} (name TEXT PRIMARY KEY, "
            "version INTEGER NOT NULL, position BIGINT NOT NULL)"
        )
        for statement in projection.schema("sqlite"):
            await tx.execute(statement)
    position, started = 0, time.perf_counter()
    batch: list[Recorded] = []
    for event in workload(turns):
        position += 1
        batch.append(Recorded(position, event))
        if len(batch) == BATCH_EVENTS:
            await apply(views, projection, batch)
            print(f"  {position:,} events ({time.perf_counter() - started:.0f} s)")
            batch = []
    await apply(views, projection, batch)
    await views.close()
    return position


async def apply(
    views: SQLiteViewStore, projection: Conversation, batch: list[Recorded]
) -> None:
    async with views.transaction() as tx:
        await projection.apply(tx, batch)
        if batch:
            await tx.execute(
                f"INSERT INTO {POSITIONS_TABLE} (name, version, position) "
                "VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "position = excluded.position",
                (projection.name, projection.version, batch[-1].position),
            )


# --- timing -----------------------------------------------------------------------


def queries(count: int, seed: int = 11) -> list[str]:
    """1-3 words: mostly Zipf-drawn (so common words), some rare, some prefixes."""
    words = Words(seed)
    found: list[str] = []
    for _ in range(count):
        picked = [
            words.rare() if words.rng.random() < 0.3 else words.text(1, 1)
            for _ in range(words.rng.randint(1, 3))
        ]
        if words.rng.random() < 0.1:
            picked[-1] = picked[-1][:4] + "*"
        found.append(" ".join(picked))
    return found


class CaughtUpLog:
    """An event log stand-in whose head is where the views already are."""

    def __init__(self, head: int) -> None:
        self.head = head

    async def last_position(self) -> int:
        return self.head

    async def read_all(self, **_: object) -> list[Recorded]:
        return []


async def timed(calls: Sequence[Callable[[], Any]]) -> tuple[list[float], int]:
    """Milliseconds of each call (after one untimed warm-up), and results seen."""
    await calls[0]()
    samples, found = [], 0
    for call in calls:
        start = time.perf_counter()
        result = await call()
        samples.append((time.perf_counter() - start) * 1000)
        found += bool(result)
    return samples, found


async def measure(path: Path, head: int) -> list[list[str]]:
    views = await SQLiteViewStore.connect(str(path))
    rows = await views.fetchall("SELECT stream, workspace FROM conversation_streams")
    streams = [(str(s), str(w)) for s, w in rows]
    by_workspace: dict[str, list[str]] = {}
    for stream, workspace in streams:
        by_workspace.setdefault(workspace, []).append(stream)
    rng = random.Random(5)
    texts = queries(SEARCHES)
    picks = [rng.choice(streams) for _ in texts]
    scopes: dict[str, Callable[[int], Collection[str] | None]] = {
        "session": lambda i: [picks[i][0]],
        "workspace": lambda i: by_workspace[picks[i][1]],
        "everywhere": lambda i: None,
    }
    table = []
    for label, scope in scopes.items():
        calls = [
            (lambda i=i, scope=scope: search(views, texts[i], streams=scope(i)))
            for i in range(len(texts))
        ]
        table.append(row(f"search(), {label}", *await timed(calls)))
    tool = await tool_timings(views, head, [s for s, _ in streams])
    table.append(row("conversation_recall tool (both scopes)", *tool))
    await views.close()
    return table


async def tool_timings(
    views: SQLiteViewStore, head: int, streams: list[str]
) -> tuple[list[float], int]:
    """The tool's searches, from random sessions, alternating the two scopes."""
    log = cast(EventLog, CaughtUpLog(head))
    rng = random.Random(13)
    texts = queries(SEARCHES // 3, seed=13)

    def call(n: int) -> Callable[[], Any]:
        journal = cast(Any, type("Journal", (), {"stream": rng.choice(streams)})())
        ctx = ToolContext(
            workspace=cast(Any, None),
            journal=journal,
            blobs=cast(Any, None),
            log=log,
            views=views,
        )
        runner = ToolRunner(ctx, {ConversationRecall.name: ConversationRecall})
        scope = ("session", "workspace")[n % 2]
        arguments = {"mode": "search", "query": texts[n], "scope": scope}
        return lambda: runner.call(ConversationRecall.name, arguments)

    calls = [call(n) for n in range(len(texts))]
    samples, _ = await timed(calls)
    results = [await call() for call in calls]
    errors = [r.text for r in results if r.is_error]
    if errors:
        raise AssertionError(errors[0])
    return samples, sum(not r.text.startswith("no turns") for r in results)


def row(label: str, samples: list[float], found: int) -> list[str]:
    p95 = percentile(samples, 95)
    return [
        label,
        f"{len(samples)} ({found} found)",
        f"{percentile(samples, 50):.1f}",
        f"{p95:.1f}",
        f"{max(samples):.1f}",
        verdict(p95 <= TARGET_P95_MS),
    ]


async def run(args: argparse.Namespace) -> None:
    turns = 50_000 if args.quick else 1_000_000
    path = cached_path(turns)
    views = await SQLiteViewStore.connect(str(path))
    head = await stored_position(views)
    await views.close()
    if head == 0 or args.rebuild:
        print(f"building {turns:,} turns into {path} ...")
        started = time.perf_counter()
        head = await build(path, turns)
        print(f"built in {time.perf_counter() - started:.0f} s\n")
    size = path.stat().st_size / 2**20
    views = await SQLiteViewStore.connect(str(path))
    stored = (await views.fetchall("SELECT SUM(turns) FROM conversation_streams"))[0]
    await views.close()
    print(f"views: {path} ({size:,.0f} MiB, {head:,} events, {stored[0]:,} turns)\n")
    table = await measure(path, head)
    print_table(
        ["query path", "searches", "median ms", "p95 ms", "max ms", "p95 <= 50"],
        table,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 turns")
    parser.add_argument("--rebuild", action="store_true", help="ignore the cache")
    args = parser.parse_args()
    print(machine())
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
