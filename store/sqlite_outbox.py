"""The SQLite store's outbox: what the dispatcher claims, the status changes it and the
receipts write, and the lookup of an entry by any provider id it was sent under."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta

from store.base import LeaseLost
from store.records import Conversation, NewOutbound, OutboxEntry, OutboxStatus, queued_line
from store.sqlite_business_events import insert_failed_message_event
from store.sqlite_schema import (
    WAITING,
    Connected,
    dump,
    from_us,
    outbound_params,
    outbox_of,
    to_us,
    transaction,
)

_INSERT_OUTBOX = """INSERT INTO outbox (key, conversation_id, bot_id, phone, content, channel,
    status, due_at, created_at, traffic, reply, history)
    VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)
    ON CONFLICT (key) DO NOTHING"""
# `waiting` walks the waiting entries in key order and stops after `limit` claimable ones: a
# backlog due at once costs each claim only its own entries (where a walk by due time would
# sort the whole backlog every time). An entry behind a waiting one of its conversation is
# held back. `overdue` are the RCS copies whose delivery deadline passed; they hold nothing
# back and nothing holds them, so a conversation may have one of each: its smaller key goes.
# INDEXED BY: without statistics the planner may prefer `outbox_due` and sort.
_CLAIM_OUTBOUND = f"""WITH waiting AS (
        SELECT key, conversation_id FROM outbox AS entry INDEXED BY outbox_waiting
        WHERE {WAITING}
          AND CASE status WHEN 'sending' THEN lease_until ELSE due_at END <= :now
          AND NOT EXISTS (
              SELECT 1 FROM outbox AS earlier INDEXED BY outbox_conversation_waiting
              WHERE earlier.conversation_id = entry.conversation_id
                AND earlier.key < entry.key AND earlier.{WAITING})
        ORDER BY key LIMIT :limit),
    overdue AS (
        SELECT key, conversation_id FROM outbox INDEXED BY outbox_deadline
        WHERE deadline_at <= :now AND status = 'sent' ORDER BY key LIMIT :limit),
    heads AS (
        SELECT MIN(key) FROM (SELECT * FROM waiting UNION ALL SELECT * FROM overdue)
        GROUP BY conversation_id ORDER BY 1 LIMIT :limit)
    UPDATE outbox
    SET status = 'sending', attempts = attempts + 1, lease_owner = :owner, lease_until = :until
    WHERE key IN heads
    RETURNING *"""
# Every SET expression reads the row as it was: `route` in the history line is the stored one
# unless a new one is given.
_MARK_OUTBOUND = """UPDATE outbox SET
        status = :status,
        provider_id = COALESCE(:provider_id, provider_id),
        provider_ids = CASE
            WHEN :provider_id ISNULL
              OR EXISTS (SELECT 1 FROM json_each(provider_ids) WHERE value = :provider_id)
            THEN provider_ids ELSE json_insert(provider_ids, '$[#]', :provider_id) END,
        route = COALESCE(:route, route),
        due_at = COALESCE(:due_at, due_at),
        valid_from = COALESCE(:valid_from, valid_from),
        deadline_at = CASE :status WHEN 'sent' THEN COALESCE(:deadline_at, deadline_at) END,
        lease_owner = CASE :status WHEN 'sending' THEN lease_owner END,
        lease_until = CASE :status WHEN 'sending' THEN lease_until END,
        history = json_insert(history, '$[#]', json_object('at', :at, 'status', :status,
            'detail', :detail, 'channel', COALESCE(:route, route)))
    WHERE key = :key
      AND (:owner ISNULL OR status = 'sending' AND lease_owner = :owner)"""
_FIND_BY_PROVIDER_ID = """SELECT outbox.* FROM outbox_providers JOIN outbox USING (key)
    WHERE outbox_providers.provider_id = ? ORDER BY outbox.created_at, outbox.key LIMIT 1"""


def insert_outbound(
    db: sqlite3.Connection, conversation: Conversation, items: Sequence[NewOutbound], now: datetime
) -> None:
    """Queue a turn's messages, keeping the first of equal keys (a replayed turn's)."""
    # Written as the store keeps times (to the microsecond), so that the line reads back equal.
    queued = dump([queued_line(from_us(to_us(now)))])
    db.executemany(
        _INSERT_OUTBOX, [(*outbound_params(conversation, i, now), queued) for i in items]
    )


class SqliteOutbox(Connected):
    async def claim_outbound(
        self, owner: str, now: datetime, lease: timedelta, limit: int = 100
    ) -> list[OutboxEntry]:
        params = {"owner": owner, "until": to_us(now + lease), "now": to_us(now), "limit": limit}
        with transaction(self._conn) as db:
            rows = db.execute(_CLAIM_OUTBOUND, params).fetchall()
        # RETURNING promises no order.
        return sorted(map(outbox_of, rows), key=lambda entry: entry.key)

    async def mark_outbound(
        self,
        key: str,
        status: OutboxStatus,
        now: datetime,
        *,
        provider_id: str | None = None,
        detail: str | None = None,
        route: str | None = None,
        due_at: datetime | None = None,
        deadline_at: datetime | None = None,
        owner: str | None = None,
        valid_from: datetime | None = None,
    ) -> None:
        params = {
            "key": key,
            "status": status.value,
            # UTC, and a naive `now` is refused as elsewhere.
            "at": from_us(to_us(now)).isoformat(),
            "provider_id": provider_id,
            "detail": detail,
            "route": route,
            "due_at": None if due_at is None else to_us(due_at),
            "deadline_at": None if deadline_at is None else to_us(deadline_at),
            "owner": owner,
            "valid_from": None if valid_from is None else to_us(valid_from),
        }
        with transaction(self._conn) as db:
            if db.execute(_MARK_OUTBOUND, params).rowcount != 1:
                if db.execute("SELECT 1 FROM outbox WHERE key = ?", (key,)).fetchone() is None:
                    raise KeyError(f"no outbound entry {key!r}")
                raise LeaseLost(f"{owner} no longer holds outbound entry {key!r}")
            if provider_id is not None:
                db.execute(
                    "INSERT INTO outbox_providers VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (provider_id, key),
                )
            insert_failed_message_event(db, key, status.value, now)

    async def get_outbound(self, key: str) -> OutboxEntry | None:
        row = self._conn.execute("SELECT * FROM outbox WHERE key = ?", (key,)).fetchone()
        return None if row is None else outbox_of(row)

    async def find_outbound_by_provider_id(self, provider_id: str) -> OutboxEntry | None:
        row = self._conn.execute(_FIND_BY_PROVIDER_ID, (provider_id,)).fetchone()
        return None if row is None else outbox_of(row)

    async def conversation_outbound(
        self, conversation_id: str, limit: int = 1000
    ) -> list[OutboxEntry]:
        sql = "SELECT * FROM outbox WHERE conversation_id = ? ORDER BY key LIMIT ?"
        return [outbox_of(row) for row in self._conn.execute(sql, (conversation_id, limit))]

    async def outbox_depth(self) -> dict[OutboxStatus, int]:
        sql = "SELECT status, COUNT(*) FROM outbox GROUP BY status"
        return {OutboxStatus(status): count for status, count in self._conn.execute(sql)}
