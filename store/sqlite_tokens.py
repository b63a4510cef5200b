"""The SQLite store's bearer tokens of the admin API (store/tokens_records.py)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from store.sqlite_schema import Connected, from_us, from_us_or_none, to_us, us_or_none
from store.tokens_records import ApiToken


def _token_of(row: sqlite3.Row) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        token_hash=row["token_hash"],
        scopes=tuple(json.loads(row["scopes"])),
        created_at=from_us(row["created_at"]),
        revoked_at=from_us_or_none(row["revoked_at"]),
    )


class SqliteTokens(Connected):
    async def save_token(self, record: ApiToken) -> None:
        t = record
        params = (t.id, t.name, t.token_hash, json.dumps(list(t.scopes)))
        times = (to_us(t.created_at), us_or_none(t.revoked_at))
        self._conn.execute(
            "INSERT OR REPLACE INTO api_tokens VALUES (?, ?, ?, ?, ?, ?)", (*params, *times)
        )

    async def token_by_hash(self, token_hash: str) -> ApiToken | None:
        sql = "SELECT * FROM api_tokens WHERE token_hash = ?"
        row = self._conn.execute(sql, (token_hash,)).fetchone()
        return None if row is None else _token_of(row)

    async def list_tokens(self) -> list[ApiToken]:
        sql = "SELECT * FROM api_tokens ORDER BY created_at, id"
        return [_token_of(row) for row in self._conn.execute(sql)]

    async def revoke_token(self, token_id: str, at: datetime) -> bool:
        sql = "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"
        return self._conn.execute(sql, (to_us(at), token_id)).rowcount == 1
