"""The SQLite store's billing: the session trackers' states (compare-and-set on `version`),
the append-only usage ledger, and prepaid credits.

Amounts are TEXT holding a `Decimal`'s string form, which reads back equal and written the
same ("0.0450" stays "0.0450"); times are integer microseconds as elsewhere.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from store.billing_records import BillingState, CreditPurchase, LedgerEntry, LedgerKind
from store.sqlite_schema import (
    Connected,
    dump,
    from_us,
    from_us_or_none,
    to_us,
    transaction,
    us_or_none,
)

LEDGER_COLUMNS = tuple(field.name for field in fields(LedgerEntry))
"""The ledger table's columns are the record's fields, of the same names."""

_INSERT_LEDGER = (
    f"INSERT INTO ledger ({', '.join(LEDGER_COLUMNS)}) "
    f"VALUES ({', '.join(':' + column for column in LEDGER_COLUMNS)}) ON CONFLICT (id) DO NOTHING"
)
_INSERT_STATE = """INSERT INTO billing_states VALUES (:key, :data, :version, :due_at)
    ON CONFLICT (key) DO NOTHING"""
_UPDATE_STATE = """UPDATE billing_states SET data = :data, version = :version, due_at = :due_at
    WHERE key = :key AND version = :version - 1"""
# substr rather than LIKE or GLOB: a key may hold their wildcards (`_` in an agent id).
# INDEXED BY: the walk in due order stops after `limit` matches, where the primary key's
# prefix range would read every state of the prefix and sort them.
_DUE = """SELECT * FROM billing_states INDEXED BY billing_states_due
    WHERE due_at < :before AND substr(key, 1, length(:prefix)) = :prefix
    ORDER BY due_at, key LIMIT :limit"""
# The second term skips entries a repeated report would not change: no write, no WAL page.
_NOTE_DELIVERY = """UPDATE ledger SET
        delivered_at = COALESCE(delivered_at, :at), operator = COALESCE(operator, :operator)
    WHERE message_key = :message_key
      AND (delivered_at ISNULL OR operator ISNULL AND :operator NOTNULL)"""
_LEDGER_FOR = """SELECT * FROM ledger WHERE id = :ref OR message_key = :ref OR session_id = :ref
    ORDER BY at, id"""


def due_of(state: BillingState) -> datetime | None:
    """When the tracker wants `state` looked at again: its `data["due"]`, an ISO-8601 instant
    with an offset, or None when absent. `ValueError` for anything else, before any write.
    (Both stores index it; MongoDB imports it from here.)"""
    due = state.data.get("due")
    if due is None:
        return None
    try:
        moment = datetime.fromisoformat(due) if isinstance(due, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise ValueError(f"billing state {state.key}: due {due!r} is not an ISO-8601 instant")
    return moment


def state_params(state: BillingState) -> dict[str, Any]:
    due = due_of(state)
    return {
        "key": state.key,
        "data": dump(state.data),
        "version": state.version,
        "due_at": None if due is None else to_us(due),
    }


def state_of(row: sqlite3.Row) -> BillingState:
    return BillingState(key=row["key"], data=json.loads(row["data"]), version=row["version"])


def ledger_params(entry: LedgerEntry) -> dict[str, Any]:
    e = entry
    return {
        **{column: getattr(e, column) for column in LEDGER_COLUMNS},
        "kind": e.kind.value,
        "unit_price": str(e.unit_price),
        "at": to_us(e.at),
        "delivered_at": us_or_none(e.delivered_at),
    }


def ledger_of(row: sqlite3.Row) -> LedgerEntry:
    return LedgerEntry(
        **{
            **dict(row),
            "kind": LedgerKind(row["kind"]),
            "unit_price": Decimal(row["unit_price"]),
            "at": from_us(row["at"]),
            "delivered_at": from_us_or_none(row["delivered_at"]),
        }
    )


def credit_params(purchase: CreditPurchase) -> tuple[str, str, str, int, int, str]:
    p = purchase
    return (p.id, str(p.amount), p.currency, to_us(p.purchased_at), to_us(p.expires_at), p.note)


def credit_of(row: sqlite3.Row) -> CreditPurchase:
    return CreditPurchase(
        id=row["id"],
        amount=Decimal(row["amount"]),
        currency=row["currency"],
        purchased_at=from_us(row["purchased_at"]),
        expires_at=from_us(row["expires_at"]),
        note=row["note"],
    )


class SqliteBilling(Connected):
    async def get_billing_state(self, key: str) -> BillingState | None:
        row = self._conn.execute("SELECT * FROM billing_states WHERE key = ?", (key,)).fetchone()
        return None if row is None else state_of(row)

    async def commit_billing(
        self, state: BillingState | None, entries: Sequence[LedgerEntry]
    ) -> bool:
        # Converted first: a bad `due` or a naive time fails before the unit begins.
        params = None if state is None else state_params(state)
        rows = [ledger_params(entry) for entry in entries]
        with transaction(self._conn) as db:
            if params is not None:
                # The state goes first: on a conflict nothing is written yet, and the empty
                # unit commits as it is.
                sql = _INSERT_STATE if params["version"] == 1 else _UPDATE_STATE
                if db.execute(sql, params).rowcount != 1:
                    return False
            db.executemany(_INSERT_LEDGER, rows)
        return True

    async def ledger(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        bot_id: str | None = None,
    ) -> list[LedgerEntry]:
        # Only the terms given, written out: a `? IS NULL OR ...` term would keep SQLite from
        # planning an index range on `at`.
        terms: list[str] = []
        params: list[str | int] = []
        for term, value in (
            ("bot_id = ?", bot_id),
            ("at >= ?", None if since is None else to_us(since)),
            ("at < ?", None if until is None else to_us(until)),
        ):
            if value is not None:
                terms.append(term)
                params.append(value)
        where = " AND ".join(terms) or "1"
        sql = f"SELECT * FROM ledger WHERE {where} ORDER BY at, id"
        return [ledger_of(row) for row in self._conn.execute(sql, params)]

    async def ledger_for(self, reference: str) -> list[LedgerEntry]:
        return [ledger_of(row) for row in self._conn.execute(_LEDGER_FOR, {"ref": reference})]

    async def note_ledger_delivery(
        self, message_key: str, at: datetime, operator: str | None = None
    ) -> None:
        params = {"message_key": message_key, "at": to_us(at), "operator": operator}
        self._conn.execute(_NOTE_DELIVERY, params)

    async def billing_states_due(
        self, prefix: str, before: datetime, limit: int = 100
    ) -> list[BillingState]:
        params = {"before": to_us(before), "prefix": prefix, "limit": limit}
        return [state_of(row) for row in self._conn.execute(_DUE, params)]

    async def add_credit(self, purchase: CreditPurchase) -> bool:
        sql = "INSERT INTO credits VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
        return self._conn.execute(sql, credit_params(purchase)).rowcount == 1

    async def credits(self) -> list[CreditPurchase]:
        sql = "SELECT * FROM credits ORDER BY purchased_at, id"
        return [credit_of(row) for row in self._conn.execute(sql)]
