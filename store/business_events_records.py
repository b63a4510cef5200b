"""What the store keeps of the events a business's own systems are told about by webhook
(`bots/business_webhooks.py` posts them): a conversation ended, a handoff requested, a message
that could not be delivered.

The store writes an event in the same unit as the fact it reports (a turn's commit, the
outbound status change), so that no fact is told twice and none is lost between the two; the
webhook loop then claims due events, posts them and records the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    CONVERSATION_ENDED = "conversation.ended"
    HANDOFF_REQUESTED = "handoff.requested"
    MESSAGE_FAILED = "message.failed"
    PING = "ping"
    """`causette webhooks ping`: checks a business's endpoint and secret."""


class EventStatus(StrEnum):
    PENDING = "pending"
    """To post (again) at `next_at`."""
    DELIVERED = "delivered"
    """The business's endpoint answered 2xx."""
    FAILED = "failed"
    """Given up: refused for good (410) or still undelivered when it grew too old."""
    DROPPED = "dropped"
    """Its bot has no webhook (or does not take this kind): nothing posted."""


def event_id(kind: EventKind, subject: str) -> str:
    """The id, derived from what the event is about: writing it twice keeps one."""
    return f"{kind.value}:{subject}"


@dataclass(frozen=True, slots=True)
class BusinessEvent:
    id: str
    bot_id: str
    kind: EventKind
    phone: str
    """The person's E.164 number (the business's customer: it is in the payload they get;
    erasure removes the event)."""
    conversation_id: str | None
    data: Mapping[str, Any]
    """The kind's own fields, as posted under `data`."""
    created_at: datetime
    status: EventStatus = EventStatus.PENDING
    attempts: int = 0
    next_at: datetime | None = None
    """When a pending event is due (None: at once); a claim pushes it past its lease."""
    last_error: str | None = None
    """The last attempt's failure, for `causette webhooks events`."""
    settled_at: datetime | None = None
    """When it was delivered, failed for good or dropped."""
