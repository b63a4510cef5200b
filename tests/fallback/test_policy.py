"""The router's pure parts: backoff, breaker, capability cache, agent inactivity, validity."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from compliance.validity import VALIDITY, is_expired, remaining, valid_until
from fallback.agent_status import unusable_reason
from fallback.breaker import Breaker, BreakerState
from fallback.capabilities import CapabilityCache
from fallback.policy import BreakerPolicy, RetryPolicy
from messaging.clock import add_months
from store.records import AgentRecord, AgentState

T0 = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


class TestRetryPolicy:
    def test_grows_exponentially_with_jitter_and_a_cap(self) -> None:
        policy = RetryPolicy(first=timedelta(seconds=2), factor=2, longest=timedelta(seconds=60))
        rng = random.Random(1)
        for attempt, step in ((1, 2), (2, 4), (3, 8), (4, 16), (5, 32), (6, 60), (12, 60)):
            waits = {policy.delay(attempt, rng).total_seconds() for _ in range(50)}
            assert min(waits) >= step / 2
            assert max(waits) <= step
            assert len(waits) > 1  # jittered: a burst of failures does not retry as a burst

    def test_retry_after_is_a_floor(self) -> None:
        policy = RetryPolicy()
        wait = policy.delay(1, random.Random(1), timedelta(seconds=120))
        assert wait == timedelta(seconds=120)
        longer = policy.delay(20, random.Random(1), timedelta(seconds=1))
        assert longer >= timedelta(minutes=2, seconds=30)


class TestBreaker:
    def breaker(self) -> Breaker:
        return Breaker(BreakerPolicy(failures=3, cool_down=timedelta(seconds=30)))

    def test_opens_after_a_run_of_failures_only(self) -> None:
        breaker = self.breaker()
        breaker.failed(T0)
        breaker.failed(T0)
        breaker.succeeded()  # the run is broken
        breaker.failed(T0)
        breaker.failed(T0)
        assert breaker.allows(T0)
        breaker.failed(T0)
        assert breaker.state is BreakerState.OPEN
        assert not breaker.allows(T0 + timedelta(seconds=29))

    def test_lets_one_probe_through_after_the_cool_down(self) -> None:
        breaker = self.breaker()
        for _ in range(3):
            breaker.failed(T0)
        later = T0 + timedelta(seconds=30)
        assert breaker.allows(later)  # the probe
        assert breaker.state is BreakerState.HALF_OPEN
        assert not breaker.allows(later)  # everyone else waits for its answer
        breaker.failed(later)
        assert breaker.state.value == "open"  # (mypy narrowed `state` above)
        assert not breaker.allows(later + timedelta(seconds=29))
        assert breaker.allows(later + timedelta(seconds=30))
        breaker.succeeded()
        assert breaker.state.value == "closed"
        assert breaker.allows(later + timedelta(seconds=30))

    def test_a_probe_with_no_news_frees_its_slot(self) -> None:
        breaker = self.breaker()
        for _ in range(3):
            breaker.failed(T0)
        later = T0 + timedelta(seconds=30)
        assert breaker.allows(later)
        breaker.settled()  # a 429: nothing learnt
        assert breaker.allows(later)


class TestCapabilityCache:
    def test_forgets_after_its_ttl(self) -> None:
        cache = CapabilityCache(timedelta(hours=1))
        cache.put("a", "+33612345678", T0, reachable=False)
        known = cache.get("a", "+33612345678", T0 + timedelta(minutes=59))
        assert known is not None
        assert not known.reachable
        assert cache.get("b", "+33612345678", T0) is None  # per agent
        assert cache.get("a", "+33612345678", T0 + timedelta(hours=1)) is None

    def test_is_bounded_least_recently_used_first(self) -> None:
        cache = CapabilityCache(timedelta(hours=1), size=2)
        cache.put("a", "1", T0, reachable=True)
        cache.put("a", "2", T0, reachable=True)
        assert cache.get("a", "1", T0) is not None  # 1 is now the most recent
        cache.put("a", "3", T0, reachable=True)
        assert cache.get("a", "2", T0) is None
        assert cache.get("a", "1", T0) is not None
        with pytest.raises(ValueError, match="at least one"):
            CapabilityCache(timedelta(hours=1), size=0)


class TestAgentInactivity:
    """R19: no message for six months."""

    @pytest.mark.parametrize(
        ("instant", "expected"),
        [
            (datetime(2025, 8, 31, tzinfo=UTC), datetime(2026, 2, 28, tzinfo=UTC)),
            (datetime(2027, 8, 31, tzinfo=UTC), datetime(2028, 2, 29, tzinfo=UTC)),
            (datetime(2025, 9, 15, tzinfo=UTC), datetime(2026, 3, 15, tzinfo=UTC)),
        ],
    )
    def test_months_are_calendar_months(self, instant: datetime, expected: datetime) -> None:
        assert add_months(instant, 6) == expected
        assert add_months(expected, -6) <= instant

    def test_six_months_of_silence(self) -> None:
        record = AgentRecord("a", AgentState.LAUNCHED, T0, None, T0)
        assert unusable_reason(record, datetime(2026, 9, 30, 11, 59, tzinfo=UTC)) is None
        reason = unusable_reason(record, datetime(2026, 9, 30, 12, tzinfo=UTC))
        assert reason is not None
        assert "since 2026-03-31" in reason
        assert "(R19)" in reason

    def test_a_reactivation_restarts_the_count(self) -> None:
        reactivated = datetime(2026, 9, 1, tzinfo=UTC)
        record = AgentRecord("a", AgentState.LAUNCHED, T0, reactivated, reactivated)
        assert unusable_reason(record, datetime(2026, 10, 1, tzinfo=UTC)) is None

    def test_states(self) -> None:
        assert unusable_reason(None, T0) is None  # a new agent
        for state, reason in (
            (AgentState.SUSPENDED, "RCS agent suspended"),
            (AgentState.UNLAUNCHED, "RCS agent not launched"),
        ):
            assert unusable_reason(AgentRecord("a", state, T0, None, T0), T0) == reason


def test_validity_is_24_hours_from_queueing() -> None:
    """R4."""
    assert timedelta(hours=24) == VALIDITY
    assert valid_until(T0) == T0 + timedelta(hours=24)
    assert not is_expired(T0, T0 + timedelta(hours=23, minutes=59))
    assert is_expired(T0, T0 + timedelta(hours=24))
    assert remaining(T0, T0 + timedelta(hours=25)) == timedelta(0)
