"""Sending hours for marketing (compliance/quiet_hours.py, sms.md §3.3, §3.8)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compliance.quiet_hours import PARIS, QuietHours

HOURS = QuietHours()


def paris(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=PARIS)


class TestAllowed:
    def test_saturday_evening(self) -> None:
        assert HOURS.allowed(paris(2026, 3, 7, 19, 58))  # a Saturday
        assert HOURS.allowed(paris(2026, 3, 7, 19, 59, 59))
        assert not HOURS.allowed(paris(2026, 3, 7, 20, 0))

    def test_morning_starts_at_eight(self) -> None:
        assert not HOURS.allowed(paris(2026, 3, 9, 7, 59))
        assert HOURS.allowed(paris(2026, 3, 9, 8, 0))

    def test_sunday_is_closed(self) -> None:
        assert not HOURS.allowed(paris(2026, 3, 8, 12, 0))

    def test_public_holiday_is_closed(self) -> None:
        assert not HOURS.allowed(paris(2027, 3, 29, 10, 0))  # Easter Monday 2027
        assert not HOURS.allowed(paris(2026, 7, 14, 10, 0))
        assert QuietHours(public_holidays=False).allowed(paris(2026, 7, 14, 10, 0))

    def test_read_in_paris_time_whatever_the_zone_given(self) -> None:
        # 18:30 UTC is 20:30 in Paris in summer: closed; 18:30 UTC in winter is 19:30: open.
        assert not HOURS.allowed(datetime(2026, 6, 10, 18, 30, tzinfo=UTC))
        assert HOURS.allowed(datetime(2026, 1, 14, 18, 30, tzinfo=UTC))

    def test_alsace_moselle_good_friday_and_26_december(self) -> None:
        alsace = QuietHours(alsace_moselle=True)
        good_friday = paris(2026, 4, 3, 10, 0)
        boxing_day = paris(2026, 12, 26, 10, 0)  # a Saturday
        assert HOURS.allowed(good_friday)
        assert HOURS.allowed(boxing_day)
        assert not alsace.allowed(good_friday)
        assert not alsace.allowed(boxing_day)

    def test_extra_closed_dates(self) -> None:
        hours = QuietHours(closed_dates=frozenset({date(2026, 5, 27)}))  # Mayotte, a Wednesday
        assert not hours.allowed(paris(2026, 5, 27, 10, 0))

    def test_the_2026_charter_window(self) -> None:
        charter = QuietHours(end=time(21, 30), days=frozenset(range(7)), public_holidays=False)
        assert charter.allowed(paris(2026, 3, 8, 21, 29))  # a Sunday
        assert not charter.allowed(paris(2026, 3, 8, 21, 30))

    def test_a_naive_time_is_refused(self) -> None:
        with pytest.raises(ValueError, match="no timezone"):
            HOURS.allowed(datetime(2026, 3, 7, 12, 0))


class TestNextAllowed:
    def test_saturday_20h_waits_for_monday_8h(self) -> None:
        assert HOURS.next_allowed(paris(2026, 3, 7, 20, 0)) == paris(2026, 3, 9, 8, 0)

    def test_result_is_utc(self) -> None:
        result = HOURS.next_allowed(paris(2026, 3, 7, 20, 0))
        assert result.tzinfo is UTC
        assert result == datetime(2026, 3, 9, 7, 0, tzinfo=UTC)

    def test_an_allowed_instant_is_its_own_answer(self) -> None:
        at = paris(2026, 3, 7, 19, 58, 30)
        assert HOURS.next_allowed(at) == at

    def test_before_opening_waits_the_same_morning(self) -> None:
        assert HOURS.next_allowed(paris(2026, 3, 9, 6, 15)) == paris(2026, 3, 9, 8, 0)

    def test_sunday_waits_for_monday(self) -> None:
        assert HOURS.next_allowed(paris(2026, 3, 8, 11, 0)) == paris(2026, 3, 9, 8, 0)

    def test_easter_monday_2027_is_skipped(self) -> None:
        # Saturday 27 March 2027 evening → Sunday → Easter Monday 29 → Tuesday 30 March.
        assert HOURS.next_allowed(paris(2027, 3, 27, 20, 0)) == paris(2027, 3, 30, 8, 0)

    def test_alsace_moselle_good_friday_waits_for_saturday(self) -> None:
        alsace = QuietHours(alsace_moselle=True)
        assert alsace.next_allowed(paris(2026, 4, 2, 21, 0)) == paris(2026, 4, 4, 8, 0)

    def test_christmas_week_in_alsace_moselle(self) -> None:
        # Thursday 24 Dec 2026 evening: 25 (Fri), 26 (Sat, Alsace-Moselle), 27 (Sun) closed.
        alsace = QuietHours(alsace_moselle=True)
        assert alsace.next_allowed(paris(2026, 12, 24, 20, 0)) == paris(2026, 12, 28, 8, 0)
        assert HOURS.next_allowed(paris(2026, 12, 24, 20, 0)) == paris(2026, 12, 26, 8, 0)

    def test_spring_forward_weekend(self) -> None:
        # Clocks go forward on Sunday 29 March 2026: Saturday 21:00 CET (20:00 UTC) waits for
        # Monday 08:00 CEST, 06:00 UTC, not 07:00 UTC.
        result = HOURS.next_allowed(datetime(2026, 3, 28, 20, 0, tzinfo=UTC))
        assert result == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)

    def test_fall_back_weekend(self) -> None:
        # Clocks go back on Sunday 25 October 2026: Monday 08:00 CET is 07:00 UTC.
        result = HOURS.next_allowed(datetime(2026, 10, 24, 19, 0, tzinfo=UTC))
        assert result == datetime(2026, 10, 26, 7, 0, tzinfo=UTC)

    def test_an_opening_time_that_does_not_exist_that_day(self) -> None:
        # 02:30 does not exist on 29 March 2026 in Paris: the window opens with the jump.
        night = QuietHours(start=time(2, 30), end=time(5), days=frozenset(range(7)))
        result = night.next_allowed(paris(2026, 3, 29, 1, 0))
        assert result == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST
        assert night.allowed(result)
        assert not night.allowed(result - timedelta(seconds=1))

    def test_an_opening_time_that_happens_twice_opens_the_first_time(self) -> None:
        night = QuietHours(start=time(2, 30), end=time(5), days=frozenset(range(7)))
        result = night.next_allowed(paris(2026, 10, 25, 1, 0))
        assert result == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST

    @given(
        st.datetimes(
            min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
        )
    )
    def test_next_allowed_is_the_first_allowed_instant(self, at: datetime) -> None:
        result = HOURS.next_allowed(at)
        assert result >= at
        assert HOURS.allowed(result)
        if result > at:
            assert not HOURS.allowed(result - timedelta(microseconds=1))
            assert result - at < timedelta(days=5)


class TestConfiguration:
    def test_describe(self) -> None:
        assert HOURS.describe() == (
            "Monday to Saturday, 08:00-20:00 Europe/Paris, public holidays excluded"
        )
        weekend = QuietHours(days=frozenset({5, 6}), public_holidays=False)
        assert weekend.describe() == "Saturday, Sunday, 08:00-20:00 Europe/Paris"

    @pytest.mark.parametrize("days", [frozenset(), frozenset({7}), frozenset({-1, 0})])
    def test_days_must_be_weekdays(self, days: frozenset[int]) -> None:
        with pytest.raises(ValueError, match="days"):
            QuietHours(days=days)

    def test_start_before_end(self) -> None:
        with pytest.raises(ValueError, match="before end"):
            QuietHours(start=time(22), end=time(8))

    def test_times_are_wall_clock(self) -> None:
        with pytest.raises(ValueError, match="wall-clock"):
            QuietHours(start=time(8, tzinfo=UTC))
