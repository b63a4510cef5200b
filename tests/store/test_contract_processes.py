"""Contract: several stores over one database, as several processes share it, and a store
opened again over what an earlier one wrote."""

from __future__ import annotations

import pytest

from store.base import LeaseLost
from store.records import FlowVersion, InboxSource
from tests.store import (
    BOT,
    LEASE,
    PHONE,
    PHONES,
    T0,
    StoreFactory,
    bumped,
    claim_one,
    conversation,
    inbound,
    line,
    outbound,
    sec,
    start,
    timer,
    turn,
)

A, B = PHONES[0], PHONES[1]


async def test_two_processes_never_hold_the_same_conversation(backing: StoreFactory) -> None:
    async with backing() as one, backing() as two:
        a1, _ = await one.append_inbound(inbound("a1", phone=A, source=InboxSource.START))
        b1, _ = await two.append_inbound(inbound("b1", phone=B, source=InboxSource.START))
        a2, _ = await one.append_inbound(inbound("a2", phone=A))
        first = await claim_one(one, "p1")
        second = await claim_one(two, "p2")
        assert (first.entry, second.entry) == (a1, b1)
        assert await one.claim("p3", T0, LEASE) is None
        assert await two.claim("p4", T0, LEASE) is None
        await two.commit_turn(first, turn(conversation("conv-a", phone=A)), T0)
        await one.commit_turn(second, turn(conversation("conv-b", phone=B)), T0)
        third = await claim_one(two, "p2")
        assert third.entry == a2
        assert await one.get_conversation(BOT, B) == await two.get_conversation(BOT, B)


async def test_a_takeover_by_another_process_fences_the_first(backing: StoreFactory) -> None:
    async with backing() as one, backing() as two:
        await one.append_inbound(inbound("a1", source=InboxSource.START))
        stale = await claim_one(one, "p1", T0)
        fresh = await claim_one(two, "p2", sec(31))
        with pytest.raises(LeaseLost):
            await one.commit_turn(stale, turn(conversation()), sec(32))
        with pytest.raises(LeaseLost):
            await one.renew(stale, sec(32), LEASE)
        await two.commit_turn(fresh, turn(conversation()), sec(32))
        stored = await one.get_conversation(BOT, PHONE)
        assert stored is not None
        assert stored.last_inbox_seq == fresh.entry.seq


async def test_a_reopened_store_keeps_what_was_written(backing: StoreFactory) -> None:
    conv = conversation()
    version = FlowVersion("a" * 64, "welcome", "start: a\n", "flows/w.yaml", T0)
    async with backing() as first:
        await first.save_flow_version(version)
        conv = await start(
            first,
            conv,
            outbound=[outbound("s:0")],
            arm=[timer(conv, "t", sec(60))],
            history=[line(conv, "in:s")],
        )
        pending, _ = await first.append_inbound(inbound("m1"))
        sent = await first.get_outbound("s:0")
        transcript = await first.history(conv.id)
    async with backing() as again:
        assert await again.get_flow_version("a" * 64) == version
        assert await again.get_conversation(BOT, PHONE) == conv
        assert await again.get_outbound("s:0") == sent
        assert await again.due_timers(sec(60)) == [timer(conv, "t", sec(60))]
        assert await again.history(conv.id) == transcript
        claim = await claim_one(again)
        assert claim.entry == pending
        await again.commit_turn(claim, turn(bumped(conv, sec(1))), sec(1))
        assert await again.inbox_depth() == 0
