"""The SQLite store's campaigns (store/campaigns_records.py): one `campaigns` row each (common
variables and problems as JSON), and one `campaign_recipients` row per recipient."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from store.campaigns_records import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    RecipientState,
)
from store.sqlite_schema import Connected, from_us, from_us_or_none, to_us, transaction, us_or_none

_FIELDS = (
    *("bot_id", "list_name", "recipients", "vars", "send_at", "per_minute", "status"),
    *("started", "merged", "invalid", "version", "created_at", "updated_at", "rate", "total"),
    *("problems", "runner", "lease_until", "cursor", "waiting_until"),
)
_PLACES = ", ".join("?" * (len(_FIELDS) + 1))
_INSERT = (
    f"INSERT INTO campaigns (id, {', '.join(_FIELDS)}) VALUES ({_PLACES}) ON CONFLICT DO NOTHING"
)
_UPDATE = (
    f"UPDATE campaigns SET {', '.join(f'{name} = ?' for name in _FIELDS)} "
    "WHERE id = ? AND version = ?"
)
_ADD_RECIPIENT = """INSERT INTO campaign_recipients (campaign_id, phone, seq, vars, state)
    VALUES (?, ?, ?, ?, 'pending') ON CONFLICT DO NOTHING"""
_MARK = "UPDATE campaign_recipients SET state = ? WHERE campaign_id = ? AND phone = ?"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _values(c: Campaign) -> tuple[Any, ...]:
    recipients = [{"phone": r.phone, "vars": dict(r.vars)} for r in c.recipients]
    return (
        *(c.bot_id, c.list_name, _json(recipients), _json(dict(c.vars)), to_us(c.send_at)),
        *(c.per_minute, c.status.value, c.started, c.merged, c.invalid, c.version),
        *(to_us(c.created_at), to_us(c.updated_at), c.rate, c.total, _json(list(c.problems))),
        *(c.runner, us_or_none(c.lease_until), c.cursor, us_or_none(c.waiting_until)),
    )


def _campaign_of(row: sqlite3.Row) -> Campaign:
    return Campaign(
        id=row["id"],
        bot_id=row["bot_id"],
        list_name=row["list_name"],
        recipients=tuple(
            CampaignRecipient(r["phone"], r["vars"]) for r in json.loads(row["recipients"])
        ),
        vars=json.loads(row["vars"]),
        send_at=from_us(row["send_at"]),
        per_minute=row["per_minute"],
        status=CampaignStatus(row["status"]),
        created_at=from_us(row["created_at"]),
        updated_at=from_us(row["updated_at"]),
        started=row["started"],
        merged=row["merged"],
        invalid=row["invalid"],
        version=row["version"],
        rate=row["rate"],
        total=row["total"],
        problems=tuple(json.loads(row["problems"])),
        runner=row["runner"],
        lease_until=from_us_or_none(row["lease_until"]),
        cursor=row["cursor"],
        waiting_until=from_us_or_none(row["waiting_until"]),
    )


def _recipient_of(row: sqlite3.Row) -> CampaignRecipient:
    return CampaignRecipient(
        row["phone"], json.loads(row["vars"]), row["seq"], RecipientState(row["state"])
    )


class SqliteCampaigns(Connected):
    async def save_campaign(self, campaign: Campaign) -> bool:
        return self._conn.execute(_INSERT, (campaign.id, *_values(campaign))).rowcount == 1

    async def get_campaign(self, campaign_id: str) -> Campaign | None:
        row = self._conn.execute("SELECT * FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
        return None if row is None else _campaign_of(row)

    async def list_campaigns(self) -> list[Campaign]:
        rows = self._conn.execute("SELECT * FROM campaigns ORDER BY created_at, id")
        return [_campaign_of(row) for row in rows]

    async def update_campaign(self, campaign: Campaign) -> bool:
        params = (*_values(campaign), campaign.id, campaign.version - 1)
        return self._conn.execute(_UPDATE, params).rowcount == 1

    async def add_campaign_recipients(
        self, campaign_id: str, recipients: Sequence[CampaignRecipient]
    ) -> int:
        rows = [(campaign_id, r.phone, r.seq, _json(dict(r.vars))) for r in recipients]
        with transaction(self._conn) as db:
            return db.executemany(_ADD_RECIPIENT, rows).rowcount

    async def campaign_recipients(
        self,
        campaign_id: str,
        *,
        state: RecipientState | None = None,
        after: int = -1,
        limit: int = 1000,
    ) -> list[CampaignRecipient]:
        if state is None:
            sql = """SELECT * FROM campaign_recipients WHERE campaign_id = ? AND seq > ?
                ORDER BY seq, phone LIMIT ?"""
            params: tuple[Any, ...] = (campaign_id, after, limit)
        else:
            sql = """SELECT * FROM campaign_recipients INDEXED BY campaign_recipients_state
                WHERE campaign_id = ? AND state = ? AND seq > ? ORDER BY seq LIMIT ?"""
            params = (campaign_id, state.value, after, limit)
        return [_recipient_of(row) for row in self._conn.execute(sql, params)]

    async def mark_campaign_recipients(
        self, campaign_id: str, states: Mapping[str, RecipientState]
    ) -> int:
        rows = [(state.value, campaign_id, phone) for phone, state in states.items()]
        with transaction(self._conn) as db:
            return db.executemany(_MARK, rows).rowcount

    async def campaign_counts(self, campaign_id: str) -> dict[RecipientState, int]:
        rows = self._conn.execute(
            """SELECT state, count(*) FROM campaign_recipients WHERE campaign_id = ?
                GROUP BY state""",
            (campaign_id,),
        )
        found = {RecipientState(state): count for state, count in rows}
        return {state: found.get(state, 0) for state in RecipientState}

    async def delete_campaign_recipients(self, campaign_id: str) -> int:
        sql = "DELETE FROM campaign_recipients WHERE campaign_id = ?"
        return self._conn.execute(sql, (campaign_id,)).rowcount

    async def list_phones(self, list_name: str, after: str = "", limit: int = 1000) -> list[str]:
        rows = self._conn.execute(
            """SELECT phone FROM contact_lists WHERE list_name = ? AND phone > ?
                ORDER BY phone LIMIT ?""",
            (list_name, after, limit),
        )
        return [phone for (phone,) in rows]
