"""The SQLite store's address book (store/contacts_records.py): `contacts` holds each person's
fields as JSON, `contact_lists` the lists each belongs to."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from store.contacts_records import Contact, merge_contacts
from store.sqlite_schema import Connected, from_us, to_us, transaction

_CHUNK = 500
"""Numbers looked up per query (under SQLite's limit on parameters)."""
_UPSERT = """INSERT INTO contacts VALUES (?, ?, ?, ?) ON CONFLICT (phone) DO UPDATE SET
    fields = excluded.fields, created_at = excluded.created_at, updated_at = excluded.updated_at"""
_JOIN = "INSERT INTO contact_lists VALUES (?, ?) ON CONFLICT DO NOTHING"


def _contact_of(row: sqlite3.Row) -> Contact:
    return Contact(
        phone=row["phone"],
        fields=json.loads(row["fields"]),
        created_at=from_us(row["created_at"]),
        updated_at=from_us(row["updated_at"]),
    )


def _row(c: Contact) -> tuple[str, str, int, int]:
    fields = json.dumps(dict(c.fields), ensure_ascii=False, sort_keys=True)
    return (c.phone, fields, to_us(c.created_at), to_us(c.updated_at))


class SqliteContacts(Connected):
    async def leave_list(self, list_name: str, phones: Sequence[str] | None = None) -> int:
        db = self._conn
        if phones is None:
            return db.execute(
                "DELETE FROM contact_lists WHERE list_name = ?", (list_name,)
            ).rowcount
        sql = "DELETE FROM contact_lists WHERE list_name = ? AND phone = ?"
        with transaction(db):
            return sum(db.execute(sql, (list_name, phone)).rowcount for phone in set(phones))

    async def upsert_contacts(
        self, contacts: Sequence[Contact], list_name: str | None = None
    ) -> tuple[int, int]:
        db = self._conn
        with transaction(db):
            phones = sorted({contact.phone for contact in contacts})
            existing: dict[str, Contact] = {}
            for start in range(0, len(phones), _CHUNK):
                chunk = phones[start : start + _CHUNK]
                marks = ", ".join("?" * len(chunk))
                sql = f"SELECT * FROM contacts WHERE phone IN ({marks})"
                existing.update((row["phone"], _contact_of(row)) for row in db.execute(sql, chunk))
            merged, created, updated = merge_contacts(existing, contacts)
            db.executemany(_UPSERT, [_row(c) for c in merged.values()])
            if list_name is not None:
                db.executemany(_JOIN, [(list_name, phone) for phone in merged])
        return created, updated

    async def get_contact(self, phone: str) -> Contact | None:
        row = self._conn.execute("SELECT * FROM contacts WHERE phone = ?", (phone,)).fetchone()
        return None if row is None else _contact_of(row)

    async def contacts(self, list_name: str | None = None) -> list[Contact]:
        if list_name is None:
            rows = self._conn.execute("SELECT * FROM contacts ORDER BY phone")
        else:
            sql = """SELECT contacts.* FROM contact_lists
                JOIN contacts ON contacts.phone = contact_lists.phone
                WHERE contact_lists.list_name = ? ORDER BY contact_lists.phone"""
            rows = self._conn.execute(sql, (list_name,))
        return [_contact_of(row) for row in rows]

    async def contacts_after(
        self, list_name: str | None = None, *, after: str | None = None, limit: int = 100
    ) -> list[Contact]:
        if list_name is None:
            sql = "SELECT * FROM contacts WHERE phone > ? ORDER BY phone LIMIT ?"
            rows = self._conn.execute(sql, (after or "", limit))
        else:
            sql = """SELECT contacts.* FROM contact_lists
                JOIN contacts ON contacts.phone = contact_lists.phone
                WHERE contact_lists.list_name = ? AND contact_lists.phone > ?
                ORDER BY contact_lists.phone LIMIT ?"""
            rows = self._conn.execute(sql, (list_name, after or "", limit))
        return [_contact_of(row) for row in rows]

    async def lists(self) -> dict[str, int]:
        sql = """SELECT list_name, count(*) AS size FROM contact_lists
            GROUP BY list_name ORDER BY list_name"""
        return {row["list_name"]: row["size"] for row in self._conn.execute(sql)}
