"""A circuit breaker per RBM agent: after a run of transient failures, RCS traffic goes by SMS
for a cool-down, then one probe tests the way back.

In memory, per process: it is a view of the provider's health, not state to keep (DESIGN.md,
"Memory holds caches only"). Each process learns it on its own within `failures` calls.
Hand-written: the breaker libraries on PyPI (pybreaker, aiobreaker) read the wall clock and
wrap the call; here the decision (RCS or SMS) is taken before a call and must follow the
injected `Clock`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from fallback.policy import BreakerPolicy


class BreakerState(StrEnum):
    CLOSED = "closed"  # RCS as usual
    OPEN = "open"  # everything by SMS until the cool-down ends
    HALF_OPEN = "half_open"  # one probe on RCS; the rest by SMS until it answers


@dataclass
class Breaker:
    policy: BreakerPolicy
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    """Consecutive transient failures while closed."""
    opened_at: datetime | None = None
    probing: bool = False
    """A probe is in flight (half-open)."""

    def allows(self, now: datetime) -> bool:
        """Whether a call may go to RBM now; the first call after the cool-down is the probe."""
        if self.state is BreakerState.OPEN:
            assert self.opened_at is not None
            if now < self.opened_at + self.policy.cool_down:
                return False
            self.state = BreakerState.HALF_OPEN
        if self.state is BreakerState.HALF_OPEN:
            if self.probing:
                return False
            self.probing = True
        return True

    def succeeded(self) -> None:
        """RBM answered (any answer that is not a failure of RBM itself: 200, 400, 404...)."""
        self.state, self.failures, self.opened_at, self.probing = (
            BreakerState.CLOSED,
            0,
            None,
            False,
        )

    def failed(self, now: datetime) -> None:
        """RBM failed (5xx, timeout, connection): count it; a failed probe opens it again."""
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.policy.failures:
            self.state, self.opened_at, self.probing = BreakerState.OPEN, now, False

    def settled(self) -> None:
        """A call ended with no news of RBM's health (a 429): a probe frees its slot."""
        self.probing = False


class Breakers:
    """One breaker per agent id."""

    def __init__(self, policy: BreakerPolicy) -> None:
        self.policy = policy
        self._breakers: dict[str, Breaker] = {}

    def __getitem__(self, agent_id: str) -> Breaker:
        breaker = self._breakers.get(agent_id)
        if breaker is None:
            breaker = self._breakers[agent_id] = Breaker(self.policy)
        return breaker
