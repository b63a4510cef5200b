"""When marketing may go out: working days, daytime, Paris time (sms.md §3.3).

No statute fixes SMS hours; the AF2M charters do, and they changed (2024: Monday-Saturday
08:00-22:00; 2026: 08:00-21:30, Sundays and holidays "tolerated"), while aggregators stop at
20:00. The default is the conservative union sms.md recommends: Monday to Saturday,
08:00-20:00 Europe/Paris, no public holiday. Every part is configurable.

Only marketing is held; transactional messages and replies inside a conversation the recipient
started are exempt (the gate decides that, `compliance.gate`). Times are compared as wall-clock
times in `timezone`, so a daylight-saving change moves nothing: 08:00 is 08:00 in winter and
in summer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from compliance.holidays import is_french_holiday

PARIS: Final = ZoneInfo("Europe/Paris")
MONDAY_TO_SATURDAY: Final = frozenset(range(6))
"""`date.weekday()` numbers: 0 is Monday, 6 is Sunday ("jours ouvrables", sms.md §3.3)."""

_DAY_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_SEARCH_DAYS: Final = 400
"""How far `next_allowed` looks: more than a year, so any real calendar has an open day."""


@dataclass(frozen=True)
class QuietHours:
    """The hours in which marketing may be sent; outside them it waits (sms.md §3.3)."""

    days: frozenset[int] = MONDAY_TO_SATURDAY
    """Weekdays open for sending, as `date.weekday()` numbers (0 Monday ... 6 Sunday)."""
    start: time = time(8, 0)
    """First allowed wall-clock time (included)."""
    end: time = time(20, 0)
    """First wall-clock time no longer allowed (excluded): 19:59 may go, 20:00 may not."""
    timezone: ZoneInfo = PARIS
    public_holidays: bool = True
    """Closed on French public holidays (sms.md §3.8)."""
    alsace_moselle: bool = False
    """Also closed on Good Friday and 26 December (departments 57, 67, 68)."""
    closed_dates: frozenset[date] = frozenset()
    """Extra closed dates: an overseas holiday, a local event, a business's own choice."""

    def __post_init__(self) -> None:
        if not self.days or not self.days <= frozenset(range(7)):
            raise ValueError(f"days must be a non-empty set of 0-6 (Monday-Sunday): {self.days}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("start and end are wall-clock times: give the zone in `timezone`")
        # A window spans one day: the French rules are all daytime, and a window across
        # midnight would make "which day is open" ambiguous.
        if not self.start < self.end:
            raise ValueError(f"start {self.start} must come before end {self.end}")

    def allowed(self, at: datetime) -> bool:
        """Whether a marketing message may leave at the instant `at` (timezone-aware)."""
        local = _aware(at).astimezone(self.timezone)
        return self.open_day(local.date()) and self.start <= local.time() < self.end

    def next_allowed(self, at: datetime) -> datetime:
        """The first allowed instant at or after `at`, in UTC: `at` itself when allowed, else
        the opening time of the next open day (Saturday 20:00 → Monday 08:00; Tuesday when
        that Monday is a holiday)."""
        at = _aware(at).astimezone(UTC)
        if self.allowed(at):
            return at
        day = at.astimezone(self.timezone).date()
        for _ in range(_SEARCH_DAYS):
            if self.open_day(day):
                opening = self._opening(day)
                if opening >= at:
                    return opening
            day += timedelta(days=1)
        raise ValueError(f"no allowed time within {_SEARCH_DAYS} days of {at.isoformat()}")

    def open_day(self, day: date) -> bool:
        """Whether `day` (a local date) is a sending day: an allowed weekday, not closed."""
        if day.weekday() not in self.days or day in self.closed_dates:
            return False
        return not (
            self.public_holidays and is_french_holiday(day, alsace_moselle=self.alsace_moselle)
        )

    def describe(self) -> str:
        """The window in words, for reasons shown to people: `Monday to Saturday, 08:00-20:00
        Europe/Paris, public holidays excluded`."""
        ordered = sorted(self.days)
        if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 2:
            days = f"{_DAY_NAMES[ordered[0]]} to {_DAY_NAMES[ordered[-1]]}"
        else:
            days = ", ".join(_DAY_NAMES[d] for d in ordered)
        hours = f"{self.start:%H:%M}-{self.end:%H:%M} {self.timezone.key}"
        holidays = ", public holidays excluded" if self.public_holidays else ""
        return f"{days}, {hours}{holidays}"

    def _opening(self, day: date) -> datetime:
        """The first instant (UTC) whose wall-clock time on `day` is `start` or later.

        Usually `start` itself. When the clocks are put back and `start` happens twice, the
        first time. When they go forward over `start` (a time that does not exist that day),
        the instant of the jump: found by bisection, as the offsets around it are not known.
        """
        wall = datetime.combine(day, self.start)
        first = wall.replace(tzinfo=self.timezone, fold=0).astimezone(UTC)
        if first.astimezone(self.timezone).replace(tzinfo=None) == wall:
            return first
        # `wall` is in a gap. fold=1 reads it with the offset after the jump, giving an instant
        # before the jump; fold=0 gives one after it. Bisect between them, in whole seconds
        # (tz transitions fall on whole seconds).
        low = int(wall.replace(tzinfo=self.timezone, fold=1).timestamp())
        high = math.ceil(first.timestamp())
        while high - low > 1:
            middle = (low + high) // 2
            if datetime.fromtimestamp(middle, self.timezone).replace(tzinfo=None) >= wall:
                high = middle
            else:
                low = middle
        return datetime.fromtimestamp(high, UTC)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no timezone: quiet hours need an instant")
    return at
