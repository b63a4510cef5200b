"""The MongoDB store's collections and indexes, and its documents: the conversions between
them and the store's records.

Times are BSON dates: UTC, millisecond precision (the client reads them back timezone-aware).
Every time is cut to the millisecond on the way in, so that a record a method returns equals
the one a later read returns. JSON-able dicts (events, contents, variables) are sub-documents.

A natural key is the `_id` where a record has one (conversation id, outbox key, timer id,
history key, flow hash), so that its uniqueness costs no second index; an inbox entry's `_id`
is its `seq`, which `store/mongodb.py` allocates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

from pymongo import ASCENDING, AsyncMongoClient, IndexModel, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from store.base import StoreError
from store.records import (
    Claim,
    Conversation,
    ConversationStatus,
    Direction,
    FlowVersion,
    HistoryEntry,
    InboxEntry,
    InboxSource,
    NewInbound,
    TimerRecord,
)

Doc = dict[str, Any]
Collection = AsyncCollection[Doc]
Session = AsyncClientSession | None
T = TypeVar("T")
SEQ_COUNTER = "inbox"
"""The `counters` document holding the last inbox seq appended."""


def index_on(*keys: str, **options: Any) -> IndexModel:
    return IndexModel([(key, ASCENDING) for key in keys], **options)


@dataclass(frozen=True, slots=True)
class Collections:
    flow_versions: Collection
    conversations: Collection
    inbox: Collection
    counters: Collection
    leases: Collection
    outbox: Collection
    timers: Collection
    history: Collection
    agents: Collection
    billing_states: Collection
    ledger: Collection
    credits: Collection
    opt_outs: Collection
    red_list: Collection
    archive: Collection
    api_tokens: Collection
    numbers: Collection
    contacts: Collection
    campaigns: Collection
    campaign_recipients: Collection
    business_events: Collection

    @classmethod
    def of(cls, db: AsyncDatabase[Doc]) -> Collections:
        return cls(*(db[field.name] for field in fields(cls)))


INDEXES: dict[str, list[IndexModel]] = {
    "conversations": [
        index_on("bot_id", "phone", unique=True, partialFilterExpression={"live": True}),
        index_on("bot_id", "created_at"),
        index_on("bot_id", "created_at", "_id"),  # the admin API's pages, in their order
        index_on("phone"),  # erasure (store/mongodb_compliance.py)
    ],
    # Erasure finds a person's entries through (bot_id, phone, ...) over every bot, rather
    # than through one more index on the webhook's hot path. Archiving walks the handled
    # entries by age: an entry enters the partial index when its turn marks it done.
    "inbox": [
        index_on("source", "provider_id", unique=True),
        index_on("done", "_id"),
        index_on("bot_id", "phone", "done", "_id"),
        index_on("received_at", partialFilterExpression={"done": True}),
    ],
    "leases": [index_on("until")],
    "outbox": [
        # Multikey: an entry is found by any provider id it was sent under.
        index_on("provider_ids"),
        # `claim_outbound` walks the claimable entries in key order (rather than by due time,
        # which would sort a whole backlog due at once on every claim), looks up whether each
        # is its conversation's first waiting one, and finds the RCS copies past their deadline.
        index_on("status", "_id"),
        index_on("conversation_id", "status", "_id"),
        index_on("status", "deadline_at"),
        # Archiving walks the entries in a final status by age (a partial index on them would
        # need `$in` in its filter, which older servers refuse). Erasure goes by
        # `conversation_id` through the index above.
        index_on("status", "created_at"),
    ],
    "timers": [index_on("due_at", "_id"), index_on("phone")],
    "history": [index_on("conversation_id", "at", "turn", "position"), index_on("at")],
    # `billing_states_due` walks states in due order (store/mongodb_billing.py).
    "billing_states": [index_on("due_at", "_id")],
    "ledger": [
        index_on("at", "_id"),
        index_on("bot_id", "at", "_id"),
        index_on("message_key"),
        index_on("session_id"),
        index_on("recipient"),  # erasure replaces a person's number
    ],
    "credits": [index_on("purchased_at", "_id")],
    # store/mongodb_compliance.py. No TTL index on the archive: see its module.
    "opt_outs": [index_on("phone"), index_on("business", "phone")],  # + the admin API's pages
    "red_list": [index_on("business", "at", "_id"), index_on("phone")],
    "archive": [index_on("at"), index_on("phone", "at", "_id")],
    # store/mongodb_tokens.py: a request's token is found by its hash.
    "api_tokens": [index_on("token_hash", unique=True), index_on("created_at", "_id")],
    # store/mongodb_numbers.py: every read goes by `_id`, the number: no other index.
    # store/mongodb_contacts.py: by `_id`, the number; a list's members by its name
    # (multikey). Erasure deletes by `_id`.
    "contacts": [index_on("lists", "_id")],
    # store/mongodb_campaigns.py: listed oldest first.
    "campaigns": [index_on("created_at", "_id")],
    # `_id` is the campaign and the number (once each, R5); the runner walks the pending ones
    # in input order (the same index counts the states), erasure finds a person's rows.
    "campaign_recipients": [index_on("campaign_id", "state", "seq"), index_on("phone")],
    # store/mongodb_business_events.py: claims by due time, listing and purge by time,
    # erasure by number.
    "business_events": [
        index_on("status", "next_at", "created_at", "_id"),
        index_on("created_at", "_id"),
        index_on("settled_at"),
        index_on("phone"),
    ],
}


async def prepare(db: AsyncDatabase[Doc]) -> Collections:
    """The store's collections, with their indexes and the seq counter made if missing, and
    documents of an earlier layout brought to the current one."""
    collections = Collections.of(db)
    for name, indexes in INDEXES.items():
        await getattr(collections, name).create_indexes(indexes)
    await _ensure_counter(collections)
    await _upgrade_outbox(collections)
    return collections


async def _upgrade_outbox(c: Collections) -> None:
    """Give entries written before `provider_ids` existed theirs (their one `provider_id`), so
    that a receipt for a message sent before the upgrade still finds it. The other fields the
    router added (`route`, `deadline_at`) read as None when absent."""
    legacy = {"$cond": [{"$eq": [{"$type": "$provider_id"}, "string"]}, ["$provider_id"], []]}
    await c.outbox.update_many(
        {"provider_ids": {"$exists": False}}, [{"$set": {"provider_ids": legacy}}]
    )


class Connected:
    """What the parts of the MongoDB store (`MongoStore` and its mixins) share; `MongoStore`
    sets the client, the collections and `transactions` in `open()`."""

    _client: AsyncMongoClient[Doc] | None = None
    _collections: Collections | None = None
    transactions: bool = False

    @property
    def _c(self) -> Collections:
        if self._collections is None:
            raise StoreError("the MongoDB store is not open")
        return self._collections

    async def _unit(self, body: Callable[[Session], Awaitable[T]]) -> T:
        """Run `body` in a transaction when the server has them, else as it is."""
        if not self.transactions or self._client is None:
            return await body(None)
        async with self._client.start_session() as session:
            return await session.with_transaction(body)


async def _ensure_counter(c: Collections) -> None:
    """Create the seq counter at the highest seq present (0 for an empty inbox)."""
    last = await c.inbox.find_one({}, {"_id": 1}, sort=[("_id", -1)])
    start = 0 if last is None else last["_id"]
    with suppress(DuplicateKeyError):  # another process created it at the same moment
        await c.counters.update_one({"_id": SEQ_COUNTER}, {"$max": {"seq": start}}, upsert=True)


def insert_new(doc: Doc) -> UpdateOne:
    """Insert `doc` unless its `_id` exists: keeps the first of equal keys without the
    duplicate-key error that would abort a transaction."""
    values = {name: value for name, value in doc.items() if name != "_id"}
    return UpdateOne({"_id": doc["_id"]}, {"$setOnInsert": values}, upsert=True)


def ms(moment: datetime) -> datetime:
    """`moment` as a BSON date keeps it: UTC, cut to the millisecond."""
    if moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: the store keeps timezone-aware times")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def optional_ms(moment: datetime | None) -> datetime | None:
    return None if moment is None else ms(moment)


def lease_id(bot_id: str, phone: str) -> str:
    """One lease per conversation; the unit separator cannot occur in a bot id or a phone."""
    return f"{bot_id}\x1f{phone}"


def held_lease(claim: Claim) -> Doc:
    """The lease document while `claim` holds it: its `lease_until` is its fencing token (a
    later claim by the same owner, after this one expired, has another)."""
    return {
        "_id": lease_id(claim.bot_id, claim.phone),
        "owner": claim.owner,
        "until": ms(claim.lease_until),
    }


def flow_version_doc(version: FlowVersion) -> Doc:
    v = version
    return {
        "_id": v.content_hash,
        "flow_id": v.flow_id,
        "source": v.source,
        "path": v.path,
        "created_at": ms(v.created_at),
    }


def flow_version_of(doc: Doc) -> FlowVersion:
    return FlowVersion(
        content_hash=doc["_id"],
        flow_id=doc["flow_id"],
        source=doc["source"],
        path=doc["path"],
        created_at=doc["created_at"],
    )


def conversation_doc(conversation: Conversation) -> Doc:
    c = conversation
    return {
        "_id": c.id,
        "bot_id": c.bot_id,
        "phone": c.phone,
        "flow_id": c.flow_id,
        "flow_hash": c.flow_hash,
        "state": c.state,
        "vars": c.vars,
        "choices": c.choices,
        "status": c.status.value,
        # The partial unique index keeps one live conversation per bot and phone; `$ne` is not
        # allowed in a partialFilterExpression, an equality on a boolean is (and portable).
        "live": c.status is not ConversationStatus.ENDED,
        "attempts": c.attempts,
        "epoch": c.epoch,
        "contact": c.contact,
        "channel": c.channel,
        "version": c.version,
        "last_inbox_seq": c.last_inbox_seq,
        "created_at": ms(c.created_at),
        "updated_at": ms(c.updated_at),
    }


def conversation_of(doc: Doc) -> Conversation:
    return Conversation(
        id=doc["_id"],
        bot_id=doc["bot_id"],
        phone=doc["phone"],
        flow_id=doc["flow_id"],
        flow_hash=doc["flow_hash"],
        state=doc["state"],
        vars=doc["vars"],
        choices=doc["choices"],
        status=ConversationStatus(doc["status"]),
        attempts=doc["attempts"],
        epoch=doc["epoch"],
        contact=doc["contact"],
        channel=doc["channel"],
        version=doc["version"],
        last_inbox_seq=doc["last_inbox_seq"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )


def inbox_doc(seq: int, inbound: NewInbound) -> Doc:
    i = inbound
    return {
        "_id": seq,
        "conversation": lease_id(i.bot_id, i.phone),
        "source": i.source.value,
        "provider_id": i.provider_id,
        "bot_id": i.bot_id,
        "phone": i.phone,
        "event": i.event,
        "received_at": ms(i.received_at),
        "done": False,
    }


def inbox_of(doc: Doc) -> InboxEntry:
    return InboxEntry(
        seq=doc["_id"],
        source=InboxSource(doc["source"]),
        provider_id=doc["provider_id"],
        bot_id=doc["bot_id"],
        phone=doc["phone"],
        event=doc["event"],
        received_at=doc["received_at"],
        done=doc["done"],
    )


def timer_doc(timer: TimerRecord) -> Doc:
    t = timer
    return {
        "_id": t.id,
        "conversation_id": t.conversation_id,
        "bot_id": t.bot_id,
        "phone": t.phone,
        "key": t.key,
        "due_at": ms(t.due_at),
    }


def timer_of(doc: Doc) -> TimerRecord:
    return TimerRecord(
        id=doc["_id"],
        conversation_id=doc["conversation_id"],
        bot_id=doc["bot_id"],
        phone=doc["phone"],
        key=doc["key"],
        due_at=doc["due_at"],
    )


def history_doc(entry: HistoryEntry, turn: int, position: int) -> Doc:
    """`turn` (the inbox seq) and `position` keep a turn's lines in the order written when
    they share an instant, as SQLite's rowid does."""
    h = entry
    return {
        "_id": h.key,
        "conversation_id": h.conversation_id,
        "direction": h.direction.value,
        "body": h.body,
        "at": ms(h.at),
        "turn": turn,
        "position": position,
    }


def history_of(doc: Doc) -> HistoryEntry:
    return HistoryEntry(
        key=doc["_id"],
        conversation_id=doc["conversation_id"],
        direction=Direction(doc["direction"]),
        body=doc["body"],
        at=doc["at"],
    )
