"""Between the engine's vocabulary and the store's records: snapshots, events, outcomes.

The store keeps JSON-able records and knows nothing of flows; the engine works on `Snapshot`
and events. This module is the only place that translates, so both sides stay ignorant of
each other (DESIGN.md: `store/` imports only `messaging/`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from flows.conversation import Event, Received, Snapshot, Start, Status, StepResult, TimerFired
from messaging.choices import ChoiceMap
from messaging.content import Content
from store.events import inbound_message
from store.records import (
    Conversation,
    ConversationStatus,
    Direction,
    HistoryEntry,
    InboxEntry,
    NewOutbound,
    TimerRecord,
    TurnWrite,
)


def engine_event(entry: InboxEntry) -> Event:
    """The engine event an inbox entry stands for; ValueError for a malformed one."""
    kind = entry.event.get("kind")
    if kind == "start":
        return Start()
    if kind == "inbound":
        return Received(inbound_message(entry.event))
    if kind == "timer":
        return TimerFired(str(entry.event["key"]))
    raise ValueError(f"inbox entry {entry.seq} has an unknown event kind {kind!r}")


def snapshot_of(conversation: Conversation) -> Snapshot:
    return Snapshot(
        state=conversation.state,
        vars=dict(conversation.vars),
        choices=ChoiceMap.model_validate({"choices": conversation.choices}),
        status=Status(conversation.status.value),
        attempts=conversation.attempts,
        epoch=conversation.epoch,
    )


def with_snapshot(
    conversation: Conversation, snapshot: Snapshot, *, seq: int, now: datetime
) -> Conversation:
    """The conversation after a turn: the new snapshot, version bumped, `seq` applied."""
    return replace(
        conversation,
        state=snapshot.state,
        vars=dict(snapshot.vars),
        choices=snapshot.choices.model_dump(mode="json")["choices"],
        status=ConversationStatus(snapshot.status.value),
        attempts=snapshot.attempts,
        epoch=snapshot.epoch,
        version=conversation.version + 1,
        last_inbox_seq=seq,
        updated_at=now,
    )


def turn_write(
    before: Conversation,
    after: Conversation,
    entry: InboxEntry,
    results: list[StepResult],
    now: datetime,
) -> TurnWrite:
    """Everything a handled entry changes. Keys derive from the entry's `seq`, so a replay of
    the same entry writes the same keys and the store keeps the first."""
    contents: list[Content] = [content for result in results for content in result.messages]
    send_at = entry.event.get("send_at") if entry.event.get("kind") == "start" else None
    # An answer to the person's own message (exempt from quiet hours, sms.md §3.3).
    reply = entry.event.get("kind") == "inbound"
    due = max(now, datetime.fromisoformat(send_at)) if send_at else now
    outbound = [
        NewOutbound(
            key=outbox_key(entry.seq, index),
            content=content.model_dump(mode="json", exclude_unset=True),
            channel=after.channel,
            due_at=due,
            reply=reply,
        )
        for index, content in enumerate(contents)
    ]
    history = [
        HistoryEntry(f"in:{entry.seq}", after.id, Direction.IN, entry.event, entry.received_at)
    ]
    history.extend(
        HistoryEntry(f"out:{item.key}", after.id, Direction.OUT, item.content, now)
        for item in outbound
    )
    armed: dict[str, datetime] = {}
    cancelled: set[str] = set()
    for result in results:  # in order: a later step may re-arm what an earlier one cancelled
        for key in result.cancel:
            armed.pop(key, None)
            cancelled.add(key)
        for timer in result.arm:
            armed[timer.key] = timer.due
            cancelled.discard(timer.key)
    return TurnWrite(
        conversation=after,
        outbound=outbound,
        arm=[
            TimerRecord(timer_id(after.id, key), after.id, after.bot_id, after.phone, key, due)
            for key, due in armed.items()
        ],
        cancel=[timer_id(before.id, key) for key in sorted(cancelled)],
        history=history,
    )


def outbox_key(seq: int, index: int) -> str:
    """`000000000042:003`: the key of the 4th message produced by inbox entry 42.

    Stores send a conversation's messages in key order when they share a due time, so the
    numbers are padded: unpadded, `42:10` would go before `42:2`, and `100:0` before `99:0`.
    """
    return f"{seq:012d}:{index:03d}"


def timer_id(conversation_id: str, key: str) -> str:
    return f"{conversation_id}/{key}"


def notice_write(
    before: Conversation, after: Conversation, entry: InboxEntry, text: str | None, now: datetime
) -> TurnWrite:
    """A turn the sending rules answer instead of the flow (STOP, START): `after` is written,
    with `text` sent as a transactional reply when given (R26)."""
    outbound = []
    if text is not None:
        outbound.append(
            NewOutbound(
                key=outbox_key(entry.seq, 0),
                content={"text": text},
                channel=after.channel,
                due_at=now,
                traffic="transactional",
                reply=True,
            )
        )
    history = [
        HistoryEntry(f"in:{entry.seq}", after.id, Direction.IN, entry.event, entry.received_at)
    ]
    history.extend(
        HistoryEntry(f"out:{item.key}", after.id, Direction.OUT, item.content, now)
        for item in outbound
    )
    return TurnWrite(after, outbound, [], [], history)
