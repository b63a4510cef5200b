"""The MongoDB store's outbox: what the dispatcher claims, the status changes it and the
receipts write, and the lookup of an entry by any provider id it was sent under.

An outbox entry's `_id` is its key, so key order is `_id` order.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument

from store.base import LeaseLost
from store.mongodb_business_events import failed_message_event, insert_events
from store.mongodb_documents import Connected, Doc, Session, ms
from store.records import (
    NEVER_DELIVERED,
    WAITING_OUTBOX,
    Conversation,
    NewOutbound,
    OutboxEntry,
    OutboxStatus,
    queued_line,
)

_WAITING = sorted(status.value for status in WAITING_OUTBOX)
_SENT, _SENDING = OutboxStatus.SENT.value, OutboxStatus.SENDING.value


def outbound_doc(conversation: Conversation, item: NewOutbound, now: datetime) -> Doc:
    return {
        "_id": item.key,
        "conversation_id": conversation.id,
        "bot_id": conversation.bot_id,
        "phone": conversation.phone,
        "content": item.content,
        "channel": item.channel,
        "status": OutboxStatus.QUEUED.value,
        "due_at": ms(item.due_at),
        "created_at": ms(now),
        "attempts": 0,
        "provider_id": None,
        "history": [queued_line(ms(now))],
        "route": None,
        "deadline_at": None,
        "provider_ids": [],
        "traffic": item.traffic,
        "reply": item.reply,
        "valid_from": None,
    }


def outbox_of(doc: Doc) -> OutboxEntry:
    return OutboxEntry(
        key=doc["_id"],
        conversation_id=doc["conversation_id"],
        bot_id=doc["bot_id"],
        phone=doc["phone"],
        content=doc["content"],
        channel=doc["channel"],
        status=OutboxStatus(doc["status"]),
        due_at=doc["due_at"],
        created_at=doc["created_at"],
        attempts=doc["attempts"],
        provider_id=doc["provider_id"],
        history=doc["history"],
        # Absent from the entries written before the router.
        route=doc.get("route"),
        deadline_at=doc.get("deadline_at"),
        provider_ids=tuple(doc.get("provider_ids", ())),
        traffic=doc.get("traffic"),
        reply=bool(doc.get("reply", False)),
        valid_from=doc.get("valid_from"),
    )


def _claimable(now: datetime) -> Doc:
    """The entries a dispatcher may act on, before the head rule (see `Store.claim_outbound`):
    waiting and due, sending on an expired lease, or sent on RCS past its deadline."""
    return {
        "$or": [
            {
                "status": {"$in": [OutboxStatus.QUEUED.value, OutboxStatus.REVOKED.value]},
                "due_at": {"$lte": now},
            },
            {"status": _SENDING, "lease_until": {"$lte": now}},
            {"status": _SENT, "deadline_at": {"$lte": now}},
        ]
    }


def _taken(owner: str, until: datetime) -> Doc:
    return {
        "$set": {"status": _SENDING, "lease_owner": owner, "lease_until": until},
        "$inc": {"attempts": 1},
    }


def _marked(
    status: OutboxStatus,
    now: datetime,
    *,
    provider_id: str | None,
    detail: str | None,
    route: str | None,
    due_at: datetime | None,
    deadline_at: datetime | None,
    valid_from: datetime | None = None,
) -> list[Doc]:
    """The update of `mark_outbound`, as a pipeline: the history line names the route stored
    when no new one is given, which an update operator cannot read. Every given value is a
    `$literal`, so that a detail or an id starting with `$` is not taken for a field path."""
    channel = {"$ifNull": ["$route", None]} if route is None else _literal(route)
    line = {
        "at": _literal(now.astimezone(UTC).isoformat()),
        "status": _literal(status.value),
        "detail": _literal(detail),
        "channel": channel,
    }
    values: Doc = {
        "status": _literal(status.value),
        "history": {"$concatArrays": ["$history", [line]]},
    }
    if provider_id is not None:
        given, ids = _literal(provider_id), {"$ifNull": ["$provider_ids", []]}
        values["provider_id"] = given
        values["provider_ids"] = {
            "$cond": [{"$in": [given, ids]}, ids, {"$concatArrays": [ids, [given]]}]
        }
    if route is not None:
        values["route"] = _literal(route)
    if due_at is not None:
        values["due_at"] = _literal(ms(due_at))
    if valid_from is not None:
        values["valid_from"] = _literal(ms(valid_from))
    if status is not OutboxStatus.SENT:
        values["deadline_at"] = None
    elif deadline_at is not None:
        values["deadline_at"] = _literal(ms(deadline_at))
    if status is not OutboxStatus.SENDING:
        values["lease_owner"] = values["lease_until"] = None
    return [{"$set": values}]


def _literal(value: Any) -> Doc:
    return {"$literal": value}


class MongoOutbox(Connected):
    async def claim_outbound(
        self, owner: str, now: datetime, lease: timedelta, limit: int = 100
    ) -> list[OutboxEntry]:
        """The claim of `Store.claim_outbound` without a transaction: a conversation's entries
        are read (page, heads) before they are taken, one `find_one_and_update` each.

        What keeps two dispatchers in different processes from sending two messages of one
        conversation out of order: an entry is taken only if it was the conversation's head
        when the heads were read, and a conversation is left alone for the rest of this claim
        as soon as one of its entries could not be taken. A failed take is the only way to
        see that another dispatcher acted on the conversation between our read and our take
        (it took the head, or a `sent` entry at its deadline, which makes that entry waiting
        again); going on to a later entry of that conversation on the strength of the old
        heads would send it beside the one the other dispatcher holds. The other changes that
        can make an earlier entry waiting again (a TTL revocation receipt) read nothing this
        claim writes, so the claim simply comes before them, as in SQLite's one statement.
        The same entry is never taken twice: the take is filtered on "still claimable".
        """
        claimable, take = _claimable(now), _taken(owner, ms(now + lease))
        claimed: list[OutboxEntry] = []
        passed: set[str] = set()  # conversations served, or touched by someone else meanwhile
        fields = {"conversation_id": 1, "status": 1}
        async with self._c.outbox.find(claimable, fields, sort=[("_id", 1)]) as cursor:
            # Page by page: the entries held back by the head rule are skipped, so the first
            # `limit` candidates may not be enough.
            while page := await cursor.to_list(limit):
                heads = await self._heads({c["conversation_id"] for c in page} - passed)
                for candidate in page:
                    conversation = candidate["conversation_id"]
                    if conversation in passed:
                        continue
                    # A sent entry past its deadline is neither held back nor holds back.
                    if candidate["status"] != _SENT and heads[conversation] != candidate["_id"]:
                        continue
                    # At most one entry per conversation and claim, taken or not (see above).
                    passed.add(conversation)
                    doc = await self._c.outbox.find_one_and_update(
                        {"_id": candidate["_id"], **claimable},
                        take,
                        return_document=ReturnDocument.AFTER,
                    )
                    if doc is None:
                        continue
                    claimed.append(outbox_of(doc))
                    if len(claimed) == limit:
                        return claimed
        return claimed

    async def _heads(self, conversations: set[str]) -> dict[str, str | None]:
        """The smallest key of a waiting entry of each conversation (None when it has none),
        read before the takes: `claim_outbound` says why that is enough."""
        heads: dict[str, str | None] = dict.fromkeys(conversations)
        if not conversations:
            return heads
        pipeline: list[Doc] = [
            {
                "$match": {
                    "conversation_id": {"$in": sorted(conversations)},
                    "status": {"$in": _WAITING},
                }
            },
            {"$group": {"_id": "$conversation_id", "head": {"$min": "$_id"}}},
        ]
        async with await self._c.outbox.aggregate(pipeline) as cursor:
            heads.update({doc["_id"]: doc["head"] async for doc in cursor})
        return heads

    async def mark_outbound(
        self,
        key: str,
        status: OutboxStatus,
        now: datetime,
        *,
        provider_id: str | None = None,
        detail: str | None = None,
        route: str | None = None,
        due_at: datetime | None = None,
        deadline_at: datetime | None = None,
        owner: str | None = None,
        valid_from: datetime | None = None,
    ) -> None:
        update = _marked(
            status,
            now,
            provider_id=provider_id,
            detail=detail,
            route=route,
            due_at=due_at,
            deadline_at=deadline_at,
            valid_from=valid_from,
        )
        query: Doc = {"_id": key}
        if owner is not None:
            query.update(status=_SENDING, lease_owner=owner)
        if status in NEVER_DELIVERED:
            if await self._unit(lambda session: self._mark_failed(query, update, now, session)):
                return
        elif (await self._c.outbox.update_one(query, update)).matched_count == 1:
            return
        if await self._c.outbox.find_one({"_id": key}, {"_id": 1}) is None:
            raise KeyError(f"no outbound entry {key!r}")
        raise LeaseLost(f"{owner} no longer holds outbound entry {key!r}")

    async def _mark_failed(
        self, query: Doc, update: list[Doc], now: datetime, session: Session
    ) -> bool:
        """The status change and its `message.failed` event, in one unit where the server
        has transactions (else the event follows the change: a crash between loses it)."""
        outbox = self._c.outbox
        entry = await outbox.find_one_and_update(
            query, update, session=session, return_document=ReturnDocument.AFTER
        )
        if entry is None:
            return False
        await insert_events(self._c.business_events, [failed_message_event(entry, now)], session)
        return True

    async def conversation_outbound(
        self, conversation_id: str, limit: int = 1000
    ) -> list[OutboxEntry]:
        if limit <= 0:  # MongoDB reads a limit of 0 as none at all
            return []
        # Found through the (conversation_id, status, _id) index; a conversation's few entries
        # are sorted in memory.
        cursor = self._c.outbox.find({"conversation_id": conversation_id}, sort=[("_id", 1)])
        return [outbox_of(doc) async for doc in cursor.limit(limit)]

    async def get_outbound(self, key: str) -> OutboxEntry | None:
        doc = await self._c.outbox.find_one({"_id": key})
        return None if doc is None else outbox_of(doc)

    async def find_outbound_by_provider_id(self, provider_id: str) -> OutboxEntry | None:
        doc = await self._c.outbox.find_one(
            {"provider_ids": provider_id}, sort=[("created_at", 1), ("_id", 1)]
        )
        return None if doc is None else outbox_of(doc)

    async def outbox_depth(self) -> dict[OutboxStatus, int]:
        pipeline: list[Doc] = [{"$group": {"_id": "$status", "n": {"$sum": 1}}}]
        cursor = await self._c.outbox.aggregate(pipeline)
        return {OutboxStatus(doc["_id"]): doc["n"] async for doc in cursor}
