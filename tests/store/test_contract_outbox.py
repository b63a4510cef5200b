"""Contract: the outbox (claims by the dispatcher, leases, status changes, receipts).

The router's part (the head rule, revocation deadlines, fencing, fallback ids) is in
`test_contract_routing.py`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from store.base import Store
from store.records import OutboxStatus
from tests.store import FAR, LEASE, T0, depth, other, queue, sec

SENDING, SENT, FAILED, QUEUED = (
    OutboxStatus.SENDING,
    OutboxStatus.SENT,
    OutboxStatus.FAILED,
    OutboxStatus.QUEUED,
)


async def test_claim_outbound_leases_due_entries_oldest_key_first(store: Store) -> None:
    (first,) = await queue(store, ("o1", 10), conv=other(1))
    (second,) = await queue(store, ("o2", 0), conv=other(2))
    (future,) = await queue(store, ("o3", 3600), conv=other(3))
    got = await store.claim_outbound("d1", sec(10), LEASE)
    # Key order is production order: o1 goes first although o2 was due sooner.
    assert got == [
        replace(first, status=SENDING, attempts=1),
        replace(second, status=SENDING, attempts=1),
    ]
    assert await store.get_outbound("o2") == got[1]
    assert await store.get_outbound("o3") == future
    assert await store.claim_outbound("d2", sec(20), LEASE) == []  # leased to d1
    assert await store.outbox_depth() == depth(sending=2, queued=1)


async def test_claim_outbound_takes_at_most_limit_entries(store: Store) -> None:
    for n, key in enumerate("abc"):
        await queue(store, (key, 2 - n), conv=other(n))
    assert [e.key for e in await store.claim_outbound("d1", sec(5), LEASE, limit=2)] == ["a", "b"]
    assert [e.key for e in await store.claim_outbound("d2", sec(5), LEASE, limit=2)] == ["c"]
    assert await store.claim_outbound("d3", sec(5), LEASE) == []


async def test_an_entry_is_claimable_once_due(store: Store) -> None:
    await queue(store, ("a", 60))
    assert await store.claim_outbound("d1", sec(59), LEASE) == []
    assert [e.key for e in await store.claim_outbound("d1", sec(60), LEASE)] == ["a"]


async def test_an_expired_outbound_lease_is_claimed_again(store: Store) -> None:
    (queued,) = await queue(store, ("a", 0))
    await store.claim_outbound("d1", T0, LEASE)
    assert await store.claim_outbound("d2", T0 + LEASE - timedelta(seconds=1), LEASE) == []
    again = await store.claim_outbound("d2", sec(31), LEASE)
    assert again == [replace(queued, status=SENDING, attempts=2)]


async def test_mark_outbound_records_status_provider_id_and_history(store: Store) -> None:
    await queue(store, ("a", 0))
    (claimed,) = await store.claim_outbound("d1", T0, LEASE)
    assert (claimed.route, claimed.deadline_at, claimed.provider_ids) == (None, None, ())
    await store.mark_outbound("a", SENT, sec(2), provider_id="rbm-1")
    sent_change = {"at": sec(2).isoformat(), "status": "sent", "detail": None, "channel": None}
    sent = replace(
        claimed,
        status=SENT,
        provider_id="rbm-1",
        provider_ids=("rbm-1",),
        history=[*claimed.history, sent_change],  # after the line written when it was queued
    )
    assert await store.get_outbound("a") == sent
    assert await store.find_outbound_by_provider_id("rbm-1") == sent
    assert await store.find_outbound_by_provider_id("rbm-2") is None
    await store.mark_outbound("a", FAILED, sec(3), detail="no DELIVERED in time")
    failed_change = {
        "at": sec(3).isoformat(),
        "status": "failed",
        "detail": "no DELIVERED in time",
        "channel": None,
    }
    failed = replace(sent, status=FAILED, history=[*sent.history, failed_change])
    assert await store.get_outbound("a") == failed
    assert await store.find_outbound_by_provider_id("rbm-1") == failed
    assert await store.claim_outbound("d2", FAR, LEASE) == []  # done, even once its lease ran out


async def test_an_entry_marked_queued_again_is_claimed_again(store: Store) -> None:
    (queued,) = await queue(store, ("a", 0))
    await store.claim_outbound("d1", T0, LEASE)
    await store.mark_outbound("a", QUEUED, sec(1), detail="retry")
    (again,) = await store.claim_outbound("d2", sec(1), LEASE)
    retry = {"at": sec(1).isoformat(), "status": "queued", "detail": "retry", "channel": None}
    assert again == replace(queued, status=SENDING, attempts=2, history=[*queued.history, retry])


async def test_a_later_provider_id_becomes_the_provider_id(store: Store) -> None:
    await queue(store, ("a", 0))
    await store.mark_outbound("a", SENDING, sec(1), provider_id="rbm-1")
    await store.mark_outbound("a", SENT, sec(2), provider_id="sms-1")  # fell back to SMS
    entry = await store.find_outbound_by_provider_id("sms-1")
    assert entry is not None
    assert (entry.key, entry.provider_id, entry.provider_ids) == ("a", "sms-1", ("rbm-1", "sms-1"))
    assert await store.find_outbound_by_provider_id("rbm-1") == entry


async def test_outbox_depth_counts_entries_per_status(store: Store) -> None:
    assert await store.outbox_depth() == {}
    for n, key in enumerate("abcd"):
        await queue(store, (key, n), conv=other(n))
    assert await store.outbox_depth() == depth(queued=4)
    await store.claim_outbound("d1", sec(5), LEASE, limit=3)
    assert await store.outbox_depth() == depth(queued=1, sending=3)
    await store.mark_outbound("a", SENT, sec(6))
    await store.mark_outbound("b", FAILED, sec(6))
    assert await store.outbox_depth() == depth(queued=1, sending=1, sent=1, failed=1)


async def test_get_outbound_of_an_unknown_key_is_none(store: Store) -> None:
    assert await store.get_outbound("nope") is None
    assert await store.find_outbound_by_provider_id("nope") is None


async def test_an_outbound_lease_is_free_from_its_end_on(store: Store) -> None:
    await queue(store, ("a", 0))
    await store.claim_outbound("d1", T0, LEASE)
    assert await store.claim_outbound("d2", T0 + LEASE - timedelta(seconds=1), LEASE) == []
    assert [e.key for e in await store.claim_outbound("d2", T0 + LEASE, LEASE)] == ["a"]


async def test_mark_outbound_of_an_unknown_key_raises_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        await store.mark_outbound("nope", SENT, T0, provider_id="rbm-1")
    with pytest.raises(KeyError):
        await store.mark_outbound("nope", SENT, T0, owner="d1")
    assert await store.find_outbound_by_provider_id("rbm-1") is None


async def test_conversation_outbound_lists_its_entries_in_key_order(store: Store) -> None:
    await queue(store, ("b2", 0), ("b1", 60), conv=other(1))
    await queue(store, ("a1", 0), conv=other(2))
    await store.mark_outbound("b2", SENT, sec(1), provider_id="p1", route="rcs")
    b1, b2 = await store.get_outbound("b1"), await store.get_outbound("b2")
    assert await store.conversation_outbound("conv-1") == [b1, b2]
    assert b2 is not None
    assert [line["status"] for line in b2.history] == ["queued", "sent"]
    assert await store.conversation_outbound("conv-1", limit=1) == [b1]
    assert [e.key for e in await store.conversation_outbound("conv-2")] == ["a1"]
    assert await store.conversation_outbound("conv-9") == []
