"""Contract: the inbox (idempotent appends, arrival order) and conversation leases."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from store.base import LeaseLost, Store
from store.records import Claim, InboxEntry, InboxSource
from tests.store import (
    BOT,
    LEASE,
    PHONE,
    PHONES,
    T0,
    bumped,
    claim_one,
    conversation,
    everything,
    inbound,
    line,
    outbound,
    sec,
    start,
    timer,
    turn,
)

A, B = PHONES[0], PHONES[1]


# --- appending -----------------------------------------------------------------------------


async def test_append_inbound_stores_a_new_event(store: Store) -> None:
    event = {"kind": "inbound", "text": "Bonjour, ça va ? 👋", "n": [1, 2.5, None, True]}
    new = inbound("sms-1", event=event, received_at=sec(3))
    entry, added = await store.append_inbound(new)
    assert added is True
    assert entry == InboxEntry(
        entry.seq, InboxSource.SMSMODE, "sms-1", BOT, PHONE, event, sec(3), done=False
    )
    assert entry.received_at.utcoffset() == timedelta(0)
    assert await store.inbox_depth() == 1


async def test_a_retried_event_is_stored_once(store: Store) -> None:
    first, _ = await store.append_inbound(inbound("sms-1", event={"text": "first"}))
    again = await store.append_inbound(
        inbound("sms-1", event={"text": "retry"}, received_at=sec(5))
    )
    assert again == (first, False)
    assert await store.inbox_depth() == 1


async def test_the_same_provider_id_from_another_source_is_another_event(store: Store) -> None:
    sms, _ = await store.append_inbound(inbound("id-1", source=InboxSource.SMSMODE))
    rbm, added = await store.append_inbound(inbound("id-1", source=InboxSource.RBM))
    assert added is True
    assert (rbm.source, rbm.provider_id) == (InboxSource.RBM, "id-1")
    assert rbm.seq != sms.seq
    assert await store.inbox_depth() == 2


async def test_a_retry_after_the_event_was_handled_returns_it_done(store: Store) -> None:
    entry, _ = await store.append_inbound(inbound("sms-1"))
    await store.skip(await claim_one(store), T0)
    assert await store.append_inbound(inbound("sms-1")) == (replace(entry, done=True), False)
    assert await store.inbox_depth() == 0


async def test_seq_follows_arrival_order_across_conversations(store: Store) -> None:
    entries = [
        (await store.append_inbound(inbound(f"m{n}", phone=PHONES[n % 3])))[0] for n in range(7)
    ]
    await store.append_inbound(inbound("m2", phone=PHONES[2]))  # a retry takes no place
    seqs = [entry.seq for entry in entries]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 7


async def test_an_aware_time_in_another_zone_reads_back_as_the_same_instant(store: Store) -> None:
    paris = datetime(2026, 7, 1, 14, 30, tzinfo=ZoneInfo("Europe/Paris"))
    entry, _ = await store.append_inbound(inbound(received_at=paris))
    assert entry.received_at == paris
    assert entry.received_at.utcoffset() == timedelta(0)


# --- claiming ------------------------------------------------------------------------------


async def test_claim_returns_none_when_nothing_is_pending(store: Store) -> None:
    assert await store.claim("w1", T0, LEASE) is None
    await store.append_inbound(inbound())
    await store.skip(await claim_one(store), T0)
    assert await store.claim("w1", T0, LEASE) is None


async def test_claim_leases_a_conversation_with_its_oldest_pending_event(store: Store) -> None:
    a1, _ = await store.append_inbound(inbound("a1", phone=A))
    await store.append_inbound(inbound("b1", phone=B))
    await store.append_inbound(inbound("a2", phone=A))
    claim = await store.claim("w1", sec(1), LEASE)
    assert claim == Claim(BOT, A, "w1", sec(1) + LEASE, a1)
    assert claim.lease_until.utcoffset() == timedelta(0)


async def test_two_owners_never_hold_the_same_conversation(store: Store) -> None:
    a1, _ = await store.append_inbound(inbound("a1", phone=A))
    b1, _ = await store.append_inbound(inbound("b1", phone=B))
    a2, _ = await store.append_inbound(inbound("a2", phone=A))
    first = await claim_one(store, "w1")
    second = await claim_one(store, "w2")
    assert (first.phone, first.entry, second.phone, second.entry) == (A, a1, B, b1)
    assert await store.claim("w3", T0, LEASE) is None
    assert await store.claim("w1", T0, LEASE) is None  # a lease excludes its own owner too
    await store.skip(first, T0)
    third = await claim_one(store, "w3")
    assert (third.phone, third.entry) == (A, a2)


async def test_claim_prefers_the_oldest_event_among_free_conversations(store: Store) -> None:
    await store.append_inbound(inbound("a1", phone=A))
    b1, _ = await store.append_inbound(inbound("b1", phone=B))
    a2, _ = await store.append_inbound(inbound("a2", phone=A))
    await store.skip(await claim_one(store), T0)
    assert (await claim_one(store, "w2")).entry == b1
    assert (await claim_one(store, "w3")).entry == a2


async def test_a_conversation_s_events_are_handled_one_at_a_time_in_order(store: Store) -> None:
    sent = [(await store.append_inbound(inbound(f"a{n}", phone=A)))[0] for n in range(4)]
    handled = []
    for n in range(4):
        claim = await claim_one(store, f"w{n}", sec(n))
        assert await store.claim("other", sec(n), LEASE) is None
        handled.append(claim.entry)
        await store.skip(claim, sec(n))
    assert handled == sent
    assert await store.claim("w9", sec(9), LEASE) is None


async def test_an_expired_lease_can_be_claimed_again(store: Store) -> None:
    a1, _ = await store.append_inbound(inbound("a1"))
    await claim_one(store, "w1", T0)
    assert await store.claim("w2", T0 + LEASE - timedelta(seconds=1), LEASE) is None
    taken = await store.claim("w2", sec(31), LEASE)
    assert taken == Claim(BOT, PHONE, "w2", sec(31) + LEASE, a1)


async def test_a_taken_over_claim_cannot_commit_and_writes_nothing(store: Store) -> None:
    conv = conversation()
    conv = await start(
        store,
        conv,
        outbound=[outbound("s:0")],
        arm=[timer(conv, "t1", sec(3600)), timer(conv, "t2", sec(7200))],
        history=[line(conv, "in:start")],
    )
    before = await everything(store, conv)
    await store.append_inbound(inbound("m1", received_at=sec(1)))
    stale = await claim_one(store, "w1", sec(1))
    fresh = await claim_one(store, "w2", sec(40))
    assert fresh.entry == stale.entry
    write = turn(
        bumped(conv, sec(41), state="elsewhere"),
        outbound=[outbound("m1:0")],
        arm=[timer(conv, "t1", sec(9000)), timer(conv, "t3", sec(60))],
        cancel=[timer(conv, "t2", sec(7200)).id],
        history=[line(conv, "in:m1")],
    )
    with pytest.raises(LeaseLost):
        await store.commit_turn(stale, write, sec(41))
    assert await everything(store, conv) == {**before, "inbox": 1}
    assert await store.get_outbound("m1:0") is None
    assert await store.claim("w3", sec(42), LEASE) is None  # w2 still holds it
    await store.commit_turn(fresh, write, sec(42))
    assert await store.get_conversation_by_id(conv.id) == replace(
        write.conversation, last_inbox_seq=fresh.entry.seq
    )


async def test_a_stale_claim_of_the_same_owner_cannot_commit(store: Store) -> None:
    await store.append_inbound(inbound(source=InboxSource.START))
    old = await claim_one(store, "w1", T0)
    new = await claim_one(store, "w1", sec(31))
    assert new.entry == old.entry
    with pytest.raises(LeaseLost):
        await store.commit_turn(old, turn(conversation()), sec(32))
    assert await store.get_conversation_by_id("conv-1") is None
    await store.commit_turn(new, turn(conversation()), sec(32))
    assert await store.inbox_depth() == 0


async def test_a_released_claim_cannot_commit(store: Store) -> None:
    await store.append_inbound(inbound(source=InboxSource.START))
    claim = await claim_one(store)
    await store.release(claim)
    with pytest.raises(LeaseLost):
        await store.commit_turn(claim, turn(conversation()), T0)
    assert await store.get_conversation_by_id("conv-1") is None
    assert await store.inbox_depth() == 1


async def test_different_conversations_are_handled_concurrently(store: Store) -> None:
    await store.append_inbound(inbound(source=InboxSource.START, phone=A))
    await store.append_inbound(inbound(source=InboxSource.START, phone=B))
    on_a = await claim_one(store, "w1")
    on_b = await claim_one(store, "w2")
    await store.commit_turn(on_b, turn(conversation("conv-b", phone=B, created_at=sec(1))), T0)
    await store.commit_turn(on_a, turn(conversation("conv-a", phone=A)), T0)
    assert [c.id for c in await store.list_conversations(BOT)] == ["conv-a", "conv-b"]
    assert await store.inbox_depth() == 0


# --- renew, release, skip ------------------------------------------------------------------


async def test_renew_extends_a_held_lease(store: Store) -> None:
    await store.append_inbound(inbound(source=InboxSource.START))
    claim = await claim_one(store, "w1", T0)
    renewed = await store.renew(claim, sec(20), LEASE)
    assert renewed == replace(claim, lease_until=sec(50))
    assert await store.claim("w2", sec(40), LEASE) is None
    renewed = await store.renew(renewed, sec(45), LEASE)
    assert await store.claim("w2", sec(70), LEASE) is None
    await store.commit_turn(renewed, turn(conversation()), sec(70))
    assert await store.inbox_depth() == 0


async def test_renew_after_a_takeover_raises_lease_lost(store: Store) -> None:
    await store.append_inbound(inbound())
    claim = await claim_one(store, "w1", T0)
    taken = await claim_one(store, "w2", sec(31))
    with pytest.raises(LeaseLost):
        await store.renew(claim, sec(32), LEASE)
    assert await store.claim("w3", sec(50), LEASE) is None  # w2's lease is untouched
    assert await store.renew(taken, sec(50), LEASE) == replace(taken, lease_until=sec(80))


async def test_renew_after_release_raises_lease_lost(store: Store) -> None:
    await store.append_inbound(inbound())
    claim = await claim_one(store)
    await store.release(claim)
    with pytest.raises(LeaseLost):
        await store.renew(claim, sec(1), LEASE)


async def test_release_gives_the_conversation_back_with_its_event_pending(store: Store) -> None:
    a1, _ = await store.append_inbound(inbound("a1"))
    await store.release(await claim_one(store, "w1"))
    assert await store.inbox_depth() == 1
    assert await store.claim("w2", T0, LEASE) == Claim(BOT, PHONE, "w2", T0 + LEASE, a1)


async def test_release_after_a_takeover_leaves_the_new_lease_alone(store: Store) -> None:
    await store.append_inbound(inbound(source=InboxSource.START))
    claim = await claim_one(store, "w1", T0)
    taken = await claim_one(store, "w2", sec(31))
    await store.release(claim)
    assert await store.claim("w3", sec(32), LEASE) is None
    await store.commit_turn(taken, turn(conversation()), sec(32))
    assert await store.inbox_depth() == 0


async def test_skip_marks_the_event_done_without_other_effect(store: Store) -> None:
    a1, _ = await store.append_inbound(inbound("a1"))
    a2, _ = await store.append_inbound(inbound("a2"))
    await store.skip(await claim_one(store, "w1"), T0)
    assert await store.inbox_depth() == 1
    assert await store.get_conversation(BOT, PHONE) is None
    assert await store.outbox_depth() == {}
    assert (await claim_one(store, "w2")).entry == a2
    assert (await store.append_inbound(inbound("a1")))[0] == replace(a1, done=True)


async def test_inbox_depth_counts_events_not_yet_handled(store: Store) -> None:
    assert await store.inbox_depth() == 0
    await store.append_inbound(inbound("a1", phone=A, source=InboxSource.START))
    await store.append_inbound(inbound("b1", phone=B))
    await store.append_inbound(inbound("a2", phone=A))
    await store.append_inbound(inbound("a2", phone=A))
    assert await store.inbox_depth() == 3
    on_a = await claim_one(store, "w1")
    assert await store.inbox_depth() == 3  # claimed is not handled
    await store.commit_turn(on_a, turn(conversation(phone=A)), T0)
    assert await store.inbox_depth() == 2
    await store.skip(await claim_one(store, "w1"), T0)
    assert await store.inbox_depth() == 1


async def test_skip_after_a_takeover_raises_lease_lost(store: Store) -> None:
    await store.append_inbound(inbound())
    stale = await claim_one(store, "w1", T0)
    fresh = await claim_one(store, "w2", sec(31))
    with pytest.raises(LeaseLost):
        await store.skip(stale, sec(32))
    assert await store.inbox_depth() == 1
    assert await store.claim("w3", sec(32), LEASE) is None
    await store.skip(fresh, sec(32))
    assert await store.inbox_depth() == 0


# --- where a lease ends --------------------------------------------------------------------


async def test_a_lease_is_free_from_its_lease_until_on(store: Store) -> None:
    await store.append_inbound(inbound())
    claim = await claim_one(store, "w1", T0)
    assert await store.claim("w2", claim.lease_until - timedelta(seconds=1), LEASE) is None
    assert await store.claim("w2", claim.lease_until, LEASE) is not None


async def test_an_expired_lease_nobody_took_over_still_commits(store: Store) -> None:
    # The lease only fences against another claim; a slow worker alone may still finish.
    await store.append_inbound(inbound(source=InboxSource.START))
    claim = await claim_one(store, "w1", T0)
    await store.commit_turn(claim, turn(conversation()), sec(300))
    assert await store.get_conversation_by_id("conv-1") is not None
    assert await store.inbox_depth() == 0
