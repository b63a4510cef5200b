"""What the store keeps, as plain typed records (JSON-able values inside).

The store knows nothing of flows: a conversation's state is kept as the fields the runtime
gives it (state name, variables, the choice map as JSON...), so that `store/` imports only
`messaging/`, as DESIGN.md's house requires.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from store.business_events_records import BusinessEvent


class ConversationStatus(StrEnum):
    ACTIVE = "active"
    HANDED_OFF = "handed_off"
    ENDED = "ended"


LIVE_STATUSES = frozenset({ConversationStatus.ACTIVE, ConversationStatus.HANDED_OFF})
"""A conversation in these is live: at most one per bot and phone."""


@dataclass(frozen=True, slots=True)
class FlowVersion:
    """One version of a flow file, by the SHA-256 of its text."""

    content_hash: str
    flow_id: str
    source: str
    path: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    bot_id: str
    phone: str
    """E.164."""
    flow_id: str
    flow_hash: str
    state: str
    vars: dict[str, Any]
    choices: list[dict[str, Any]]
    """The SMS choice map in force, as `messaging.ChoiceMap.model_dump()["choices"]`."""
    status: ConversationStatus
    attempts: int
    epoch: int
    contact: dict[str, Any]
    channel: str
    version: int
    """Bumped by every write; writes compare-and-set on it."""
    last_inbox_seq: int
    """The last inbox entry applied: a replayed entry at or below it is already done."""
    created_at: datetime
    updated_at: datetime


class InboxSource(StrEnum):
    START = "start"  # a conversation started from code or the admin API
    RBM = "rbm"
    SMSMODE = "smsmode"
    TIMER = "timer"  # a durable timer fell due
    SIMULATOR = "simulator"


@dataclass(frozen=True, slots=True)
class NewInbound:
    """An event to append to a conversation's inbox."""

    source: InboxSource
    provider_id: str
    """Unique per source: the provider's message id, the timer id, the caller's start key."""
    bot_id: str
    phone: str
    event: dict[str, Any]
    """The runtime's JSON form of the event (start, inbound message, timer)."""
    received_at: datetime


@dataclass(frozen=True, slots=True)
class InboxEntry:
    seq: int
    """Arrival order across the whole store; a conversation's events run in this order."""
    source: InboxSource
    provider_id: str
    bot_id: str
    phone: str
    event: dict[str, Any]
    received_at: datetime
    done: bool


@dataclass(frozen=True, slots=True)
class Claim:
    """A conversation leased to one worker, with the next event to handle."""

    bot_id: str
    phone: str
    owner: str
    lease_until: datetime
    entry: InboxEntry


class OutboxStatus(StrEnum):
    """Where an outgoing message stands; the receipt vocabulary is reference/sms.md §4's.

    `revoked` is not final: the RCS copy was revoked (by the dispatcher once its delivery
    deadline passed, or by RBM when its ttl expired) and the SMS rendering goes next.
    """

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"  # accepted by the provider (R3: handed to the operator), not yet delivered
    REVOKED = "revoked"  # the RCS copy was withdrawn; the SMS fallback is due
    DELIVERED = "delivered"
    READ = "read"  # RCS only
    EXPIRED = "expired"  # not delivered within its validity (R4)
    UNDELIVERABLE = "undeliverable"
    REJECTED = "rejected"
    FAILED = "failed"  # the provider refused it, or it could not be handed over
    BLOCKED = "blocked"  # the sending rules forbid it: red list, opt-out, consent, URL (R6, R25...)

    @property
    def final(self) -> bool:
        """No later receipt changes a final status, except `read` after `delivered`."""
        return self in _FINAL_OUTBOX


_FINAL_OUTBOX = frozenset(
    {
        OutboxStatus.DELIVERED,
        OutboxStatus.READ,
        OutboxStatus.EXPIRED,
        OutboxStatus.UNDELIVERABLE,
        OutboxStatus.REJECTED,
        OutboxStatus.FAILED,
        OutboxStatus.BLOCKED,
    }
)

NEVER_DELIVERED = _FINAL_OUTBOX - {OutboxStatus.DELIVERED, OutboxStatus.READ}
"""The final statuses of a message that will never reach the person: reaching one of them
writes a `message.failed` business event (store/business_events_records.py)."""


