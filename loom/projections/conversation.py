"""Lossless conversation memory: every turn of every session and task, verbatim.

Turns are numbered per stream from 1, in log order:

* ``user.messaged`` is a *user* turn;
* ``model.call.completed`` of a call started (``model.call.started``) with role
  ``executor`` is an *assistant* turn with its text, thinking and tool calls;
  planner, verifier and extractor calls are not part of the conversation;
* ``tool.call.completed``, ``tool.call.denied`` and ``tool.call.interrupted`` are
  *tool* turns, with the tool's name and arguments taken from the matching
  ``tool.call.requested``.

``context.trimmed`` flags turns that left the model's window; they stay here, and
``conversation_recall`` brings them back. Each turn's row id is its log position.
Full-text search runs on an FTS5 table kept by a trigger in the batch's own
transaction (SQLite) or on a generated ``tsvector`` column with a GIN index
(PostgreSQL); the dialect-specific SQL lives in the ``_sqlite_*`` and
``_postgresql_*`` helpers at the end.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from unicodedata import combining

from loom.domain.events import (
    ContextTrimmed,
    ModelCallCompleted,
    ModelCallFailed,
    ModelCallStarted,
    SessionStarted,
    TaskCreated,
    ToolCall,
    ToolCallCompleted,
    ToolCallDenied,
    ToolCallInterrupted,
    ToolCallRequested,
    UserMessaged,
)
from loom.domain.ports import Recorded, ViewStore, ViewTransaction
from loom.projections.base import Projection

__all__ = [
    "CANDIDATES",
    "HIGHLIGHT",
    "Conversation",
    "ConversationStream",
    "Hit",
    "Turn",
    "conversation_stream",
    "last_turns",
    "search",
    "streams_of_workspace",
    "tool_calls",
    "turn_count",
    "turns",
]

HIGHLIGHT = "**"
"""What search snippets put around each matched word."""

_EXECUTOR = "executor"
_TITLE_LENGTH = 200
_MAX_TERMS = 16
_MIN_PREFIX = 4  # shorter prefixes of common words cost a scan of most of the index
_WORD = re.compile(r"[^\W_]+")
_K1, _B = 1.2, 0.75
_WEIGHTS = (1.0, 0.5, 0.5)  # content, tool name, arguments
CANDIDATES = 500
"""How many of the newest matching turns a search ranks."""
_TURN_COLUMNS = (
    "position, stream, stream_key, number, role, content, thinking, tool_name, "
    "tool_call_id, arguments, tool_calls, status, at"
)
_READ_COLUMNS = f"{_TURN_COLUMNS}, trimmed"


@dataclass(frozen=True)
class Turn:
    """One turn of a conversation, as it was said.

    ``status`` is ``ok``, ``error``, ``denied`` or ``interrupted`` for tool turns
    and empty otherwise; ``trimmed`` says the turn left the model's window.
    """

    stream: str
    number: int
    role: str
    content: str
    position: int
    at: str
    thinking: str = ""
    tool_name: str | None = None
    tool_call_id: str | None = None
    arguments: dict[str, Any] | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    status: str = ""
    trimmed: bool = False


@dataclass(frozen=True)
class Hit:
    """A turn that matched a search, with a highlighted snippet of its content."""

    stream: str
    number: int
    role: str
    snippet: str
    tool_name: str | None
    position: int
    at: str


@dataclass(frozen=True)
class ConversationStream:
    """A session or task as conversation memory knows it."""

    stream: str
    workspace: str
    title: str
    turns: int


class Conversation(Projection):
    """Every user, assistant and tool turn of every stream, searchable."""

    name = "conversation"
    version = 1
    handles = frozenset(
        {
            SessionStarted.type,
            TaskCreated.type,
            UserMessaged.type,
            ModelCallStarted.type,
            ModelCallCompleted.type,
            ModelCallFailed.type,
            ToolCallRequested.type,
            ToolCallCompleted.type,
            ToolCallDenied.type,
            ToolCallInterrupted.type,
            ContextTrimmed.type,
        }
    )
    # The FTS table goes first: its trigger and content table go with the rest.
    tables = (
        "conversation_fts",
        "conversation_turns",
        "conversation_streams",
        "conversation_pending",
    )

    def schema(self, dialect: str) -> list[str]:
        if dialect == "postgresql":
            return _postgresql_schema()
        return _sqlite_schema()

    async def apply(self, tx: ViewTransaction, batch: Sequence[Recorded]) -> None:
        fold = _Fold(tx)
        for recorded in batch:
            await fold.add(recorded)
        await fold.write()


# --- folding a batch -----------------------------------------------------------


@dataclass
class _StreamState:
    key: int
    workspace: str = ""
    title: str = ""
    turns: int = 0


@dataclass(frozen=True)
class _Pending:
    """A started executor call (``name`` is empty) or a requested tool call."""

    name: str = ""
    arguments: str | None = None


_PendingKey = tuple[str, str, str]  # stream, call id, "model" or "tool"


@dataclass
class _Fold:
    """One batch folded in memory, then written with a handful of statements.

    Streams and pending calls the batch has not met yet are read from the rows
    (one query each), so a batch boundary never changes the outcome.
    """

    tx: ViewTransaction
    streams: dict[str, _StreamState] = field(default_factory=dict)
    pending: dict[_PendingKey, _Pending | None] = field(default_factory=dict)
    turns: list[tuple[object, ...]] = field(default_factory=list)
    trims: list[tuple[object, ...]] = field(default_factory=list)
    next_key: int | None = None

    async def add(self, recorded: Recorded) -> None:
        event, stream = recorded.event, recorded.event.stream
        if isinstance(event, SessionStarted | TaskCreated):
            state = await self._stream(stream)
            state.workspace = event.workspace
            state.title = _title(event)
        elif isinstance(event, UserMessaged):
            await self._turn(recorded, "user", event.text)
        elif isinstance(event, ModelCallStarted) and event.role == _EXECUTOR:
            self.pending[(stream, event.call_id, "model")] = _Pending()
        elif isinstance(event, ModelCallFailed):
            await self._take(stream, event.call_id, "model")
        elif isinstance(event, ModelCallCompleted):
            if await self._take(stream, event.call_id, "model") is not None:
                await self._assistant(recorded, event)
        elif isinstance(event, ToolCallRequested):
            arguments = _json(event.arguments)
            self.pending[(stream, event.call_id, "tool")] = _Pending(
                event.tool, arguments
            )
        elif isinstance(
            event, ToolCallCompleted | ToolCallDenied | ToolCallInterrupted
        ):
            await self._tool(recorded, event)
        elif isinstance(event, ContextTrimmed) and event.turns:
            # Only turns recorded before the event: a batch boundary must not
            # decide whether a later turn with a listed number is flagged.
            self.trims.extend((stream, n, recorded.position) for n in event.turns)

    async def write(self) -> None:
        await self.tx.executemany(
            f"INSERT INTO conversation_turns ({_TURN_COLUMNS}) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            self.turns,
        )
        await self.tx.executemany(
            "UPDATE conversation_turns SET trimmed = 1 "
            "WHERE stream = ? AND number = ? AND position < ?",
            self.trims,
        )
        await self.tx.executemany(
            "INSERT INTO conversation_streams "
            "(stream, stream_key, workspace, title, turns) VALUES (?,?,?,?,?) "
            "ON CONFLICT (stream) DO UPDATE SET workspace = excluded.workspace, "
            "title = excluded.title, turns = excluded.turns",
            [
                (s, v.key, v.workspace, v.title, v.turns)
                for s, v in self.streams.items()
            ],
        )
        await self._write_pending()

    async def _write_pending(self) -> None:
        done = [key for key, value in self.pending.items() if value is None]
        await self.tx.executemany(
            "DELETE FROM conversation_pending "
            "WHERE stream = ? AND call_id = ? AND kind = ?",
            done,
        )
        await self.tx.executemany(
            "INSERT INTO conversation_pending "
            "(stream, call_id, kind, name, arguments) VALUES (?,?,?,?,?) "
            "ON CONFLICT (stream, call_id, kind) DO UPDATE SET "
            "name = excluded.name, arguments = excluded.arguments",
            [
                (*key, value.name, value.arguments)
                for key, value in self.pending.items()
                if value is not None
            ],
        )

    async def _assistant(self, recorded: Recorded, event: ModelCallCompleted) -> None:
        calls = [call.model_dump(mode="json") for call in event.tool_calls]
        await self._turn(
            recorded,
            "assistant",
            event.text,
            thinking=event.thinking,
            tool_calls=_json(calls) if calls else None,
        )

    async def _tool(
        self,
        recorded: Recorded,
        event: ToolCallCompleted | ToolCallDenied | ToolCallInterrupted,
    ) -> None:
        request = await self._take(event.stream, event.call_id, "tool") or _Pending()
        if isinstance(event, ToolCallCompleted):
            content, status = event.result, "error" if event.is_error else "ok"
        elif isinstance(event, ToolCallDenied):
            content, status = _denial(event), "denied"
        else:
            content, status = _interruption(event), "interrupted"
        await self._turn(
            recorded,
            "tool",
            content,
            tool_name=request.name or None,
            tool_call_id=event.call_id,
            arguments=request.arguments,
            status=status,
        )

    async def _turn(
        self,
        recorded: Recorded,
        role: str,
        content: str,
        *,
        thinking: str = "",
        tool_name: str | None = None,
        tool_call_id: str | None = None,
        arguments: str | None = None,
        tool_calls: str | None = None,
        status: str = "",
    ) -> None:
        event = recorded.event
        state = await self._stream(event.stream)
        state.turns += 1
        self.turns.append(
            (
                recorded.position,
                event.stream,
                state.key,
                state.turns,
                role,
                content,
                thinking,
                tool_name,
                tool_call_id,
                arguments,
                tool_calls,
                status,
                event.at.isoformat(),
            )
        )

    async def _stream(self, stream: str) -> _StreamState:
        state = self.streams.get(stream)
        if state is None:
            rows = await self.tx.fetchall(
                "SELECT stream_key, workspace, title, turns "
                "FROM conversation_streams WHERE stream = ?",
                (stream,),
            )
            if rows:
                key, workspace, title, count = rows[0]
                state = _StreamState(_int(key), str(workspace), str(title), _int(count))
            else:
                state = _StreamState(await self._new_key())
            self.streams[stream] = state
        return state

    async def _new_key(self) -> int:
        if self.next_key is None:
            rows = await self.tx.fetchall(
                "SELECT COALESCE(MAX(stream_key), 0) FROM conversation_streams"
            )
            self.next_key = _int(rows[0][0])
        self.next_key += 1
        return self.next_key

    async def _take(self, stream: str, call_id: str, kind: str) -> _Pending | None:
        """The pending call, now consumed (None when there is none)."""
        key = (stream, call_id, kind)
        if key in self.pending:
            found = self.pending[key]
        else:
            rows = await self.tx.fetchall(
                "SELECT name, arguments FROM conversation_pending "
                "WHERE stream = ? AND call_id = ? AND kind = ?",
                key,
            )
            found = _Pending(str(rows[0][0]), _text(rows[0][1])) if rows else None
        self.pending[key] = None
        return found


def _title(event: SessionStarted | TaskCreated) -> str:
    text = event.title if isinstance(event, SessionStarted) else event.goal
    return text[:_TITLE_LENGTH]


def _denial(event: ToolCallDenied) -> str:
    return f"denied by {event.by}" + (f": {event.reason}" if event.reason else "")


def _interruption(event: ToolCallInterrupted) -> str:
    return "interrupted" + (f": {event.reason}" if event.reason else "")


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _int(value: object) -> int:
    return int(str(value))


def _text(value: object) -> str | None:
    return None if value is None else str(value)


# --- queries -------------------------------------------------------------------


async def turns(
    views: ViewStore, stream: str, first: int, last: int | None = None
) -> list[Turn]:
    """Turns ``first`` to ``last`` (inclusive; only ``first`` when ``last`` is None)."""
    rows = await views.fetchall(
        f"SELECT {_READ_COLUMNS} FROM conversation_turns "
        "WHERE stream = ? AND number BETWEEN ? AND ? ORDER BY number",
        (stream, first, first if last is None else last),
    )
    return [_turn(row) for row in rows]


async def last_turns(views: ViewStore, stream: str, n: int) -> list[Turn]:
    """The stream's last ``n`` turns, oldest first."""
    rows = await views.fetchall(
        f"SELECT {_READ_COLUMNS} FROM conversation_turns "
        "WHERE stream = ? ORDER BY number DESC LIMIT ?",
        (stream, n),
    )
    return [_turn(row) for row in reversed(rows)]


