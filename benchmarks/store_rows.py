"""The rows each recorded runtime turn wrote, and the two replays of them that the
throughput part of `benchmarks/store.py` times against the runtime.

Each `commit_turn` of the runtime run is recorded (see `store_runtime.TimedStore`); its
statement parameters are computed before the clock starts, with the store's public row
converters, so the JSON payloads are byte for byte the same. Both replays run through the
stdlib `sqlite3` on a fresh file seeded with the runtime's pending inbox entries:

- `replay_store_sql`: the store's exact statement sequence, with no Python layer around it:
  the claim transaction (pending-entry SELECT, lease INSERT), the conversation SELECT, the
  commit transaction (lease DELETE, inbox done, conversation INSERT or compare-and-set
  UPDATE, outbox, history, timer DELETE/INSERT);
- `replay_bare`: the floor. Only the rows each turn writes (lease insert/delete, inbox done,
  conversation upsert, outbox, history, timers), one transaction per turn, no reads.

`digest` hashes every table, so that a replayed file can be compared with the runtime's.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.store_runtime import RecordedTurn
from store.sqlite import BUSY_TIMEOUT_MS
from store.sqlite_schema import (
    CONVERSATION_COLUMNS,
    conversation_params,
    history_params,
    outbound_params,
    timer_params,
    to_us,
)

# The store's statements, copied from store/sqlite.py (its constants are private).
_LEASE_TAKE = "INSERT OR REPLACE INTO leases (bot_id, phone, owner, until) VALUES (?, ?, ?, ?)"
_LEASE_DROP = "DELETE FROM leases WHERE bot_id = ? AND phone = ? AND owner = ? AND until = ?"
_INBOX_DONE = "UPDATE inbox SET done = 1 WHERE seq = ?"
_CONVERSATION_INSERT = (
    f"INSERT INTO conversations ({', '.join(CONVERSATION_COLUMNS)}) "
    f"VALUES ({', '.join(':' + column for column in CONVERSATION_COLUMNS)})"
)
_CONVERSATION_UPDATE = (
    f"UPDATE conversations SET {', '.join(f'{c} = :{c}' for c in CONVERSATION_COLUMNS[1:])} "
    "WHERE id = :id AND version = :version - 1"
)
_OUTBOX_INSERT = """INSERT INTO outbox (key, conversation_id, bot_id, phone, content, channel,
    status, due_at, created_at, history) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, '[]')
    ON CONFLICT (key) DO NOTHING"""
_HISTORY_INSERT = "INSERT INTO history VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING"
_TIMER_CANCEL = "DELETE FROM timers WHERE id = ?"
_TIMER_ARM = "INSERT OR REPLACE INTO timers VALUES (?, ?, ?, ?, ?, ?)"
_CLAIMABLE = """SELECT inbox.* FROM inbox INDEXED BY inbox_pending_seq
    LEFT JOIN leases ON leases.bot_id = inbox.bot_id AND leases.phone = inbox.phone
    WHERE inbox.done = 0 AND (leases.until IS NULL OR leases.until <= ?)
    ORDER BY inbox.seq LIMIT 1"""
_GET_CONVERSATION = (
    "SELECT * FROM conversations WHERE bot_id = ? AND phone = ? AND status != 'ended'"
)


def connect(path: Path) -> sqlite3.Connection:
    """A connection set up as `SqliteStore.open` sets up its own (WAL is kept in the file)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA synchronous = NORMAL")
    return db


@dataclass(frozen=True, slots=True)
class TurnRows:
    """Parameters of every statement one recorded turn ran, computed before timing."""

    seq: int
    now: int
    lease: tuple[str, str, str, int]
    create: bool
    conversation: dict[str, Any]
    outbox: list[tuple[Any, ...]]
    history: list[tuple[Any, ...]]
    cancel: list[tuple[str]]
    arm: list[tuple[Any, ...]]

    @property
    def writes(self) -> int:
        """Rows written: lease insert and delete, inbox done, conversation, and the lists."""
        lists = (self.outbox, self.history, self.cancel, self.arm)
        return 4 + sum(len(rows) for rows in lists)


def turn_rows(turn: RecordedTurn) -> TurnRows:
    """What `SqliteStore.claim` and `commit_turn` wrote for this turn, as statement params."""
    claim, write, now = turn.claim, turn.write, turn.now
    conversation = replace(write.conversation, last_inbox_seq=claim.entry.seq)
    return TurnRows(
        seq=claim.entry.seq,
        now=to_us(now),
        lease=(claim.bot_id, claim.phone, claim.owner, to_us(claim.lease_until)),
        create=conversation.version == 1,
        conversation=conversation_params(conversation),
        outbox=[outbound_params(conversation, item, now) for item in write.outbound],
        history=[history_params(line) for line in write.history],
        cancel=[(timer_id,) for timer_id in write.cancel],
        arm=[timer_params(timer) for timer in write.arm],
    )


