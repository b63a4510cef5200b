"""The MongoDB store's Time2Chat 09 numbers: one document per number, `_id` the number in
E.164 (store/numbers_records.py)."""

from __future__ import annotations

from datetime import datetime

from pymongo.errors import DuplicateKeyError

from store.mongodb_documents import Connected, Doc, ms, optional_ms
from store.numbers_records import NumberRecord


def number_doc(record: NumberRecord) -> Doc:
    r = record
    return {
        "_id": r.number,
        "declaration": dict(r.declaration),
        "declared_at": ms(r.declared_at),
        "bot_id": r.bot_id,
        "assigned_at": optional_ms(r.assigned_at),
        "released_at": optional_ms(r.released_at),
    }


def number_of(doc: Doc) -> NumberRecord:
    return NumberRecord(
        number=doc["_id"],
        declaration=doc["declaration"],
        declared_at=doc["declared_at"],
        bot_id=doc["bot_id"],
        assigned_at=doc["assigned_at"],
        released_at=doc["released_at"],
    )


class MongoNumbers(Connected):
    async def declare_number(self, record: NumberRecord) -> bool:
        doc = number_doc(record)
        try:
            await self._c.numbers.insert_one(doc)
        except DuplicateKeyError:
            # Declared before: replaced only when it was released.
            released = {"_id": doc["_id"], "released_at": {"$ne": None}}
            result = await self._c.numbers.replace_one(released, doc)
            return result.matched_count == 1
        return True

    async def get_number(self, number: str) -> NumberRecord | None:
        doc = await self._c.numbers.find_one({"_id": number})
        return None if doc is None else number_of(doc)

    async def list_numbers(self) -> list[NumberRecord]:
        cursor = self._c.numbers.find().sort("_id", 1)
        return [number_of(doc) async for doc in cursor]

    async def assign_number(self, number: str, bot_id: str, at: datetime) -> bool:
        result = await self._c.numbers.update_one(
            {"_id": number, "released_at": None},
            {"$set": {"bot_id": bot_id, "assigned_at": ms(at)}},
        )
        return result.matched_count == 1

    async def release_number(self, number: str, at: datetime) -> bool:
        result = await self._c.numbers.update_one(
            {"_id": number, "released_at": None},
            {"$set": {"bot_id": None, "assigned_at": None, "released_at": ms(at)}},
        )
        return result.matched_count == 1
