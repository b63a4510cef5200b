"""What the trackers are told: a message sent (MT) or received (MO), as plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Mt:
    """A message handed to a provider (R7: submitted)."""

    key: str
    """The outbox key: the ledger's reference for the message."""
    bot_id: str
    recipient: str
    """E.164."""
    at: datetime
    channel: str
    """How it went: `rcs`, `t2c` (from the bot's 09 number) or `sms` (a SenderID or the
    provider's default sender)."""
    sender: str
    """The agent id (RCS), the 09 number (T2C), the SenderID, or "" (default sender)."""
    sender_type: str
    """`rcs_agent`, `t2c_number`, `sender_id` or `default`."""
    segments: int = 1
    """SMS segments of the text sent (1 for RCS)."""
    characters: int = 0
    """Characters of the SMS text sent."""
    rich: bool = False
    """RCS: has suggestions, media or a card (R21 "single" whatever its length)."""
    text_bytes: int = 0
    """RCS: UTF-8 bytes of its text (R21: basic is at most 160)."""
    text_characters: int = 0
    """RCS: characters of its text (the other reading of R21's 160)."""
    fallback: bool = False
    """An RCS message sent by SMS instead: billed as SMS (never a T2C MT)."""
    parts: int = 1
    """RCS: the agent messages the content went as (a media with a text is two, rbm.md
    §1.2), each billed by Google; the ledger bills them as one entry of that quantity."""


@dataclass(frozen=True, slots=True)
class Mo:
    """A message the person sent (a reply, or one of their own accord)."""

    key: str
    """The provider's message id: the ledger's reference for a session it opens."""
    bot_id: str
    recipient: str
    """The person's number, E.164 (the recipient of the business's messages)."""
    at: datetime
    channel: str
    """`rcs` (to the agent) or `t2c` (to the 09 number)."""
    sender: str
    """What the person wrote to: the agent id or the 09 number."""
