"""Contract: the outbox (claims by the dispatcher, leases, status changes, receipts)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from store.base import Store
from store.records import OutboxEntry, OutboxStatus
from tests.store import FAR, LEASE, T0, conversation, depth, outbound, sec, start

SENDING, SENT, FAILED, QUEUED = (
    OutboxStatus.SENDING,
    OutboxStatus.SENT,
    OutboxStatus.FAILED,
    OutboxStatus.QUEUED,
)


async def _queue(store: Store, *items: tuple[str, int]) -> list[OutboxEntry]:
    """Queue outbound entries `(key, due second)` through one turn; returns them as stored."""
    await start(store, conversation(), outbound=[outbound(k, due_at=sec(due)) for k, due in items])
    stored = [await store.get_outbound(key) for key, _ in items]
    assert None not in stored
    return [entry for entry in stored if entry is not None]


async def test_claim_outbound_leases_due_entries_oldest_first(store: Store) -> None:
    later, sooner, future = await _queue(store, ("o1", 10), ("o2", 0), ("o3", 3600))
    got = await store.claim_outbound("d1", sec(10), LEASE)
    assert got == [
        replace(sooner, status=SENDING, attempts=1),
        replace(later, status=SENDING, attempts=1),
    ]
    assert await store.get_outbound("o2") == got[0]
    assert await store.get_outbound("o3") == future
    assert await store.claim_outbound("d2", sec(20), LEASE) == []  # leased to d1
    assert await store.outbox_depth() == depth(sending=2, queued=1)


async def test_claim_outbound_takes_at_most_limit_entries(store: Store) -> None:
    await _queue(store, ("a", 2), ("b", 1), ("c", 0))
    assert [e.key for e in await store.claim_outbound("d1", sec(5), LEASE, limit=2)] == ["c", "b"]
    assert [e.key for e in await store.claim_outbound("d2", sec(5), LEASE, limit=2)] == ["a"]
    assert await store.claim_outbound("d3", sec(5), LEASE) == []


async def test_an_entry_is_claimable_once_due(store: Store) -> None:
    await _queue(store, ("a", 60))
    assert await store.claim_outbound("d1", sec(59), LEASE) == []
    assert [e.key for e in await store.claim_outbound("d1", sec(60), LEASE)] == ["a"]


async def test_an_expired_outbound_lease_is_claimed_again(store: Store) -> None:
    (queued,) = await _queue(store, ("a", 0))
    await store.claim_outbound("d1", T0, LEASE)
    assert await store.claim_outbound("d2", T0 + LEASE - timedelta(seconds=1), LEASE) == []
    again = await store.claim_outbound("d2", sec(31), LEASE)
    assert again == [replace(queued, status=SENDING, attempts=2)]


async def test_mark_outbound_records_status_provider_id_and_history(store: Store) -> None:
    await _queue(store, ("a", 0))
    (claimed,) = await store.claim_outbound("d1", T0, LEASE)
    await store.mark_outbound("a", SENT, sec(2), provider_id="rbm-1")
    sent_change = {"at": sec(2).isoformat(), "status": "sent", "detail": None}
    sent = replace(claimed, status=SENT, provider_id="rbm-1", history=[sent_change])
    assert await store.get_outbound("a") == sent
    assert await store.find_outbound_by_provider_id("rbm-1") == sent
    assert await store.find_outbound_by_provider_id("rbm-2") is None
    await store.mark_outbound("a", FAILED, sec(3), detail="no DELIVERED in time")
    failed_change = {"at": sec(3).isoformat(), "status": "failed", "detail": "no DELIVERED in time"}
    failed = replace(sent, status=FAILED, history=[sent_change, failed_change])
    assert await store.get_outbound("a") == failed
    assert await store.find_outbound_by_provider_id("rbm-1") == failed
    assert await store.claim_outbound("d2", FAR, LEASE) == []  # done, even once its lease ran out


async def test_an_entry_marked_queued_again_is_claimed_again(store: Store) -> None:
    (queued,) = await _queue(store, ("a", 0))
    await store.claim_outbound("d1", T0, LEASE)
    await store.mark_outbound("a", QUEUED, sec(1), detail="retry")
    (again,) = await store.claim_outbound("d2", sec(1), LEASE)
    retry = {"at": sec(1).isoformat(), "status": "queued", "detail": "retry"}
    assert again == replace(queued, status=SENDING, attempts=2, history=[retry])


async def test_a_later_provider_id_replaces_the_earlier(store: Store) -> None:
    await _queue(store, ("a", 0))
    await store.mark_outbound("a", SENDING, sec(1), provider_id="rbm-1")
    await store.mark_outbound("a", SENT, sec(2), provider_id="sms-1")  # fell back to SMS
    entry = await store.find_outbound_by_provider_id("sms-1")
    assert entry is not None
    assert (entry.key, entry.provider_id) == ("a", "sms-1")
    assert await store.find_outbound_by_provider_id("rbm-1") is None


async def test_outbox_depth_counts_entries_per_status(store: Store) -> None:
    assert await store.outbox_depth() == {}
    await _queue(store, ("a", 0), ("b", 1), ("c", 2), ("d", 3))
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
    await _queue(store, ("a", 0))
    await store.claim_outbound("d1", T0, LEASE)
    assert await store.claim_outbound("d2", T0 + LEASE - timedelta(seconds=1), LEASE) == []
    assert [e.key for e in await store.claim_outbound("d2", T0 + LEASE, LEASE)] == ["a"]


async def test_mark_outbound_of_an_unknown_key_raises_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        await store.mark_outbound("nope", SENT, T0, provider_id="rbm-1")
    assert await store.find_outbound_by_provider_id("rbm-1") is None
