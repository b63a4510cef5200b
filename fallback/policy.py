"""The dispatcher's knobs, as plain values (`bots.yaml` reads them into these, `bots.config`).

Defaults are the documented ones where a document exists (reference/rbm.md) and our choices
where none does; each choice says why.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter for transient failures (5xx, timeouts, 429).

    The n-th retry waits a random time between half and all of `first * factor**(n-1)`, capped
    at `longest`: spread out ("equal jitter"), so that a burst of failures does not come back
    as a burst, yet never much sooner than the exponential step. A provider's `Retry-After` is
    a floor.
    """

    first: timedelta = timedelta(seconds=2)
    factor: float = 2.0
    longest: timedelta = timedelta(minutes=5)

    def delay(
        self, attempt: int, rng: random.Random, retry_after: timedelta | None = None
    ) -> timedelta:
        """How long to wait before attempt `attempt + 1`, after `attempt` (>= 1) failed."""
        step = self.first.total_seconds() * self.factor ** max(attempt - 1, 0)
        step = min(step, self.longest.total_seconds())
        wait = timedelta(seconds=step / 2 + rng.uniform(0, step / 2))
        return max(wait, retry_after) if retry_after is not None else wait


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failures: int = 5
    """Consecutive transient failures (5xx, timeouts) of one agent's RBM calls that open it."""
    cool_down: timedelta = timedelta(seconds=30)
    """How long an open breaker sends everything by SMS before letting one probe through."""


@dataclass(frozen=True, slots=True)
class DispatchPolicy:
    """How the dispatcher sends, for the whole process."""

    in_flight: int = 32
    """Messages being handed to providers at once; a slow provider holds at most this many."""
    capability_ttl: timedelta = timedelta(hours=1)
    """How long a capability check (or a 404/403 on send) is trusted for one phone."""
    capability_check: bool = True
    """Ask RBM whether a phone is reachable before its first RCS message (rbm.md §3.1); off,
    the send's own 404 tells (one call fewer, but the failed send counts against quotas)."""
    capability_cache_size: int = 100_000
    """Phones remembered per process (least recently used go first)."""
    revoke_grace: timedelta = timedelta(seconds=5)
    """After a revoke answered 200, how long to wait before the SMS: a DELIVERED that races the
    revoke (rbm.md §2) and lands in this window cancels the SMS."""
    sms_margin: timedelta = timedelta(hours=1)
    """An RCS message's `ttl` ends this long before its 24 h validity (R4), so that when RBM
    revokes it at expiry (TTL_EXPIRATION_REVOKED, rbm.md §9) the SMS can still leave in time."""
    agent_status_ttl: timedelta = timedelta(minutes=1)
    """How long this process trusts what it read of an agent's state and last send."""
    sms_unknown_outcome: str = "confirm"
    """An SMS send whose outcome is unknown (a timeout, a process stopped mid-send):
    `confirm` waits up to `sms_confirm_wait` for smsmode's delivery report, which proves the
    send, before sending again (store/unconfirmed_sms.py: twice only when smsmode took it and
    reported nothing within the wait); `fail` never sends twice (the message ends `failed`,
    maybe never sent); `retry` never loses it (sent again at once, maybe twice: smsmode has no
    idempotency key)."""
    sms_confirm_wait: timedelta = timedelta(minutes=5)
    """How long `confirm` waits for the report. smsmode posts it within seconds and posts it
    again 30 s and 2 min after a non-2xx (sms.md §1.4): five minutes cover a report refused
    while the entry was still `sending` under a stopped process's 30 s lease."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)


@dataclass(frozen=True, slots=True)
class RcsPolicy:
    """One bot's RCS delivery rules."""

    fallback_after: timedelta = timedelta(seconds=60)
    """No DELIVERED within this time after the send: revoke, and send the SMS."""
    rate: float = 50.0
    """RBM sends per second for this agent, per process. Google documents no per-agent send
    rate (rbm.md §6 [?]): a guard against bursts, to tune with the account's real quota."""
