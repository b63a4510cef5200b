"""The MongoDB store's campaigns (store/campaigns_records.py): one document each, `_id` the
campaign's id; one `campaign_recipients` document per recipient, `_id` the campaign and the
number (so a number is kept once per campaign without a second unique index)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo.errors import DuplicateKeyError

from store.campaigns_records import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    RecipientState,
)
from store.mongodb_documents import Connected, Doc, insert_new, ms, optional_ms


def campaign_doc(campaign: Campaign) -> Doc:
    c = campaign
    return {
        "_id": c.id,
        "bot_id": c.bot_id,
        "list_name": c.list_name,
        "recipients": [{"phone": r.phone, "vars": dict(r.vars)} for r in c.recipients],
        "vars": dict(c.vars),
        "send_at": ms(c.send_at),
        "per_minute": c.per_minute,
        "status": c.status.value,
        "started": c.started,
        "merged": c.merged,
        "invalid": c.invalid,
        "version": c.version,
        "created_at": ms(c.created_at),
        "updated_at": ms(c.updated_at),
        "rate": c.rate,
        "total": c.total,
        "problems": list(c.problems),
        "runner": c.runner,
        "lease_until": optional_ms(c.lease_until),
        "cursor": c.cursor,
        "waiting_until": optional_ms(c.waiting_until),
    }


def campaign_of(doc: Doc) -> Campaign:
    # `.get`: documents written before the recipient rows (schema version 9) lack the rest.
    return Campaign(
        id=doc["_id"],
        bot_id=doc["bot_id"],
        list_name=doc["list_name"],
        recipients=tuple(CampaignRecipient(r["phone"], r["vars"]) for r in doc["recipients"]),
        vars=doc["vars"],
        send_at=doc["send_at"],
        per_minute=doc["per_minute"],
        status=CampaignStatus(doc["status"]),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        started=doc["started"],
        merged=doc["merged"],
        invalid=doc["invalid"],
        version=doc["version"],
        rate=doc.get("rate"),
        total=doc.get("total", 0),
        problems=tuple(doc.get("problems", ())),
        runner=doc.get("runner"),
        lease_until=doc.get("lease_until"),
        cursor=doc.get("cursor", 0),
        waiting_until=doc.get("waiting_until"),
    )


def recipient_id(campaign_id: str, phone: str) -> str:
    """The unit separator cannot occur in a campaign id nor in a number."""
    return f"{campaign_id}\x1f{phone}"


def _recipient_of(doc: Doc) -> CampaignRecipient:
    return CampaignRecipient(doc["phone"], doc["vars"], doc["seq"], RecipientState(doc["state"]))


class MongoCampaigns(Connected):
    async def save_campaign(self, campaign: Campaign) -> bool:
        try:
            await self._c.campaigns.insert_one(campaign_doc(campaign))
        except DuplicateKeyError:
            return False
        return True

    async def get_campaign(self, campaign_id: str) -> Campaign | None:
        doc = await self._c.campaigns.find_one({"_id": campaign_id})
        return None if doc is None else campaign_of(doc)

    async def list_campaigns(self) -> list[Campaign]:
        cursor = self._c.campaigns.find().sort([("created_at", 1), ("_id", 1)])
        return [campaign_of(doc) async for doc in cursor]

    async def update_campaign(self, campaign: Campaign) -> bool:
        query = {"_id": campaign.id, "version": campaign.version - 1}
        result = await self._c.campaigns.replace_one(query, campaign_doc(campaign))
        return result.matched_count == 1

    async def add_campaign_recipients(
        self, campaign_id: str, recipients: Sequence[CampaignRecipient]
    ) -> int:
        if not recipients:
            return 0
        writes = [
            insert_new(
                {
                    "_id": recipient_id(campaign_id, r.phone),
                    "campaign_id": campaign_id,
                    "phone": r.phone,
                    "seq": r.seq,
                    "vars": dict(r.vars),
                    "state": RecipientState.PENDING.value,
                }
            )
            for r in recipients
        ]
        # Ordered: of two rows of one number in the batch, the first one is kept.
        result = await self._c.campaign_recipients.bulk_write(writes, ordered=True)
        return result.upserted_count

    async def campaign_recipients(
        self,
        campaign_id: str,
        *,
        state: RecipientState | None = None,
        after: int = -1,
        limit: int = 1000,
    ) -> list[CampaignRecipient]:
        query: dict[str, Any] = {"campaign_id": campaign_id, "seq": {"$gt": after}}
        if state is not None:
            query["state"] = state.value
        cursor = self._c.campaign_recipients.find(query).sort([("seq", 1), ("phone", 1)])
        return [_recipient_of(doc) async for doc in cursor.limit(limit)]

    async def mark_campaign_recipients(
        self, campaign_id: str, states: Mapping[str, RecipientState]
    ) -> int:
        by_state: dict[RecipientState, list[str]] = {}
        for phone, state in states.items():
            by_state.setdefault(state, []).append(recipient_id(campaign_id, phone))
        marked = 0
        for state, ids in by_state.items():
            result = await self._c.campaign_recipients.update_many(
                {"_id": {"$in": ids}}, {"$set": {"state": state.value}}
            )
            marked += result.matched_count
        return marked

    async def campaign_counts(self, campaign_id: str) -> dict[RecipientState, int]:
        pipeline: list[Doc] = [
            {"$match": {"campaign_id": campaign_id}},
            {"$group": {"_id": "$state", "count": {"$sum": 1}}},
        ]
        found: dict[RecipientState, int] = {}
        async with await self._c.campaign_recipients.aggregate(pipeline) as cursor:
            async for doc in cursor:
                found[RecipientState(doc["_id"])] = doc["count"]
        return {state: found.get(state, 0) for state in RecipientState}

    async def delete_campaign_recipients(self, campaign_id: str) -> int:
        result = await self._c.campaign_recipients.delete_many({"campaign_id": campaign_id})
        return result.deleted_count

    async def list_phones(self, list_name: str, after: str = "", limit: int = 1000) -> list[str]:
        query = {"lists": list_name, "_id": {"$gt": after}}
        cursor = self._c.contacts.find(query, {"_id": 1}).sort("_id", 1).limit(limit)
        return [doc["_id"] async for doc in cursor]
