"""The MongoDB store's bearer tokens of the admin API: one document per token, `_id` its id,
found by the unique index on `token_hash`."""

from __future__ import annotations

from datetime import datetime

from store.mongodb_documents import Connected, Doc, ms
from store.tokens_records import ApiToken


def token_doc(record: ApiToken) -> Doc:
    t = record
    return {
        "_id": t.id,
        "name": t.name,
        "token_hash": t.token_hash,
        "scopes": list(t.scopes),
        "created_at": ms(t.created_at),
        "revoked_at": None if t.revoked_at is None else ms(t.revoked_at),
    }


def token_of(doc: Doc) -> ApiToken:
    return ApiToken(
        id=doc["_id"],
        name=doc["name"],
        token_hash=doc["token_hash"],
        scopes=tuple(doc["scopes"]),
        created_at=doc["created_at"],
        revoked_at=doc["revoked_at"],
    )


class MongoTokens(Connected):
    async def save_token(self, record: ApiToken) -> None:
        doc = token_doc(record)
        await self._c.api_tokens.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def token_by_hash(self, token_hash: str) -> ApiToken | None:
        doc = await self._c.api_tokens.find_one({"token_hash": token_hash})
        return None if doc is None else token_of(doc)

    async def list_tokens(self) -> list[ApiToken]:
        cursor = self._c.api_tokens.find().sort([("created_at", 1), ("_id", 1)])
        return [token_of(doc) async for doc in cursor]

    async def revoke_token(self, token_id: str, at: datetime) -> bool:
        result = await self._c.api_tokens.update_one(
            {"_id": token_id, "revoked_at": None}, {"$set": {"revoked_at": ms(at)}}
        )
        return result.modified_count == 1
