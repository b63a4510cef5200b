"""The store for many processes: MongoDB through pymongo's `AsyncMongoClient`.

The client is made in `open()` and closed in `close()`, never at import: it binds to the first
event loop that uses it (reference/libs.md §6).

- Inbox `seq`: the `counters` document `inbox` holds the last seq appended. An append inserts
  its entry with `_id = counter + 1` and only then raises the counter (`$max`); an insert that
  collides on `_id` helps raise the counter and tries the next number. So seq `n + 1` can only
  be written after seq `n` is visible, which makes seq order the order of successful appends
  with no transaction. (`$inc` first, then insert, would not: a later seq could become visible
  before an earlier one, and a worker that applied it would record a `last_inbox_seq` that
  makes the runtime take the earlier event for a replay and drop it.) A crash between the
  insert and the raise leaves the counter one behind, which the next append repairs.
- Leases: one `leases` document per conversation, `_id = lease_id(bot, phone)`, taken by an
  upsert filtered on "expired" (an absent one is inserted, a live one makes the upsert collide
  on `_id`: not taken), deleted on release. A claim's `lease_until` is its fencing token, as in
  the SQLite store: a later claim by the same owner has another.
- `commit_turn` runs in one multi-document transaction when the server has them (a replica
  set or a mongos, seen once in `open()` from `hello`). Otherwise it is an ordered sequence of
  idempotent writes that a crash anywhere can replay; see `commit_turn`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pymongo
from pymongo import AsyncMongoClient, ReplaceOne
from pymongo.errors import DuplicateKeyError

from store.base import LeaseLost, Store, StoreError, VersionConflict
from store.business_events_records import BusinessEvent
from store.mongodb_agents import MongoAgents
from store.mongodb_billing import MongoBilling
from store.mongodb_business_events import MongoBusinessEvents, insert_events
from store.mongodb_campaigns import MongoCampaigns
from store.mongodb_compliance import MongoCompliance
from store.mongodb_contacts import MongoContacts
from store.mongodb_documents import (
    SEQ_COUNTER,
    Doc,
    Session,
    conversation_doc,
    conversation_of,
    flow_version_doc,
    flow_version_of,
    held_lease,
    history_doc,
    history_of,
    inbox_doc,
    inbox_of,
    insert_new,
    ms,
    prepare,
    timer_doc,
    timer_of,
)
from store.mongodb_numbers import MongoNumbers
from store.mongodb_outbox import MongoOutbox, outbound_doc
from store.mongodb_tokens import MongoTokens
from store.records import (
    LIVE_STATUSES,
    Claim,
    Conversation,
    ConversationStatus,
    FlowVersion,
    HistoryEntry,
    InboxEntry,
    NewInbound,
    NewOutbound,
    TimerRecord,
    TurnWrite,
)

DEFAULT_DATABASE = "causette"
OPERATION_TIMEOUT = 10.0
"""Seconds one operation (or one transaction with its retries) may take, server selection
included: `timeoutMS`."""
_ATTEMPTS = 100
"""Collisions an append or a claim survives before giving up: each one is another process's
progress, so reaching this means a storm, not a loop."""
LEASE_WRITE_TIMEOUT = 2.0
"""Seconds a worker waits to write a conversation's lease before passing over it
(`MongoStore._take_lease`)."""


class MongoStore(
    MongoOutbox,
    MongoAgents,
    MongoBilling,
    MongoCompliance,
    MongoTokens,
    MongoNumbers,
    MongoContacts,
    MongoCampaigns,
    MongoBusinessEvents,
    Store,
):
    """MongoDB: a replica set (or mongos) for transactions; a standalone server works too.
    The outbox, the agents, billing, compliance, the admin API's tokens and the Time2Chat
    numbers are in `store/mongodb_outbox.py`, `store/mongodb_agents.py`,
    `store/mongodb_billing.py`, `store/mongodb_compliance.py`, `store/mongodb_tokens.py` and
    `store/mongodb_numbers.py`.

    Which database: `database` when it differs from the default `causette`; otherwise the one
    the URI names (`mongodb://host/dbname`), else `causette`. (So `database="causette"`
    passed explicitly does not override the URI: a default cannot tell it was passed.)
    """

    def __init__(
        self, uri: str, *, database: str = DEFAULT_DATABASE, server_selection_timeout: float = 5.0
    ) -> None:
        self._uri = uri
        self._database = database
        self._selection_timeout = server_selection_timeout
        self._client: AsyncMongoClient[Doc] | None = None
        self._collections = None
        self.transactions = False
        """Whether units run as transactions (set by `open()`)."""

    async def open(self) -> None:
        if self._client is not None:
            return
        selection_ms = int(self._selection_timeout * 1000)
        client: AsyncMongoClient[Doc] = AsyncMongoClient(
            self._uri,
            tz_aware=True,
            tzinfo=UTC,
            serverSelectionTimeoutMS=selection_ms,
            timeoutMS=max(selection_ms, int(OPERATION_TIMEOUT * 1000)),
        )
        try:
            db = (
                client[self._database]
                if self._database != DEFAULT_DATABASE
                else client.get_default_database(DEFAULT_DATABASE)
            )
            # With `timeoutMS` set, pymongo bounds server selection by it and ignores
            # serverSelectionTimeoutMS: bound the first contact ourselves, so that a wrong URI
            # or a down server fails `open()` within `server_selection_timeout`.
            with pymongo.timeout(self._selection_timeout):
                hello = await client.admin.command("hello")
            # Sessions and a replica set name (or a mongos) are what transactions need.
            self.transactions = "logicalSessionTimeoutMinutes" in hello and (
                "setName" in hello or hello.get("msg") == "isdbgrid"
            )
            collections = await prepare(db)
        except BaseException:
            await client.close()
            raise
        self._client, self._collections = client, collections

    async def close(self) -> None:
        if self._client is not None:
            client, self._client, self._collections = self._client, None, None
            await client.close()

    # --- flow versions ---------------------------------------------------------------------

    async def save_flow_version(self, version: FlowVersion) -> None:
        await self._c.flow_versions.bulk_write([insert_new(flow_version_doc(version))])

    async def get_flow_version(self, content_hash: str) -> FlowVersion | None:
        doc = await self._c.flow_versions.find_one({"_id": content_hash})
        return None if doc is None else flow_version_of(doc)

    # --- conversations ---------------------------------------------------------------------

    async def get_conversation(self, bot_id: str, phone: str) -> Conversation | None:
        doc = await self._c.conversations.find_one({"bot_id": bot_id, "phone": phone, "live": True})
        return None if doc is None else conversation_of(doc)

    async def get_conversation_by_id(self, conversation_id: str) -> Conversation | None:
        doc = await self._c.conversations.find_one({"_id": conversation_id})
        return None if doc is None else conversation_of(doc)

    async def list_conversations(
        self,
        bot_id: str,
        *,
        flow_hash: str | None = None,
        statuses: frozenset[ConversationStatus] = LIVE_STATUSES,
        limit: int = 1000,
    ) -> list[Conversation]:
        query: Doc = {"bot_id": bot_id, "status": {"$in": sorted(s.value for s in statuses)}}
        if flow_hash is not None:
            query["flow_hash"] = flow_hash
        cursor = self._c.conversations.find(query, sort=[("created_at", 1), ("_id", 1)])
        return [conversation_of(doc) async for doc in cursor.limit(limit)]

    async def update_conversation(self, conversation: Conversation) -> None:
        await self._put_conversation(conversation, None, create=False)

    async def _put_conversation(
        self, conversation: Conversation, session: Session, *, create: bool
    ) -> None:
        """Insert version 1, or replace the stored version with the next one."""
        doc, conversations = conversation_doc(conversation), self._c.conversations
        try:
            if create:
                await conversations.insert_one(doc, session=session)
                return
            query = {"_id": conversation.id, "version": conversation.version - 1}
            if (await conversations.replace_one(query, doc, session=session)).matched_count:
                return
        except DuplicateKeyError as error:
            # The id exists already, or another live conversation holds this bot and phone:
            # the caller decided on a stale read either way.
            raise VersionConflict(f"conversation {conversation.id}: {error}") from error
        raise VersionConflict(
            f"conversation {conversation.id}: version {conversation.version} does not follow "
            "the stored one"
        )

    async def _check_version(self, conversation: Conversation, session: Session) -> None:
        """Fail before a turn writes anything when its conversation is already stale."""
        stored = await self._c.conversations.find_one(
            {"_id": conversation.id}, {"version": 1}, session=session
        )
        if (0 if stored is None else stored["version"]) != conversation.version - 1:
            raise VersionConflict(f"conversation {conversation.id} changed since it was read")

    async def conversations_after(
        self,
        bot_id: str,
        *,
        statuses: frozenset[ConversationStatus] = LIVE_STATUSES,
        after: tuple[datetime, str] | None = None,
        limit: int = 100,
    ) -> list[Conversation]:
        if limit <= 0:  # MongoDB reads a limit of 0 as none at all
            return []
        query: Doc = {"bot_id": bot_id, "status": {"$in": sorted(s.value for s in statuses)}}
        if after is not None:
            since = ms(after[0])
            query["$or"] = [
                {"created_at": {"$gt": since}},
                {"created_at": since, "_id": {"$gt": after[1]}},
            ]
        cursor = self._c.conversations.find(query, sort=[("created_at", 1), ("_id", 1)])
        return [conversation_of(doc) async for doc in cursor.limit(limit)]

    async def write_conversation(
        self,
        conversation: Conversation,
        outbound: Sequence[NewOutbound],
        history: Sequence[HistoryEntry],
        now: datetime,
        events: Sequence[BusinessEvent] = (),
    ) -> None:
        write = TurnWrite(conversation, list(outbound), [], [], list(history), list(events))

        async def body(session: Session) -> None:
            # The conversation first: its compare-and-set is the commit point, so a conflict
            # writes nothing and, without a transaction, a crash after it sends nothing twice.
            await self._put_conversation(conversation, session, create=False)
            await self._add_outbound(conversation, write, now, session)
            await insert_events(self._c.business_events, write.events, session)

        await self._unit(body)

    # --- inbox -----------------------------------------------------------------------------

    async def append_inbound(self, inbound: NewInbound) -> tuple[InboxEntry, bool]:
        c = self._c
        for _ in range(_ATTEMPTS):
            counter = await c.counters.find_one({"_id": SEQ_COUNTER})
            doc = inbox_doc((0 if counter is None else counter["seq"]) + 1, inbound)
            try:
                await c.inbox.insert_one(doc)
            except DuplicateKeyError:
                key = {"source": doc["source"], "provider_id": doc["provider_id"]}
                if (first := await c.inbox.find_one(key)) is not None:
                    return inbox_of(first), False
                # The seq was taken. Raise the counter only over an entry that exists: over a
                # free seq it would let the next append overtake whoever still writes there.
                if await c.inbox.find_one({"_id": doc["_id"]}, {"_id": 1}) is not None:
                    await self._raise_counter(doc["_id"])
                continue
            await self._raise_counter(doc["_id"])
            return inbox_of(doc), True
        raise StoreError(f"could not append {inbound.source}/{inbound.provider_id}: contention")

    async def _raise_counter(self, seq: int) -> None:
        await self._c.counters.update_one({"_id": SEQ_COUNTER}, {"$max": {"seq": seq}})

    async def claim(self, owner: str, now: datetime, lease: timedelta) -> Claim | None:
        c, until = self._c, ms(now + lease)
        locked: list[str] = []  # see `_take_lease`
        for _ in range(_ATTEMPTS):
            busy = await c.leases.distinct("_id", {"until": {"$gt": now}})
            head = await c.inbox.find_one(
                {"done": False, "conversation": {"$nin": busy + locked}}, sort=[("_id", 1)]
            )
            if head is None:
                return None
            taken = await self._take_lease(head["conversation"], owner, now, until)
            if taken is None:
                locked.append(head["conversation"])
            if not taken:
                continue  # another worker was faster: look again
            claim = Claim(head["bot_id"], head["phone"], owner, until, inbox_of(head))
            # The head may have been handled between the read and the lease: take the
            # conversation's oldest pending entry now that nobody else can handle it.
            first = await c.inbox.find_one(
                {"bot_id": claim.bot_id, "phone": claim.phone, "done": False}, sort=[("_id", 1)]
            )
            if first is not None:
                return replace(claim, entry=inbox_of(first))
            await self.release(claim)
        return None

    async def _take_lease(
        self, key: str, owner: str, now: datetime, until: datetime
    ) -> bool | None:
        """True if taken, False if held by another, None if the lease document stayed locked
        for `LEASE_WRITE_TIMEOUT`: a process killed while committing a turn leaves its
        transaction, which holds the document, open on the server until the server's
        `transactionLifetimeLimitSeconds` (60 s by default). Writes wait for it, so every
        worker would pile up on that one conversation; `claim` passes over it instead.
        (Should the write land after the timeout, the lease is ours but unused: it expires.)"""
        try:
            with pymongo.timeout(LEASE_WRITE_TIMEOUT):
                await self._c.leases.update_one(
                    {"_id": key, "until": {"$lte": now}},
                    {"$set": {"owner": owner, "until": until}},
                    upsert=True,
                )
        except DuplicateKeyError:
            return False  # a live lease: the upsert found no expired one and could not insert
        except pymongo.errors.PyMongoError as error:
            if error.timeout:
                return None
            raise
        return True

    async def renew(self, claim: Claim, now: datetime, lease: timedelta) -> Claim:
        until = ms(now + lease)
        result = await self._c.leases.update_one(held_lease(claim), {"$set": {"until": until}})
        if result.matched_count != 1:
            raise LeaseLost(_lost(claim))
        return replace(claim, lease_until=until)

    async def release(self, claim: Claim) -> None:
        await self._c.leases.delete_one(held_lease(claim))

    async def commit_turn(self, claim: Claim, write: TurnWrite, now: datetime) -> None:
        """Without a transaction the writes run in an order that a crash anywhere can replay:
        1. outbound entries, history lines and business events, inserted only if their key is
           new, and timers
           (cancelled, then armed: an id in both ends armed, as the later intent) — a replay of
           the event produces the same keys, so this step repeats harmlessly;
        2. the conversation, compare-and-set on its version, carrying `last_inbox_seq`: this
           is the commit point — once it is written, a replayed claim of the entry has
           `seq <= last_inbox_seq`, which the runtime recognises and only `skip`s;
        3. the entry marked done, 4. the lease given back (if lost, it expires).
        The lease and the version are checked first, so a stale turn writes nothing. What a
        transaction adds is that a conflicting `update_conversation` landing between that check
        and step 2 cannot leave step 1's writes behind.
        """
        conversation = replace(write.conversation, last_inbox_seq=claim.entry.seq)

        async def body(session: Session) -> None:
            await self._check_lease(claim, session)
            await self._check_version(conversation, session)
            await self._add_outbound(conversation, write, now, session)
            await self._set_timers(write, session)
            await insert_events(self._c.business_events, write.events, session)
            await self._put_conversation(conversation, session, create=conversation.version == 1)
            await self._finish(claim, now, session)

        await self._unit(body)

    async def _check_lease(self, claim: Claim, session: Session) -> None:
        if await self._c.leases.find_one(held_lease(claim), {"_id": 1}, session=session) is None:
            raise LeaseLost(_lost(claim))

    async def _add_outbound(
        self, conversation: Conversation, write: TurnWrite, now: datetime, session: Session
    ) -> None:
        outbound = [outbound_doc(conversation, item, now) for item in write.outbound]
        lines = [
            history_doc(h, conversation.last_inbox_seq, n) for n, h in enumerate(write.history)
        ]
        for collection, docs in ((self._c.outbox, outbound), (self._c.history, lines)):
            if docs:
                keep_first = [insert_new(doc) for doc in docs]
                await collection.bulk_write(keep_first, session=session)

    async def _set_timers(self, write: TurnWrite, session: Session) -> None:
        if write.cancel:
            await self._c.timers.delete_many({"_id": {"$in": write.cancel}}, session=session)
        if write.arm:
            docs = [timer_doc(timer) for timer in write.arm]
            arm = [ReplaceOne({"_id": doc["_id"]}, doc, upsert=True) for doc in docs]
            await self._c.timers.bulk_write(arm, session=session)

    async def _finish(self, claim: Claim, now: datetime, session: Session) -> None:
        await self._c.inbox.update_one(
            {"_id": claim.entry.seq}, {"$set": {"done": True, "done_at": ms(now)}}, session=session
        )
        await self._c.leases.delete_one(held_lease(claim), session=session)

    async def skip(self, claim: Claim, now: datetime) -> None:
        async def body(session: Session) -> None:
            await self._check_lease(claim, session)
            await self._finish(claim, now, session)

        await self._unit(body)

    async def inbox_depth(self) -> int:
        return await self._c.inbox.count_documents({"done": False})

    # --- timers ----------------------------------------------------------------------------

    async def due_timers(self, now: datetime, limit: int = 100) -> list[TimerRecord]:
        cursor = self._c.timers.find({"due_at": {"$lte": now}}, sort=[("due_at", 1), ("_id", 1)])
        return [timer_of(doc) async for doc in cursor.limit(limit)]

    async def fire_timer(self, timer: TimerRecord, event: NewInbound) -> bool:
        # Append, then remove: a crash between the two leaves the timer, whose next firing
        # finds the event already appended (idempotent key) and only removes it. No transaction
        # needed, and the append keeps its seq allocation out of one (see the module's doc).
        _, new = await self.append_inbound(event)
        # Matching the due time too: a timer re-armed since it was read is a new one.
        await self._c.timers.delete_one({"_id": timer.id, "due_at": ms(timer.due_at)})
        return new

    async def next_timer_due(self) -> datetime | None:
        doc = await self._c.timers.find_one({}, {"due_at": 1}, sort=[("due_at", 1)])
        return None if doc is None else doc["due_at"]

    # --- history ---------------------------------------------------------------------------

    async def history(self, conversation_id: str, limit: int = 1000) -> list[HistoryEntry]:
        order = [("at", 1), ("turn", 1), ("position", 1)]
        cursor = self._c.history.find({"conversation_id": conversation_id}, sort=order)
        return [history_of(doc) async for doc in cursor.limit(limit)]


def _lost(claim: Claim) -> str:
    return f"{claim.owner} no longer holds {claim.bot_id}/{claim.phone} (entry {claim.entry.seq})"
