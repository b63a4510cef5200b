"""Contract: billing (the session trackers' states, the usage ledger, prepaid credits)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from store.base import Store
from store.billing_records import BillingState, CreditPurchase, LedgerEntry, LedgerKind
from store.mongodb import MongoStore
from tests.store import BOT, PHONE, T0, StoreFactory, sec

AGENT = "causette-demo-agent"
KEY = f"rcs:{AGENT}:{PHONE}"


def entry(reference: str = "out-1", *, at: datetime = T0, **changes: Any) -> LedgerEntry:
    """An RCS message's entry, `message:{reference}`, its outbox key `reference`."""
    record = LedgerEntry(
        id=f"message:{reference}",
        kind=LedgerKind.MESSAGE,
        billing_class="rcs_basic",
        bot_id=BOT,
        sender=AGENT,
        sender_type="rcs_agent",
        recipient=PHONE,
        channel="rcs",
        country="FR",
        quantity=1,
        unit_price=Decimal("0.0450"),
        currency="EUR",
        at=at,
        rule="R12: basic message, no reply within 24 h",
        message_key=reference,
    )
    return replace(record, **changes)


def session(reference: str, *, at: datetime = T0, **changes: Any) -> LedgerEntry:
    """A session opened by the inbound `reference`: `session:{reference}`."""
    opened = entry(
        reference,
        at=at,
        id=f"session:{reference}",
        kind=LedgerKind.SESSION,
        billing_class="rcs_p2a_session",
        session_id=reference,
        unit_price=Decimal("0.0800"),
        rule="R13: a reply opens a 24 h session",
    )
    return replace(opened, **changes)


def state(version: int = 1, *, key: str = KEY, due: str | None = None, **data: Any) -> BillingState:
    body: dict[str, Any] = {"pending": ["out-1"], "note": "née à Besançon", **data}
    if due is not None:
        body["due"] = due
    return BillingState(key, body, version)


def purchase(purchase_id: str, at: datetime, amount: str = "100.00") -> CreditPurchase:
    return CreditPurchase(
        id=purchase_id,
        amount=Decimal(amount),
        currency="EUR",
        purchased_at=at,
        expires_at=at + timedelta(days=365),
        note="virement n° 42",
    )


async def billing_of(store: Store, key: str = KEY) -> tuple[BillingState | None, list[Any]]:
    """What a commit can change, to show that a refused one changed nothing."""
    return await store.get_billing_state(key), await store.ledger()


# --- states: compare-and-set -----------------------------------------------------------------


async def test_an_unknown_state_is_none(store: Store) -> None:
    assert await store.get_billing_state(KEY) is None


async def test_a_new_state_is_version_1_and_reads_back(store: Store) -> None:
    first = state(1, nested={"a": [1, 2.5, None, True]})
    assert await store.commit_billing(first, [entry()])
    assert await store.get_billing_state(KEY) == first
    assert await store.get_billing_state("rcs:other") is None
    assert await store.ledger() == [entry()]


async def test_each_version_follows_the_stored_one(store: Store) -> None:
    assert await store.commit_billing(state(1), [])
    assert await store.commit_billing(state(2, pending=[]), [entry()])
    assert await store.commit_billing(state(3, pending=["out-2"]), [])
    assert await store.get_billing_state(KEY) == state(3, pending=["out-2"])


@pytest.mark.parametrize("version", [1, 2, 4])
async def test_a_stale_commit_writes_nothing_not_even_its_entries(
    store: Store, version: int
) -> None:
    assert await store.commit_billing(state(1), [entry("out-1")])
    assert await store.commit_billing(state(2), [entry("out-2")])
    before = await billing_of(store)
    # Version 1 again (a second tracker creating the key), 2 again (a lost race), 4 (a gap).
    refused = state(version, pending=["lost"])
    assert not await store.commit_billing(refused, [entry("out-3"), session("in-1")])
    assert await billing_of(store) == before


async def test_a_commit_without_a_state_writes_entries_only(store: Store) -> None:
    assert await store.commit_billing(None, [entry("out-1")])
    assert await store.commit_billing(None, [entry("out-1"), entry("out-2")])
    assert await store.get_billing_state(KEY) is None
    assert await store.ledger() == [entry("out-1"), entry("out-2")]


async def test_two_writers_of_one_version_one_wins(backing: StoreFactory) -> None:
    async with backing() as first, backing() as second:
        assert await first.commit_billing(state(1), [])
        outcomes = await asyncio.gather(
            first.commit_billing(state(2, pending=["a"]), [entry("a")]),
            second.commit_billing(state(2, pending=["b"]), [entry("b")]),
        )
        assert sorted(outcomes) == [False, True]
        winner = "a" if outcomes[0] else "b"
        assert await second.get_billing_state(KEY) == state(2, pending=[winner])
        assert await first.ledger() == [entry(winner)]