async def tool_calls(
    views: ViewStore, stream: str, tool_name: str | None = None, limit: int = 10
) -> list[Turn]:
    """The stream's last ``limit`` tool turns (of one tool when named), oldest first."""
    where, params = "", [stream]
    if tool_name is not None:
        where, params = "AND tool_name = ?", [stream, tool_name]
    rows = await views.fetchall(
        f"SELECT {_READ_COLUMNS} FROM conversation_turns "
        f"WHERE stream = ? AND role = 'tool' {where} ORDER BY number DESC LIMIT ?",
        [*params, limit],
    )
    return [_turn(row) for row in reversed(rows)]


async def search(
    views: ViewStore,
    query: str,
    *,
    streams: Sequence[str] | None = None,
    limit: int = 10,
) -> list[Hit]:
    """The best-matching turns, in the given streams (or everywhere when None).

    Every word of ``query`` is searched for literally (a trailing ``*`` makes a
    word of four or more characters a prefix). Turns holding all the words come
    back, and only when none does, turns holding any. The newest
    ``CANDIDATES`` matches are ranked, best first: by Okapi bm25 on SQLite (see
    ``_bm25``), by ``ts_rank`` on PostgreSQL. Odd input never raises: words
    without letters or digits are dropped.
    """
    terms = _terms(query)
    if not terms or (streams is not None and not streams) or limit < 1:
        return []
    run = _postgresql_search if views.dialect == "postgresql" else _sqlite_search
    hits = await run(views, terms, streams, limit, every=True)
    if not hits and len(terms) > 1:
        hits = await run(views, terms, streams, limit, every=False)
    return hits


