"""R8: prepaid credits, valid 12 months, spent oldest first, lost at expiry."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from messaging.clock import add_months
from sessions.credits import allocate, balance, expiry
from sessions.policy import BillingPolicy
from store.billing_records import CreditPurchase
from tests.sessions.factories import ledger_entry, paris, utc

POLICY = BillingPolicy()


def purchase(purchase_id: str, at: datetime, amount: str, currency: str = "EUR") -> CreditPurchase:
    return CreditPurchase(purchase_id, Decimal(amount), currency, at, expiry(at))


@pytest.mark.parametrize(
    ("bought", "expires"),
    [
        (utc(2026, 3, 15, 10), utc(2027, 3, 15, 10)),
        (utc(2028, 2, 29, 12), utc(2029, 2, 28, 12)),  # no 29 February in 2029: clamped
        (paris(2026, 11, 3, 9), paris(2027, 11, 3, 9)),  # wall time and zone kept
    ],
)
def test_credits_expire_12_calendar_months_after_purchase(
    bought: datetime, expires: datetime
) -> None:
    assert expiry(bought) == expires


def test_calendar_months_clamp_the_day() -> None:
    assert add_months(utc(2026, 1, 31), 1) == utc(2026, 2, 28)
    assert add_months(utc(2026, 12, 31), 2) == utc(2027, 2, 28)
    assert add_months(utc(2026, 5, 31), -1) == utc(2026, 4, 30)


def test_spending_takes_the_oldest_purchase_first_and_splits() -> None:
    purchases = [
        purchase("march", utc(2026, 3, 1), "10"),
        purchase("january", utc(2026, 1, 1), "10"),
    ]
    entries = [
        ledger_entry("e1", utc(2026, 4, 1), "4", quantity=3),  # 12.00
        ledger_entry("e2", utc(2026, 4, 2), "0.50"),
    ]

    result = allocate(purchases, entries, utc(2026, 5, 1), POLICY)

    assert [(d.entry_id, d.purchase_id, d.amount) for d in result.debits] == [
        ("e1", "january", Decimal(10)),
        ("e1", "march", Decimal(2)),
        ("e2", "march", Decimal("0.50")),
    ]
    assert result.balance == Decimal("7.50")
    assert result.unpaid == ()
    assert balance(purchases, entries, utc(2026, 5, 1), POLICY) == Decimal("7.50")


def test_what_is_left_at_expiry_is_lost_and_later_traffic_uses_newer_credits() -> None:
    old = purchase("old", utc(2025, 1, 10), "100")
    new = purchase("new", utc(2025, 12, 1), "50")
    entries = [
        ledger_entry("before", utc(2025, 6, 1), "30"),
        ledger_entry("at-expiry", utc(2026, 1, 10), "5"),  # `old` is gone at that instant
    ]

    result = allocate([old, new], entries, utc(2026, 2, 1), POLICY)

    assert [(d.entry_id, d.purchase_id) for d in result.debits] == [
        ("before", "old"),
        ("at-expiry", "new"),
    ]
    [old_line, new_line] = result.lines
    assert (old_line.spent, old_line.available, old_line.lost) == (
        Decimal(30),
        Decimal(0),
        Decimal(70),
    )
    assert (new_line.spent, new_line.available, new_line.lost) == (
        Decimal(5),
        Decimal(45),
        Decimal(0),
    )
    assert result.lost_total == Decimal(70)
    assert result.balance == Decimal(45)


def test_traffic_no_valid_credit_pays_is_unpaid() -> None:
    credit = purchase("p", utc(2026, 1, 1), "1")
    entries = [
        ledger_entry("before-purchase", utc(2025, 12, 31), "0.05"),
        ledger_entry("split", utc(2026, 1, 2), "0.40", quantity=3),  # 1.20: 0.20 unpaid
        ledger_entry("after-expiry", utc(2027, 1, 1), "0.05"),
    ]

    result = allocate([credit], entries, utc(2027, 2, 1), POLICY)

    assert [(u.entry_id, u.amount) for u in result.unpaid] == [
        ("before-purchase", Decimal("0.05")),
        ("split", Decimal("0.20")),
        ("after-expiry", Decimal("0.05")),
    ]
    assert result.unpaid_total == Decimal("0.30")
    assert result.balance == 0


def test_classes_billed_on_delivery_are_debited_when_delivered() -> None:
    """Google bills RCS messages delivered (rbm.md §8.1): an undelivered one is not debited,
    a delivered one at its delivery, from the credits valid then."""
    old = purchase("old", utc(2025, 1, 10), "10")
    new = purchase("new", utc(2026, 1, 1), "10")
    entries = [
        ledger_entry("undelivered", utc(2026, 1, 5), "0.02", billing_class="rcs_basic"),
        ledger_entry(
            "late",
            utc(2026, 1, 9, 23),
            "0.02",
            billing_class="rcs_basic",
            delivered_at=utc(2026, 1, 10, 1),  # after `old` expired
        ),
    ]

    result = allocate([old, new], entries, utc(2026, 2, 1), POLICY)

    assert [(d.entry_id, d.purchase_id, d.at) for d in result.debits] == [
        ("late", "new", utc(2026, 1, 10, 1))
    ]


def test_only_what_counted_by_now_and_in_the_same_currency() -> None:
    credits = [purchase("usd", utc(2026, 1, 1), "10", "USD"), purchase("eur", utc(2026, 1, 1), "1")]
    entry = ledger_entry("e", utc(2026, 1, 2), "0.25")
    entries = [entry, entry, ledger_entry("future", utc(2026, 3, 1), "0.25")]

    result = allocate(credits, entries, utc(2026, 2, 1), POLICY)

    assert [(d.entry_id, d.purchase_id) for d in result.debits] == [("e", "eur")]  # once
    assert result.balance == Decimal("0.75")  # the USD credit is another currency


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        balance([], [], datetime(2026, 1, 1), POLICY)