async def test_commits_hold_without_multi_document_transactions(backing: StoreFactory) -> None:
    """MongoDB on a standalone server writes the state, then the entries (SQLite always has
    transactions: the same promises, checked once more)."""
    async with backing() as store:
        if isinstance(store, MongoStore):
            store.transactions = False
        assert await store.commit_billing(state(1), [entry("out-1")])
        before = await billing_of(store)
        assert not await store.commit_billing(state(1, pending=[]), [entry("out-2")])
        assert await billing_of(store) == before
        assert await store.commit_billing(state(2), [entry("out-1"), entry("out-2")])
        assert await store.ledger() == [entry("out-1"), entry("out-2")]


# --- entries: append-only, idempotent ---------------------------------------------------------


async def test_an_entry_id_written_twice_keeps_the_first(store: Store) -> None:
    first = entry("out-1")
    again = replace(first, unit_price=Decimal("0.99"), rule="a replay that priced otherwise")
    assert await store.commit_billing(state(1), [first])
    assert await store.commit_billing(state(2), [again, entry("out-2")])
    assert await store.ledger() == [first, entry("out-2")]


async def test_equal_ids_in_one_commit_keep_the_first(store: Store) -> None:
    first = entry("out-1")
    assert await store.commit_billing(None, [first, replace(first, quantity=3)])
    assert await store.ledger() == [first]


async def test_a_replayed_commit_adds_no_second_copy(store: Store) -> None:
    produced = [entry("out-1"), session("in-1", at=sec(5))]
    assert await store.commit_billing(state(1), produced)
    # The replay of the same event: its state is stale now, its entries exist.
    assert not await store.commit_billing(state(1), produced)
    # The tracker reads again and writes the same entries with its next state.
    assert await store.commit_billing(state(2), produced)
    assert await store.commit_billing(None, produced)
    assert await store.ledger() == produced


async def test_amounts_and_times_read_back_exactly(store: Store) -> None:
    prices = ["0.0450", "12.300", "0", "0.0000001", "1E+2", "-0.50"]
    entries = [
        entry(f"out-{n}", unit_price=Decimal(price), quantity=n + 1, at=sec(n))
        for n, price in enumerate(prices)
    ]
    paris = timezone(timedelta(hours=1))
    entries.append(entry("out-tz", at=datetime(2026, 1, 5, 11, 0, tzinfo=paris)))
    assert await store.commit_billing(None, entries)
    stored = await store.ledger()
    assert stored == sorted(entries, key=lambda e: (e.at, e.id))
    read = {e.id: e for e in stored}
    for e in entries:
        assert str(read[e.id].unit_price) == str(e.unit_price)
        assert read[e.id].at.utcoffset() == timedelta(0)
    assert read["message:out-1"].amount == Decimal("24.600")


# --- reading the ledger ------------------------------------------------------------------------


async def test_the_ledger_is_read_by_time_range_and_bot(store: Store) -> None:
    a = entry("out-a", at=sec(10))
    b = entry("out-b", at=sec(10))  # same instant: by id
    c = entry("out-c", at=sec(20), bot_id="bot-b")
    d = entry("out-d", at=sec(30))
    early = entry("out-0", at=sec(1), bot_id="bot-b")
    assert await store.commit_billing(None, [d, c, b, a, early])
    assert await store.ledger() == [early, a, b, c, d]
    assert await store.ledger(since=sec(10)) == [a, b, c, d]  # `since` is included
    assert await store.ledger(until=sec(20)) == [early, a, b]  # `until` is not
    assert await store.ledger(since=sec(10), until=sec(30)) == [a, b, c]
    assert await store.ledger(bot_id=BOT) == [a, b, d]
    assert await store.ledger(bot_id="bot-b", since=sec(5)) == [c]
    assert await store.ledger(bot_id="bot-c") == []
    assert await store.ledger(since=sec(31)) == []


async def test_entries_are_found_by_id_message_key_or_session(store: Store) -> None:
    opened = session("in-1", at=sec(1))
    covered = entry("out-2", at=sec(2), billing_class="covered", unit_price=Decimal("0"))
    covered = replace(covered, session_id="in-1")
    alone = entry("out-3", at=sec(3))
    # An entry another entry's message names: `ledger_for` finds both, by time.
    reply = entry("reply", at=sec(0), id="message:x", message_key="in-1")
    assert await store.commit_billing(None, [alone, covered, opened, reply])
    assert await store.ledger_for("in-1") == [reply, opened, covered]
    assert await store.ledger_for("out-2") == [covered]
    assert await store.ledger_for("message:out-3") == [alone]
    assert await store.ledger_for("session:in-1") == [opened]
    assert await store.ledger_for("nothing") == []


# --- delivery reports --------------------------------------------------------------------------


async def test_the_first_delivery_report_wins(store: Store) -> None:
    sms = entry("out-1", channel="sms", billing_class="sms_mt", quantity=2)
    share = session("out-1", at=sec(1), id="session:x")  # another entry of the same message
    other = entry("out-2")
    assert await store.commit_billing(None, [sms, share, other])
    await store.note_ledger_delivery("out-1", sec(5))
    await store.note_ledger_delivery("out-1", sec(9), "Orange")  # later: only the operator
    await store.note_ledger_delivery("out-1", sec(7), "SFR")  # the operator is kept too
    assert await store.ledger() == [
        replace(sms, delivered_at=sec(5), operator="Orange"),
        other,
        replace(share, delivered_at=sec(5), operator="Orange"),
    ]


