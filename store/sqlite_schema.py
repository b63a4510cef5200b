"""The SQLite store's shared machinery (the connection, `transaction`, creating or upgrading the
schema of `store/sqlite_tables.py`), and the conversions between its rows and the records.

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
from store.sqlite_tables import SCHEMA_VERSION as SCHEMA_VERSION  # the parts import them here
from store.sqlite_tables import TABLES, UPGRADES
from store.sqlite_tables import WAITING as WAITING

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
) -> tuple[str, str, str, str, str, str, int, int, str | None, int]:
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
        item.traffic,
        int(item.reply),
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
        traffic=row["traffic"],
        reply=bool(row["reply"]),
        valid_from=from_us_or_none(row["valid_from"]),
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