async def streams_of_workspace(views: ViewStore, workspace: str) -> list[str]:
    """Every session and task of ``workspace``, oldest first."""
    rows = await views.fetchall(
        "SELECT stream FROM conversation_streams WHERE workspace = ? "
        "ORDER BY stream_key",
        (workspace,),
    )
    return [str(row[0]) for row in rows]


async def conversation_stream(
    views: ViewStore, stream: str
) -> ConversationStream | None:
    """The stream's workspace, title and turn count (None when never seen)."""
    rows = await views.fetchall(
        "SELECT workspace, title, turns FROM conversation_streams WHERE stream = ?",
        (stream,),
    )
    if not rows:
        return None
    workspace, title, count = rows[0]
    return ConversationStream(stream, str(workspace), str(title), _int(count))


async def turn_count(views: ViewStore, stream: str) -> int:
    """How many turns the stream has (0 when never seen)."""
    found = await conversation_stream(views, stream)
    return 0 if found is None else found.turns


def _turn(row: tuple[object, ...]) -> Turn:
    arguments, calls = _text(row[9]), _text(row[10])
    return Turn(
        stream=str(row[1]),
        number=_int(row[3]),
        role=str(row[4]),
        content=str(row[5]),
        position=_int(row[0]),
        at=str(row[12]),
        thinking=str(row[6]),
        tool_name=_text(row[7]),
        tool_call_id=_text(row[8]),
        arguments=None if arguments is None else json.loads(arguments),
        tool_calls=tuple(ToolCall(**c) for c in json.loads(calls)) if calls else (),
        status=str(row[11]),
        trimmed=bool(_int(row[13])),
    )


