"""What the store keeps for the sending rules: opt-outs (R25, R26), the red list (R6), and the
archive of old message history (R32)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class OptOut:
    """Whether a person opted out of a business's marketing messages (R25), on any channel:
    the business's RCS agent and SMS numbers share one record."""

    business: str
    phone: str
    """E.164, or `hash:{hex}` once the person's data was erased (R34)."""
    opted_out: bool
    """False after the person opted back in (START)."""
    at: datetime
    source: str
    """What did it: `sms:STOP`, `rcs:ARRET`, `rbm:UNSUBSCRIBE`, `admin`..."""


@dataclass(frozen=True, slots=True)
class RedListed:
    """A number that wants no message at all from this business (R6)."""

    business: str
    phone: str
    at: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Archived:
    """A message-history record moved out of the active store after six months (R32)."""

    kind: str
    """`history`, `inbox` or `outbox`."""
    key: str
    """The record's key in its table (history key, inbox seq, outbox key)."""
    conversation_id: str | None
    bot_id: str
    phone: str
    at: datetime
    body: dict[str, Any]
    """The whole record as JSON."""
