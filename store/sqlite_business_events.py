"""The SQLite store's business events (store/business_events_records.py): one row each, `data`
as JSON. `commit_turn` and `mark_outbound` write theirs with `insert_business_events` and
`insert_failed_message_event` inside their own transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from store.business_events_records import BusinessEvent, EventKind, EventStatus
from store.records import NEVER_DELIVERED
from store.sqlite_schema import (
    Connected,
    from_us,
    from_us_or_none,
    to_us,
    transaction,
    us_or_none,
)

_INSERT = """INSERT INTO business_events (id, bot_id, kind, phone, conversation_id, data,
    created_at, status, attempts, next_at, last_error, settled_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"""

_FAILED_MESSAGE = f"""INSERT INTO business_events (id, bot_id, kind, phone, conversation_id,
    data, created_at, status, attempts)
    SELECT '{EventKind.MESSAGE_FAILED.value}:' || key, bot_id, '{EventKind.MESSAGE_FAILED.value}',
        phone, conversation_id,
        json_object('message', key, 'status', status, 'channel', route,
            'detail', json_extract(history, '$[#-1].detail')),
        :now, 'pending', 0
    FROM outbox WHERE key = :key AND status = :status
    ON CONFLICT DO NOTHING"""
"""The event of an outbound entry that reached a status in `NEVER_DELIVERED`, read from the
row just written (its last history line says why)."""

_DUE = """SELECT * FROM business_events WHERE status = 'pending'
    AND (next_at IS NULL OR next_at <= ?) ORDER BY next_at, created_at LIMIT ?"""


def _params(e: BusinessEvent) -> tuple[Any, ...]:
    data = json.dumps(dict(e.data), ensure_ascii=False, sort_keys=True)
    times = (to_us(e.created_at), e.status.value, e.attempts, us_or_none(e.next_at))
    return (e.id, e.bot_id, e.kind.value, e.phone, e.conversation_id, data, *times,
            e.last_error, us_or_none(e.settled_at))  # fmt: skip


def _event_of(row: sqlite3.Row) -> BusinessEvent:
    return BusinessEvent(
        id=row["id"],
        bot_id=row["bot_id"],
        kind=EventKind(row["kind"]),
        phone=row["phone"],
        conversation_id=row["conversation_id"],
        data=json.loads(row["data"]),
        created_at=from_us(row["created_at"]),
        status=EventStatus(row["status"]),
        attempts=row["attempts"],
        next_at=from_us_or_none(row["next_at"]),
        last_error=row["last_error"],
        settled_at=from_us_or_none(row["settled_at"]),
    )


def insert_business_events(db: sqlite3.Connection, events: Sequence[BusinessEvent]) -> int:
    """Insert new events in the caller's transaction; how many were new."""
    return sum(db.execute(_INSERT, _params(event)).rowcount for event in events)


_NEVER_DELIVERED = frozenset(status.value for status in NEVER_DELIVERED)


def insert_failed_message_event(
    db: sqlite3.Connection, key: str, status: str, now: datetime
) -> None:
    """In `mark_outbound`'s transaction: the `message.failed` event of an entry that has just
    reached a status in `NEVER_DELIVERED` (nothing for another status)."""
    if status in _NEVER_DELIVERED:
        db.execute(_FAILED_MESSAGE, {"key": key, "status": status, "now": to_us(now)})


class SqliteBusinessEvents(Connected):
    async def add_business_events(self, events: Sequence[BusinessEvent]) -> int:
        with transaction(self._conn) as db:
            return insert_business_events(db, events)

    async def claim_business_events(
        self, now: datetime, lease: timedelta, limit: int = 50
    ) -> list[BusinessEvent]:
        until = to_us(now + lease)
        with transaction(self._conn) as db:
            rows = db.execute(_DUE, (to_us(now), limit)).fetchall()
            db.executemany(
                "UPDATE business_events SET next_at = ?, attempts = attempts + 1 WHERE id = ?",
                [(until, row["id"]) for row in rows],
            )
        claimed = from_us(until)
        return [
            replace(_event_of(row), next_at=claimed, attempts=row["attempts"] + 1) for row in rows
        ]

    async def settle_business_event(
        self,
        event_id: str,
        status: EventStatus,
        now: datetime,
        *,
        next_at: datetime | None = None,
        error: str | None = None,
    ) -> None:
        settled = None if status is EventStatus.PENDING else to_us(now)
        due = us_or_none(next_at) if status is EventStatus.PENDING else None
        self._conn.execute(
            """UPDATE business_events SET status = ?, next_at = ?, last_error = ?,
                settled_at = ? WHERE id = ?""",
            (status.value, due, error, settled, event_id),
        )

    async def business_events(
        self,
        *,
        bot_id: str | None = None,
        status: EventStatus | None = None,
        limit: int = 100,
    ) -> list[BusinessEvent]:
        sql = """SELECT * FROM business_events WHERE (:bot IS NULL OR bot_id = :bot)
            AND (:status IS NULL OR status = :status) ORDER BY created_at DESC, id DESC
            LIMIT :limit"""
        params = {"bot": bot_id, "status": None if status is None else status.value}
        rows = self._conn.execute(sql, {**params, "limit": limit})
        return [_event_of(row) for row in rows]

    async def purge_business_events(self, before: datetime) -> int:
        sql = "DELETE FROM business_events WHERE status != 'pending' AND settled_at < ?"
        return self._conn.execute(sql, (to_us(before),)).rowcount
