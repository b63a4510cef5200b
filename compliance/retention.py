"""R32, R33: how long message history is kept (DP annex).

R32: history stays in the active store 6 months, is then archived 12 months, then deleted for
good. R33: after the contract ends, data is deleted 3 months after account deletion. Months are
calendar months (`messaging.clock.add_months`: 31 August less 6 months is the last day of
February), the way a contract counts them, not 30-day blocks.

A record *older than* a cutoff (strictly before it) is the one that moves; a record exactly at
the cutoff stays one more run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from messaging.clock import add_months


@dataclass(frozen=True)
class Retention:
    active_months: int = 6
    """R32: months a record stays in the active store."""
    archive_months: int = 12
    """R32: months it then stays in the archive."""
    after_account_months: int = 3
    """R33: months the data outlives the deletion of the account."""

    def __post_init__(self) -> None:
        for name in ("active_months", "archive_months", "after_account_months"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative")

    def archive_cutoff(self, now: datetime) -> datetime:
        """Records from before this instant leave the active store for the archive (R32)."""
        return add_months(_aware(now), -self.active_months)

    def purge_cutoff(self, now: datetime) -> datetime:
        """Archived records from before this instant are deleted for good (R32: 6 + 12 months
        after the record by default)."""
        return add_months(_aware(now), -(self.active_months + self.archive_months))

    def account_purge_at(self, account_deleted_at: datetime) -> datetime:
        """When all data of a deleted account must be gone (R33)."""
        return add_months(_aware(account_deleted_at), self.after_account_months)


def _aware(at: datetime) -> datetime:
    # A naive time would be compared with aware store timestamps and fail far from here.
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no timezone")
    return at
