"""Contract: what the SMS fallback router needs of the outbox.

One message at a time per conversation (the head rule), the RCS delivery deadline and its
revocation, the SMS fallback under a second provider id, and the dispatcher's fencing.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from store.base import LeaseLost, Store
from store.records import OutboxEntry, OutboxStatus
from tests.store import FAR, LEASE, T0, StoreFactory, other, queue, sec

QUEUED, SENDING, SENT, REVOKED, DELIVERED, FAILED = (
    OutboxStatus.QUEUED,
    OutboxStatus.SENDING,
    OutboxStatus.SENT,
    OutboxStatus.REVOKED,
    OutboxStatus.DELIVERED,
    OutboxStatus.FAILED,
)


async def keys(store: Store, owner: str, now_s: int, limit: int = 100) -> list[str]:
    return [entry.key for entry in await store.claim_outbound(owner, sec(now_s), LEASE, limit)]


async def stored(store: Store, key: str) -> OutboxEntry:
    entry = await store.get_outbound(key)
    assert entry is not None
    return entry


# --- the head rule ------------------------------------------------------------------------


async def test_a_claim_takes_one_entry_per_conversation(store: Store) -> None:
    await queue(store, ("a1", 0), ("a2", 0), conv=other(1))
    await queue(store, ("b1", 0), conv=other(2))
    assert await keys(store, "d1", 0) == ["a1", "b1"]
    assert await keys(store, "d2", 0) == []  # a2 waits behind a1, leased to d1


async def test_a_later_message_waits_for_the_retry_of_an_earlier_one(store: Store) -> None:
    await queue(store, ("a1", 60), ("a2", 0))
    assert await keys(store, "d1", 0) == []  # a2 is due, but a1 is queued before it
    assert await keys(store, "d1", 60) == ["a1"]
    await store.mark_outbound("a1", SENT, sec(61), owner="d1")
    assert await keys(store, "d1", 61) == ["a2"]  # a sent entry holds nothing back


async def test_a_retry_time_set_by_mark_outbound_holds_back_the_conversation(
    store: Store,
) -> None:
    await queue(store, ("a1", 0), ("a2", 0))
    assert await keys(store, "d1", 0) == ["a1"]
    await store.mark_outbound("a1", QUEUED, sec(1), due_at=sec(120), owner="d1", detail="503")
    assert (await stored(store, "a1")).due_at == sec(120)
    assert await keys(store, "d1", 119) == []
    assert await keys(store, "d1", 120) == ["a1"]
    await store.mark_outbound("a1", FAILED, sec(121), owner="d1")
    assert await keys(store, "d1", 121) == ["a2"]  # a final entry holds nothing back


async def test_an_entry_on_an_expired_lease_is_reclaimed_before_later_ones(store: Store) -> None:
    await queue(store, ("a1", 0), ("a2", 0))
    assert await keys(store, "d1", 0) == ["a1"]
    assert await keys(store, "d2", 29) == []
    assert await keys(store, "d2", 30) == ["a1"]  # d1 died: a1 again, a2 still behind it


async def test_a_revoked_entry_is_claimed_when_due_and_holds_back_later_ones(
    store: Store,
) -> None:
    await queue(store, ("a1", 0), ("a2", 0))
    await keys(store, "d1", 0)
    await store.mark_outbound("a1", SENT, sec(1), route="rcs", deadline_at=sec(60), owner="d1")
    await store.mark_outbound("a1", REVOKED, sec(2), due_at=sec(10), detail="ttl")  # by RBM
    assert await keys(store, "d1", 9) == []  # a2 waits behind the revoked a1
    (fallback,) = await store.claim_outbound("d1", sec(10), LEASE)
    assert (fallback.key, fallback.status, fallback.attempts) == ("a1", SENDING, 2)
    assert (fallback.route, fallback.deadline_at) == ("rcs", None)
    assert not REVOKED.final


# --- the delivery deadline ----------------------------------------------------------------


async def test_a_sent_entry_is_claimed_at_its_deadline_and_not_before(store: Store) -> None:
    await queue(store, ("a", 0))
    await keys(store, "d1", 0)
    await store.mark_outbound(
        "a", SENT, sec(1), provider_id="rbm-a", route="rcs", deadline_at=sec(60), owner="d1"
    )
    sent = await stored(store, "a")
    assert (sent.status, sent.deadline_at) == (SENT, sec(60))
    assert await keys(store, "d2", 59) == []
    claimed = await store.claim_outbound("d2", sec(60), LEASE)
    # Leased for revoking, with what it was sent as kept and no history line.
    assert claimed == [replace(sent, status=SENDING, attempts=2)]
    assert await keys(store, "d3", 61) == []  # leased live


async def test_a_sent_entry_without_deadline_is_never_claimed(store: Store) -> None:
    await queue(store, ("a", 0))
    await keys(store, "d1", 0)
    await store.mark_outbound("a", SENT, sec(1), provider_id="sms-a", route="sms", owner="d1")
    assert await keys(store, "d1", 365 * 86400) == []


async def test_a_deadline_past_does_not_wait_for_an_earlier_waiting_entry(store: Store) -> None:
    await queue(store, ("a1", 0), ("a2", 0))
    await keys(store, "d1", 0)
    await store.mark_outbound("a1", SENT, sec(1), route="rcs", deadline_at=sec(60), owner="d1")
    assert await keys(store, "d1", 1) == ["a2"]
    await store.mark_outbound("a2", SENT, sec(2), route="rcs", deadline_at=sec(30), owner="d1")
    await store.mark_outbound("a1", REVOKED, sec(3), due_at=sec(100))  # RBM's ttl, SMS later
    # a2's deadline passed: revoking it waits for nothing, though a1 is waiting before it.
    assert await keys(store, "d1", 30) == ["a2"]


async def test_one_claim_takes_the_smaller_key_of_a_due_and_an_overdue_entry(
    store: Store,
) -> None:
    await queue(store, ("a1", 0), ("a2", 0))
    await keys(store, "d1", 0)
    await store.mark_outbound("a1", SENT, sec(1), route="rcs", deadline_at=sec(30), owner="d1")
    assert await keys(store, "d1", 30, limit=10) == ["a1"]  # a2 is due too: the next claim's
    assert await keys(store, "d1", 30) == []  # a1 is being revoked: a2 waits for it


async def test_a_status_other_than_sent_clears_the_deadline(store: Store) -> None:
    await queue(store, ("a", 0))
    await keys(store, "d1", 0)
    await store.mark_outbound("a", SENT, sec(1), route="rcs", deadline_at=sec(60), owner="d1")
    await store.mark_outbound("a", SENT, sec(2), detail="again")  # no deadline given: kept
    assert (await stored(store, "a")).deadline_at == sec(60)
    await store.mark_outbound("a", DELIVERED, sec(3), deadline_at=sec(90))  # ignored
    delivered = await stored(store, "a")
    assert (delivered.status, delivered.deadline_at) == (DELIVERED, None)
    assert await keys(store, "d1", 3600) == []


# --- fencing ------------------------------------------------------------------------------


async def test_a_dispatcher_writes_while_it_holds_the_lease_even_expired(store: Store) -> None:
    await queue(store, ("a", 0))
    await keys(store, "d1", 0)
    await store.mark_outbound("a", SENDING, sec(1), provider_id="rbm-a", owner="d1")
    await store.mark_outbound("a", SENT, sec(100), provider_id="rbm-a", owner="d1")  # expired
    entry = await stored(store, "a")
    assert (entry.status, entry.provider_ids) == (SENT, ("rbm-a",))


async def test_a_dispatcher_whose_entry_was_taken_over_writes_nothing(store: Store) -> None:
    await queue(store, ("a", 0))
    await keys(store, "d1", 0)
    assert await keys(store, "d2", 30) == ["a"]
    before = await stored(store, "a")
    with pytest.raises(LeaseLost):
        await store.mark_outbound(
            "a", SENT, sec(31), provider_id="rbm-a", route="rcs", deadline_at=FAR, owner="d1"
        )
    assert await stored(store, "a") == before
    assert await store.find_outbound_by_provider_id("rbm-a") is None
    await store.mark_outbound("a", SENT, sec(32), provider_id="rbm-a", owner="d2")


async def test_a_fenced_write_on_an_entry_not_sending_is_refused(store: Store) -> None:
    await queue(store, ("a", 0))
    with pytest.raises(LeaseLost):  # queued: nobody holds it
        await store.mark_outbound("a", SENDING, sec(1), owner="d1")
    await keys(store, "d1", 0)
    await store.mark_outbound("a", SENT, sec(1), owner="d1")  # gives the lease back
    before = await stored(store, "a")
    with pytest.raises(LeaseLost):
        await store.mark_outbound("a", FAILED, sec(2), owner="d1", detail="late")
    assert await stored(store, "a") == before
    await store.mark_outbound("a", DELIVERED, sec(3))  # a receipt takes no owner


async def test_sending_keeps_the_lease_and_other_statuses_give_it_back(store: Store) -> None:
    await queue(store, ("a", 0), ("b", 0), conv=other(1))
    await queue(store, ("c", 0), conv=other(2))
    await keys(store, "d1", 0)
    await store.mark_outbound("a", SENDING, sec(1), provider_id="rbm-a")  # no owner: a receipt
    await store.mark_outbound("c", QUEUED, sec(1), owner="d1")
    assert await keys(store, "d2", 1) == ["c"]  # a is still d1's until its lease ends
    await store.mark_outbound("a", SENDING, sec(2), owner="d1")


# --- provider ids and history -------------------------------------------------------------


async def test_a_fallback_keeps_every_provider_id_and_the_route_of_each_change(
    store: Store,
) -> None:
    await queue(store, ("a", 0))
    await keys(store, "d1", 0)
    await store.mark_outbound("a", SENDING, sec(1), provider_id="rbm-a", route="rcs", owner="d1")
    await store.mark_outbound("a", SENT, sec(2), provider_id="rbm-a", deadline_at=sec(60))
    await keys(store, "d1", 60)
    await store.mark_outbound("a", REVOKED, sec(61), detail="no DELIVERED in time", owner="d1")
    await keys(store, "d1", 61)
    await store.mark_outbound("a", SENT, sec(62), provider_id="sms-a", route="sms", owner="d1")
    entry = await stored(store, "a")
    assert (entry.provider_id, entry.provider_ids, entry.route) == (
        "sms-a",
        ("rbm-a", "sms-a"),
        "sms",
    )
    assert [(h["status"], h["channel"]) for h in entry.history] == [
        ("queued", None),
        ("sending", "rcs"),
        ("sent", "rcs"),
        ("revoked", "rcs"),
        ("sent", "sms"),
    ]
    # A late DELIVERED from RBM still finds the entry by its RCS id.
    late = await store.find_outbound_by_provider_id("rbm-a")
    assert late == entry == await store.find_outbound_by_provider_id("sms-a")
    await store.mark_outbound("a", DELIVERED, sec(63), detail="rbm")
    assert (await stored(store, "a")).history[-1] == {
        "at": sec(63).isoformat(),
        "status": "delivered",
        "detail": "rbm",
        "channel": "sms",
    }


async def test_a_history_line_before_any_route_has_no_channel(store: Store) -> None:
    await queue(store, ("a", 0))
    await store.mark_outbound("a", FAILED, sec(1), detail="opted out")
    assert (await stored(store, "a")).history[-1] == {
        "at": sec(1).isoformat(),
        "status": "failed",
        "detail": "opted out",
        "channel": None,
    }


async def test_values_that_look_like_field_paths_are_kept_as_given(store: Store) -> None:
    await queue(store, ("a", 0))
    await store.mark_outbound("a", SENT, sec(1), provider_id="$route", detail="$status")
    entry = await stored(store, "a")
    assert (entry.provider_ids, entry.history[-1]["detail"]) == (("$route",), "$status")
    assert await store.find_outbound_by_provider_id("$route") == entry


# --- several dispatchers ------------------------------------------------------------------


async def test_two_dispatchers_claiming_at_once_never_share_an_entry(
    backing: StoreFactory,
) -> None:
    async with backing() as one, backing() as two:
        for n in range(6):
            await queue(one, (f"k{n}", 0), conv=other(n))
        first, second = await asyncio.gather(
            one.claim_outbound("d1", T0, LEASE, limit=4),
            two.claim_outbound("d2", T0, LEASE, limit=4),
        )
        got = [e.key for e in first] + [e.key for e in second]
        assert sorted(got) == [f"k{n}" for n in range(6)]  # each once
        assert first
        assert second
        with pytest.raises(LeaseLost):
            await one.mark_outbound(second[0].key, SENT, sec(1), owner="d1")
