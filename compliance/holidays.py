"""Public holidays of metropolitan France, on which marketing is not sent (sms.md §3.3, §3.8).

Easter is computed here (the anonymous Gregorian computus, also called Meeus/Jones/Butcher)
rather than taken from `dateutil.easter`: python-dateutil is in the virtualenv only because a
test tool needs it, not a dependency of Causette, and the computus is a dozen lines of
arithmetic. Overseas departments add a slavery-abolition day each, on dates that differ and
that sms.md could not confirm: they are not covered (use `extra` in `QuietHours` if needed).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final

FIRST_GREGORIAN_YEAR: Final = 1583
"""The computus below is valid for the Gregorian calendar only (adopted in France in 1582)."""

_FIXED: Final = ((1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25))
"""1 Jan, 1 May, 8 May (1945 victory), 14 Jul, 15 Aug, 1 Nov, 11 Nov (1918 armistice), 25 Dec."""

# Days after Easter Sunday (itself a Sunday, so never a weekday holiday of its own).
_EASTER_MONDAY: Final = 1
_ASCENSION: Final = 39
_WHIT_MONDAY: Final = 50
_GOOD_FRIDAY: Final = -2
"""Alsace-Moselle only (departments 57, 67, 68), like 26 December."""


def easter(year: int) -> date:
    """Gregorian Easter Sunday of `year` (anonymous Gregorian algorithm).

    2025 → 20 April, 2026 → 5 April, 2027 → 28 March (sms.md §3.8 test vectors).
    """
    if not FIRST_GREGORIAN_YEAR <= year <= date.max.year:
        raise ValueError(f"{year} is outside the Gregorian years {FIRST_GREGORIAN_YEAR}-9999")
    a = year % 19  # place in the 19-year Metonic cycle
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30  # epact: age of the moon
    i, k = divmod(c, 4)
    weekday = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday) // 451
    month, day = divmod(h + weekday - 7 * m + 114, 31)
    return date(year, month, day + 1)


def french_holidays(year: int, *, alsace_moselle: bool = False) -> frozenset[date]:
    """The eleven public holidays of metropolitan France in `year` (sms.md §3.8); thirteen with
    `alsace_moselle` (Good Friday and 26 December added)."""
    sunday = easter(year)
    days = {date(year, month, day) for month, day in _FIXED}
    days |= {sunday + timedelta(days=n) for n in (_EASTER_MONDAY, _ASCENSION, _WHIT_MONDAY)}
    if alsace_moselle:
        days |= {sunday + timedelta(days=_GOOD_FRIDAY), date(year, 12, 26)}
    return frozenset(days)


def is_french_holiday(day: date, *, alsace_moselle: bool = False) -> bool:
    """Whether `day` is a public holiday of metropolitan France (of Alsace-Moselle if asked)."""
    return day in french_holidays(day.year, alsace_moselle=alsace_moselle)
