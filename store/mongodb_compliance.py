"""The MongoDB store's compliance data: opt-outs (R25), the red list (R6), the archive of old
message history (R32), and the erasure of a person (R34).

- `opt_outs` and `red_list`: `_id` is `{business}\\x1f{phone}` (as leases join a bot and a
  phone), so a business's lookup of a number reads one document; erasure finds a person's by
  the `phone` index.
- `archive`: `_id` is `{kind}:{key}`, so archiving the same record twice keeps one copy.

Archiving and erasure run in a transaction when the server has them. Otherwise:
- a batch is inserted into the archive (keeping the first of equal ids), then deleted from
  its table: a crash between the two leaves records in both, and the next batch finds them
  again, re-inserts nothing and deletes them. Nothing is lost, and nothing is counted twice.
- an erasure deletes what it finds through a person's conversations before the
  conversations, and writes an opt-out under `hashed` before deleting it under the number:
  a crash anywhere leaves what the next run finds and finishes (a second run counts zeros).

No TTL index expires the archive: its records are kept 12 months after they were archived,
a period the operator may change, so `purge_archive_before` is called with the cut-off.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pymongo import DeleteMany, ReplaceOne
from pymongo.errors import DuplicateKeyError

from store.archiving import HISTORY, INBOX, OUTBOX, erased, record_body
from store.compliance_records import Archived, OptOut, RedListed
from store.mongodb_documents import (
    Collection,
    Connected,
    Doc,
    Session,
    history_of,
    inbox_of,
    insert_new,
    lease_id,
    ms,
)
from store.mongodb_outbox import outbox_of
from store.records import OutboxStatus

_FINAL = sorted(status.value for status in OutboxStatus if status.final)
_BY_AGE = [("at", 1), ("_id", 1)]


def pair_id(business: str, phone: str) -> str:
    """One opt-out or red-list record per business and phone (the unit separator cannot occur
    in either)."""
    return lease_id(business, phone)


def opt_out_doc(record: OptOut) -> Doc:
    r = record
    return {
        "_id": pair_id(r.business, r.phone),
        "business": r.business,
        "phone": r.phone,
        "opted_out": r.opted_out,
        "at": ms(r.at),
        "source": r.source,
    }


def opt_out_of(doc: Doc) -> OptOut:
    return OptOut(doc["business"], doc["phone"], doc["opted_out"], doc["at"], doc["source"])


def red_listed_doc(entry: RedListed) -> Doc:
    e = entry
    return {
        "_id": pair_id(e.business, e.phone),
        "business": e.business,
        "phone": e.phone,
        "at": ms(e.at),
        "reason": e.reason,
    }


def red_listed_of(doc: Doc) -> RedListed:
    return RedListed(doc["business"], doc["phone"], doc["at"], doc["reason"])


def archived_doc(record: Archived) -> Doc:
    a = record
    return {
        "_id": f"{a.kind}:{a.key}",
        "kind": a.kind,
        "key": a.key,
        "conversation_id": a.conversation_id,
        "bot_id": a.bot_id,
        "phone": a.phone,
        "at": ms(a.at),
        "body": a.body,
    }


def archived_of(doc: Doc) -> Archived:
    return Archived(
        kind=doc["kind"],
        key=doc["key"],
        conversation_id=doc["conversation_id"],
        bot_id=doc["bot_id"],
        phone=doc["phone"],
        at=doc["at"],
        body=doc["body"],
    )


def _ends_with(separator: str, phone: str) -> Doc:
    """Ids ending with `{separator}{phone}`: a scan of the `_id` index alone (not of the
    documents), for leases and billing states, whose ids join the number to another key."""
    return {"$regex": f"{re.escape(separator)}{re.escape(phone)}$"}


class MongoCompliance(Connected):
    # --- opt-outs and red list -------------------------------------------------------------

    async def get_opt_out(self, business: str, phone: str) -> OptOut | None:
        doc = await self._c.opt_outs.find_one({"_id": pair_id(business, phone)})
        return None if doc is None else opt_out_of(doc)

    async def opt_outs(
        self, business: str, *, after: str | None = None, limit: int = 100
    ) -> list[OptOut]:
        if limit <= 0:  # MongoDB reads a limit of 0 as none at all
            return []
        query = {"business": business, "phone": {"$gt": after or ""}}
        cursor = self._c.opt_outs.find(query, sort=[("phone", 1)]).limit(limit)
        return [opt_out_of(doc) async for doc in cursor]

    async def set_opt_out(self, record: OptOut) -> None:
        doc = opt_out_doc(record)
        try:
            await self._c.opt_outs.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        except DuplicateKeyError:
            # Two first writes at once: both upserts inserted, one lost; it is a replace now.
            await self._c.opt_outs.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def red_list_add(self, entry: RedListed) -> bool:
        try:
            await self._c.red_list.insert_one(red_listed_doc(entry))
        except DuplicateKeyError:
            return False
        return True

    async def red_list_remove(self, business: str, phone: str) -> bool:
        result = await self._c.red_list.delete_one({"_id": pair_id(business, phone)})
        return result.deleted_count == 1

    async def red_listed(self, business: str, phone: str) -> bool:
        found = await self._c.red_list.find_one({"_id": pair_id(business, phone)}, {"_id": 1})
        return found is not None

    async def red_list(self, business: str) -> list[RedListed]:
        cursor = self._c.red_list.find({"business": business}, sort=_BY_AGE)
        return [red_listed_of(doc) async for doc in cursor]

    # --- archive (R32) ---------------------------------------------------------------------

    async def archive_before(self, before: datetime, limit: int = 1000) -> int:
        cut = ms(before)
        if limit <= 0:  # MongoDB reads a limit of 0 as none at all
            return 0

        async def body(session: Session) -> int:
            moved = 0
            for kind in (self._archive_history, self._archive_inbox, self._archive_outbox):
                if moved < limit:
                    moved += await kind(cut, limit - moved, session)
            return moved

        return await self._unit(body)

    async def _archive_history(self, cut: datetime, limit: int, session: Session) -> int:
        old = {"at": {"$lt": cut}}
        cursor = self._c.history.find(old, sort=[("at", 1)], session=session).limit(limit)
        lines = [history_of(doc) async for doc in cursor]
        # A history line names no phone: its conversation does (a line whose conversation is
        # gone is archived under an empty bot and phone).
        ids = sorted({line.conversation_id for line in lines})
        query, fields = {"_id": {"$in": ids}}, {"bot_id": 1, "phone": 1}
        cursor = self._c.conversations.find(query, fields, session=session)
        owners = {doc["_id"]: (doc["bot_id"], doc["phone"]) async for doc in cursor}
        records = []
        for line in lines:
            bot_id, phone = owners.get(line.conversation_id, ("", ""))
            body = record_body(line)
            at, key = line.at, line.key
            records.append(Archived(HISTORY, key, line.conversation_id, bot_id, phone, at, body))
        return await self._move(self._c.history, records, old, session)

    async def _archive_inbox(self, cut: datetime, limit: int, session: Session) -> int:
        old = {"done": True, "received_at": {"$lt": cut}}
        by_age = [("received_at", 1)]
        cursor = self._c.inbox.find(old, sort=by_age, hint=by_age, session=session)
        entries = [inbox_of(doc) async for doc in cursor.limit(limit)]
        records = [
            # An inbox entry belongs to the bot and phone, not yet to a conversation.
            Archived(INBOX, str(e.seq), None, e.bot_id, e.phone, e.received_at, record_body(e))
            for e in entries
        ]
        return await self._move(self._c.inbox, records, old, session, ids=[e.seq for e in entries])

    async def _archive_outbox(self, cut: datetime, limit: int, session: Session) -> int:
        old = {"status": {"$in": _FINAL}, "created_at": {"$lt": cut}}
        hint = [("status", 1), ("created_at", 1)]
        cursor = self._c.outbox.find(old, hint=hint, session=session)
        entries = [outbox_of(doc) async for doc in cursor.limit(limit)]
        records = []
        for e in entries:
            body = record_body(e)
            records.append(
                Archived(OUTBOX, e.key, e.conversation_id, e.bot_id, e.phone, e.created_at, body)
            )
        # Without a transaction, a receipt landing between the read and the delete (`read`
        # after `delivered`) would be lost with the entry; at the ages archiving runs at
        # (months), none comes any more (R4: a message is valid 24 h).
        return await self._move(self._c.outbox, records, old, session)

    async def _move(
        self,
        table: Collection,
        records: list[Archived],
        old: Doc,
        session: Session,
        *,
        ids: list[Any] | None = None,
    ) -> int:
        """Archive `records`, then delete them from `table` (by `ids`, else by their keys),
        still matching `old`; how many left the table."""
        if not records:
            return 0
        keep_first = [insert_new(archived_doc(record)) for record in records]
        await self._c.archive.bulk_write(keep_first, session=session)
        keys = ids if ids is not None else [record.key for record in records]
        result = await table.delete_many({"_id": {"$in": keys}, **old}, session=session)
        return result.deleted_count

    async def purge_archive_before(self, before: datetime, limit: int = 1000) -> int:
        old = {"at": {"$lt": ms(before)}}
        if limit <= 0:
            return 0
        cursor = self._c.archive.find(old, {"_id": 1}, sort=[("at", 1)]).limit(limit)
        ids = [doc["_id"] async for doc in cursor]
        if not ids:
            return 0
        return (await self._c.archive.delete_many({"_id": {"$in": ids}, **old})).deleted_count

    async def archived(self, phone: str) -> list[Archived]:
        cursor = self._c.archive.find({"phone": phone}, sort=_BY_AGE)
        return [archived_of(doc) async for doc in cursor]

    # --- erasure (R34) ---------------------------------------------------------------------

    async def erase_phone(self, phone: str, hashed: str) -> dict[str, int]:
        async def body(session: Session) -> dict[str, int]:
            return await self._erase(phone, hashed, session)

        return erased(**await self._unit(body))

    async def _erase(self, phone: str, hashed: str, session: Session) -> dict[str, int]:
        c, s = self._c, session
        cursor = c.conversations.find({"phone": phone}, {"_id": 1}, session=s)
        conversations = [doc["_id"] async for doc in cursor]
        of_them = {"conversation_id": {"$in": conversations}}
        # Every bot the inbox knows, read from the index that then finds the person's entries.
        bots = await c.inbox.distinct("bot_id", session=s)
        counts: dict[str, int] = {}
        for name, table, query in (
            ("history", c.history, of_them),
            ("timers", c.timers, {"phone": phone}),
            ("outbox", c.outbox, of_them),
            ("inbox", c.inbox, {"bot_id": {"$in": bots}, "phone": phone}),
            ("leases", c.leases, {"_id": _ends_with("\x1f", phone)}),
            ("billing_states", c.billing_states, {"_id": _ends_with(":", phone)}),
            ("archive", c.archive, {"phone": phone}),
            ("red_list", c.red_list, {"phone": phone}),
            ("contacts", c.contacts, {"_id": phone}),  # with the lists it is in
            ("campaign_recipients", c.campaign_recipients, {"phone": phone}),
            ("business_events", c.business_events, {"phone": phone}),
        ):
            counts[name] = (await table.delete_many(query, session=s)).deleted_count
        # A campaign's own recipients (from a CSV) lose the person's row.
        campaigns = await c.campaigns.update_many(
            {"recipients.phone": phone}, {"$pull": {"recipients": {"phone": phone}}}, session=s
        )
        counts["campaigns"] = campaigns.modified_count
        counts["opt_outs"] = await self._hash_opt_outs(phone, hashed, s)
        ledger = await c.ledger.update_many(
            {"recipient": phone}, {"$set": {"recipient": hashed}}, session=s
        )
        counts["ledger"] = ledger.modified_count
        # Last: the history and outbox above were found through them.
        counts["conversations"] = (
            await c.conversations.delete_many({"phone": phone}, session=s)
        ).deleted_count
        return counts

    async def _hash_opt_outs(self, phone: str, hashed: str, session: Session) -> int:
        """Move each of the person's opt-outs under `hashed` (an `_id` cannot change): the new
        one is written before the old one goes, and replaces one kept under `hashed` from an
        earlier erasure (the newer record wins)."""
        docs = [doc async for doc in self._c.opt_outs.find({"phone": phone}, session=session)]
        if not docs:
            return 0
        writes: list[ReplaceOne[Doc] | DeleteMany] = []
        for doc in docs:
            moved = {**doc, "_id": pair_id(doc["business"], hashed), "phone": hashed}
            writes.append(ReplaceOne({"_id": moved["_id"]}, moved, upsert=True))
        writes.append(DeleteMany({"_id": {"$in": [doc["_id"] for doc in docs]}}))
        await self._c.opt_outs.bulk_write(writes, session=session)
        return len(docs)
