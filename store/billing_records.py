"""What the store keeps for billing: the usage ledger, the session trackers' state, prepaid
credits (seed rules R7-R16, R21-R24; the rules themselves are `sessions/`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class LedgerKind(StrEnum):
    MESSAGE = "message"  # an MT (or its share of a session): `message_key` is its outbox key
    SESSION = "session"  # a billed session opened (T2C by an MO, RCS by a reply)
    AGENT_MONTH = "agent_month"  # an RCS agent active in a calendar month (R24)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One billable event, or one message a session covers (price 0), append-only.

    `id` is the idempotency key, `{kind}:{reference}`: writing an entry whose id exists
    changes nothing, so replays (duplicate webhooks, a crash and its replay) add nothing.
    """

    id: str
    kind: LedgerKind
    billing_class: str
    """`sessions.classes.BillingClass` value: `t2c_mt`, `t2c_session`, `sms_mt`, `rcs_basic`,
    `rcs_single`, `rcs_a2p_session`, `rcs_p2a_session`, `rcs_active_agent`, `covered`."""
    bot_id: str
    sender: str
    """The RCS agent id, the 09 number (E.164), the SenderID, or "" for the default sender."""
    sender_type: str
    """`rcs_agent`, `t2c_number`, `sender_id` or `default`."""
    recipient: str
    """E.164; "" for an agent's monthly fee."""
    channel: str
    """`rcs`, `t2c` or `sms`."""
    country: str
    """The recipient's ISO 3166 region (`FR`, `BE`), which picks the price line."""
    quantity: int
    """SMS segments for per-segment classes, else 1."""
    unit_price: Decimal
    currency: str
    at: datetime
    """When the event happened: the MT handed to the provider (R7: submitted), the MO."""
    rule: str
    """Why, in words, with the seed rule's number: what `causette billing explain` prints."""
    message_key: str | None = None
    """The outbox key of the MT, or the inbox provider id of the MO, that produced it."""
    session_id: str | None = None
    """The session it opened or that covers it."""
    delivered_at: datetime | None = None
    """When the message was delivered (Google bills RCS on delivery); set by its receipt."""
    operator: str | None = None
    """The recipient's network as the delivery report named it (R9)."""

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class BillingState:
    """A session tracker's state for one pair (a 09 number or RCS agent, and a recipient),
    kept as the tracker's JSON; `version` is for compare-and-set."""

    key: str
    """`t2c:{number}:{recipient}` or `rcs:{agent}:{recipient}`."""
    data: dict[str, Any]
    version: int


@dataclass(frozen=True, slots=True)
class CreditPurchase:
    """Prepaid credits bought (R8): valid 12 months from purchase, spent oldest first."""

    id: str
    amount: Decimal
    currency: str
    purchased_at: datetime
    expires_at: datetime
    note: str = ""
