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
    WAITING_OUTBOX,
    AgentRecord,
    AgentState,
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

SCHEMA_VERSION = 3
"""Kept in `PRAGMA user_version`; `create_schema` migrates from the number it finds there.
Version 3 added the billing tables, which `TABLES` creates in a version 2 file as it is."""

WAITING = f"status IN ({', '.join(repr(s.value) for s in sorted(WAITING_OUTBOX))})"
"""The outbox entries still to be (re)sent, which hold back the later ones of their
conversation: the partial indexes on them are small next to the whole outbox, and a query uses
them only when it repeats this term."""

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
    # `provider_ids` is a JSON array (the ids in the order sent); `outbox_providers` finds an
    # entry by any of them.
    """CREATE TABLE IF NOT EXISTS outbox (
        key TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, bot_id TEXT NOT NULL,
        phone TEXT NOT NULL, content TEXT NOT NULL, channel TEXT NOT NULL,
        status TEXT NOT NULL, due_at INTEGER NOT NULL, created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, provider_id TEXT, history TEXT NOT NULL,
        lease_owner TEXT, lease_until INTEGER, route TEXT, deadline_at INTEGER,
        provider_ids TEXT NOT NULL DEFAULT '[]')""",
    """CREATE TABLE IF NOT EXISTS outbox_providers (
        provider_id TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (provider_id, key))
        WITHOUT ROWID""",
    "DROP INDEX IF EXISTS outbox_provider",  # version 1's, replaced by outbox_providers
    # `outbox_depth` counts statuses in it without reading the entries.
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, due_at)",
    # `claim_outbound` walks the waiting entries in key order (covering: the entries it skips,
    # not due yet or held back, cost no table read), checks that each is its conversation's
    # first waiting one, and looks up the RCS copies whose delivery deadline passed.
    f"""CREATE INDEX IF NOT EXISTS outbox_waiting
        ON outbox (key, status, due_at, lease_until, conversation_id) WHERE {WAITING}""",
    f"""CREATE INDEX IF NOT EXISTS outbox_conversation_waiting
        ON outbox (conversation_id, key, status) WHERE {WAITING}""",
    """CREATE INDEX IF NOT EXISTS outbox_deadline
        ON outbox (deadline_at) WHERE deadline_at IS NOT NULL""",
    # `rowid` breaks ties between lines of one turn written at the same instant.
    """CREATE TABLE IF NOT EXISTS history (
        key TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, direction TEXT NOT NULL,
        body TEXT NOT NULL, at INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS history_conversation ON history (conversation_id, at)",
    """CREATE TABLE IF NOT EXISTS agents (
        agent_id TEXT PRIMARY KEY, state TEXT NOT NULL, last_sent_at INTEGER,
        reactivated_at INTEGER, updated_at INTEGER NOT NULL) WITHOUT ROWID""",
    # Billing (store/sqlite_billing.py). `due_at` is the tracker's `data["due"]` as a number,
    # so that `billing_states_due` walks an index instead of parsing every state's JSON.
    """CREATE TABLE IF NOT EXISTS billing_states (
        key TEXT PRIMARY KEY, data TEXT NOT NULL, version INTEGER NOT NULL, due_at INTEGER)
        WITHOUT ROWID""",
    # Covering: the prefix test reads `key` from the index, so states of another prefix cost
    # no table read.
    """CREATE INDEX IF NOT EXISTS billing_states_due
        ON billing_states (due_at, key) WHERE due_at IS NOT NULL""",
    # Amounts are TEXT: a Decimal's string form round-trips exactly, trailing zeros included
    # (a REAL or NUMERIC column would turn 0.0450 into a float).
    """CREATE TABLE IF NOT EXISTS ledger (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, billing_class TEXT NOT NULL,
        bot_id TEXT NOT NULL, sender TEXT NOT NULL, sender_type TEXT NOT NULL,
        recipient TEXT NOT NULL, channel TEXT NOT NULL, country TEXT NOT NULL,
        quantity INTEGER NOT NULL, unit_price TEXT NOT NULL, currency TEXT NOT NULL,
        at INTEGER NOT NULL, rule TEXT NOT NULL, message_key TEXT, session_id TEXT,
        delivered_at INTEGER, operator TEXT)""",
    "CREATE INDEX IF NOT EXISTS ledger_at ON ledger (at, id)",
    "CREATE INDEX IF NOT EXISTS ledger_bot ON ledger (bot_id, at, id)",
    # Partial: most entries have no session, and agent fees no message.
    """CREATE INDEX IF NOT EXISTS ledger_message
        ON ledger (message_key) WHERE message_key IS NOT NULL""",
    """CREATE INDEX IF NOT EXISTS ledger_session
        ON ledger (session_id) WHERE session_id IS NOT NULL""",
    """CREATE TABLE IF NOT EXISTS credits (
        id TEXT PRIMARY KEY, amount TEXT NOT NULL, currency TEXT NOT NULL,
        purchased_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, note TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS credits_purchased ON credits (purchased_at, id)",
)