@dataclass(frozen=True, slots=True)
class NewOutbound:
    key: str
    """`{inbox seq}:{index}` style key derived from the event that produced it: a replay of
    the same event produces the same keys, and the store keeps the first."""
    content: dict[str, Any]
    channel: str
    due_at: datetime
    traffic: str | None = None
    """`transactional` for the messages the rules require whatever the flow's traffic (the
    opt-out confirmation, R26); None: the bot's flow decides."""
    reply: bool = False
    """Written in answer to the person's own message: exempt from quiet hours (sms.md §3.3)."""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    key: str
    conversation_id: str
    bot_id: str
    phone: str
    content: dict[str, Any]
    channel: str
    status: OutboxStatus
    due_at: datetime
    created_at: datetime
    attempts: int = 0
    provider_id: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    """Status changes, oldest first: `{"at": iso, "status": ..., "detail": ... or None,
    "channel": route or None}`, `channel` being the route in force after the change."""
    route: str | None = None
    """The channel this message is being or was last sent on: `rcs`, `sms` or `t2c`; None
    until the router chose."""
    deadline_at: datetime | None = None
    """While `sent` on RCS: when the dispatcher revokes it if no DELIVERED came."""
    provider_ids: tuple[str, ...] = ()
    """Every provider id the message was sent under, oldest first (an RCS id, then an SMS one
    after a fallback); `provider_id` is the latest."""
    traffic: str | None = None
    """As `NewOutbound.traffic`."""
    reply: bool = False
    """As `NewOutbound.reply`."""
    valid_from: datetime | None = None
    """When its 24 h validity (R4) starts, when not when it was queued: the end of a quiet-
    hours hold (a marketing message may not leave before; its validity does not run meanwhile)."""

    @property
    def valid_since(self) -> datetime:
        """Where its 24 h validity (R4) is counted from."""
        return self.valid_from or self.created_at


WAITING_OUTBOX = frozenset({OutboxStatus.QUEUED, OutboxStatus.REVOKED, OutboxStatus.SENDING})
"""An entry in these still has to be (re)sent, and holds back the later entries of its
conversation (see `Store.claim_outbound`)."""


@dataclass(frozen=True, slots=True)
class TimerRecord:
    id: str
    """Unique: `{conversation id}/{timer key}`; arming the same id twice keeps one timer."""
    conversation_id: str
    bot_id: str
    phone: str
    key: str
    due_at: datetime


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of a conversation's transcript."""

    key: str
    """Unique; derived from the inbox seq or the outbox key, so a replay adds nothing."""
    conversation_id: str
    direction: Direction
    body: dict[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class TurnWrite:
    """Everything one handled event changes, written as one unit by `Store.commit_turn`."""

    conversation: Conversation
    """The new conversation, its `version` one above the stored one (1 for a new one)."""
    outbound: list[NewOutbound]
    arm: list[TimerRecord]
    cancel: list[str]
    """Timer ids to cancel."""
    history: list[HistoryEntry]
    events: list[BusinessEvent] = field(default_factory=list)
    """What the bot's business is told of this turn (its webhook); kept once by id."""


class AgentState(StrEnum):
    """Where an RCS agent stands with Google."""

    LAUNCHED = "launched"
    UNLAUNCHED = "unlaunched"  # registered, not launched yet
    SUSPENDED = "suspended"


@dataclass(frozen=True, slots=True)
class AgentRecord:
    agent_id: str
    state: AgentState
    last_sent_at: datetime | None
    """The latest send through this agent (its 6-month inactivity is counted from it)."""
    reactivated_at: datetime | None
    """When the agent was last re-validated after an inactivity deactivation (R19)."""
    updated_at: datetime
    """When the record was last saved (`Store.save_agent`); a send leaves it alone."""


def history_line(
    at: datetime, status: OutboxStatus, detail: str | None, channel: str | None
) -> dict[str, Any]:
    """One line of an outbox entry's history, as both stores write it."""
    return {"at": at.astimezone(UTC).isoformat(), "status": status.value, "detail": detail} | {
        "channel": channel
    }


def queued_line(at: datetime) -> dict[str, Any]:
    """The first line of every entry's history: when it was queued."""
    return history_line(at, OutboxStatus.QUEUED, None, None)
