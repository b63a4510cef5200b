"""Contract: compliance (opt-outs, the red list, the archive of old message history, erasure)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from pymongo import AsyncMongoClient

from store import sqlite_compliance
from store.archiving import ERASED, erased, record_body
from store.base import Store
from store.billing_records import BillingState, LedgerEntry, LedgerKind
from store.campaigns_records import Campaign, CampaignRecipient, CampaignStatus
from store.compliance_records import Archived, OptOut, RedListed
from store.contacts_records import Contact
from store.mongodb import MongoStore
from store.mongodb_compliance import archived_doc
from store.records import (
    Claim,
    Conversation,
    ConversationStatus,
    HistoryEntry,
    InboxEntry,
    NewOutbound,
    OutboxEntry,
    OutboxStatus,
    TimerRecord,
)
from store.sqlite import SqliteStore
from tests.store import (
    BOT,
    FAR,
    LEASE,
    PHONE,
    PHONES,
    T0,
    bumped,
    claim_one,
    conversation,
    handle,
    inbound,
    line,
    outbound,
    sec,
    timer,
    turn,
)

BUSINESS = "boulangerie-martin"
OTHER_BUSINESS = "garage-durand"
HASHED = "hash:" + "0f" * 32
CUT = T0 + timedelta(days=1)
NEW = T0 + timedelta(days=2)
FORMATS = ("+33612345678", "33612345678", "0612345678", "612345678")
"""The person's number in every form it could be written, none of which may survive erasure."""
PARIS = timezone(timedelta(hours=1))


def opt_out(
    phone: str = PHONE, *, business: str = BUSINESS, opted_out: bool = True, **changes: Any
) -> OptOut:
    record = OptOut(business, phone, opted_out, sec(1), "sms:STOP")
    return replace(record, **changes)


def red(phone: str = PHONE, *, business: str = BUSINESS, at: datetime = T0) -> RedListed:
    return RedListed(business, phone, at, reason="ne veut plus être contacté")


def charge(reference: str, recipient: str = PHONE) -> LedgerEntry:
    return LedgerEntry(
        id=f"message:{reference}",
        kind=LedgerKind.MESSAGE,
        billing_class="rcs_basic",
        bot_id=BOT,
        sender="causette-demo-agent",
        sender_type="rcs_agent",
        recipient=recipient,
        channel="rcs",
        country="FR",
        quantity=1,
        unit_price=Decimal("0.0450"),
        currency="EUR",
        at=NEW,
        rule="R21: basic message",
        message_key=reference,
    )


async def receive(store: Store, phone: str, at: datetime) -> InboxEntry:
    entry, _ = await store.append_inbound(inbound(phone=phone, received_at=at))
    return entry


# --- opt-outs ----------------------------------------------------------------------------------


async def test_an_unknown_opt_out_is_none(store: Store) -> None:
    assert await store.get_opt_out(BUSINESS, PHONE) is None


async def test_an_opt_out_is_replaced_and_kept_per_business(store: Store) -> None:
    stop = opt_out(at=datetime(2026, 1, 5, 10, 0, tzinfo=PARIS))  # read back as the same instant
    await store.set_opt_out(stop)
    assert await store.get_opt_out(BUSINESS, PHONE) == stop
    assert await store.get_opt_out(OTHER_BUSINESS, PHONE) is None
    assert await store.get_opt_out(BUSINESS, PHONES[0]) is None

    again = opt_out(opted_out=False, at=sec(60), source="rcs:START")
    await store.set_opt_out(again)
    assert await store.get_opt_out(BUSINESS, PHONE) == again

    elsewhere = opt_out(business=OTHER_BUSINESS, source="admin")
    await store.set_opt_out(elsewhere)
    assert await store.get_opt_out(OTHER_BUSINESS, PHONE) == elsewhere
    assert await store.get_opt_out(BUSINESS, PHONE) == again


# --- red list ----------------------------------------------------------------------------------