def _hit(row: tuple[object, ...]) -> Hit:
    return Hit(
        stream=str(row[0]),
        number=_int(row[1]),
        role=str(row[2]),
        snippet=str(row[3] or ""),
        tool_name=_text(row[4]),
        position=_int(row[5]),
        at=str(row[6]),
    )


# --- search terms and ranking -----------------------------------------------------


@dataclass(frozen=True)
class _Term:
    text: str
    prefix: bool
    tokens: tuple[str, ...]


def _terms(query: str) -> list[_Term]:
    """The query's whitespace-separated words that hold a letter or a digit."""
    found: list[_Term] = []
    for word in query.split():
        text = word.rstrip("*")
        if re.search(r"[^\W_]", text):
            prefix = text != word and len(text) >= _MIN_PREFIX
            found.append(_Term(text, prefix, tuple(_tokens(text))))
    return found[:_MAX_TERMS]


def _tokens(text: str) -> list[str]:
    """Words as FTS5's ``unicode61 remove_diacritics 2`` sees them, near enough."""
    text = text.casefold()
    if not text.isascii():
        text = "".join(
            c for c in unicodedata.normalize("NFKD", text) if not combining(c)
        )
    return _WORD.findall(text)


def _bm25(terms: list[_Term], documents: list[list[_Column]]) -> list[float]:
    """Okapi bm25 (k1 1.2, b 0.75) of each document's columns, weighted.

    FTS5's own bm25() first counts every row holding each word across the whole
    table, which for a common word over a million turns costs far more than the
    search; so the statistics (document count, frequencies, mean length) are
    those of the candidates, which are all the matches when there are fewer
    than ``CANDIDATES`` of them.
    """
    counts = [
        [
            sum(w * col.count(t) for w, col in zip(_WEIGHTS, doc, strict=True))
            for t in terms
        ]
        for doc in documents
    ]
    lengths = [sum(len(col.tokens) for col in doc) for doc in documents]
    mean = sum(lengths) / len(lengths) or 1.0
    size = len(documents)
    holding = [sum(1 for row in counts if row[i] > 0) for i in range(len(terms))]
    idf = [math.log(1 + (size - n + 0.5) / (n + 0.5)) for n in holding]
    norms = [_K1 * (1 - _B + _B * length / mean) for length in lengths]
    return [
        sum(w * tf * (_K1 + 1) / (tf + norm) for w, tf in zip(idf, row, strict=True))
        for row, norm in zip(counts, norms, strict=True)
    ]


