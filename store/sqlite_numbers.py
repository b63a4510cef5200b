"""The SQLite store's Time2Chat 09 numbers (store/numbers_records.py)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from store.numbers_records import NumberRecord
from store.sqlite_schema import Connected, from_us, from_us_or_none, to_us, us_or_none

# A released number's row is replaced by its new declaration; a live one's is kept.
_DECLARE = """INSERT INTO t2c_numbers VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (number) DO UPDATE SET declaration = excluded.declaration,
        declared_at = excluded.declared_at, bot_id = excluded.bot_id,
        assigned_at = excluded.assigned_at, released_at = excluded.released_at
    WHERE t2c_numbers.released_at IS NOT NULL"""


def _number_of(row: sqlite3.Row) -> NumberRecord:
    return NumberRecord(
        number=row["number"],
        declaration=json.loads(row["declaration"]),
        declared_at=from_us(row["declared_at"]),
        bot_id=row["bot_id"],
        assigned_at=from_us_or_none(row["assigned_at"]),
        released_at=from_us_or_none(row["released_at"]),
    )


class SqliteNumbers(Connected):
    async def declare_number(self, record: NumberRecord) -> bool:
        r = record
        params = (r.number, json.dumps(dict(r.declaration), ensure_ascii=False))
        times = (to_us(r.declared_at), r.bot_id, us_or_none(r.assigned_at))
        return (
            self._conn.execute(_DECLARE, (*params, *times, us_or_none(r.released_at))).rowcount == 1
        )

    async def get_number(self, number: str) -> NumberRecord | None:
        sql = "SELECT * FROM t2c_numbers WHERE number = ?"
        row = self._conn.execute(sql, (number,)).fetchone()
        return None if row is None else _number_of(row)

    async def list_numbers(self) -> list[NumberRecord]:
        sql = "SELECT * FROM t2c_numbers ORDER BY number"
        return [_number_of(row) for row in self._conn.execute(sql)]

    async def assign_number(self, number: str, bot_id: str, at: datetime) -> bool:
        sql = """UPDATE t2c_numbers SET bot_id = ?, assigned_at = ?
            WHERE number = ? AND released_at IS NULL"""
        return self._conn.execute(sql, (bot_id, to_us(at), number)).rowcount == 1

    async def release_number(self, number: str, at: datetime) -> bool:
        sql = """UPDATE t2c_numbers SET bot_id = NULL, assigned_at = NULL, released_at = ?
            WHERE number = ? AND released_at IS NULL"""
        return self._conn.execute(sql, (to_us(at), number)).rowcount == 1
