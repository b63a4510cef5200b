"""Contract: flow versions, and conversations written by turns and by updates."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from store.base import Store, VersionConflict
from store.records import ConversationStatus, FlowVersion, InboxSource
from tests.store import (
    BOT,
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
    step,
    timer,
    turn,
)

ACTIVE = ConversationStatus.ACTIVE
HANDED_OFF = ConversationStatus.HANDED_OFF
ENDED = ConversationStatus.ENDED


# --- flow versions -------------------------------------------------------------------------


async def test_a_saved_flow_version_reads_back(store: Store) -> None:
    version = FlowVersion("a" * 64, "welcome", "start: accueil  # café\n", "flows/w.yaml", T0)
    await store.save_flow_version(version)
    assert await store.get_flow_version("a" * 64) == version
    assert await store.get_flow_version("b" * 64) is None


async def test_saving_a_flow_version_again_keeps_the_first(store: Store) -> None:
    version = FlowVersion("a" * 64, "welcome", "start: a\n", "flows/w.yaml", T0)
    await store.save_flow_version(version)
    await store.save_flow_version(
        replace(version, source="other", path="x.yaml", created_at=sec(9))
    )
    assert await store.get_flow_version("a" * 64) == version


# --- creation and compare-and-set ----------------------------------------------------------


async def test_a_turn_creates_the_conversation_at_version_1(store: Store) -> None:
    conv = conversation()
    entry, _ = await store.append_inbound(inbound(source=InboxSource.START))
    await store.commit_turn(await claim_one(store), turn(conv), T0)
    stored = replace(conv, last_inbox_seq=entry.seq)
    assert await store.get_conversation(BOT, PHONE) == stored
    assert await store.get_conversation_by_id("conv-1") == stored
    got = await store.get_conversation_by_id("conv-1")
    assert got is not None
    assert (got.created_at.utcoffset(), got.updated_at.utcoffset()) == (timedelta(0),) * 2


async def test_unknown_conversations_read_as_none(store: Store) -> None:
    await start(store, conversation())
    assert await store.get_conversation(BOT, PHONES[1]) is None
    assert await store.get_conversation("bot-b", PHONE) is None
    assert await store.get_conversation_by_id("conv-2") is None


async def test_a_turn_replaces_the_conversation_with_the_next_version(store: Store) -> None:
    conv = await start(store, conversation())
    after = bumped(conv, sec(5), state="ask_city", vars={"name": "Zoé"}, attempts=1, epoch=3)
    stored = await step(store, after, now=sec(5))
    assert stored.version == 2
    assert stored.last_inbox_seq > conv.last_inbox_seq
    assert await store.get_conversation(BOT, PHONE) == stored
    third = await step(store, bumped(stored, sec(6), state="done"), now=sec(6))
    assert await store.get_conversation_by_id("conv-1") == third


@pytest.mark.parametrize("version", [1, 2, 4], ids=["create-again", "same", "skipping"])
async def test_a_turn_on_a_stale_version_conflicts_and_writes_nothing(
    store: Store, version: int
) -> None:
    conv = conversation()
    conv = await start(store, conv, outbound=[outbound("s:0")], arm=[timer(conv, "t", sec(60))])
    conv = await step(store, bumped(conv, sec(1)), history=[line(conv, "h1")])  # version 2
    await store.append_inbound(inbound("late"))
    before = await everything(store, conv)
    claim = await claim_one(store, now=sec(2))
    stale = replace(conv, version=version, state="elsewhere")
    write = turn(
        stale,
        outbound=[outbound("late:0")],
        arm=[timer(conv, "t2", sec(90))],
        cancel=[timer(conv, "t", sec(60)).id],
        history=[line(conv, "late")],
    )
    with pytest.raises(VersionConflict):
        await store.commit_turn(claim, write, sec(2))
    assert await everything(store, conv) == before
    assert await store.get_outbound("late:0") is None


async def test_after_a_version_conflict_the_claim_still_holds_its_event(store: Store) -> None:
    conv = await start(store, conversation())
    entry, _ = await store.append_inbound(inbound("m1"))
    claim = await claim_one(store)
    with pytest.raises(VersionConflict):
        await store.commit_turn(claim, turn(conv), T0)
    assert await store.claim("w2", T0, timedelta(seconds=30)) is None
    await store.release(claim)
    again = await claim_one(store, "w2")
    assert again.entry == entry


async def test_a_new_conversation_must_start_at_version_1(store: Store) -> None:
    await store.append_inbound(inbound(source=InboxSource.START))
    claim = await claim_one(store)
    with pytest.raises(VersionConflict):
        await store.commit_turn(claim, turn(replace(conversation(), version=2)), T0)
    assert await store.get_conversation_by_id("conv-1") is None
    assert await store.inbox_depth() == 1


# --- one live conversation per bot and phone -----------------------------------------------


async def test_a_second_live_conversation_for_a_bot_and_phone_conflicts(store: Store) -> None:
    first = await start(store, conversation("conv-1"))
    await store.append_inbound(inbound(source=InboxSource.START))
    claim = await claim_one(store)
    with pytest.raises(VersionConflict):
        await store.commit_turn(claim, turn(conversation("conv-2")), T0)
    assert await store.get_conversation(BOT, PHONE) == first
    assert await store.get_conversation_by_id("conv-2") is None


async def test_live_conversations_are_per_bot_and_phone(store: Store) -> None:
    one = await start(store, conversation("conv-1"))
    other_phone = await start(store, conversation("conv-2", phone=PHONES[1]))
    other_bot = await start(store, conversation("conv-3", bot="bot-b"))
    assert await store.get_conversation(BOT, PHONE) == one
    assert await store.get_conversation(BOT, PHONES[1]) == other_phone
    assert await store.get_conversation("bot-b", PHONE) == other_bot


async def test_a_new_conversation_may_start_after_the_previous_ended(store: Store) -> None:
    first = await start(store, conversation("conv-1"))
    first = await step(store, bumped(first, sec(1), status=ENDED), now=sec(1))
    assert await store.get_conversation(BOT, PHONE) is None
    assert await store.get_conversation_by_id("conv-1") == first
    second = await start(store, conversation("conv-2", created_at=sec(2)), now=sec(2))
    assert await store.get_conversation(BOT, PHONE) == second
    second = await step(store, bumped(second, sec(3), status=ENDED), now=sec(3))
    third = await start(store, conversation("conv-3", created_at=sec(4)), now=sec(4))
    assert await store.get_conversation(BOT, PHONE) == third
    ended = await store.list_conversations(BOT, statuses=frozenset({ENDED}))
    assert ended == [first, second]


async def test_a_handed_off_conversation_is_the_live_one(store: Store) -> None:
    conv = await start(store, conversation(status=HANDED_OFF))
    assert await store.get_conversation(BOT, PHONE) == conv


# --- listing -------------------------------------------------------------------------------


async def test_list_conversations_filters_and_orders_oldest_first(store: Store) -> None:
    # Written out of creation order: the list follows `created_at`, not arrival.
    late = await start(store, conversation("late", phone=PHONES[0], created_at=sec(30)))
    early = await start(
        store, conversation("early", phone=PHONES[1], created_at=sec(10), flow_hash="hash-2")
    )
    handed = await start(
        store, conversation("handed", phone=PHONES[2], created_at=sec(20), status=HANDED_OFF)
    )
    ended = await start(store, conversation("ended", phone=PHONES[3], created_at=sec(5)))
    ended = await step(store, bumped(ended, sec(40), status=ENDED), now=sec(40))
    other = await start(store, conversation("other", bot="bot-b", phone=PHONES[0]))

    assert await store.list_conversations(BOT) == [early, handed, late]
    assert await store.list_conversations(BOT, flow_hash="hash-1") == [handed, late]
    assert await store.list_conversations(BOT, flow_hash="hash-3") == []
    assert await store.list_conversations(BOT, statuses=frozenset({ENDED})) == [ended]
    every = await store.list_conversations(BOT, statuses=frozenset(ConversationStatus))
    assert every == [ended, early, handed, late]
    assert await store.list_conversations(BOT, statuses=frozenset({ACTIVE})) == [early, late]
    assert await store.list_conversations(BOT, limit=2) == [early, handed]
    assert await store.list_conversations("bot-b") == [other]
    assert await store.list_conversations("bot-c") == []


# --- updates outside a turn ----------------------------------------------------------------


async def test_update_conversation_replaces_with_the_next_version(store: Store) -> None:
    conv = await start(store, conversation(status=HANDED_OFF))
    released = bumped(conv, sec(9), status=ACTIVE, state="menu", flow_hash="hash-2")
    await store.update_conversation(released)
    assert await store.get_conversation(BOT, PHONE) == released
    # A turn that read the conversation before the update is now stale.
    await store.append_inbound(inbound("m1"))
    claim = await claim_one(store)
    with pytest.raises(VersionConflict):
        await store.commit_turn(claim, turn(bumped(conv, sec(10))), sec(10))
    await store.commit_turn(claim, turn(bumped(released, sec(10))), sec(10))
    stored = await store.get_conversation_by_id("conv-1")
    assert stored is not None
    assert (stored.version, stored.last_inbox_seq) == (3, claim.entry.seq)


async def test_update_conversation_cannot_make_a_second_live_conversation(store: Store) -> None:
    first = await start(store, conversation("conv-1"))
    first = await step(store, bumped(first, sec(1), status=ENDED), now=sec(1))
    second = await start(store, conversation("conv-2", created_at=sec(2)), now=sec(2))
    with pytest.raises(VersionConflict):
        await store.update_conversation(bumped(first, sec(3), status=ACTIVE))
    assert await store.get_conversation(BOT, PHONE) == second
    assert await store.get_conversation_by_id("conv-1") == first


@pytest.mark.parametrize("version", [1, 3])
async def test_update_conversation_on_a_stale_version_conflicts(store: Store, version: int) -> None:
    conv = await start(store, conversation())
    with pytest.raises(VersionConflict):
        await store.update_conversation(replace(conv, version=version, state="elsewhere"))
    assert await store.get_conversation_by_id("conv-1") == conv


@pytest.mark.parametrize("version", [1, 2])
async def test_update_conversation_of_an_unknown_one_conflicts(store: Store, version: int) -> None:
    with pytest.raises(VersionConflict):
        await store.update_conversation(replace(conversation(), version=version))
    assert await store.get_conversation_by_id("conv-1") is None


# --- pages and writes of the admin API -----------------------------------------------------


async def test_conversations_after_pages_by_creation_then_id(store: Store) -> None:
    # Two created at the same instant: the id breaks the tie, on every backend.
    b = await start(store, conversation("b", phone=PHONES[0], created_at=sec(10)))
    a = await start(store, conversation("a", phone=PHONES[1], created_at=sec(10)))
    first = await start(store, conversation("z", phone=PHONES[2], created_at=sec(5)))
    ended = await start(store, conversation("e", phone=PHONES[3], created_at=sec(20)))
    ended = await step(store, bumped(ended, sec(30), status=ENDED), now=sec(30))
    await start(store, conversation("x", bot="bot-b", phone=PHONES[4]))

    assert await store.conversations_after(BOT) == [first, a, b]
    assert await store.conversations_after(BOT, limit=2) == [first, a]
    assert await store.conversations_after(BOT, after=(sec(10), "a")) == [b]
    assert await store.conversations_after(BOT, after=(sec(10), "b")) == []
    every = frozenset(ConversationStatus)
    assert await store.conversations_after(BOT, statuses=every, after=(sec(5), "z")) == [
        a,
        b,
        ended,
    ]
    assert await store.conversations_after(BOT, statuses=frozenset({ENDED})) == [ended]
    assert await store.conversations_after(BOT, limit=0) == []


async def test_write_conversation_writes_it_with_its_messages_and_lines(store: Store) -> None:
    conv = await start(store, conversation(status=HANDED_OFF))
    after = bumped(conv, sec(5))
    said = line(after, "human:1", sec(5))
    await store.write_conversation(after, [outbound("k-h1", due_at=sec(5))], [said], sec(5))
    assert await store.get_conversation_by_id(conv.id) == after
    entry = await store.get_outbound("k-h1")
    assert entry is not None
    assert (entry.conversation_id, entry.phone, entry.created_at) == (conv.id, PHONE, sec(5))
    assert await store.history(conv.id) == [said]
    # The same keys again (a retried request) keep the first.
    again = bumped(after, sec(6))
    changed = [outbound("k-h1", content={"text": "other"})]
    await store.write_conversation(again, changed, [line(again, "human:1", sec(6))], sec(6))
    assert await store.get_outbound("k-h1") == entry
    assert await store.history(conv.id) == [said]


async def test_write_conversation_on_a_stale_version_writes_nothing(store: Store) -> None:
    conv = await start(store, conversation(status=HANDED_OFF))
    with pytest.raises(VersionConflict):
        await store.write_conversation(
            replace(conv, version=3), [outbound("k")], [line(conv, "l")], sec(1)
        )
    assert await store.get_conversation_by_id(conv.id) == conv
    assert await store.get_outbound("k") is None
    assert await store.history(conv.id) == []


async def test_a_turn_read_before_write_conversation_conflicts(store: Store) -> None:
    conv = await start(store, conversation(status=HANDED_OFF))
    await store.append_inbound(inbound("m1"))
    claim = await claim_one(store)  # a worker read `conv` and runs its turn...
    released = bumped(conv, sec(2), status=ACTIVE)
    await store.write_conversation(released, [], [line(released, "release")], sec(2))
    with pytest.raises(VersionConflict):  # ...and its write is refused: it handles it again
        await store.commit_turn(claim, turn(bumped(conv, sec(3)), outbound=[outbound("o")]), sec(3))
    assert await store.get_outbound("o") is None
    await store.release(claim)
    assert await store.get_conversation_by_id(conv.id) == released
