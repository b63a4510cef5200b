"""`causette billing explain`: one human line per ledger entry, saying what it cost and why."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from sessions.policy import PARIS
from sessions.report import money
from store.billing_records import LedgerEntry

CLASS_WIDTH = 16
"""The longest class name (`rcs_active_agent`), so the amounts line up."""


def explain(entries: Sequence[LedgerEntry], *, timezone: ZoneInfo = PARIS) -> list[str]:
    """`2026-11-03 10:00 Paris  t2c_session       0.090 EUR  — R14: …`, in time order.

    Times are local to `timezone` (the policy's, Paris by default) because the rules are
    (R16's midnight, R24's month). A per-segment entry shows its arithmetic: `3 × 0.045 = 0.135`.
    """
    place = timezone.key.rsplit("/", 1)[-1].replace("_", " ")
    lines = []
    for entry in sorted(entries, key=lambda e: (e.at, e.id)):
        when = f"{entry.at.astimezone(timezone):%Y-%m-%d %H:%M} {place}"
        cost = f"{money(entry.amount)} {entry.currency}"
        if entry.quantity != 1:
            cost = f"{entry.quantity} × {money(entry.unit_price)} = {cost}"
        lines.append(f"{when}  {entry.billing_class:<{CLASS_WIDTH}}  {cost}  — {entry.rule}")
    return lines
