"""The SQLite store's compliance data: opt-outs (R25), the red list (R6), the archive of old
message history (R32), and the erasure of a person (R34).

Archiving and erasure each run as one transaction, so a crash leaves either all of a batch or
none of it. The archive has no expiry of its own: its records are kept 12 months after they
were archived, a period the operator may change, so `purge_archive_before` is called with
the cut-off rather than the store deciding it.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from store.archiving import HISTORY, INBOX, OUTBOX, erased, record_body
from store.compliance_records import Archived, OptOut, RedListed
from store.sqlite_schema import (
    Connected,
    dump,
    from_us,
    history_of,
    inbox_of,
    outbox_of,
    to_us,
    transaction,
)
from store.sqlite_tables import FINAL, RECIPIENT

_INSERT_ARCHIVE = "INSERT INTO archive VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
# INDEXED BY: without statistics the planner may prefer another index and sort the whole
# table; these walks stop after a batch. A history line names no phone: its conversation does
# (a line whose conversation is gone is archived under an empty bot and phone).
_OLD_HISTORY = """SELECT history.*, conversations.bot_id, conversations.phone
    FROM history INDEXED BY history_at
    LEFT JOIN conversations ON conversations.id = history.conversation_id
    WHERE history.at < ? ORDER BY history.at LIMIT ?"""
_OLD_INBOX = """SELECT * FROM inbox INDEXED BY inbox_done_received
    WHERE done = 1 AND received_at < ? ORDER BY received_at LIMIT ?"""
_OLD_OUTBOX = f"""SELECT * FROM outbox INDEXED BY outbox_final
    WHERE {FINAL} AND created_at < ? ORDER BY created_at LIMIT ?"""
_PURGE = """DELETE FROM archive WHERE rowid IN (
    SELECT rowid FROM archive INDEXED BY archive_at WHERE at < ? ORDER BY at LIMIT ?)"""

# In the order they run: history lines are found through the conversations, which go last.
_ERASE: tuple[tuple[str, str], ...] = (
    (
        "history",
        """DELETE FROM history WHERE conversation_id IN (
            SELECT id FROM conversations WHERE phone = :phone)""",
    ),
    ("timers", "DELETE FROM timers WHERE phone = :phone"),
    # By the ids each entry lists, through the table's primary key; not counted apart.
    (
        "",
        """DELETE FROM outbox_providers WHERE (provider_id, key) IN (
            SELECT ids.value, outbox.key FROM outbox, json_each(outbox.provider_ids) AS ids
            WHERE outbox.phone = :phone)""",
    ),
    ("outbox", "DELETE FROM outbox WHERE phone = :phone"),
    ("inbox", "DELETE FROM inbox WHERE phone = :phone"),
    # A scan, but of the leases alone: one per conversation being handled.
    ("leases", "DELETE FROM leases WHERE phone = :phone"),
    ("billing_states", f"DELETE FROM billing_states WHERE {RECIPIENT} = :phone"),
    ("archive", "DELETE FROM archive WHERE phone = :phone"),
    ("red_list", "DELETE FROM red_list WHERE phone = :phone"),
    # The person's lists go with their contact, not counted apart (MongoDB keeps them in it).
    ("", "DELETE FROM contact_lists WHERE phone = :phone"),
    ("contacts", "DELETE FROM contacts WHERE phone = :phone"),
    ("business_events", "DELETE FROM business_events WHERE phone = :phone"),
    # A campaign's own recipients (from a CSV) lose the person's row; the count is of campaigns.
    (
        "campaigns",
        """UPDATE campaigns SET recipients = (
            SELECT COALESCE(json_group_array(json(row.value)), '[]')
            FROM json_each(campaigns.recipients) AS row
            WHERE json_extract(row.value, '$.phone') != :phone)
        WHERE EXISTS (SELECT 1 FROM json_each(campaigns.recipients) AS row
            WHERE json_extract(row.value, '$.phone') = :phone)""",
    ),
    ("campaign_recipients", "DELETE FROM campaign_recipients WHERE phone = :phone"),
    # OR REPLACE: a record already kept under `hashed` (the person was erased before, then
    # wrote STOP or START again) gives way to the newer one.
    ("opt_outs", "UPDATE OR REPLACE opt_outs SET phone = :hashed WHERE phone = :phone"),
    ("ledger", "UPDATE ledger SET recipient = :hashed WHERE recipient = :phone"),
    ("conversations", "DELETE FROM conversations WHERE phone = :phone"),
)


def opt_out_of(row: sqlite3.Row) -> OptOut:
    return OptOut(
        business=row["business"],
        phone=row["phone"],
        opted_out=bool(row["opted_out"]),
        at=from_us(row["at"]),
        source=row["source"],
    )


def red_listed_of(row: sqlite3.Row) -> RedListed:
    return RedListed(
        business=row["business"], phone=row["phone"], at=from_us(row["at"]), reason=row["reason"]
    )


def archived_of(row: sqlite3.Row) -> Archived:
    return Archived(
        kind=row["kind"],
        key=row["key"],
        conversation_id=row["conversation_id"],
        bot_id=row["bot_id"],
        phone=row["phone"],
        at=from_us(row["at"]),
        body=json.loads(row["body"]),
    )


_ArchiveRow = tuple[str, str, str | None, str, str, int, str]


def _archive_row(
    kind: str, key: str, conversation_id: str | None, bot_id: str, phone: str, at: int, body: Any
) -> _ArchiveRow:
    return (kind, key, conversation_id, bot_id, phone, at, dump(body))


class SqliteCompliance(Connected):
    # --- opt-outs and red list -------------------------------------------------------------

    async def get_opt_out(self, business: str, phone: str) -> OptOut | None:
        sql = "SELECT * FROM opt_outs WHERE phone = ? AND business = ?"
        row = self._conn.execute(sql, (phone, business)).fetchone()
        return None if row is None else opt_out_of(row)

    async def opt_outs(
        self, business: str, *, after: str | None = None, limit: int = 100
    ) -> list[OptOut]:
        sql = """SELECT * FROM opt_outs WHERE business = ? AND phone > ?
            ORDER BY phone LIMIT ?"""
        return [opt_out_of(row) for row in self._conn.execute(sql, (business, after or "", limit))]

    async def set_opt_out(self, record: OptOut) -> None:
        r = record
        sql = """INSERT OR REPLACE INTO opt_outs (phone, business, opted_out, at, source)
            VALUES (?, ?, ?, ?, ?)"""
        self._conn.execute(sql, (r.phone, r.business, int(r.opted_out), to_us(r.at), r.source))

    async def red_list_add(self, entry: RedListed) -> bool:
        e = entry
        sql = """INSERT INTO red_list (phone, business, at, reason) VALUES (?, ?, ?, ?)
            ON CONFLICT DO NOTHING"""
        params = (e.phone, e.business, to_us(e.at), e.reason)
        return self._conn.execute(sql, params).rowcount == 1

    async def red_list_remove(self, business: str, phone: str) -> bool:
        sql = "DELETE FROM red_list WHERE phone = ? AND business = ?"
        return self._conn.execute(sql, (phone, business)).rowcount == 1

    async def red_listed(self, business: str, phone: str) -> bool:
        sql = "SELECT 1 FROM red_list WHERE phone = ? AND business = ?"
        return self._conn.execute(sql, (phone, business)).fetchone() is not None

    async def red_list(self, business: str) -> list[RedListed]:
        sql = "SELECT * FROM red_list WHERE business = ? ORDER BY at, phone"
        return [red_listed_of(row) for row in self._conn.execute(sql, (business,))]

    # --- archive (R32) ---------------------------------------------------------------------

    async def archive_before(self, before: datetime, limit: int = 1000) -> int:
        cut = to_us(before)
        if limit <= 0:
            return 0
        with transaction(self._conn) as db:
            moved = _archive_history(db, cut, limit)
            moved += _archive_inbox(db, cut, limit - moved)
            moved += _archive_outbox(db, cut, limit - moved)
        return moved

    async def purge_archive_before(self, before: datetime, limit: int = 1000) -> int:
        return self._conn.execute(_PURGE, (to_us(before), max(limit, 0))).rowcount

    async def archived(self, phone: str) -> list[Archived]:
        sql = "SELECT * FROM archive WHERE phone = ? ORDER BY at, kind, key"
        return [archived_of(row) for row in self._conn.execute(sql, (phone,))]

    # --- erasure (R34) ---------------------------------------------------------------------

    async def erase_phone(self, phone: str, hashed: str) -> dict[str, int]:
        db = self._conn
        # Overwrite what is deleted with zeros, so that the number does not stay readable in
        # the file's free pages (this build's default is on; another's may not be).
        secure = db.execute("PRAGMA secure_delete").fetchone()[0]
        db.execute("PRAGMA secure_delete = ON")
        try:
            params = {"phone": phone, "hashed": hashed}
            with transaction(db):
                counts = {name: db.execute(sql, params).rowcount for name, sql in _ERASE}
        finally:
            db.execute(f"PRAGMA secure_delete = {int(secure)}")
        counts.pop("", None)
        return erased(**counts)


def _archive_history(db: sqlite3.Connection, cut: int, limit: int) -> int:
    if limit <= 0:
        return 0
    rows = db.execute(_OLD_HISTORY, (cut, limit)).fetchall()
    archive: list[_ArchiveRow] = []
    for row in rows:
        line = history_of(row)
        bot_id, phone = row["bot_id"] or "", row["phone"] or ""
        body = record_body(line)
        archive.append(
            _archive_row(HISTORY, line.key, line.conversation_id, bot_id, phone, row["at"], body)
        )
    db.executemany(_INSERT_ARCHIVE, archive)
    db.executemany("DELETE FROM history WHERE key = ?", [(row["key"],) for row in rows])
    return len(rows)


def _archive_inbox(db: sqlite3.Connection, cut: int, limit: int) -> int:
    if limit <= 0:
        return 0
    rows = db.execute(_OLD_INBOX, (cut, limit)).fetchall()
    archive: list[_ArchiveRow] = []
    for row in rows:
        e = inbox_of(row)
        # An inbox entry belongs to the bot and phone, not yet to a conversation.
        body = record_body(e)
        at = row["received_at"]
        archive.append(_archive_row(INBOX, str(e.seq), None, e.bot_id, e.phone, at, body))
    db.executemany(_INSERT_ARCHIVE, archive)
    db.executemany("DELETE FROM inbox WHERE seq = ?", [(row["seq"],) for row in rows])
    return len(rows)


def _archive_outbox(db: sqlite3.Connection, cut: int, limit: int) -> int:
    if limit <= 0:
        return 0
    rows = db.execute(_OLD_OUTBOX, (cut, limit)).fetchall()
    archive: list[_ArchiveRow] = []
    providers: list[tuple[str, str]] = []
    for row in rows:
        e = outbox_of(row)
        at, body = row["created_at"], record_body(e)
        archive.append(_archive_row(OUTBOX, e.key, e.conversation_id, e.bot_id, e.phone, at, body))
        providers.extend((provider_id, e.key) for provider_id in e.provider_ids)
    db.executemany(_INSERT_ARCHIVE, archive)
    sql = "DELETE FROM outbox_providers WHERE provider_id = ? AND key = ?"
    db.executemany(sql, providers)
    db.executemany("DELETE FROM outbox WHERE key = ?", [(row["key"],) for row in rows])
    return len(rows)
