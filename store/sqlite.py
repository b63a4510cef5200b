"""The embedded default store: one SQLite file (or `:memory:`) through the standard `sqlite3`.

Statements run inline on the event loop, on one connection; only WAL checkpoints run in a
thread (below). Measured here (reference/libs.md §2): an autocommit insert costs ~21 µs with
WAL + `synchronous=NORMAL`, a row inside a transaction ~8 µs and a primary-key read ~5 µs,
while every thread hop (aiosqlite, `run_in_executor`, `to_thread`) costs ~100 µs and, under
load, the worker thread fights the busy loop for the GIL: an aiohttp server writing each
request through aiosqlite served ~25 % fewer requests per second than one writing inline,
through `run_in_executor` ~57 % fewer. A turn's whole write is a few such statements in one
transaction: it takes less time than the hop that would move it off the loop.

Two consequences hold the design together:
- no method awaits inside a transaction, so two coroutines sharing the connection can never
  interleave statements of one unit; every multi-statement write is `BEGIN IMMEDIATE` ...
  `COMMIT`, rolled back on any error, so nothing is ever half-written;
- several processes may share a file: `BEGIN IMMEDIATE` takes the write lock before reading
  what the unit decides on (which lease is free, which version is stored), and
  `busy_timeout` makes a second writer wait for it. That wait blocks the loop, which is why
  SQLite is the one-process default and MongoDB the store for many processes.

Every statement goes through `StoreConnection` (`store/sqlite_connection.py`), a
`sqlite3.Connection` whose `execute`/`executemany` add 0.15–0.3 µs to a statement (a
primary-key read with `fetchone`: 5.55–5.80 µs plain, 5.86–6.05 µs through it; best of 5 ×
50,000, alternated). It gives the store two things, measured in docs/performance.md ("Chaos
runs", "Memory and store size"):
- while another process holds the write lock, writes fail at once (`store/sqlite_lock.py`):
  webhooks answer 503 instead of waiting on the loop;
- WAL checkpoints run off the event loop (`store/sqlite_checkpoints.py`): a turn's p99 no
  longer grows with the store.

Times are integer microseconds since the epoch (UTC); see `store/sqlite_schema.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from store.base import LeaseLost, Store, StoreError
from store.business_events_records import BusinessEvent
from store.records import (
    LIVE_STATUSES,
    Claim,
    Conversation,
    ConversationStatus,
    FlowVersion,
    HistoryEntry,
    InboxEntry,
    NewInbound,
    NewOutbound,
    TimerRecord,
    TurnWrite,
)
from store.sqlite_agents import SqliteAgents
from store.sqlite_billing import SqliteBilling
from store.sqlite_business_events import SqliteBusinessEvents, insert_business_events
from store.sqlite_campaigns import SqliteCampaigns
from store.sqlite_checkpoints import Checkpointer
from store.sqlite_compliance import SqliteCompliance
from store.sqlite_connection import StoreConnection, close_connection, open_connection
from store.sqlite_contacts import SqliteContacts
from store.sqlite_lock import LockWatch
from store.sqlite_numbers import SqliteNumbers
from store.sqlite_outbox import SqliteOutbox, insert_outbound
from store.sqlite_schema import (
    conversation_of,
    dump,
    flow_version_of,
    from_us,
    history_of,
    history_params,
    inbox_of,
    timer_of,
    to_us,
    transaction,
)
from store.sqlite_tokens import SqliteTokens
from store.sqlite_turns import (
    HELD,
    INSERT_HISTORY,
    PendingTurn,
    commit_turns,
    finish,
    held,
    lost,
    put_conversation,
)

BUSY_TIMEOUT_MS = 250
"""How long a write waits for another process's lock (a CLI import, a backup, a `sqlite3`
shell) before it fails. Short, because the wait blocks the event loop: a failed write is
retried (webhooks answer 503 and the provider posts again, the worker and the dispatcher
take the work up again), where a long wait would freeze every webhook with it
(benchmarks/chaos.py --scenario store-down). Once a write failed for the lock, the next ones
do not wait at all until one succeeds (`store/sqlite_lock.py`)."""

_INSERT_INBOX = """INSERT INTO inbox (source, provider_id, bot_id, phone, event, received_at)
    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, provider_id) DO NOTHING"""
# fetchall, not fetchone: an autocommit statement with RETURNING commits only once stepped
# to its end.
_APPEND_INBOX = _INSERT_INBOX + " RETURNING *"
# The first pending entry in arrival order whose conversation has no live lease is also the
# oldest pending entry of that conversation: all of a conversation's entries share its lease.
# INDEXED BY: without statistics the planner may sort every pending entry; the partial index
# walks them in order and stops at the first claimable one.
_CLAIMABLE = """SELECT inbox.* FROM inbox INDEXED BY inbox_pending_seq
    LEFT JOIN leases ON leases.bot_id = inbox.bot_id AND leases.phone = inbox.phone
    WHERE inbox.done = 0 AND (leases.until IS NULL OR leases.until <= ?)
    ORDER BY inbox.seq LIMIT 1"""


class SqliteStore(
    SqliteOutbox,
    SqliteAgents,
    SqliteBilling,
    SqliteCompliance,
    SqliteTokens,
    SqliteNumbers,
    SqliteContacts,
    SqliteCampaigns,
    SqliteBusinessEvents,
    Store,
):
    """The outbox, the agents, billing and compliance are in `store/sqlite_outbox.py`,
    `store/sqlite_agents.py`, `store/sqlite_billing.py` and `store/sqlite_compliance.py`."""

    def __init__(self, path: str | Path, *, checkpoint_thread: bool = True) -> None:
        """`checkpoint_thread=False` leaves WAL checkpoints to SQLite, inside the commits
        (`store/sqlite_checkpoints.py` says why the store moves them to a thread)."""
        self._path = str(path)
        self._db: StoreConnection | None = None
        self._turns: list[PendingTurn] = []
        self._checkpoint_thread = checkpoint_thread

    async def open(self) -> None:
        if self._db is None:
            self._db = open_connection(
                self._path, BUSY_TIMEOUT_MS, checkpoint_thread=self._checkpoint_thread
            )

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            close_connection(db)

    @property
    def checkpointer(self) -> Checkpointer | None:
        """The thread checkpointing the WAL while the store is open, if it has one."""
        return None if self._db is None else self._db.checkpointer

    @property
    def lock_watch(self) -> LockWatch:
        """Whether another process is known to hold the file's write lock (the store fails
        fast then, `store/sqlite_lock.py`)."""
        if self._db is None:
            raise StoreError("the SQLite store is not open")
        return self._db.lock

    # --- flow versions ---------------------------------------------------------------------

    async def save_flow_version(self, version: FlowVersion) -> None:
        v = version
        self._conn.execute(
            "INSERT INTO flow_versions VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (v.content_hash, v.flow_id, v.source, v.path, to_us(v.created_at)),
        )

    async def get_flow_version(self, content_hash: str) -> FlowVersion | None:
        sql = "SELECT * FROM flow_versions WHERE content_hash = ?"
        row = self._conn.execute(sql, (content_hash,)).fetchone()
        return None if row is None else flow_version_of(row)

    # --- conversations ---------------------------------------------------------------------

    async def get_conversation(self, bot_id: str, phone: str) -> Conversation | None:
        sql = "SELECT * FROM conversations WHERE bot_id = ? AND phone = ? AND status != 'ended'"
        row = self._conn.execute(sql, (bot_id, phone)).fetchone()
        return None if row is None else conversation_of(row)

    async def get_conversation_by_id(self, conversation_id: str) -> Conversation | None:
        sql = "SELECT * FROM conversations WHERE id = ?"
        row = self._conn.execute(sql, (conversation_id,)).fetchone()
        return None if row is None else conversation_of(row)

    async def list_conversations(
        self,
        bot_id: str,
        *,
        flow_hash: str | None = None,
        statuses: frozenset[ConversationStatus] = LIVE_STATUSES,
        limit: int = 1000,
    ) -> list[Conversation]:
        wanted = sorted(s.value for s in statuses)
        sql = (
            f"SELECT * FROM conversations WHERE bot_id = ? AND (? IS NULL OR flow_hash = ?) "
            f"AND status IN ({', '.join('?' * len(wanted))}) ORDER BY created_at, rowid LIMIT ?"
        )
        rows = self._conn.execute(sql, (bot_id, flow_hash, flow_hash, *wanted, limit))
        return [conversation_of(row) for row in rows]

    async def update_conversation(self, conversation: Conversation) -> None:
        put_conversation(self._conn, conversation, create=False)

    async def conversations_after(
        self,
        bot_id: str,
        *,
        statuses: frozenset[ConversationStatus] = LIVE_STATUSES,
        after: tuple[datetime, str] | None = None,
        limit: int = 100,
    ) -> list[Conversation]:
        wanted = sorted(s.value for s in statuses)
        # The row-value comparison starts the walk of `conversations_page` at the cursor.
        cursor, params = "", []
        if after is not None:
            cursor, params = "AND (created_at, id) > (?, ?) ", [to_us(after[0]), after[1]]
        sql = (
            f"SELECT * FROM conversations WHERE bot_id = ? {cursor}"
            f"AND status IN ({', '.join('?' * len(wanted))}) ORDER BY created_at, id LIMIT ?"
        )
        rows = self._conn.execute(sql, (bot_id, *params, *wanted, limit))
        return [conversation_of(row) for row in rows]

    async def write_conversation(
        self,
        conversation: Conversation,
        outbound: Sequence[NewOutbound],
        history: Sequence[HistoryEntry],
        now: datetime,
        events: Sequence[BusinessEvent] = (),
    ) -> None:
        with transaction(self._conn) as db:
            put_conversation(db, conversation, create=False)
            insert_outbound(db, conversation, outbound, now)
            db.executemany(INSERT_HISTORY, [history_params(h) for h in history])
            insert_business_events(db, events)

    # --- inbox -----------------------------------------------------------------------------

    async def append_inbound(self, inbound: NewInbound) -> tuple[InboxEntry, bool]:
        # One autocommit statement when new (the webhook's hot path); the inbox is append-only,
        # so the entry a duplicate collides with cannot vanish before it is read back.
        added = self._conn.execute(_APPEND_INBOX, _inbox_params(inbound)).fetchall()
        if added:
            return inbox_of(added[0]), True
        sql = "SELECT * FROM inbox WHERE source = ? AND provider_id = ?"
        row = self._conn.execute(sql, (inbound.source.value, inbound.provider_id)).fetchone()
        return inbox_of(row), False

    async def claim(self, owner: str, now: datetime, lease: timedelta) -> Claim | None:
        db = self._conn
        until = now + lease
        # Most looks find nothing (every idle worker of the process looks after each event:
        # ~7 per turn at 1,000 MO/s, benchmarks/turns.py): a plain read answers those without
        # taking the write lock and committing. Found, it is read again under the lock.
        if db.execute(_CLAIMABLE, (to_us(now),)).fetchone() is None:
            return None
        with transaction(db):
            row = db.execute(_CLAIMABLE, (to_us(now),)).fetchone()
            if row is None:
                return None
            db.execute(
                "INSERT OR REPLACE INTO leases (bot_id, phone, owner, until) VALUES (?, ?, ?, ?)",
                (row["bot_id"], row["phone"], owner, to_us(until)),
            )
        return Claim(row["bot_id"], row["phone"], owner, until, inbox_of(row))

    async def renew(self, claim: Claim, now: datetime, lease: timedelta) -> Claim:
        until = now + lease
        sql = f"UPDATE leases SET until = ? WHERE {HELD}"
        if self._conn.execute(sql, (to_us(until), *held(claim))).rowcount != 1:
            raise LeaseLost(lost(claim))
        return replace(claim, lease_until=until)

    async def release(self, claim: Claim) -> None:
        self._conn.execute(f"DELETE FROM leases WHERE {HELD}", held(claim))

    async def commit_turn(self, claim: Claim, write: TurnWrite, now: datetime) -> None:
        # Group commit: turns that reach this point in the same turn of the event loop share
        # one transaction, each in a savepoint of its own. A commit is the cost of a turn's
        # write (reference/libs.md §2: 8 µs a row in a transaction, 21 µs autocommitted), so
        # under load a batch of turns costs little more than one. The caller still returns
        # only once its turn is durable.
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._turns.append(PendingTurn(claim, write, now, done))
        if len(self._turns) == 1:
            loop.call_soon(self._commit_turns)
        await done

    def _commit_turns(self) -> None:
        turns, self._turns = self._turns, []
        commit_turns(self._conn, turns)

    async def skip(self, claim: Claim, now: datetime) -> None:
        with transaction(self._conn) as db:
            finish(db, claim)

    async def inbox_depth(self) -> int:
        row = self._conn.execute("SELECT COUNT(*) FROM inbox WHERE done = 0").fetchone()
        return int(row[0])

    # --- timers ----------------------------------------------------------------------------

    async def due_timers(self, now: datetime, limit: int = 100) -> list[TimerRecord]:
        sql = "SELECT * FROM timers WHERE due_at <= ? ORDER BY due_at, id LIMIT ?"
        return [timer_of(row) for row in self._conn.execute(sql, (to_us(now), limit))]

    async def fire_timer(self, timer: TimerRecord, event: NewInbound) -> bool:
        with transaction(self._conn) as db:
            new = db.execute(_INSERT_INBOX, _inbox_params(event)).rowcount == 1
            # Matching the due time too: a timer re-armed since it was read is a new one.
            sql = "DELETE FROM timers WHERE id = ? AND due_at = ?"
            db.execute(sql, (timer.id, to_us(timer.due_at)))
        return new

    async def next_timer_due(self) -> datetime | None:
        row = self._conn.execute("SELECT MIN(due_at) FROM timers").fetchone()
        return None if row[0] is None else from_us(row[0])

    # --- history ---------------------------------------------------------------------------

    async def history(self, conversation_id: str, limit: int = 1000) -> list[HistoryEntry]:
        sql = "SELECT * FROM history WHERE conversation_id = ? ORDER BY at, rowid LIMIT ?"
        return [history_of(row) for row in self._conn.execute(sql, (conversation_id, limit))]


def _inbox_params(inbound: NewInbound) -> tuple[str, str, str, str, str, int]:
    i = inbound
    return (i.source.value, i.provider_id, i.bot_id, i.phone, dump(i.event), to_us(i.received_at))