class _Column:
    """One column's words, counted once so each term is counted cheaply."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.counts = Counter(self.tokens)

    def count(self, term: _Term) -> int:
        """How often ``term`` (a word, a prefix or a run of words) is here."""
        *head, last = term.tokens or ("",)
        if not head:
            if not term.prefix:
                return self.counts[last]
            return sum(n for word, n in self.counts.items() if word.startswith(last))
        if any(word not in self.counts for word in head):
            return 0
        return sum(1 for i in self._starts(head) if self._ends(i, last, term.prefix))

    def _starts(self, head: list[str]) -> list[int]:
        width = len(head)
        return [
            i + width
            for i, word in enumerate(self.tokens[: len(self.tokens) - width])
            if word == head[0] and self.tokens[i : i + width] == head
        ]

    def _ends(self, i: int, last: str, prefix: bool) -> bool:
        return self.tokens[i].startswith(last) if prefix else self.tokens[i] == last


def _ranked(
    rows: list[tuple[object, ...]], terms: list[_Term], limit: int
) -> list[Hit]:
    """Hit rows (content, tool name and arguments after them), best first."""
    documents = [[_Column(str(value or "")) for value in row[7:10]] for row in rows]
    scores = _bm25(terms, documents) if rows else []
    order = sorted(range(len(rows)), key=lambda i: (-scores[i], -_int(rows[i][5])))
    return [_hit(rows[i]) for i in order[:limit]]


# --- SQLite: FTS5 over the turns table --------------------------------------------

_HIT_COLUMNS = "t.stream, t.number, t.role, h.snippet, t.tool_name, t.position, t.at"


def _sqlite_schema() -> list[str]:
    return [
        "CREATE TABLE conversation_turns (position INTEGER PRIMARY KEY, "
        "stream TEXT NOT NULL, stream_key INTEGER NOT NULL, number INTEGER NOT NULL, "
        "role TEXT NOT NULL, content TEXT NOT NULL, thinking TEXT NOT NULL, "
        "tool_name TEXT, tool_call_id TEXT, arguments TEXT, tool_calls TEXT, "
        "status TEXT NOT NULL, at TEXT NOT NULL, trimmed INTEGER NOT NULL DEFAULT 0, "
        # One token per stream, so a search scoped to a few streams is an FTS5
        # AND that skips through the index rather than a filter after ranking.
        "scope TEXT GENERATED ALWAYS AS ('zs' || stream_key) VIRTUAL)",
        *_common_indexes(),
        "CREATE VIRTUAL TABLE conversation_fts USING fts5("
        "content, tool_name, arguments, scope, content='conversation_turns', "
        "content_rowid='position', tokenize='unicode61 remove_diacritics 2')",
        "CREATE TRIGGER conversation_turns_indexed AFTER INSERT ON conversation_turns "
        "BEGIN INSERT INTO conversation_fts (rowid, content, tool_name, arguments, "
        "scope) VALUES (new.position, new.content, new.tool_name, new.arguments, "
        "new.scope); END",
    ]


async def _sqlite_search(
    views: ViewStore,
    terms: list[_Term],
    streams: Sequence[str] | None,
    limit: int,
    *,
    every: bool,
) -> list[Hit]:
    words = (" " if every else " OR ").join(
        '"' + term.text.replace('"', '""') + '"' + ("*" if term.prefix else "")
        for term in terms
    )
    expression = f"{{content tool_name arguments}} : ({words})"
    if streams is not None:
        keys = await _stream_keys(views, streams)
        if not keys:
            return []
        expression = f"scope : ({' OR '.join(f'zs{k}' for k in keys)}) AND " + (
            expression
        )
    # The newest matches come straight off the index (FTS5 walks rowids
    # backwards and stops at the LIMIT), snippets with them.
    rows = await views.fetchall(
        f"SELECT {_HIT_COLUMNS}, t.content, t.tool_name, t.arguments "
        "FROM (SELECT rowid, snippet(conversation_fts, 0, "
        f"'{HIGHLIGHT}', '{HIGHLIGHT}', '…', 24) AS snippet FROM conversation_fts "
        "WHERE conversation_fts MATCH ? ORDER BY rowid DESC LIMIT ?) AS h "
        "JOIN conversation_turns AS t ON t.position = h.rowid",
        (expression, CANDIDATES),
    )
    return _ranked(rows, terms, limit)


async def _stream_keys(views: ViewStore, streams: Sequence[str]) -> list[int]:
    wanted = sorted(set(streams))
    rows = await views.fetchall(
        "SELECT stream_key FROM conversation_streams WHERE stream IN "
        f"({','.join('?' * len(wanted))}) ORDER BY stream_key",
        wanted,
    )
    return [_int(row[0]) for row in rows]


def _common_indexes() -> list[str]:
    return [
        "CREATE UNIQUE INDEX conversation_turns_number "
        "ON conversation_turns (stream, number)",
        "CREATE INDEX conversation_turns_tool "
        "ON conversation_turns (stream, tool_name, number)",
        "CREATE TABLE conversation_streams (stream TEXT PRIMARY KEY, "
        "stream_key INTEGER NOT NULL, workspace TEXT NOT NULL, title TEXT NOT NULL, "
        "turns INTEGER NOT NULL)",
        "CREATE INDEX conversation_streams_workspace "
        "ON conversation_streams (workspace, stream_key)",
        "CREATE TABLE conversation_pending (stream TEXT NOT NULL, "
        "call_id TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, "
        "arguments TEXT, PRIMARY KEY (stream, call_id, kind))",
    ]


# --- PostgreSQL: a generated tsvector with a GIN index ---------------------------


def _words_of(sql: str) -> str:
    """``sql`` with every run of non-alphanumerics made one space.

    This splits words as FTS5's unicode61 does, so ``src/parser.py`` holds the
    word ``parser`` on PostgreSQL too (its own parser would keep one token).
    """
    return f"regexp_replace({sql}, '[^[:alnum:]]+', ' ', 'g')"


_TS_DOCUMENT = "to_tsvector('simple', {})".format(
    _words_of(
        "content || ' ' || COALESCE(tool_name, '') || ' ' || COALESCE(arguments, '')"
    )
)
_TS_OPTIONS = (
    f"StartSel={HIGHLIGHT}, StopSel={HIGHLIGHT}, MaxWords=24, MinWords=8, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)


def _postgresql_schema() -> list[str]:
    return [
        "CREATE TABLE conversation_turns (position BIGINT PRIMARY KEY, "
        "stream TEXT NOT NULL, stream_key INTEGER NOT NULL, number INTEGER NOT NULL, "
        "role TEXT NOT NULL, content TEXT NOT NULL, thinking TEXT NOT NULL, "
        "tool_name TEXT, tool_call_id TEXT, arguments TEXT, tool_calls TEXT, "
        "status TEXT NOT NULL, at TEXT NOT NULL, trimmed INTEGER NOT NULL DEFAULT 0, "
        f"search tsvector GENERATED ALWAYS AS ({_TS_DOCUMENT}) STORED)",
        *_common_indexes(),
        "CREATE INDEX conversation_turns_search ON conversation_turns "
        "USING GIN (search)",
    ]


async def _postgresql_search(
    views: ViewStore,
    terms: list[_Term],
    streams: Sequence[str] | None,
    limit: int,
    *,
    every: bool,
) -> list[Hit]:
    parts: list[str] = []
    params: list[object] = []
    for term in terms:
        # A prefix goes through to_tsquery only when it is plain letters and
        # digits, so no user text is ever parsed as tsquery syntax.
        if term.prefix and re.fullmatch(r"[^\W_]+", term.text):
            parts.append("to_tsquery('simple', ?)")
            params.append(f"{term.text}:*")
        else:
            parts.append(f"phraseto_tsquery('simple', {_words_of('?')})")
            params.append(term.text)
    query = (" && " if every else " || ").join(parts)
    where = "AND t.stream = ANY(?)" if streams is not None else ""
    if streams is not None:
        params.append(list(streams))
    # Like FTS5 above: rank the newest matches, headlines for the best only.
    rows = await views.fetchall(
        f"SELECT stream, number, role, ts_headline('simple', content, q, "
        f"'{_TS_OPTIONS}'), tool_name, position, at FROM (SELECT t.stream, "
        "t.number, t.role, t.content, t.tool_name, t.position, t.at, q, "
        "ts_rank(t.search, q) AS rank "
        f"FROM conversation_turns AS t, (SELECT {query} AS q) AS query "
        f"WHERE t.search @@ q {where} ORDER BY t.position DESC LIMIT ?) AS recent "
        "ORDER BY rank DESC, position DESC LIMIT ?",
        [*params, CANDIDATES, limit],
    )
    return [_hit(row) for row in rows]
