"""Contract: what a turn writes besides the conversation (outbound, history, timers), replays,
and firing timers."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from store.base import LeaseLost, Store
from store.records import (
    Direction,
    InboxSource,
    NewInbound,
    OutboxEntry,
    OutboxStatus,
    TimerRecord,
)
from tests.store import (
    BOT,
    FAR,
    PHONE,
    PHONES,
    T0,
    bumped,
    claim_one,
    conversation,
    depth,
    inbound,
    line,
    outbound,
    sec,
    start,
    step,
    timer,
    turn,
)

# --- outbound and replays ------------------------------------------------------------------


async def test_a_turn_queues_its_outbound_entries(store: Store) -> None:
    conv = conversation()
    content = {"text": "Bonjour Zoé ✨", "suggestions": [{"reply": "Oui", "data": "yes"}]}
    first, second = outbound("s:0", content=content), outbound("s:1", due_at=sec(90))
    await start(store, conv, outbound=[first, second], now=sec(2))
    got = await store.get_outbound("s:0")
    assert got is not None
    queued = {"at": sec(2).isoformat(), "status": "queued", "detail": None, "channel": None}
    assert got == OutboxEntry(
        "s:0",
        "conv-1",
        BOT,
        PHONE,
        content,
        "rcs",
        OutboxStatus.QUEUED,
        T0,
        sec(2),
        0,
        None,
        [queued],
    )
    assert got.attempts == 0
    assert got.provider_id is None
    assert got.history == [queued]  # every history starts with the queueing
    assert (got.due_at.utcoffset(), got.created_at.utcoffset()) == (timedelta(0),) * 2
    later = await store.get_outbound("s:1")
    assert later is not None
    assert (later.due_at, later.status) == (sec(90), OutboxStatus.QUEUED)
    assert await store.get_outbound("s:2") is None


async def test_a_replayed_turn_keeps_the_first_outbound_and_history(store: Store) -> None:
    conv = conversation()
    conv = await start(
        store,
        conv,
        outbound=[outbound("1:0", content={"text": "Bonjour"}), outbound("1:1")],
        history=[line(conv, "in:1", body={"text": "first"}), line(conv, "out:1:0", sec(1))],
    )
    await store.mark_outbound("1:0", OutboxStatus.SENT, sec(5), provider_id="rbm-1")
    sent = await store.get_outbound("1:0")
    queued = await store.get_outbound("1:1")
    await step(
        store,
        bumped(conv, sec(6)),
        now=sec(6),
        outbound=[outbound("1:0", content={"text": "changed"}), outbound("1:1"), outbound("2:0")],
        history=[line(conv, "in:1", sec(6), body={"text": "replayed"}), line(conv, "in:2", sec(6))],
    )
    assert await store.get_outbound("1:0") == sent
    assert await store.get_outbound("1:1") == queued
    new = await store.get_outbound("2:0")
    assert new is not None
    assert new.created_at == sec(6)
    assert await store.outbox_depth() == depth(sent=1, queued=2)
    transcript = await store.history(conv.id)
    assert [(h.key, h.body) for h in transcript] == [
        ("in:1", {"text": "first"}),
        ("out:1:0", {"k": "out:1:0"}),
        ("in:2", {"k": "in:2"}),
    ]


async def test_equal_keys_within_one_turn_keep_the_first(store: Store) -> None:
    conv = conversation()
    await start(
        store,
        conv,
        outbound=[outbound("k", content={"n": 1}), outbound("k", content={"n": 2})],
        history=[line(conv, "h", body={"n": 1}), line(conv, "h", sec(1), body={"n": 2})],
    )
    got = await store.get_outbound("k")
    assert got is not None
    assert got.content == {"n": 1}
    assert [(h.key, h.body) for h in await store.history(conv.id)] == [("h", {"n": 1})]


# --- history -------------------------------------------------------------------------------


async def test_history_is_the_transcript_oldest_first(store: Store) -> None:
    conv, other = conversation(), conversation("conv-2", phone=PHONES[1])
    in1 = line(conv, "in:1", T0, direction=Direction.IN, body={"text": "Salut ça va ?"})
    out1 = line(conv, "out:1:0", sec(1))
    in2, out2 = line(conv, "in:2", sec(10), direction=Direction.IN), line(conv, "out:2:0", sec(11))
    in3 = line(conv, "in:3", sec(5), direction=Direction.IN)  # received before turn 2 was written
    conv = await start(store, conv, history=[in1, out1])
    await start(store, other, history=[line(other, "in:x", sec(2))])
    conv = await step(store, bumped(conv, sec(11)), history=[in2, out2])
    await step(store, bumped(conv, sec(12)), history=[in3])
    transcript = await store.history("conv-1")
    assert transcript == [in1, out1, in3, in2, out2]
    assert transcript[0].at.utcoffset() == timedelta(0)
    assert await store.history("conv-1", limit=2) == [in1, out1]
    assert await store.history("conv-3") == []


async def test_history_lines_of_one_instant_keep_their_written_order(store: Store) -> None:
    # Keys whose text order differs from the written one: "out:1:10" sorts before "out:1:2".
    conv = conversation()
    lines = [line(conv, "in:1", sec(1), direction=Direction.IN)]
    lines += [line(conv, f"out:1:{n}", sec(1)) for n in range(12)]
    await start(store, conv, history=lines)
    assert await store.history(conv.id) == lines


# --- timers --------------------------------------------------------------------------------


async def test_due_timers_lists_armed_timers_due_soonest_first(store: Store) -> None:
    conv, other = conversation(), conversation("conv-2", phone=PHONES[1])
    soon, late = timer(conv, "soon", sec(3600)), timer(conv, "late", sec(7200))
    middle = timer(other, "middle", sec(5400))
    await start(store, conv, arm=[late, soon])
    await start(store, other, arm=[middle])
    assert await store.due_timers(sec(3599)) == []
    assert await store.due_timers(sec(3600)) == [soon]  # at `now` is due
    assert await store.due_timers(FAR) == [soon, middle, late]
    assert await store.due_timers(FAR, limit=2) == [soon, middle]
    assert await store.next_timer_due() == sec(3600)
    due = await store.next_timer_due()
    assert due is not None
    assert due.utcoffset() == timedelta(0)


async def test_next_timer_due_is_none_without_timers(store: Store) -> None:
    assert await store.next_timer_due() is None
    await start(store, conversation())
    assert await store.next_timer_due() is None


async def test_arming_the_same_timer_id_replaces_it(store: Store) -> None:
    conv = conversation()
    conv = await start(store, conv, arm=[timer(conv, "t", sec(3600))])
    await step(store, bumped(conv, sec(1)), arm=[timer(conv, "t", sec(60))])
    assert await store.due_timers(FAR) == [timer(conv, "t", sec(60))]
    assert await store.next_timer_due() == sec(60)


async def test_a_turn_cancels_timers_by_id(store: Store) -> None:
    conv = conversation()
    first, second = timer(conv, "a", sec(60)), timer(conv, "b", sec(120))
    conv = await start(store, conv, arm=[first, second])
    conv = await step(store, bumped(conv, sec(1)), cancel=[first.id, "conv-1/unknown"])
    assert await store.due_timers(FAR) == [second]
    await step(store, bumped(conv, sec(2)), cancel=[second.id])
    assert await store.due_timers(FAR) == []
    assert await store.next_timer_due() is None


def _timer_event(fired: TimerRecord) -> NewInbound:
    body = {"kind": "timer", "conversation_id": fired.conversation_id, "key": fired.key}
    return NewInbound(InboxSource.TIMER, fired.id, fired.bot_id, fired.phone, body, fired.due_at)


async def test_fire_timer_appends_its_event_once_and_removes_the_timer(store: Store) -> None:
    conv = conversation()
    fired, kept = timer(conv, "t", sec(60)), timer(conv, "u", sec(600))
    await start(store, conv, arm=[fired, kept])
    assert await store.fire_timer(fired, _timer_event(fired)) is True
    assert await store.due_timers(FAR) == [kept]
    assert await store.inbox_depth() == 1
    assert await store.fire_timer(fired, _timer_event(fired)) is False
    assert await store.inbox_depth() == 1
    claim = await claim_one(store, now=sec(61))
    assert (claim.entry.source, claim.entry.provider_id) == (InboxSource.TIMER, "conv-1/t")
    assert claim.entry.event == _timer_event(fired).event
    assert claim.entry.received_at == sec(60)


async def test_fire_timer_of_an_event_already_appended_only_removes_it(store: Store) -> None:
    conv = conversation()
    fired = timer(conv, "t", sec(60))
    await start(store, conv, arm=[fired])
    await store.append_inbound(_timer_event(fired))
    assert await store.fire_timer(fired, _timer_event(fired)) is False
    assert await store.due_timers(FAR) == []
    assert await store.inbox_depth() == 1


async def test_a_fired_timer_event_goes_after_earlier_events(store: Store) -> None:
    conv = conversation()
    fired = timer(conv, "t", sec(60))
    await start(store, conv, arm=[fired])
    earlier, _ = await store.append_inbound(inbound("m1", received_at=sec(61)))
    await store.fire_timer(fired, _timer_event(fired))
    assert (await claim_one(store, now=sec(62))).entry == earlier


async def test_a_timer_re_armed_since_it_was_read_survives_its_firing(store: Store) -> None:
    conv = conversation()
    read = timer(conv, "t", sec(60))
    conv = await start(store, conv, arm=[read])
    await step(store, bumped(conv, sec(1)), arm=[timer(conv, "t", sec(600))])
    await store.fire_timer(read, _timer_event(read))
    assert await store.due_timers(FAR) == [timer(conv, "t", sec(600))]


async def test_a_timer_both_cancelled_and_armed_in_one_turn_ends_armed(store: Store) -> None:
    conv = conversation()
    conv = await start(store, conv, arm=[timer(conv, "t", sec(60))])
    again = timer(conv, "t", sec(120))
    await step(store, bumped(conv, sec(1)), cancel=[again.id], arm=[again])
    assert await store.due_timers(FAR) == [again]


async def test_concurrent_turns_commit_independently(store: Store) -> None:
    # Turns committing at once may share a transaction (group commit): one refused turn must
    # take nothing of the others with it.
    good, stale = conversation("conv-a", phone=PHONES[0]), conversation("conv-b", phone=PHONES[1])
    await store.append_inbound(inbound(phone=good.phone, source=InboxSource.START))
    await store.append_inbound(inbound(phone=stale.phone, source=InboxSource.START))
    first = await claim_one(store, "w1")
    second = await claim_one(store, "w2")
    await store.release(second)  # `second` is stale now: its commit must fail alone
    outcomes = await asyncio.gather(
        store.commit_turn(first, turn(good, outbound=[outbound("a:0")]), T0),
        store.commit_turn(second, turn(stale, outbound=[outbound("b:0")]), T0),
        return_exceptions=True,
    )
    assert outcomes[0] is None
    assert isinstance(outcomes[1], LeaseLost)
    assert await store.get_outbound("a:0") is not None
    assert await store.get_outbound("b:0") is None
    assert await store.get_conversation(BOT, stale.phone) is None
