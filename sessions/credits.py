"""R8: prepaid credits, valid 12 months from purchase, spent oldest first; what is left of a
purchase when it expires is lost. Pure: the purchases, the ledger and `now` come in.

An entry is debited at the moment it counts (`entries.counted_at`: when submitted, R7, or when
delivered for the classes billed on delivery; an undelivered one is not debited yet), from the
purchases valid at that moment (`purchased_at <= t < expires_at`) in the same currency, oldest
purchase first, splitting across purchases when one runs out. What no valid credit pays is
unpaid (the subscribed client's monthly bill, R8, or a top-up to ask for).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from messaging.clock import add_months
from sessions.entries import aware, counted_at, in_utc
from sessions.policy import BillingPolicy
from store.billing_records import CreditPurchase, LedgerEntry

VALIDITY_MONTHS = 12
"""R8: credits are valid 12 months from purchase."""


def expiry(purchased_at: datetime) -> datetime:
    """R8: when a purchase's credits are lost: 12 calendar months after it (29 Feb -> 28 Feb)."""
    return add_months(aware(purchased_at, "a purchase time"), VALIDITY_MONTHS)


@dataclass(frozen=True, slots=True)
class Debit:
    entry_id: str
    purchase_id: str
    amount: Decimal
    at: datetime


@dataclass(frozen=True, slots=True)
class Unpaid:
    entry_id: str
    amount: Decimal
    """What no valid credit paid of the entry (all of it, or the rest after a split)."""
    at: datetime


@dataclass(frozen=True, slots=True)
class CreditLine:
    """One purchase as of `now`."""

    purchase: CreditPurchase
    spent: Decimal
    available: Decimal
    """What is left and still valid at `now` (0 once expired)."""
    lost: Decimal
    """What was left when it expired (R8: unused credits are lost); 0 while valid."""


@dataclass(frozen=True, slots=True)
class Allocation:
    currency: str
    lines: tuple[CreditLine, ...]
    debits: tuple[Debit, ...]
    unpaid: tuple[Unpaid, ...]

    @property
    def balance(self) -> Decimal:
        """Credits usable now, in `currency`."""
        return sum(
            (line.available for line in self.lines if line.purchase.currency == self.currency),
            Decimal(0),
        )

    @property
    def unpaid_total(self) -> Decimal:
        return sum((item.amount for item in self.unpaid), Decimal(0))

    @property
    def lost_total(self) -> Decimal:
        return sum(
            (line.lost for line in self.lines if line.purchase.currency == self.currency),
            Decimal(0),
        )


def allocate(
    purchases: Sequence[CreditPurchase],
    entries: Sequence[LedgerEntry],
    now: datetime,
    policy: BillingPolicy,
) -> Allocation:
    """Debit every entry counted by `now` from the purchases, oldest first (see the module)."""
    now = in_utc(now, "now")
    ordered = sorted(
        purchases,
        key=lambda p: (in_utc(p.purchased_at, p.id), in_utc(p.expires_at, p.id), p.id),
    )
    left = {purchase.id: purchase.amount for purchase in ordered}
    debits: list[Debit] = []
    unpaid: list[Unpaid] = []
    for at, entry in _counted(entries, now, policy):
        due = entry.amount
        for purchase in ordered:
            if due <= 0:
                break
            if purchase.currency != entry.currency or left[purchase.id] <= 0:
                continue
            if not _valid(purchase, at):
                continue
            taken = min(due, left[purchase.id])
            left[purchase.id] -= taken
            due -= taken
            debits.append(Debit(entry.id, purchase.id, taken, at))
        if due > 0:
            unpaid.append(Unpaid(entry.id, due, at))
    lines = tuple(_line(purchase, left[purchase.id], now) for purchase in ordered)
    return Allocation(policy.prices.currency, lines, tuple(debits), tuple(unpaid))


def balance(
    purchases: Sequence[CreditPurchase],
    entries: Sequence[LedgerEntry],
    now: datetime,
    policy: BillingPolicy,
) -> Decimal:
    """Credits usable at `now` in the policy's currency, after every entry counted by then."""
    return allocate(purchases, entries, now, policy).balance


def _counted(
    entries: Sequence[LedgerEntry], now: datetime, policy: BillingPolicy
) -> list[tuple[datetime, LedgerEntry]]:
    counted: list[tuple[datetime, LedgerEntry]] = []
    seen: set[str] = set()
    for entry in entries:
        at = counted_at(entry, policy)
        at = None if at is None else in_utc(at, f"the time of {entry.id}")
        # An id twice (the same entry read from two places) is one debit: ids are the ledger's
        # idempotency key.
        if at is None or at > now or entry.amount <= 0 or entry.id in seen:
            continue
        seen.add(entry.id)
        counted.append((at, entry))
    counted.sort(key=lambda item: (item[0], item[1].id))
    return counted


def _valid(purchase: CreditPurchase, at: datetime) -> bool:
    """R8: from its purchase (included) to its expiry (excluded), compared as instants."""
    start = in_utc(purchase.purchased_at, purchase.id)
    return start <= at < in_utc(purchase.expires_at, purchase.id)


def _line(purchase: CreditPurchase, left: Decimal, now: datetime) -> CreditLine:
    spent = purchase.amount - left
    if now >= in_utc(purchase.expires_at, purchase.id):
        return CreditLine(purchase, spent, Decimal(0), left)
    available = left if _valid(purchase, now) else Decimal(0)
    return CreditLine(purchase, spent, available, Decimal(0))
