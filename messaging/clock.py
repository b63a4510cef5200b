"""Time as an injected dependency: the real clock in production, a fake one in tests."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told to; tests and `causette chat /wait` drive it."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a clock does not go backwards")
        self._now += delta
        return self._now

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("FakeClock.set needs a timezone-aware datetime")
        if instant < self._now:
            raise ValueError("a clock does not go backwards")
        self._now = instant.astimezone(UTC)


def add_months(at: datetime, months: int) -> datetime:
    """`at` moved by calendar months (earlier when negative), the day clamped to the month's
    last (31 January + 1 month = 28 or 29 February), the wall time and zone kept: "six months
    without a message" (R19), "valid twelve months" (R8)."""
    index = at.year * 12 + at.month - 1 + months
    year, month = divmod(index, 12)
    day = min(at.day, calendar.monthrange(year, month + 1)[1])
    return at.replace(year=year, month=month + 1, day=day)