async def test_a_number_is_red_listed_once_and_the_first_entry_is_kept(store: Store) -> None:
    first = red(at=sec(5))
    assert await store.red_list_add(first)
    assert not await store.red_list_add(replace(first, at=sec(9), reason="autre raison"))
    assert await store.red_list(BUSINESS) == [first]
    assert await store.red_listed(BUSINESS, PHONE)
    assert not await store.red_listed(OTHER_BUSINESS, PHONE)
    assert not await store.red_listed(BUSINESS, PHONES[0])


async def test_a_number_is_taken_off_the_red_list(store: Store) -> None:
    assert await store.red_list_add(red())
    assert await store.red_list_add(red(business=OTHER_BUSINESS))
    assert await store.red_list_remove(BUSINESS, PHONE)
    assert not await store.red_list_remove(BUSINESS, PHONE)
    assert not await store.red_list_remove(BUSINESS, PHONES[0])
    assert not await store.red_listed(BUSINESS, PHONE)
    assert await store.red_listed(OTHER_BUSINESS, PHONE)
    assert await store.red_list_add(red(at=sec(30)))  # back on it, as a new entry
    assert await store.red_list(BUSINESS) == [red(at=sec(30))]


async def test_the_red_list_is_read_oldest_first(store: Store) -> None:
    entries = [
        red(PHONES[3], at=sec(20)),
        red(PHONES[1], at=sec(10)),
        red(PHONES[2], at=sec(10)),  # same instant: by number
        red(PHONES[0], at=sec(30)),
    ]
    for entry in entries:
        assert await store.red_list_add(entry)
    assert await store.red_list_add(red(PHONES[4], business=OTHER_BUSINESS, at=sec(1)))
    assert await store.red_list(BUSINESS) == [entries[1], entries[2], entries[0], entries[3]]
    assert await store.red_list("nobody") == []


# --- archive and erasure: over a database the test can read whole ------------------------------


@dataclass
class Backend:
    store: Store
    dump: Callable[[], Awaitable[str]]
    """Everything the database holds, as text: SQLite's `iterdump` of the file, or every
    document of every MongoDB collection as JSON."""


