"""The MongoDB store's campaigns (store/campaigns_records.py): one document each, `_id` the
campaign's id, recipients as an array of sub-documents."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from store.campaigns_records import Campaign, CampaignRecipient, CampaignStatus
from store.mongodb_documents import Connected, Doc, ms


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
    }


def campaign_of(doc: Doc) -> Campaign:
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
    )


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
