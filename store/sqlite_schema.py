"""The SQLite store's tables, and the conversions between its rows and the store's records.

Times are kept as integer microseconds since the Unix epoch (UTC): they sort and compare as
numbers in SQL, and round-trip to timezone-aware UTC datetimes exactly. JSON columns are text
written with `ensure_ascii=False`, so French text stays readable in the file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from store.base import StoreError
from store.records import (
    Conversation,
    ConversationStatus,
    Direction,
    FlowVersion,
    HistoryEntry,
    InboxEntry,
    InboxSource,
    NewOutbound,
    OutboxEntry,
    OutboxStatus,
    TimerRecord,
)

SCHEMA_VERSION = 1
"""Kept in `PRAGMA user_version`; a later version migrates from the number it finds there."""

TABLES = (
    """CREATE TABLE IF NOT EXISTS flow_versions (
        content_hash TEXT PRIMARY KEY, flow_id TEXT NOT NULL, source TEXT NOT NULL,
        path TEXT NOT NULL, created_at INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS conversations (
        id TEXT PRIMARY KEY, bot_id TEXT NOT NULL, phone TEXT NOT NULL,
        flow_id TEXT NOT NULL, flow_hash TEXT NOT NULL, state TEXT NOT NULL,
        vars TEXT NOT NULL, choices TEXT NOT NULL, status TEXT NOT NULL,
        attempts INTEGER NOT NULL, epoch INTEGER NOT NULL, contact TEXT NOT NULL,
        channel TEXT NOT NULL, version INTEGER NOT NULL, last_inbox_seq INTEGER NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)""",
    # Ended conversations stay for history; only the live one must be unique.
    """CREATE UNIQUE INDEX IF NOT EXISTS conversations_live
        ON conversations (bot_id, phone) WHERE status != 'ended'""",
    "CREATE INDEX IF NOT EXISTS conversations_bot ON conversations (bot_id, created_at)",
    # AUTOINCREMENT: a seq is never reused, even after the newest entries are purged.
    """CREATE TABLE IF NOT EXISTS inbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL,
        provider_id TEXT NOT NULL, bot_id TEXT NOT NULL, phone TEXT NOT NULL,
        event TEXT NOT NULL, received_at INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0,
        UNIQUE (source, provider_id))""",
    # No index on (done, bot_id, phone, seq): nothing reads by it, and every turn's `done = 1`
    # would move an entry in it (benchmarks/store.py).
    "DROP INDEX IF EXISTS inbox_pending",
    # `claim` walks pending entries in arrival order and stops at the first claimable one.
    "CREATE INDEX IF NOT EXISTS inbox_pending_seq ON inbox (seq) WHERE done = 0",
    """CREATE TABLE IF NOT EXISTS leases (
        bot_id TEXT NOT NULL, phone TEXT NOT NULL, owner TEXT NOT NULL,
        until INTEGER NOT NULL, PRIMARY KEY (bot_id, phone)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS timers (
        id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, bot_id TEXT NOT NULL,
        phone TEXT NOT NULL, key TEXT NOT NULL, due_at INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS timers_due ON timers (due_at, id)",
    """CREATE TABLE IF NOT EXISTS outbox (
        key TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, bot_id TEXT NOT NULL,
        phone TEXT NOT NULL, content TEXT NOT NULL, channel TEXT NOT NULL,
        status TEXT NOT NULL, due_at INTEGER NOT NULL, created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, provider_id TEXT, history TEXT NOT NULL,
        lease_owner TEXT, lease_until INTEGER)""",
    "CREATE INDEX IF NOT EXISTS outbox_provider ON outbox (provider_id)",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, due_at)",
    # `rowid` breaks ties between lines of one turn written at the same instant.
    """CREATE TABLE IF NOT EXISTS history (
        key TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, direction TEXT NOT NULL,
        body TEXT NOT NULL, at INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS history_conversation ON history (conversation_id, at)",
)

CONVERSATION_COLUMNS = (
    *("id", "bot_id", "phone", "flow_id", "flow_hash", "state", "vars", "choices", "status"),
    *("attempts", "epoch", "contact", "channel", "version", "last_inbox_seq"),
    *("created_at", "updated_at"),
)


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write unit. IMMEDIATE takes the file's write lock at once, so a read made inside
    cannot be invalidated by another process before this unit writes."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # a failed COMMIT leaves the transaction open
            db.execute("ROLLBACK")
        raise


def create_schema(db: sqlite3.Connection) -> None:
    with transaction(db):
        found = db.execute("PRAGMA user_version").fetchone()[0]
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"the database has schema version {found}; this code knows {SCHEMA_VERSION}"
            )
        for statement in TABLES:
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    if moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: the store keeps timezone-aware times")
    return (moment - _EPOCH) // _MICROSECOND


def from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def conversation_params(conversation: Conversation) -> dict[str, Any]:
    c = conversation
    return {
        "id": c.id,
        "bot_id": c.bot_id,
        "phone": c.phone,
        "flow_id": c.flow_id,
        "flow_hash": c.flow_hash,
        "state": c.state,
        "vars": dump(c.vars),
        "choices": dump(c.choices),
        "status": c.status.value,
        "attempts": c.attempts,
        "epoch": c.epoch,
        "contact": dump(c.contact),
        "channel": c.channel,
        "version": c.version,
        "last_inbox_seq": c.last_inbox_seq,
        "created_at": to_us(c.created_at),
        "updated_at": to_us(c.updated_at),
    }


def outbound_params(
    conversation: Conversation, item: NewOutbound, now: datetime
) -> tuple[str, str, str, str, str, str, int, int]:
    c = conversation
    content = dump(item.content)
    return (
        item.key,
        c.id,
        c.bot_id,
        c.phone,
        content,
        item.channel,
        to_us(item.due_at),
        to_us(now),
    )


def history_params(entry: HistoryEntry) -> tuple[str, str, str, str, int]:
    h = entry
    return (h.key, h.conversation_id, h.direction.value, dump(h.body), to_us(h.at))


def timer_params(timer: TimerRecord) -> tuple[str, str, str, str, str, int]:
    t = timer
    return (t.id, t.conversation_id, t.bot_id, t.phone, t.key, to_us(t.due_at))


def conversation_of(row: sqlite3.Row) -> Conversation:
    return Conversation(
        id=row["id"],
        bot_id=row["bot_id"],
        phone=row["phone"],
        flow_id=row["flow_id"],
        flow_hash=row["flow_hash"],
        state=row["state"],
        vars=json.loads(row["vars"]),
        choices=json.loads(row["choices"]),
        status=ConversationStatus(row["status"]),
        attempts=row["attempts"],
        epoch=row["epoch"],
        contact=json.loads(row["contact"]),
        channel=row["channel"],
        version=row["version"],
        last_inbox_seq=row["last_inbox_seq"],
        created_at=from_us(row["created_at"]),
        updated_at=from_us(row["updated_at"]),
    )


def flow_version_of(row: sqlite3.Row) -> FlowVersion:
    return FlowVersion(
        content_hash=row["content_hash"],
        flow_id=row["flow_id"],
        source=row["source"],
        path=row["path"],
        created_at=from_us(row["created_at"]),
    )


def inbox_of(row: sqlite3.Row) -> InboxEntry:
    return InboxEntry(
        seq=row["seq"],
        source=InboxSource(row["source"]),
        provider_id=row["provider_id"],
        bot_id=row["bot_id"],
        phone=row["phone"],
        event=json.loads(row["event"]),
        received_at=from_us(row["received_at"]),
        done=bool(row["done"]),
    )


def timer_of(row: sqlite3.Row) -> TimerRecord:
    return TimerRecord(
        id=row["id"],
        conversation_id=row["conversation_id"],
        bot_id=row["bot_id"],
        phone=row["phone"],
        key=row["key"],
        due_at=from_us(row["due_at"]),
    )


def outbox_of(row: sqlite3.Row) -> OutboxEntry:
    return OutboxEntry(
        key=row["key"],
        conversation_id=row["conversation_id"],
        bot_id=row["bot_id"],
        phone=row["phone"],
        content=json.loads(row["content"]),
        channel=row["channel"],
        status=OutboxStatus(row["status"]),
        due_at=from_us(row["due_at"]),
        created_at=from_us(row["created_at"]),
        attempts=row["attempts"],
        provider_id=row["provider_id"],
        history=json.loads(row["history"]),
    )


def history_of(row: sqlite3.Row) -> HistoryEntry:
    return HistoryEntry(
        key=row["key"],
        conversation_id=row["conversation_id"],
        direction=Direction(row["direction"]),
        body=json.loads(row["body"]),
        at=from_us(row["at"]),
    )