UPGRADES: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # From version 1: the router's outbox columns; the provider ids of the entries already
    # sent become their `provider_ids`, found through `outbox_providers`.
    1: (
        (
            "ALTER TABLE outbox ADD COLUMN route TEXT",
            "ALTER TABLE outbox ADD COLUMN deadline_at INTEGER",
            "ALTER TABLE outbox ADD COLUMN provider_ids TEXT NOT NULL DEFAULT '[]'",
            "UPDATE outbox SET provider_ids = json_array(provider_id) WHERE provider_id NOTNULL",
        ),
        (
            """INSERT INTO outbox_providers SELECT provider_id, key FROM outbox
                WHERE provider_id NOTNULL ON CONFLICT DO NOTHING""",
        ),
    ),
}
"""For each version that needs one, the statements that bring it to the next one: those run
before `TABLES` (which may index what they add), then those run after (which may fill what
`TABLES` creates)."""

CONVERSATION_COLUMNS = (
    *("id", "bot_id", "phone", "flow_id", "flow_hash", "state", "vars", "choices", "status"),
    *("attempts", "epoch", "contact", "channel", "version", "last_inbox_seq"),
    *("created_at", "updated_at"),
)


class Connected:
    """What the parts of the SQLite store (`SqliteStore` and its mixins) share."""

    _db: sqlite3.Connection | None = None

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("the SQLite store is not open")
        return self._db


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
    """Create the tables of an empty database, or migrate an older one, as one unit."""
    with transaction(db):
        found = db.execute("PRAGMA user_version").fetchone()[0]
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"the database has schema version {found}; this code knows {SCHEMA_VERSION}"
            )
        # Version 0 is a new file: `TABLES` creates it as it is now.
        upgrades = [UPGRADES[v] for v in range(found, SCHEMA_VERSION) if found and v in UPGRADES]
        for before, _ in upgrades:
            for statement in before:
                db.execute(statement)
        for statement in TABLES:
            db.execute(statement)
        for _, after in upgrades:
            for statement in after:
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
        route=row["route"],
        deadline_at=from_us_or_none(row["deadline_at"]),
        provider_ids=tuple(json.loads(row["provider_ids"])),
    )


def history_of(row: sqlite3.Row) -> HistoryEntry:
    return HistoryEntry(
        key=row["key"],
        conversation_id=row["conversation_id"],
        direction=Direction(row["direction"]),
        body=json.loads(row["body"]),
        at=from_us(row["at"]),
    )


def agent_params(record: AgentRecord) -> tuple[str, str, int | None, int | None, int]:
    a = record
    return (
        a.agent_id,
        a.state.value,
        us_or_none(a.last_sent_at),
        us_or_none(a.reactivated_at),
        to_us(a.updated_at),
    )


def agent_of(row: sqlite3.Row) -> AgentRecord:
    return AgentRecord(
        agent_id=row["agent_id"],
        state=AgentState(row["state"]),
        last_sent_at=from_us_or_none(row["last_sent_at"]),
        reactivated_at=from_us_or_none(row["reactivated_at"]),
        updated_at=from_us(row["updated_at"]),
    )


def us_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else to_us(moment)


def from_us_or_none(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)
