"""Prepaid credits (R8): when the balance is spent, nothing more leaves; messages wait, queued,
until credits are bought or their validity ends (R4).

The balance is the ledger debited from the purchases (`sessions.credits.allocate`), read again
at most every `ttl`: a few messages may leave after the exact moment the balance ran out,
which the report shows as not covered by credits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sessions.credits import allocate
from sessions.policy import BillingPolicy
from store.base import Store

WAIT = timedelta(minutes=1)
"""How long a message waits before it looks at the balance again."""


class CreditGate:
    def __init__(
        self, store: Store, policy: BillingPolicy, ttl: timedelta = timedelta(seconds=30)
    ) -> None:
        self.store = store
        self.policy = policy
        self.ttl = ttl
        self._balance: Decimal | None = None
        self._read_at: datetime | None = None

    async def spent(self, now: datetime) -> bool:
        """Whether the prepaid balance is used up."""
        if self._read_at is None or self._balance is None or now >= self._read_at + self.ttl:
            purchases = await self.store.credits()
            entries = await self.store.ledger(until=now)
            self._balance = allocate(purchases, entries, now, self.policy).balance
            self._read_at = now
        return self._balance <= 0
