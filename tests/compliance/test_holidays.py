"""French public holidays (compliance/holidays.py, sms.md §3.8)."""

from __future__ import annotations

from datetime import date

import pytest

from compliance.holidays import easter, french_holidays, is_french_holiday


@pytest.mark.parametrize(
    ("year", "sunday", "monday", "ascension", "whit_monday"),
    [  # sms.md §3.8 test vectors
        (2025, date(2025, 4, 20), date(2025, 4, 21), date(2025, 5, 29), date(2025, 6, 9)),
        (2026, date(2026, 4, 5), date(2026, 4, 6), date(2026, 5, 14), date(2026, 5, 25)),
        (2027, date(2027, 3, 28), date(2027, 3, 29), date(2027, 5, 6), date(2027, 5, 17)),
    ],
)
def test_easter_based_holidays(
    year: int, sunday: date, monday: date, ascension: date, whit_monday: date
) -> None:
    assert easter(year) == sunday
    days = french_holidays(year)
    assert {monday, ascension, whit_monday} <= days
    assert sunday not in days  # Easter Sunday is a Sunday anyway, not listed


def test_eleven_holidays_in_metropolitan_france() -> None:
    days = french_holidays(2026)
    assert len(days) == 11
    fixed = {(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)}
    assert fixed <= {(d.month, d.day) for d in days}


def test_alsace_moselle_adds_good_friday_and_26_december() -> None:
    days = french_holidays(2026, alsace_moselle=True)
    assert len(days) == 13
    assert days - french_holidays(2026) == {date(2026, 4, 3), date(2026, 12, 26)}


def test_is_french_holiday() -> None:
    assert is_french_holiday(date(2027, 3, 29))
    assert not is_french_holiday(date(2027, 3, 30))
    assert not is_french_holiday(date(2026, 12, 26))
    assert is_french_holiday(date(2026, 12, 26), alsace_moselle=True)


def test_easter_matches_dateutil_over_gregorian_years() -> None:
    # python-dateutil is in the virtualenv through a test tool only: a cross-check, not a need.
    reference = pytest.importorskip("dateutil.easter")
    for year in range(1583, 10000):
        assert easter(year) == reference.easter(year), year


@pytest.mark.parametrize("year", [1582, 0, 10000])
def test_years_outside_the_gregorian_calendar_are_refused(year: int) -> None:
    with pytest.raises(ValueError, match="Gregorian"):
        easter(year)