async def test_a_delivery_report_may_name_the_operator_at_once(store: Store) -> None:
    assert await store.commit_billing(None, [entry("out-1")])
    await store.note_ledger_delivery("out-1", sec(5), "$Bouygues")
    await store.note_ledger_delivery("out-1", sec(6))
    await store.note_ledger_delivery("unknown", sec(6), "SFR")  # nothing to note: no error
    assert await store.ledger() == [
        replace(entry("out-1"), delivered_at=sec(5), operator="$Bouygues")
    ]


# --- states due --------------------------------------------------------------------------------


async def test_states_due_are_those_of_the_prefix_due_before_soonest_first(store: Store) -> None:
    paris = "+01:00"
    states = [
        state(key="rcs:a:1", due=sec(30).isoformat()),
        # 09:00:10 in Paris is 08:00:10 UTC: the soonest, though its text sorts later.
        state(key="rcs:a:2", due=f"2026-01-05T09:00:10{paris}"),
        state(key="rcs:b:1", due="2026-01-05T09:00:20Z"),
        state(key="rcs:b:2", due=sec(20).isoformat()),  # same instant: by key
        state(key="rcs:c:1", due=sec(60).isoformat()),  # not before
        state(key="rcs:d:1"),  # no due at all
        state(key="rcs:e:1", due=None, extra=1),
        state(key="t2c:0912345678:1", due=sec(1).isoformat()),  # another prefix
        state(key="rcs_a", due=sec(1).isoformat()),  # a prefix is not a pattern
    ]
    for s in states:
        assert await store.commit_billing(s, [])
    due = await store.billing_states_due("rcs:", sec(60))
    assert [s.key for s in due] == ["rcs:a:2", "rcs:b:1", "rcs:b:2", "rcs:a:1"]
    assert due[0] == states[1]
    assert [s.key for s in await store.billing_states_due("rcs:", sec(60), limit=2)] == [
        "rcs:a:2",
        "rcs:b:1",
    ]
    assert [s.key for s in await store.billing_states_due("rcs:b", sec(21))] == [
        "rcs:b:1",
        "rcs:b:2",
    ]
    assert [s.key for s in await store.billing_states_due("t2c:", sec(60))] == ["t2c:0912345678:1"]
    assert await store.billing_states_due("rcs:", T0 - timedelta(hours=2)) == []
    assert len(await store.billing_states_due("", sec(61))) == 7


async def test_a_state_leaves_the_due_list_when_its_due_is_cleared(store: Store) -> None:
    assert await store.commit_billing(state(1, due=sec(5).isoformat()), [])
    assert await store.billing_states_due("rcs:", sec(10)) == [state(1, due=sec(5).isoformat())]
    assert await store.commit_billing(state(2, due=sec(50).isoformat()), [])
    assert await store.billing_states_due("rcs:", sec(10)) == []
    assert await store.commit_billing(state(3), [])
    assert await store.billing_states_due("rcs:", sec(100)) == []


@pytest.mark.parametrize("due", ["2026-01-05T09:00:00", "tomorrow", 1767603600])
async def test_a_due_that_is_no_instant_is_refused_before_anything_is_written(
    store: Store, due: Any
) -> None:
    with pytest.raises(ValueError, match="due"):
        await store.commit_billing(BillingState(KEY, {"due": due}, 1), [entry()])
    assert await billing_of(store) == (None, [])


# --- credits -----------------------------------------------------------------------------------


async def test_credits_read_back_oldest_first(store: Store) -> None:
    late = purchase("cr-2", sec(20), "0.0450")
    early = purchase("cr-9", sec(10), "1500.10")
    tie = purchase("cr-1", sec(20))
    for p in (late, early, tie):
        assert await store.add_credit(p)
    stored = await store.credits()
    assert stored == [early, tie, late]
    assert [str(p.amount) for p in stored] == ["1500.10", "100.00", "0.0450"]


async def test_a_credit_id_is_recorded_once(store: Store) -> None:
    assert await store.add_credit(purchase("cr-1", sec(1)))
    assert not await store.add_credit(purchase("cr-1", sec(2), "5.00"))
    assert await store.credits() == [purchase("cr-1", sec(1))]


async def test_billing_outlives_the_process_that_wrote_it(backing: StoreFactory) -> None:
    async with backing() as first:
        assert await first.commit_billing(state(1, due=sec(5).isoformat()), [entry()])
        assert await first.add_credit(purchase("cr-1", T0))
    async with backing() as second:
        assert await second.get_billing_state(KEY) == state(1, due=sec(5).isoformat())
        assert await second.billing_states_due("rcs:", sec(6)) == [state(1, due=sec(5).isoformat())]
        assert await second.ledger_for("out-1") == [entry()]
        assert await second.credits() == [purchase("cr-1", T0)]
