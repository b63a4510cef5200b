"""R4: every message is valid for 24 hours from its send time; after that it is undeliverable
and no further attempt is made.

One implementation for every sender: the fallback dispatcher asks it before each attempt, and
the RCS `ttl` is what is left of it. "Send time" is read as the moment the message was queued
(the business asked for it then); a retry or a fallback to SMS does not restart the clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

VALIDITY = timedelta(hours=24)


def valid_until(queued_at: datetime) -> datetime:
    """The last instant a message queued at `queued_at` may still leave."""
    return queued_at + VALIDITY


def is_expired(queued_at: datetime, now: datetime) -> bool:
    """True once the message may no longer be sent (R4)."""
    return now >= valid_until(queued_at)


def remaining(queued_at: datetime, now: datetime) -> timedelta:
    """How long the message stays valid (zero once expired): the most an RCS `ttl` may be."""
    return max(valid_until(queued_at) - now, timedelta(0))
