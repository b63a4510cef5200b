"""The store contract suite: one set of behaviour tests that every `Store` must pass.

Shared here: fixed instants (the suite never reads a clock nor sleeps: leases expire by
passing a later `now`), record factories, and drivers for the turns most tests start from.
Times are whole seconds because MongoDB keeps milliseconds.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from store.base import Store
from store.records import (
    Claim,
    Conversation,
    ConversationStatus,
    Direction,
    HistoryEntry,
    InboxEntry,
    InboxSource,
    NewInbound,
    NewOutbound,
    OutboxEntry,
    OutboxStatus,
    TimerRecord,
    TurnWrite,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
FAR = T0 + timedelta(days=365)
BOT = "bot-a"
PHONE = "+33612345678"
PHONES = tuple(f"+3361234560{n}" for n in range(10))

StoreFactory = Callable[[], Store]
"""Makes an unopened store over the test's one database: each call stands for a process."""

_ids = itertools.count(1)


def sec(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def inbound(
    provider_id: str | None = None,
    *,
    bot: str = BOT,
    phone: str = PHONE,
    source: InboxSource = InboxSource.SMSMODE,
    received_at: datetime = T0,
    event: dict[str, Any] | None = None,
) -> NewInbound:
    provider_id = provider_id or f"msg-{next(_ids)}"
    body = event if event is not None else {"kind": "inbound", "text": f"text of {provider_id}"}
    return NewInbound(source, provider_id, bot, phone, body, received_at)


def conversation(
    conversation_id: str = "conv-1",
    *,
    bot: str = BOT,
    phone: str = PHONE,
    status: ConversationStatus = ConversationStatus.ACTIVE,
    flow_hash: str = "hash-1",
    created_at: datetime = T0,
) -> Conversation:
    """Version 1 of a conversation; `last_inbox_seq` 0, which the store must overwrite."""
    return Conversation(
        id=conversation_id,
        bot_id=bot,
        phone=phone,
        flow_id="welcome",
        flow_hash=flow_hash,
        state="ask_name",
        vars={"prénom": "Zoé", "score": 2.5, "tags": ["vip", None, True], "n": {"a": 1}},
        choices=[{"number": 1, "label": "Oui ✅", "payload": "yes"}],
        status=status,
        attempts=0,
        epoch=0,
        contact={"first_name": "Zoé", "city": "Besançon"},
        channel="rcs",
        version=1,
        last_inbox_seq=0,
        created_at=created_at,
        updated_at=created_at,
    )


def bumped(conv: Conversation, now: datetime, **changes: Any) -> Conversation:
    """The next version of a conversation, as a turn or an update writes it."""
    return replace(conv, version=conv.version + 1, updated_at=now, **changes)


def outbound(
    key: str, *, due_at: datetime = T0, content: dict[str, Any] | None = None
) -> NewOutbound:
    body = content if content is not None else {"text": f"message {key}"}
    return NewOutbound(key=key, content=body, channel="rcs", due_at=due_at)


def timer(conv: Conversation, key: str, due_at: datetime) -> TimerRecord:
    return TimerRecord(f"{conv.id}/{key}", conv.id, conv.bot_id, conv.phone, key, due_at)


def line(
    conv: Conversation,
    key: str,
    at: datetime = T0,
    *,
    direction: Direction = Direction.OUT,
    body: dict[str, Any] | None = None,
) -> HistoryEntry:
    return HistoryEntry(key, conv.id, direction, body if body is not None else {"k": key}, at)


def turn(
    conv: Conversation,
    *,
    outbound: Sequence[NewOutbound] = (),
    arm: Sequence[TimerRecord] = (),
    cancel: Sequence[str] = (),
    history: Sequence[HistoryEntry] = (),
) -> TurnWrite:
    return TurnWrite(conv, list(outbound), list(arm), list(cancel), list(history))


async def claim_one(store: Store, owner: str = "w1", now: datetime = T0) -> Claim:
    claim = await store.claim(owner, now, LEASE)
    assert claim is not None
    return claim


async def handle(
    store: Store, write: TurnWrite, *, now: datetime = T0, source: InboxSource | None = None
) -> InboxEntry:
    """Append one event for the written conversation, claim it and commit `write` for it."""
    c = write.conversation
    kind = source or (InboxSource.START if c.version == 1 else InboxSource.SMSMODE)
    entry, _ = await store.append_inbound(inbound(bot=c.bot_id, phone=c.phone, source=kind))
    claim = await claim_one(store, now=now)
    assert claim.entry == entry, "an older event was still pending"
    await store.commit_turn(claim, write, now)
    return entry


async def start(
    store: Store,
    conv: Conversation,
    *,
    now: datetime = T0,
    outbound: Sequence[NewOutbound] = (),
    arm: Sequence[TimerRecord] = (),
    history: Sequence[HistoryEntry] = (),
) -> Conversation:
    """Create `conv` through a committed turn; returns it as stored."""
    entry = await handle(store, turn(conv, outbound=outbound, arm=arm, history=history), now=now)
    return replace(conv, last_inbox_seq=entry.seq)


async def step(
    store: Store,
    after: Conversation,
    *,
    now: datetime = T0,
    outbound: Sequence[NewOutbound] = (),
    arm: Sequence[TimerRecord] = (),
    cancel: Sequence[str] = (),
    history: Sequence[HistoryEntry] = (),
) -> Conversation:
    """Handle one more event of a conversation, writing `after`; returns it as stored."""
    write = turn(after, outbound=outbound, arm=arm, cancel=cancel, history=history)
    entry = await handle(store, write, now=now)
    return replace(after, last_inbox_seq=entry.seq)


async def everything(store: Store, conv: Conversation) -> dict[str, Any]:
    """What a turn can change, to show that a refused one changed nothing."""
    return {
        "conversation": await store.get_conversation_by_id(conv.id),
        "live": await store.get_conversation(conv.bot_id, conv.phone),
        "history": await store.history(conv.id),
        "timers": await store.due_timers(FAR, limit=1000),
        "next_timer": await store.next_timer_due(),
        "outbox": await store.outbox_depth(),
        "inbox": await store.inbox_depth(),
    }


def depth(**counts: int) -> dict[OutboxStatus, int]:
    return {OutboxStatus(status): n for status, n in counts.items()}


async def queue(
    store: Store, *items: tuple[str, int], conv: Conversation | None = None
) -> list[OutboxEntry]:
    """Queue outbound entries `(key, due second)` through the turn that starts `conv` (by
    default `conversation()`); returns them as stored."""
    entries = [outbound(key, due_at=sec(due)) for key, due in items]
    await start(store, conv or conversation(), outbound=entries)
    stored = [await store.get_outbound(key) for key, _ in items]
    assert None not in stored
    return [entry for entry in stored if entry is not None]


def other(n: int) -> Conversation:
    """The `n`th of several conversations, each with a phone of its own."""
    return conversation(f"conv-{n}", phone=PHONES[n])