def replay_bare(db: sqlite3.Connection, turns: Sequence[TurnRows]) -> int:
    """The floor: each turn's rows in one transaction, no reads; ns for all turns."""
    execute = db.execute
    began = time.perf_counter_ns()
    for turn in turns:
        execute("BEGIN IMMEDIATE")
        execute(_LEASE_TAKE, turn.lease)
        execute(_LEASE_DROP, turn.lease)
        execute(_INBOX_DONE, (turn.seq,))
        sql = _CONVERSATION_INSERT if turn.create else _CONVERSATION_UPDATE
        execute(sql, turn.conversation)
        for row in turn.outbox:
            execute(_OUTBOX_INSERT, row)
        for row in turn.history:
            execute(_HISTORY_INSERT, row)
        for row in turn.cancel:
            execute(_TIMER_CANCEL, row)
        for row in turn.arm:
            execute(_TIMER_ARM, row)
        execute("COMMIT")
    return time.perf_counter_ns() - began


def replay_store_sql(db: sqlite3.Connection, turns: Sequence[TurnRows]) -> int:
    """The store's statement sequence for each turn (and the empty claim that ends a drain),
    without the runtime around it; ns for all turns."""
    execute, executemany = db.execute, db.executemany
    began = time.perf_counter_ns()
    for turn in turns:
        execute("BEGIN IMMEDIATE")
        claimed = execute(_CLAIMABLE, (turn.now,)).fetchone()
        execute(_LEASE_TAKE, turn.lease)
        execute("COMMIT")
        execute(_GET_CONVERSATION, turn.lease[:2]).fetchone()
        execute("BEGIN IMMEDIATE")
        dropped = execute(_LEASE_DROP, turn.lease).rowcount
        execute(_INBOX_DONE, (turn.seq,))
        sql = _CONVERSATION_INSERT if turn.create else _CONVERSATION_UPDATE
        changed = execute(sql, turn.conversation).rowcount
        executemany(_OUTBOX_INSERT, turn.outbox)
        executemany(_HISTORY_INSERT, turn.history)
        executemany(_TIMER_CANCEL, turn.cancel)
        executemany(_TIMER_ARM, turn.arm)
        execute("COMMIT")
        if claimed is None or claimed[0] != turn.seq or dropped != 1 or changed != 1:
            raise RuntimeError(f"replay of inbox seq {turn.seq} diverged from the runtime")
    execute("BEGIN IMMEDIATE")
    if execute(_CLAIMABLE, (turns[-1].now,)).fetchone() is not None:
        raise RuntimeError("events left pending after the replay")
    execute("COMMIT")
    return time.perf_counter_ns() - began


def seed(db: sqlite3.Connection, source: Path, turns: Sequence[TurnRows], *, flows: bool) -> None:
    """Copies from `source` what the runtime's file held before it handled `turns`: their
    inbox entries, pending (and the flow versions, when `flows`)."""
    read = sqlite3.connect(source)
    try:
        db.execute("BEGIN")
        if flows:
            rows = read.execute("SELECT * FROM flow_versions")
            db.executemany("INSERT INTO flow_versions VALUES (?, ?, ?, ?, ?)", rows)
        sql = """SELECT seq, source, provider_id, bot_id, phone, event, received_at FROM inbox
            WHERE seq BETWEEN ? AND ? ORDER BY seq"""
        seqs = [turn.seq for turn in turns]
        entries = read.execute(sql, (min(seqs), max(seqs))).fetchall()
        if len(entries) != len(turns):
            raise RuntimeError("the turns of a phase did not handle consecutive inbox entries")
        db.executemany("INSERT INTO inbox VALUES (?, ?, ?, ?, ?, ?, ?, 0)", entries)
        db.execute("COMMIT")
    finally:
        read.close()


TABLES = (
    "flow_versions",
    "conversations",
    "inbox",
    "leases",
    "timers",
    "outbox",
    "history",
    "sqlite_sequence",
)


def digest(path: Path) -> dict[str, str]:
    """A hash of every table's rows, in key order."""
    db = sqlite3.connect(path)
    try:
        found = {}
        for table in TABLES:
            text = repr(db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall())
            found[table] = hashlib.sha256(text.encode()).hexdigest()
        return found
    finally:
        db.close()
