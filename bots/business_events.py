"""What a business's webhook receives (no I/O here; bots/business_webhooks.py posts):
the events a turn gives rise to, the JSON body, its signature, and when to try again.

The signature follows the scheme Stripe made familiar, so that businesses know how to check
it: `Causette-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. Signing the
time with the body lets a receiver refuse a replayed old request (`verify_signature`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from store.business_events_records import BusinessEvent, EventKind, event_id
from store.records import Conversation, ConversationStatus

SIGNATURE_HEADER = "Causette-Signature"
EVENT_HEADER = "Causette-Event"
EVENT_ID_HEADER = "Causette-Event-Id"
SIGNATURE_TOLERANCE = timedelta(minutes=5)
"""How old a signed time `verify_signature` accepts by default."""
FIRST_RETRY = timedelta(seconds=30)
LAST_RETRY = timedelta(hours=1)
"""Retries wait 30 s, 1 min, 2 min… doubling up to an hour between attempts."""


def turn_events(
    before: Conversation | None,
    after: Conversation,
    *,
    seq: int,
    kinds: Collection[EventKind],
    now: datetime,
    handoff_queue: str | None = None,
    reason: str = "flow",
) -> list[BusinessEvent]:
    """The events of a turn that took a conversation from `before` (None: it started now)
    to `after`, among the `kinds` its bot's business asked for. `reason` says why it ended
    (`flow`: the flow reached an end; `opt_out`: the person sent STOP)."""
    if not kinds:  # a bot without a webhook: every turn passes here
        return []
    was = before.status if before is not None else None
    events: list[BusinessEvent] = []
    common: dict[str, Any] = {"state": after.state, "channel": after.channel}
    if after.status is ConversationStatus.ENDED and was is not ConversationStatus.ENDED:
        data: dict[str, Any] = {
            **common,
            "reason": reason,
            "vars": after.vars,
            "started_at": _iso(after.created_at),
        }
        events.append(_event(EventKind.CONVERSATION_ENDED, after.id, after, data, now))
    if after.status is ConversationStatus.HANDED_OFF and was is not ConversationStatus.HANDED_OFF:
        # A conversation may be handed off again after its release: one event each time.
        data = {**common, "queue": handoff_queue, "vars": after.vars}
        subject = f"{after.id}:{seq}"
        events.append(_event(EventKind.HANDOFF_REQUESTED, subject, after, data, now))
    return [event for event in events if event.kind in kinds]


def ping_event(bot_id: str, now: datetime) -> BusinessEvent:
    """`causette webhooks ping`: an event about nobody, to check an endpoint."""
    subject = f"{bot_id}:{now.timestamp():.0f}"
    return BusinessEvent(
        event_id(EventKind.PING, subject), bot_id, EventKind.PING, "", None, {}, now
    )


def body(event: BusinessEvent) -> bytes:
    """The JSON posted: the same bytes on every attempt (the event id lets a receiver drop a
    second delivery, which at-least-once posting may make)."""
    document = {
        "id": event.id,
        "type": event.kind.value,
        "created_at": _iso(event.created_at),
        "bot": event.bot_id,
        "conversation": event.conversation_id,
        "phone": event.phone,
        "data": dict(event.data),
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")


def sign(secret: str, payload: bytes, at: datetime) -> str:
    """The `Causette-Signature` header's value for `payload` sent at `at`."""
    timestamp = int(at.timestamp())
    return f"t={timestamp},v1={_mac(secret, timestamp, payload)}"


def verify_signature(
    secret: str,
    header: str,
    payload: bytes,
    now: datetime,
    tolerance: timedelta = SIGNATURE_TOLERANCE,
) -> bool:
    """What a receiver runs: the header is well formed, signed at most `tolerance` from
    `now`, and one of its `v1` MACs matches (constant-time comparison). Several `v1` are
    allowed so that a key can be rotated without a gap."""
    fields = [part.partition("=") for part in header.split(",")]
    stamps = [value for name, _, value in fields if name.strip() == "t"]
    macs = [value.strip() for name, _, value in fields if name.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not macs:
        return False
    timestamp = int(stamps[0])
    if abs(now.timestamp() - timestamp) > tolerance.total_seconds():
        return False
    expected = _mac(secret, timestamp, payload)
    return any(hmac.compare_digest(expected, mac) for mac in macs)


def retry_delay(attempts: int, rng: random.Random) -> timedelta:
    """The wait after the `attempts`th failed post: doubling from `FIRST_RETRY` up to
    `LAST_RETRY`, with equal jitter so that the retries of one outage do not all come back
    at the same second."""
    ceiling: timedelta = min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LAST_RETRY)
    half = ceiling / 2
    return half + half * rng.random()


def _mac(secret: str, timestamp: int, payload: bytes) -> str:
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _event(
    kind: EventKind,
    subject: str,
    conversation: Conversation,
    data: Mapping[str, Any],
    now: datetime,
) -> BusinessEvent:
    return BusinessEvent(
        event_id(kind, subject),
        conversation.bot_id,
        kind,
        conversation.phone,
        conversation.id,
        data,
        now,
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat()
