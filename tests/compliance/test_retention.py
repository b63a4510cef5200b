"""R32, R33: retention of message history (compliance/retention.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from compliance.retention import Retention

RETENTION = Retention()


def test_archive_after_six_calendar_months_r32() -> None:
    now = datetime(2026, 9, 15, 3, 0, tzinfo=UTC)
    assert RETENTION.archive_cutoff(now) == datetime(2026, 3, 15, 3, 0, tzinfo=UTC)


def test_month_end_is_clamped_r32() -> None:
    now = datetime(2026, 8, 31, 12, 0, tzinfo=UTC)
    assert RETENTION.archive_cutoff(now) == datetime(2026, 2, 28, 12, 0, tzinfo=UTC)


def test_purge_after_six_plus_twelve_months_r32() -> None:
    now = datetime(2026, 9, 15, 3, 0, tzinfo=UTC)
    assert RETENTION.purge_cutoff(now) == datetime(2025, 3, 15, 3, 0, tzinfo=UTC)


def test_account_data_goes_three_months_after_deletion_r33() -> None:
    deleted = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert RETENTION.account_purge_at(deleted) == datetime(2027, 2, 28, 9, 0, tzinfo=UTC)


def test_configurable() -> None:
    retention = Retention(active_months=3, archive_months=0)
    now = datetime(2026, 5, 1, tzinfo=UTC)
    assert retention.archive_cutoff(now) == retention.purge_cutoff(now)
    assert retention.archive_cutoff(now) == datetime(2026, 2, 1, tzinfo=UTC)


def test_zone_is_kept() -> None:
    paris = timezone(timedelta(hours=2))
    now = datetime(2026, 9, 15, 3, 0, tzinfo=paris)
    assert RETENTION.archive_cutoff(now).tzinfo is paris


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        RETENTION.archive_cutoff(datetime(2026, 9, 15))


def test_negative_months_are_refused() -> None:
    with pytest.raises(ValueError, match="archive_months"):
        Retention(archive_months=-1)