@pytest.fixture(params=["sqlite", "mongodb", "mongodb-standalone"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """`mongodb-standalone` runs without multi-document transactions, as on a standalone
    server: the order of the writes must then make every unit safe on its own."""
    if request.param == "sqlite":
        path = tmp_path / "causette.db"

        async def iterdump() -> str:
            db = sqlite3.connect(path)
            try:
                return "\n".join(db.iterdump())
            finally:
                db.close()

        async with SqliteStore(path) as sqlite:
            yield Backend(sqlite, iterdump)
        return
    uri: str = request.getfixturevalue("mongodb_uri")
    database = f"causette_test_{uuid4().hex}"
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)

    async def documents() -> str:
        db = client[database]
        texts = [
            json.dumps(doc, default=str, ensure_ascii=False, sort_keys=True)
            for name in await db.list_collection_names()
            async for doc in db[name].find()
        ]
        return "\n".join(sorted(texts))

    try:
        async with MongoStore(uri, database=database) as mongo:
            mongo.transactions = mongo.transactions and request.param == "mongodb"
            yield Backend(mongo, documents)
    finally:
        await client.drop_database(database)
        await client.close()


@dataclass
class Aged:
    """Records on either side of `CUT`, the old ones as they were before they moved."""

    old_lines: list[HistoryEntry]
    start: InboxEntry
    delivered: OutboxEntry
    failed: OutboxEntry
    new_line: HistoryEntry


async def age(store: Store) -> Aged:
    """A live conversation whose first turn is old (before `CUT`) and whose second one is new,
    and an old event of another number not handled yet."""
    conv = conversation()
    old_lines = [line(conv, "h-1", T0), line(conv, "h-2", sec(3600))]
    messages = [outbound(key) for key in ("o-1", "o-2", "o-3", "o-4")]
    first = await handle(store, turn(conv, outbound=messages, history=old_lines), now=T0)
    # Final statuses move; `sent` (a receipt may still come) and `queued` stay, however old.
    await store.mark_outbound("o-1", OutboxStatus.SENT, sec(1), provider_id="rbm-1", route="rcs")
    await store.mark_outbound("o-1", OutboxStatus.DELIVERED, sec(2))
    await store.mark_outbound("o-2", OutboxStatus.FAILED, sec(2), detail="refusé")
    await store.mark_outbound("o-3", OutboxStatus.SENT, sec(2), provider_id="rbm-3")
    delivered, failed = await store.get_outbound("o-1"), await store.get_outbound("o-2")
    assert delivered is not None
    assert failed is not None

    new_line = line(conv, "h-3", NEW)
    stored = replace(conv, last_inbox_seq=first.seq)
    await next_turn(store, bumped(stored, NEW), NEW, outbound("o-5"), new_line)
    await store.mark_outbound("o-5", OutboxStatus.DELIVERED, NEW)  # final, but new
    await receive(store, PHONES[1], T0)  # old, but not handled yet
    return Aged(old_lines, replace(first, done=True), delivered, failed, new_line)


async def next_turn(
    store: Store,
    after: Conversation,
    now: datetime,
    *items: NewOutbound | HistoryEntry | TimerRecord,
) -> InboxEntry:
    """A message from the conversation's number received at `now`, handled at once."""
    claim = await _claim_new(store, after.phone, now)
    write = turn(
        after,
        outbound=[item for item in items if isinstance(item, NewOutbound)],
        history=[item for item in items if isinstance(item, HistoryEntry)],
        arm=[item for item in items if isinstance(item, TimerRecord)],
    )
    await store.commit_turn(claim, write, now)
    return claim.entry


async def archive_all(store: Store, limit: int = 1000) -> list[int]:
    """The batches `archive_before(CUT)` moves until it answers 0 (that 0 included)."""
    batches = [await store.archive_before(CUT, limit)]
    while batches[-1]:
        batches.append(await store.archive_before(CUT, limit))
    return batches


async def test_archiving_moves_exactly_the_old_records_of_each_kind(backend: Backend) -> None:
    store = backend.store
    aged = await age(store)
    assert await archive_all(store, limit=2) == [2, 2, 1, 0]

    # What stays active: new records, live outbox entries, events not handled yet.
    assert await store.history("conv-1") == [aged.new_line]
    assert await store.get_outbound("o-1") is None
    assert await store.get_outbound("o-2") is None
    assert await store.find_outbound_by_provider_id("rbm-1") is None
    statuses = {key: await store.get_outbound(key) for key in ("o-3", "o-4", "o-5")}
    assert {key: e and e.status for key, e in statuses.items()} == {
        "o-3": OutboxStatus.SENT,
        "o-4": OutboxStatus.QUEUED,
        "o-5": OutboxStatus.DELIVERED,
    }
    assert await store.find_outbound_by_provider_id("rbm-3") == statuses["o-3"]
    assert await store.inbox_depth() == 1

    h1, h2 = aged.old_lines
    seq = str(aged.start.seq)
    assert await store.archived(PHONE) == [  # oldest first; at one instant, by kind and key
        Archived("history", "h-1", "conv-1", BOT, PHONE, T0, record_body(h1)),
        Archived("inbox", seq, None, BOT, PHONE, T0, record_body(aged.start)),
        Archived("outbox", "o-1", "conv-1", BOT, PHONE, T0, record_body(aged.delivered)),
        Archived("outbox", "o-2", "conv-1", BOT, PHONE, T0, record_body(aged.failed)),
        Archived("history", "h-2", "conv-1", BOT, PHONE, sec(3600), record_body(h2)),
    ]
    archived = await store.archived(PHONE)
    assert archived[0].body == {
        "key": "h-1",
        "conversation_id": "conv-1",
        "direction": "out",
        "body": {"k": "h-1"},
        "at": "2026-01-05T09:00:00+00:00",
    }
    assert archived[1].body["done"] is True
    assert archived[1].body["source"] == "start"
    assert archived[2].body["status"] == "delivered"
    assert archived[2].body["provider_ids"] == ["rbm-1"]
    assert archived[2].body["history"] == aged.delivered.history
    assert await store.archived(PHONES[1]) == []


async def test_a_conversation_goes_on_after_its_old_records_moved(backend: Backend) -> None:
    store = backend.store
    await age(store)
    before = await store.get_conversation(BOT, PHONE)
    assert before is not None
    assert await archive_all(store) == [5, 0]
    other_number = await claim_one(store, now=NEW)  # its old event goes first
    await store.skip(other_number, NEW)
    handled = await next_turn(store, bumped(before, NEW), NEW, line(before, "h-4", NEW))
    assert handled.seq > before.last_inbox_seq  # no seq is used twice
    after = await store.get_conversation(BOT, PHONE)
    assert after is not None
    assert after.version == 3
    assert [h.key for h in await store.history("conv-1")] == ["h-3", "h-4"]


async def test_archiving_nothing(backend: Backend) -> None:
    store = backend.store
    assert await store.archive_before(CUT) == 0
    await age(store)
    assert await store.archive_before(CUT, limit=0) == 0
    assert await store.archive_before(T0) == 0  # strictly older
    assert await store.archived(PHONE) == []


async def test_purging_deletes_the_archived_records_older_than_the_cut(backend: Backend) -> None:
    store = backend.store
    await age(store)
    assert sum(await archive_all(store)) == 5
    assert await store.purge_archive_before(T0) == 0  # strictly older
    assert await store.purge_archive_before(sec(60), limit=0) == 0
    assert await store.purge_archive_before(sec(60), limit=3) == 3
    assert await store.purge_archive_before(sec(60), limit=3) == 1
    assert await store.purge_archive_before(sec(60)) == 0
    assert [(a.kind, a.key) for a in await store.archived(PHONE)] == [("history", "h-2")]
    assert await store.purge_archive_before(FAR) == 1
    assert await store.archived(PHONE) == []
    assert await store.history("conv-1") != []  # the active store is left alone


async def test_an_archive_batch_cut_short_is_finished_by_the_next(mongodb_uri: str) -> None:
    """MongoDB without transactions inserts a batch into the archive, then deletes it from its
    table: what a crash between the two leaves is resolved, never lost nor doubled."""
    database = f"causette_test_{uuid4().hex}"
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        async with MongoStore(mongodb_uri, database=database) as store:
            store.transactions = False
            aged = await age(store)
            h1 = aged.old_lines[0]
            left = Archived("history", "h-1", "conv-1", BOT, PHONE, T0, record_body(h1))
            await client[database]["archive"].insert_one(archived_doc(left))
            assert await archive_all(store) == [5, 0]
            archived = await store.archived(PHONE)
            assert len(archived) == 5
            assert archived[0] == left
            assert await client[database]["archive"].count_documents({}) == 5
    finally:
        await client.drop_database(database)
        await client.close()


# --- erasure -----------------------------------------------------------------------------------


ERASED_ONCE = erased(
    conversations=2,
    history=4,
    inbox=3,
    outbox=2,
    timers=1,
    leases=1,
    billing_states=2,
    archive=2,
    red_list=1,
    opt_outs=1,
    ledger=2,
    contacts=1,
    campaigns=1,
    business_events=1,
)
RCS_STATE = f"rcs:causette-demo-agent:{PHONE}"
T2C_STATE = f"t2c:+33912345678:{PHONE}"
OTHER_STATE = f"rcs:causette-demo-agent:{PHONES[2]}"


async def populate(store: Store) -> None:
    """Everything the store can hold about `PHONE` (with the number written in each of its
    forms inside the records), next to another number's records that erasure must keep."""
    conv = replace(conversation("conv-1"), contact={"first_name": "Zoé", "tel": "0612345678"})
    old = line(conv, "h-0", T0, body={"text": "mon numéro : 33612345678"})
    first = await handle(store, turn(conv, history=[old]), now=T0)
    assert await store.archive_before(CUT) == 2  # the old line and its event
    says = outbound("o-1", content={"text": "Votre numéro +33612345678 est confirmé"})
    lines = [line(conv, f"h-{n}", NEW, body={"text": "612345678"}) for n in (1, 2, 3)]
    after = bumped(replace(conv, last_inbox_seq=first.seq), NEW)
    await next_turn(store, after, NEW, says, outbound("o-2"), *lines, timer(conv, "relance", FAR))
    await store.mark_outbound("o-1", OutboxStatus.SENT, NEW, provider_id="rbm-1", route="rcs")
    # A message that will never arrive: its business event names the person too.
    await store.mark_outbound("o-2", OutboxStatus.FAILED, NEW, detail="refused")

    # The same number with another bot, in a conversation that ended.
    ended = conversation("conv-b", bot="bot-b", created_at=NEW)
    b = await handle(store, turn(ended, history=[line(ended, "hb-1", NEW)]), now=NEW)
    stored = replace(ended, last_inbox_seq=b.seq)
    await store.update_conversation(bumped(stored, NEW, status=ConversationStatus.ENDED))

    # Another number, which erasure leaves alone.
    keep = conversation("conv-2", phone=PHONES[2])
    await handle(store, turn(keep, outbound=[outbound("x-1")], history=[line(keep, "x-h")]))
    await store.mark_outbound("x-1", OutboxStatus.SENT, NEW, provider_id="rbm-x")

    assert await store.commit_billing(
        BillingState(RCS_STATE, {"recipient": "0612345678"}, 1), [charge("o-1"), charge("o-2")]
    )
    assert await store.commit_billing(BillingState(T2C_STATE, {}, 1), [])
    assert await store.commit_billing(BillingState(OTHER_STATE, {}, 1), [charge("x-1", PHONES[2])])
    await store.set_opt_out(opt_out())
    await store.set_opt_out(opt_out(PHONES[2]))
    assert await store.red_list_add(red())
    assert await store.red_list_add(red(PHONES[2]))
    fields = {"first_name": "Zoé", "tel": "0612345678"}
    assert await store.upsert_contacts([Contact(PHONE, fields, T0, T0)], "clients") == (1, 0)
    assert await store.upsert_contacts([Contact(PHONES[2], {}, T0, T0)], "clients") == (1, 0)
    rows = (CampaignRecipient(PHONE, {"code": "A1"}), CampaignRecipient(PHONES[2], {}))
    campaign = Campaign("soldes", BOT, None, rows, {}, T0, None, CampaignStatus.SCHEDULED, T0, T0)
    assert await store.save_campaign(campaign)
    # An event of the number being handled right now: its lease is held.
    await _claim_new(store, PHONE, NEW + timedelta(minutes=1))


async def _claim_new(store: Store, phone: str, at: datetime) -> Claim:
    entry = await receive(store, phone, at)
    claim = await claim_one(store, now=at)
    assert claim.entry == entry
    return claim


async def test_erasure_removes_everything_of_the_number(backend: Backend) -> None:
    store = backend.store
    await populate(store)
    kept = await store.get_conversation(BOT, PHONES[2])
    kept_lines = await store.history("conv-2")
    kept_sent = await store.find_outbound_by_provider_id("rbm-x")
    assert kept is not None
    assert kept_lines
    assert kept_sent is not None

    assert await store.erase_phone(PHONE, HASHED) == ERASED_ONCE

    assert await store.get_conversation(BOT, PHONE) is None
    for conversation_id in ("conv-1", "conv-b"):
        assert await store.get_conversation_by_id(conversation_id) is None
        assert await store.history(conversation_id) == []
    every = frozenset(ConversationStatus)
    assert await store.list_conversations(BOT, statuses=every) == [kept]
    assert await store.list_conversations("bot-b", statuses=every) == []
    for key in ("o-1", "o-2"):
        assert await store.get_outbound(key) is None
    assert await store.find_outbound_by_provider_id("rbm-1") is None
    assert await store.due_timers(FAR) == []
    assert await store.inbox_depth() == 0
    assert await store.claim("w2", NEW + timedelta(minutes=5), LEASE) is None
    assert await store.get_billing_state(RCS_STATE) is None
    assert await store.get_billing_state(T2C_STATE) is None
    assert await store.archived(PHONE) == []
    assert not await store.red_listed(BUSINESS, PHONE)
    assert await store.get_opt_out(BUSINESS, PHONE) is None
    # What stays, without the number: the person stays opted out, the ledger keeps amounts.
    assert await store.get_opt_out(BUSINESS, HASHED) == opt_out(HASHED)
    assert await store.ledger() == [
        charge("o-1", HASHED),
        charge("o-2", HASHED),
        charge("x-1", PHONES[2]),
    ]

    # The other number's records are all there.
    assert await store.get_conversation(BOT, PHONES[2]) == kept
    assert await store.history("conv-2") == kept_lines
    assert await store.find_outbound_by_provider_id("rbm-x") == kept_sent
    assert await store.get_billing_state(OTHER_STATE) == BillingState(OTHER_STATE, {}, 1)
    assert await store.get_opt_out(BUSINESS, PHONES[2]) == opt_out(PHONES[2])
    assert await store.red_list(BUSINESS) == [red(PHONES[2])]
    assert await store.get_contact(PHONE) is None
    assert await store.lists() == {"clients": 1}
    assert await store.contacts("clients") == [Contact(PHONES[2], {}, T0, T0)]

    # Nowhere in the database, in any form.
    everything = await backend.dump()
    assert PHONES[2] in everything  # the dump does show numbers
    for written in FORMATS:
        assert written not in everything

    assert await store.erase_phone(PHONE, HASHED) == dict.fromkeys(ERASED, 0)


async def test_erasing_a_number_never_seen_changes_nothing(backend: Backend) -> None:
    store = backend.store
    await populate(store)
    before = await backend.dump()
    assert await store.erase_phone(PHONES[7], "hash:1234") == dict.fromkeys(ERASED, 0)
    assert await backend.dump() == before


async def test_erasure_keeps_the_newest_opt_out_under_the_hash(store: Store) -> None:
    earlier = opt_out(HASHED, at=sec(1))  # left by an earlier erasure of the same person
    await store.set_opt_out(earlier)
    back = opt_out(opted_out=False, at=sec(50), source="sms:START")  # then they wrote again
    elsewhere = opt_out(business=OTHER_BUSINESS, at=sec(60))
    await store.set_opt_out(back)
    await store.set_opt_out(elsewhere)
    assert await store.erase_phone(PHONE, HASHED) == erased(opt_outs=2)
    assert await store.get_opt_out(BUSINESS, HASHED) == replace(back, phone=HASHED)
    assert await store.get_opt_out(OTHER_BUSINESS, HASHED) == replace(elsewhere, phone=HASHED)
    assert await store.get_opt_out(BUSINESS, PHONE) is None


async def test_an_erasure_cut_short_leaves_all_or_a_rest_that_runs_again(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the deletions began: with a transaction nothing changed; without one
    (MongoDB standalone), running the erasure again finishes it."""
    store = backend.store
    await populate(store)
    before = await backend.dump()
    if isinstance(store, MongoStore):

        async def die(*args: object) -> int:
            raise RuntimeError("the process died here")

        # After the deletions, before the opt-outs, the ledger and the conversations.
        monkeypatch.setattr(store, "_hash_opt_outs", die)
    else:
        last = ("conversations", "DELETE FROM no_such_table")
        monkeypatch.setattr(sqlite_compliance, "_ERASE", (*sqlite_compliance._ERASE[:-1], last))
    with pytest.raises((RuntimeError, sqlite3.OperationalError)):
        await store.erase_phone(PHONE, HASHED)
    monkeypatch.undo()

    if isinstance(store, MongoStore) and not store.transactions:
        rest = erased(opt_outs=1, ledger=2, conversations=2)
        assert await store.erase_phone(PHONE, HASHED) == rest
    else:
        assert await backend.dump() == before
        assert await store.erase_phone(PHONE, HASHED) == ERASED_ONCE
    everything = await backend.dump()
    for written in FORMATS:
        assert written not in everything
    assert await store.get_opt_out(BUSINESS, HASHED) == opt_out(HASHED)


async def test_opt_outs_are_paged_by_number_per_business(store: Store) -> None:
    records = [
        OptOut("acme", PHONES[2], True, sec(1), "sms:STOP"),
        OptOut("acme", PHONES[0], False, sec(2), "sms:START"),
        OptOut("other", PHONES[1], True, sec(3), "admin"),
    ]
    for record in records:
        await store.set_opt_out(record)
    assert await store.opt_outs("acme") == [records[1], records[0]]
    assert await store.opt_outs("acme", limit=1) == [records[1]]
    assert await store.opt_outs("acme", after=PHONES[0]) == [records[0]]
    assert await store.opt_outs("other") == [records[2]]
    assert await store.opt_outs("nobody") == []
