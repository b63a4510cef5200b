"""The SQLite store's campaigns (store/campaigns_records.py): one row each, recipients and
common variables as JSON."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from store.campaigns_records import Campaign, CampaignRecipient, CampaignStatus
from store.sqlite_schema import Connected, from_us, to_us

_COLUMNS = (
    "id, bot_id, list_name, recipients, vars, send_at, per_minute, status, started, merged, "
    "invalid, version, created_at, updated_at"
)
_INSERT = (
    f"INSERT INTO campaigns ({_COLUMNS}) VALUES ({', '.join('?' * 14)}) ON CONFLICT DO NOTHING"
)
_UPDATE = """UPDATE campaigns SET bot_id = ?, list_name = ?, recipients = ?, vars = ?,
    send_at = ?, per_minute = ?, status = ?, started = ?, merged = ?, invalid = ?, version = ?,
    created_at = ?, updated_at = ? WHERE id = ? AND version = ?"""


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _values(c: Campaign) -> tuple[Any, ...]:
    recipients = [{"phone": r.phone, "vars": dict(r.vars)} for r in c.recipients]
    return (
        c.bot_id,
        c.list_name,
        _json(recipients),
        _json(dict(c.vars)),
        to_us(c.send_at),
        c.per_minute,
        c.status.value,
        c.started,
        c.merged,
        c.invalid,
        c.version,
        to_us(c.created_at),
        to_us(c.updated_at),
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
