"""Billing settings: prices per destination and class, and the readings of ambiguous terms
(each **Choice** of reference/seed-rules.md is a setting here, with that default)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from sessions.classes import BillingClass

PARIS = ZoneInfo("Europe/Paris")

Moment = Literal["submitted", "delivered"]

DEFAULT_PRICES: Mapping[BillingClass, Decimal] = {
    # Illustrative list prices (EUR, excl. VAT): set your contract's in `billing.prices`.
    BillingClass.SMS_MT: Decimal("0.045"),
    BillingClass.T2C_MT: Decimal("0.050"),
    BillingClass.T2C_SESSION: Decimal("0.090"),
    BillingClass.RCS_BASIC: Decimal("0.020"),
    BillingClass.RCS_SINGLE: Decimal("0.045"),
    BillingClass.RCS_A2P_SESSION: Decimal("0.080"),
    BillingClass.RCS_P2A_SESSION: Decimal("0.080"),
    BillingClass.RCS_ACTIVE_AGENT: Decimal("15.00"),
    BillingClass.COVERED: Decimal("0"),
}

DEFAULT_COUNT_AT: Mapping[BillingClass, Moment] = {
    # R7: the operator bills what was submitted; Google bills RCS messages delivered (§8.1).
    BillingClass.RCS_BASIC: "delivered",
    BillingClass.RCS_SINGLE: "delivered",
}


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Unit prices by destination region (ISO 3166, `FR`) and class; `*` for any region."""

    prices: Mapping[str, Mapping[BillingClass, Decimal]] = field(
        default_factory=lambda: {"*": DEFAULT_PRICES}
    )
    currency: str = "EUR"

    def price(self, country: str, billing_class: BillingClass) -> Decimal:
        """The region's price, else the `*` line's, else the default list price."""
        for region in (country, "*"):
            line = self.prices.get(region, {})
            if billing_class in line:
                return line[billing_class]
        return DEFAULT_PRICES[billing_class]


@dataclass(frozen=True, slots=True)
class BillingPolicy:
    prices: PriceTable = field(default_factory=PriceTable)
    timezone: ZoneInfo = PARIS
    """Where "midnight" (R16) and "a calendar month" (R24) are read."""
    long_mt: Literal["segments", "characters"] = "segments"
    """R13's "more than 160 characters": read as more than one SMS segment (default), or
    literally as more than 160 characters."""
    long_mt_in_session_billed: bool = True
    """Whether a long T2C MT inside an open session is billed (R13 vs R15; default: yes)."""
    rcs_basic_measure: Literal["bytes", "characters"] = "bytes"
    """R21 says 160 UTF-8 characters, Google's reports 160 bytes (rbm.md §8.1)."""
    count_at: Mapping[BillingClass, Moment] = field(default_factory=lambda: DEFAULT_COUNT_AT)
    """When a class's entries count in reports: `submitted` (R7) unless set to `delivered`."""

    def moment(self, billing_class: BillingClass) -> Moment:
        return self.count_at.get(billing_class, "submitted")
