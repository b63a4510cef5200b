"""The MongoDB store's billing: the session trackers' states (compare-and-set on `version`),
the append-only usage ledger, and prepaid credits.

- `billing_states`: `_id` the key, the tracker's `data` as a sub-document, `version`, and
  `due_at`, its `data["due"]` as a BSON date (None without one), which the due index walks.
- `ledger`: `_id` the entry's id, which makes a replayed entry collide with its first copy.
- `credits`: `_id` the purchase's id.

Amounts are `Decimal128`: it keeps a `Decimal`'s digits and exponent ("0.0450" reads back
"0.0450"), and the server can add them up for reports, which a string would not allow. It
holds 34 significant digits; bson refuses an amount with more rather than round it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime

from bson.decimal128 import Decimal128
from pymongo.errors import DuplicateKeyError

from store.billing_records import BillingState, CreditPurchase, LedgerEntry, LedgerKind
from store.mongodb_documents import Connected, Doc, Session, insert_new, ms, optional_ms
from store.sqlite_billing import due_of

_LEDGER_FIELDS = tuple(field.name for field in fields(LedgerEntry) if field.name != "id")
_BY_TIME = [("at", 1), ("_id", 1)]
_BY_DUE = [("due_at", 1), ("_id", 1)]


class _Conflict(Exception):
    """Another writer's state is stored: the unit is abandoned before it wrote anything."""


def state_doc(state: BillingState) -> Doc:
    due = due_of(state)
    return {
        "_id": state.key,
        "data": state.data,
        "version": state.version,
        "due_at": optional_ms(due),
    }


def state_of(doc: Doc) -> BillingState:
    return BillingState(key=doc["_id"], data=doc["data"], version=doc["version"])


def ledger_doc(entry: LedgerEntry) -> Doc:
    e = entry
    return {
        "_id": e.id,
        **{name: getattr(e, name) for name in _LEDGER_FIELDS},
        "kind": e.kind.value,
        "unit_price": Decimal128(e.unit_price),
        "at": ms(e.at),
        "delivered_at": optional_ms(e.delivered_at),
    }


def ledger_of(doc: Doc) -> LedgerEntry:
    return LedgerEntry(
        **{
            **{name: doc[name] for name in _LEDGER_FIELDS},
            "id": doc["_id"],
            "kind": LedgerKind(doc["kind"]),
            "unit_price": doc["unit_price"].to_decimal(),
        }
    )


def credit_doc(purchase: CreditPurchase) -> Doc:
    p = purchase
    return {
        "_id": p.id,
        "amount": Decimal128(p.amount),
        "currency": p.currency,
        "purchased_at": ms(p.purchased_at),
        "expires_at": ms(p.expires_at),
        "note": p.note,
    }


def credit_of(doc: Doc) -> CreditPurchase:
    return CreditPurchase(
        id=doc["_id"],
        amount=doc["amount"].to_decimal(),
        currency=doc["currency"],
        purchased_at=doc["purchased_at"],
        expires_at=doc["expires_at"],
        note=doc["note"],
    )


class MongoBilling(Connected):
    async def get_billing_state(self, key: str) -> BillingState | None:
        doc = await self._c.billing_states.find_one({"_id": key})
        return None if doc is None else state_of(doc)

    async def commit_billing(
        self, state: BillingState | None, entries: Sequence[LedgerEntry]
    ) -> bool:
        """Without a transaction, the state's compare-and-set comes first, so that a refused
        commit writes nothing (entries first would leave a loser's entries behind, and being
        first of their ids, they would shadow the winner's); the entries follow, each
        inserted only if its id is new, so a repeated commit adds no copy. The gap a
        transaction closes: a crash between the two keeps the new state but loses its
        entries."""
        # Converted first: a bad `due` or a naive time fails before anything is written.
        doc = None if state is None else state_doc(state)
        docs = [ledger_doc(entry) for entry in entries]

        async def body(session: Session) -> None:
            if doc is not None:
                await self._put_state(doc, session)
            if docs:
                keep_first = [insert_new(d) for d in docs]
                await self._c.ledger.bulk_write(keep_first, session=session)

        try:
            await self._unit(body)
        except _Conflict:
            return False
        return True

    async def _put_state(self, doc: Doc, session: Session) -> None:
        states = self._c.billing_states
        if doc["version"] == 1:
            try:
                await states.insert_one(doc, session=session)
            except DuplicateKeyError as error:
                raise _Conflict(doc["_id"]) from error
            return
        query = {"_id": doc["_id"], "version": doc["version"] - 1}
        if not (await states.replace_one(query, doc, session=session)).matched_count:
            raise _Conflict(doc["_id"])

    async def ledger(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        bot_id: str | None = None,
    ) -> list[LedgerEntry]:
        query: Doc = {} if bot_id is None else {"bot_id": bot_id}
        at: Doc = {}
        if since is not None:
            at["$gte"] = ms(since)
        if until is not None:
            at["$lt"] = ms(until)
        if at:
            query["at"] = at
        return [ledger_of(doc) async for doc in self._c.ledger.find(query, sort=_BY_TIME)]

    async def ledger_for(self, reference: str) -> list[LedgerEntry]:
        refs = [{name: reference} for name in ("_id", "message_key", "session_id")]
        cursor = self._c.ledger.find({"$or": refs}, sort=_BY_TIME)
        return [ledger_of(doc) async for doc in cursor]

    async def note_ledger_delivery(
        self, message_key: str, at: datetime, operator: str | None = None
    ) -> None:
        # A pipeline update fills each field only where it is null, per entry, in one write.
        # `$literal`: an operator name starting with "$" would otherwise read as a field path.
        unset: list[Doc] = [{"delivered_at": None}]
        if operator is not None:
            unset.append({"operator": None})
        fill = {
            "delivered_at": {"$ifNull": ["$delivered_at", ms(at)]},
            "operator": {"$ifNull": ["$operator", {"$literal": operator}]},
        }
        query = {"message_key": message_key, "$or": unset}
        await self._c.ledger.update_many(query, [{"$set": fill}])

    async def billing_states_due(
        self, prefix: str, before: datetime, limit: int = 100
    ) -> list[BillingState]:
        if limit <= 0:  # MongoDB reads a limit of 0 as none at all
            return []
        query = {"due_at": {"$lt": ms(before)}, "_id": {"$regex": f"^{re.escape(prefix)}"}}
        # The hint keeps the planner off the `_id` index, whose prefix range would read every
        # state of the prefix and sort them; the due index stops after `limit` matches.
        cursor = self._c.billing_states.find(query, sort=_BY_DUE, hint=_BY_DUE)
        return [state_of(doc) async for doc in cursor.limit(limit)]

    async def add_credit(self, purchase: CreditPurchase) -> bool:
        try:
            await self._c.credits.insert_one(credit_doc(purchase))
        except DuplicateKeyError:
            return False
        return True

    async def credits(self) -> list[CreditPurchase]:
        cursor = self._c.credits.find({}, sort=[("purchased_at", 1), ("_id", 1)])
        return [credit_of(doc) async for doc in cursor]
