"""The MongoDB store's business events (store/business_events_records.py): one document each,
`_id` the event's id. `commit_turn` and `mark_outbound` write theirs with `insert_events` and
`failed_message_event` in their own unit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pymongo import ReturnDocument

from store.business_events_records import BusinessEvent, EventKind, EventStatus, event_id
from store.mongodb_documents import (
    Collection,
    Connected,
    Doc,
    Session,
    insert_new,
    ms,
    optional_ms,
)


def event_doc(event: BusinessEvent) -> Doc:
    e = event
    return {
        "_id": e.id,
        "bot_id": e.bot_id,
        "kind": e.kind.value,
        "phone": e.phone,
        "conversation_id": e.conversation_id,
        "data": dict(e.data),
        "created_at": ms(e.created_at),
        "status": e.status.value,
        "attempts": e.attempts,
        # Due at once sorts first, as SQLite's NULL does.
        "next_at": optional_ms(e.next_at),
        "last_error": e.last_error,
        "settled_at": optional_ms(e.settled_at),
    }


def event_of(doc: Doc) -> BusinessEvent:
    return BusinessEvent(
        id=doc["_id"],
        bot_id=doc["bot_id"],
        kind=EventKind(doc["kind"]),
        phone=doc["phone"],
        conversation_id=doc["conversation_id"],
        data=doc["data"],
        created_at=doc["created_at"],
        status=EventStatus(doc["status"]),
        attempts=doc["attempts"],
        next_at=doc["next_at"],
        last_error=doc["last_error"],
        settled_at=doc["settled_at"],
    )


async def insert_events(
    events: Collection, new: Sequence[BusinessEvent], session: Session = None
) -> int:
    """Insert the events whose id is new (in the caller's unit); how many were."""
    if not new:
        return 0
    result = await events.bulk_write([insert_new(event_doc(e)) for e in new], session=session)
    return result.upserted_count


def failed_message_event(entry: Doc, now: datetime) -> BusinessEvent:
    """The `message.failed` event of an outbox document that has just reached a status in
    `NEVER_DELIVERED` (its last history line says why)."""
    history = entry.get("history") or [{}]
    return BusinessEvent(
        id=event_id(EventKind.MESSAGE_FAILED, entry["_id"]),
        bot_id=entry["bot_id"],
        kind=EventKind.MESSAGE_FAILED,
        phone=entry["phone"],
        conversation_id=entry["conversation_id"],
        data={
            "message": entry["_id"],
            "status": entry["status"],
            "channel": entry.get("route"),
            "detail": history[-1].get("detail"),
        },
        created_at=now,
    )


class MongoBusinessEvents(Connected):
    async def add_business_events(self, events: Sequence[BusinessEvent]) -> int:
        return await insert_events(self._c.business_events, events)

    async def claim_business_events(
        self, now: datetime, lease: timedelta, limit: int = 50
    ) -> list[BusinessEvent]:
        # One document at a time, each taken by a conditional update: two processes never
        # take the same event, without a transaction.
        due: Doc = {"status": EventStatus.PENDING.value, "next_at": None}
        until = ms(now + lease)
        claimed: list[BusinessEvent] = []
        # `next_at <= now` written as `< now's millisecond + 1 ms` (the same set: times are kept
        # to the millisecond), because SecantusDB's range scan on the second field of a
        # compound index leaves out a value equal to a `$lte` bound.
        before = ms(now) + timedelta(milliseconds=1)
        later: Doc = {"status": EventStatus.PENDING.value, "next_at": {"$lt": before}}
        for query in (due, later):
            while len(claimed) < limit:
                doc = await self._c.business_events.find_one_and_update(
                    query,
                    {"$set": {"next_at": until}, "$inc": {"attempts": 1}},
                    sort=[("next_at", 1), ("created_at", 1), ("_id", 1)],
                    return_document=ReturnDocument.AFTER,
                )
                if doc is None:
                    break
                claimed.append(event_of(doc))
        return claimed

    async def settle_business_event(
        self,
        event_id: str,
        status: EventStatus,
        now: datetime,
        *,
        next_at: datetime | None = None,
        error: str | None = None,
    ) -> None:
        pending = status is EventStatus.PENDING
        update = {
            "status": status.value,
            "next_at": optional_ms(next_at) if pending else None,
            "last_error": error,
            "settled_at": None if pending else ms(now),
        }
        await self._c.business_events.update_one({"_id": event_id}, {"$set": update})

    async def business_events(
        self,
        *,
        bot_id: str | None = None,
        status: EventStatus | None = None,
        limit: int = 100,
    ) -> list[BusinessEvent]:
        query: Doc = {}
        if bot_id is not None:
            query["bot_id"] = bot_id
        if status is not None:
            query["status"] = status.value
        cursor = self._c.business_events.find(query, sort=[("created_at", -1), ("_id", -1)])
        return [event_of(doc) async for doc in cursor.limit(limit)]

    async def purge_business_events(self, before: datetime) -> int:
        query = {"status": {"$ne": EventStatus.PENDING.value}, "settled_at": {"$lt": before}}
        return (await self._c.business_events.delete_many(query)).deleted_count
