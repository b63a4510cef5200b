"""Contract: the events a business's webhook is told (written with the facts they report,
claimed by due time under a lease, settled, purged)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from store.base import LeaseLost, Store
from store.business_events_records import BusinessEvent, EventKind, EventStatus, event_id
from store.records import NEVER_DELIVERED, OutboxStatus
from tests.store import (
    BOT,
    LEASE,
    PHONE,
    T0,
    claim_one,
    conversation,
    handle,
    inbound,
    queue,
    sec,
    turn,
)

PENDING, DELIVERED, FAILED = EventStatus.PENDING, EventStatus.DELIVERED, EventStatus.FAILED


def ended(conversation_id: str = "conv-1", *, at: int = 0, bot: str = BOT) -> BusinessEvent:
    return BusinessEvent(
        id=event_id(EventKind.CONVERSATION_ENDED, conversation_id),
        bot_id=bot,
        kind=EventKind.CONVERSATION_ENDED,
        phone=PHONE,
        conversation_id=conversation_id,
        data={"state": "bye", "vars": {"code": "A1", "n": 2}},
        created_at=sec(at),
    )


async def test_an_event_is_kept_once_by_id(store: Store) -> None:
    assert await store.add_business_events([ended(), ended("conv-2", at=1)]) == 2
    assert await store.add_business_events([replace(ended(), data={"other": True})]) == 0
    assert await store.business_events() == [ended("conv-2", at=1), ended()]  # newest first


async def test_events_are_listed_by_bot_and_status(store: Store) -> None:
    await store.add_business_events([ended(), ended("conv-2", at=1, bot="bot-b")])
    await store.settle_business_event(ended().id, DELIVERED, sec(5))
    assert [e.id for e in await store.business_events(bot_id="bot-b")] == [ended("conv-2").id]
    delivered = await store.business_events(status=DELIVERED)
    assert delivered == [replace(ended(), status=DELIVERED, settled_at=sec(5))]
    assert len(await store.business_events(limit=1)) == 1


async def test_a_claim_takes_due_events_oldest_first_under_a_lease(store: Store) -> None:
    await store.add_business_events([ended("b", at=2), ended("a", at=1)])
    taken = await store.claim_business_events(sec(10), LEASE)
    assert [(e.id, e.attempts, e.next_at) for e in taken] == [
        (ended("a").id, 1, sec(10) + LEASE),
        (ended("b").id, 1, sec(10) + LEASE),
    ]
    # Another process finds nothing while the lease runs, then takes them again.
    assert await store.claim_business_events(sec(11), LEASE) == []
    again = await store.claim_business_events(sec(10) + LEASE, LEASE, limit=1)
    assert [(e.id, e.attempts) for e in again] == [(ended("a").id, 2)]


async def test_a_retry_is_due_at_its_time_and_a_settled_event_never_again(store: Store) -> None:
    await store.add_business_events([ended("a"), ended("b")])
    await store.claim_business_events(T0, LEASE)
    await store.settle_business_event(ended("a").id, PENDING, sec(1), next_at=sec(60), error="503")
    await store.settle_business_event(ended("b").id, FAILED, sec(1), error="410 Gone")
    assert await store.claim_business_events(sec(59), LEASE) == []
    (retry,) = await store.claim_business_events(sec(60), LEASE)
    assert (retry.id, retry.attempts, retry.last_error) == (ended("a").id, 2, "503")
    (gone,) = await store.business_events(status=FAILED)
    assert (gone.settled_at, gone.last_error, gone.next_at) == (sec(1), "410 Gone", None)
    await store.settle_business_event("unknown", DELIVERED, sec(2))  # erased meanwhile: ignored


async def test_settled_events_are_purged_by_age_pending_ones_never(store: Store) -> None:
    await store.add_business_events([ended("old"), ended("new"), ended("waiting")])
    await store.settle_business_event(ended("old").id, DELIVERED, sec(10))
    await store.settle_business_event(ended("new").id, DELIVERED, sec(30))
    assert await store.purge_business_events(sec(20)) == 1
    assert [e.id for e in await store.business_events()] == [
        ended("waiting").id,
        ended("new").id,
    ]
    assert await store.purge_business_events(sec(10**6)) == 1  # the pending one stays


async def test_a_turn_writes_its_events_with_it_and_a_replay_keeps_the_first(
    store: Store,
) -> None:
    conv = conversation()
    await handle(store, replace(turn(conv), events=[ended()]))
    assert await store.business_events() == [ended()]
    assert await store.add_business_events([ended()]) == 0


async def test_a_turn_refused_writes_no_event(store: Store) -> None:
    conv = conversation()
    await store.append_inbound(inbound())
    claim = await claim_one(store)
    late = replace(claim, owner="someone-else")
    with pytest.raises(LeaseLost):
        await store.commit_turn(late, replace(turn(conv), events=[ended()]), T0)
    assert await store.business_events() == []


@pytest.mark.parametrize("status", sorted(NEVER_DELIVERED))
async def test_a_message_that_will_never_arrive_writes_one_failed_event(
    store: Store, status: OutboxStatus
) -> None:
    await queue(store, ("a", 0))
    await store.mark_outbound("a", OutboxStatus.SENT, sec(1), route="rcs")
    await store.mark_outbound("a", status, sec(2), detail="the provider said no")
    await store.mark_outbound("a", status, sec(3), detail="a second receipt")  # noted once
    (event,) = await store.business_events()
    assert event == BusinessEvent(
        id="message.failed:a",
        bot_id=BOT,
        kind=EventKind.MESSAGE_FAILED,
        phone=PHONE,
        conversation_id="conv-1",
        data={
            "message": "a",
            "status": status.value,
            "channel": "rcs",
            "detail": "the provider said no",
        },
        created_at=sec(2),
    )


async def test_a_delivered_message_writes_no_event(store: Store) -> None:
    await queue(store, ("a", 0))
    for status in (OutboxStatus.SENT, OutboxStatus.DELIVERED, OutboxStatus.READ):
        await store.mark_outbound("a", status, sec(1))
    assert await store.business_events() == []


async def test_a_fenced_mark_that_lost_its_lease_writes_no_event(store: Store) -> None:
    await queue(store, ("a", 0))
    await store.claim_outbound("d1", T0, LEASE)
    with pytest.raises(LeaseLost):
        await store.mark_outbound("a", OutboxStatus.FAILED, sec(1), owner="d2")
    assert await store.business_events() == []
    await store.mark_outbound("a", OutboxStatus.FAILED, sec(1) + timedelta(seconds=1), owner="d1")
    assert [e.id for e in await store.business_events()] == ["message.failed:a"]
