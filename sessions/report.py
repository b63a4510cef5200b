"""The monthly usage report: what a month cost, by bot, channel and class, from the ledger.

Pure over the entries given. An entry counts in the calendar month (in `policy.timezone`) of
the moment it is billed (`entries.counted_at`): its time for the classes billed when submitted
(R7), its delivery for the classes billed on delivery (RCS basic and single, rbm.md §8.1); an
undelivered one counts nowhere yet (`awaiting_delivery` says how many the month holds).

Amounts are exact `Decimal`s; the JSON and CSV write them as strings with at least two decimals
(`money`), never through a float. The table is left to the CLI: everything it shows is here.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sessions.classes import BillingClass
from sessions.entries import counted_at
from sessions.policy import BillingPolicy
from store.billing_records import LedgerEntry, LedgerKind

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
CSV_HEADER = ("bot_id", "channel", "class", "count", "quantity", "amount", "currency")
CENT = Decimal("0.01")
SHARE = Decimal("0.0001")

K = TypeVar("K", str, tuple[str, str, str])


@dataclass(frozen=True, slots=True)
class Totals:
    count: int
    quantity: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Line:
    """One bot × channel × class of the month."""

    bot_id: str
    channel: str
    billing_class: str
    totals: Totals


@dataclass(frozen=True, slots=True)
class Group:
    key: str
    totals: Totals


@dataclass(frozen=True, slots=True)
class OperatorShare:
    """R9: how much of a country's traffic went to one operator (as delivery reports name it);
    traffic concentrated on one operator may be suspended or repriced."""

    country: str
    operator: str
    count: int
    share: Decimal
    """Of that country's counted message entries that name an operator, to 4 decimals."""


@dataclass(frozen=True, slots=True)
class Report:
    month: str
    currency: str
    bot_id: str | None
    lines: tuple[Line, ...]
    by_bot: tuple[Group, ...]
    by_channel: tuple[Group, ...]
    by_class: tuple[Group, ...]
    sessions_opened: tuple[Group, ...]
    """Session entries counted in the month, by class (T2C, RCS A2P, RCS P2A)."""
    covered_messages: int
    """Messages sent inside a session (class `covered`) counted in the month."""
    messages_per_session: Decimal | None
    """`covered_messages` / sessions opened, to 2 decimals; None without sessions. Both sides
    are the month's: a session opened on the 31st covers messages of the 1st too. Only the
    business's messages are counted (the ledger holds the person's only as session openers)."""
    operator_shares: tuple[OperatorShare, ...]
    awaiting_delivery: int
    """Entries of a class billed on delivery, sent this month, not delivered (yet)."""
    total: Totals


def monthly_report(
    entries: Sequence[LedgerEntry],
    month: str,
    policy: BillingPolicy,
    *,
    bot_id: str | None = None,
) -> Report:
    """The report of `month` (`YYYY-MM`), of one bot or all. Entries are taken once per id."""
    if not MONTH.match(month):
        raise ValueError(f"{month!r} is not a month: write YYYY-MM, such as 2026-11")
    counted: list[LedgerEntry] = []
    awaiting = 0
    for entry in _unique(entries):
        if bot_id is not None and entry.bot_id != bot_id:
            continue
        at = counted_at(entry, policy)
        if at is None:
            awaiting += _month(entry.at, policy) == month
            continue
        if _month(at, policy) != month:
            continue
        if entry.currency != policy.prices.currency:
            raise ValueError(
                f"ledger entry {entry.id} is in {entry.currency}, "
                f"the report in {policy.prices.currency}"
            )
        counted.append(entry)
    sessions = [e for e in counted if e.kind == LedgerKind.SESSION]
    covered = sum(e.billing_class == BillingClass.COVERED for e in counted)
    return Report(
        month=month,
        currency=policy.prices.currency,
        bot_id=bot_id,
        lines=tuple(
            Line(bot, channel, billing_class, totals)
            for (bot, channel, billing_class), totals in _grouped(
                counted, lambda e: (e.bot_id, e.channel, e.billing_class)
            )
        ),
        by_bot=_groups(counted, lambda e: e.bot_id),
        by_channel=_groups(counted, lambda e: e.channel),
        by_class=_groups(counted, lambda e: e.billing_class),
        sessions_opened=_groups(sessions, lambda e: e.billing_class),
        covered_messages=covered,
        messages_per_session=(
            (Decimal(covered) / len(sessions)).quantize(CENT) if sessions else None
        ),
        operator_shares=_operator_shares(counted),
        awaiting_delivery=awaiting,
        total=_totals(counted),
    )


def money(amount: Decimal) -> str:
    """An exact amount with at least two decimals: `0.00`, `15.00`, `0.135` (never rounded)."""
    if not amount.is_finite():
        raise ValueError(f"{amount} is not an amount")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        amount = amount.quantize(CENT)  # only adds zeros: exact
    return f"{amount:f}"


def report_json(report: Report) -> dict[str, Any]:
    """The report as JSON-able data; amounts and ratios as strings."""
    return {
        "month": report.month,
        "currency": report.currency,
        "bot_id": report.bot_id,
        "total": _totals_json(report.total),
        "lines": [
            {
                "bot_id": line.bot_id,
                "channel": line.channel,
                "class": line.billing_class,
                **_totals_json(line.totals),
            }
            for line in report.lines
        ],
        "by_bot": {group.key: _totals_json(group.totals) for group in report.by_bot},
        "by_channel": {group.key: _totals_json(group.totals) for group in report.by_channel},
        "by_class": {group.key: _totals_json(group.totals) for group in report.by_class},
        "sessions_opened": {group.key: group.totals.count for group in report.sessions_opened},
        "covered_messages": report.covered_messages,
        "messages_per_session": (
            None if report.messages_per_session is None else str(report.messages_per_session)
        ),
        "operator_shares": [
            {
                "country": share.country,
                "operator": share.operator,
                "count": share.count,
                "share": str(share.share),
            }
            for share in report.operator_shares
        ],
        "awaiting_delivery": report.awaiting_delivery,
    }


def report_csv(report: Report) -> str:
    """One row per bot × channel × class, after a header row (`CSV_HEADER`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for line in report.lines:
        totals = line.totals
        writer.writerow(
            (
                line.bot_id,
                line.channel,
                line.billing_class,
                totals.count,
                totals.quantity,
                money(totals.amount),
                report.currency,
            )
        )
    return out.getvalue()


def _month(at: datetime, policy: BillingPolicy) -> str:
    return f"{at.astimezone(policy.timezone):%Y-%m}"


def _unique(entries: Iterable[LedgerEntry]) -> list[LedgerEntry]:
    # The ledger's idempotency key is the id: the same entry twice is one.
    seen: dict[str, LedgerEntry] = {}
    for entry in entries:
        seen.setdefault(entry.id, entry)
    return list(seen.values())


def _totals(entries: Iterable[LedgerEntry]) -> Totals:
    items = list(entries)
    return Totals(
        count=len(items),
        quantity=sum(e.quantity for e in items),
        amount=sum((e.amount for e in items), Decimal(0)),
    )


def _grouped(
    entries: Sequence[LedgerEntry], key: Callable[[LedgerEntry], K]
) -> list[tuple[K, Totals]]:
    buckets: dict[K, list[LedgerEntry]] = defaultdict(list)
    for entry in entries:
        buckets[key(entry)].append(entry)
    return [(k, _totals(buckets[k])) for k in sorted(buckets)]


def _groups(entries: Sequence[LedgerEntry], key: Callable[[LedgerEntry], str]) -> tuple[Group, ...]:
    return tuple(Group(k, totals) for k, totals in _grouped(entries, key))


def _operator_shares(entries: Sequence[LedgerEntry]) -> tuple[OperatorShare, ...]:
    counts = Counter(
        (e.country, e.operator) for e in entries if e.kind == LedgerKind.MESSAGE and e.operator
    )
    per_country = Counter[str]()
    for (country, _), n in counts.items():
        per_country[country] += n
    return tuple(
        OperatorShare(country, operator, n, (Decimal(n) / per_country[country]).quantize(SHARE))
        for (country, operator), n in sorted(
            counts.items(), key=lambda item: (item[0][0], item[0][1] or "")
        )
    )


def _totals_json(totals: Totals) -> dict[str, Any]:
    return {"count": totals.count, "quantity": totals.quantity, "amount": money(totals.amount)}


DELIVERY_LAG = timedelta(days=31)
"""How far before the month the entries are read: an RCS message counts when delivered
(Google's rule), possibly in the month after it was sent."""


def month_bounds(month: str, policy: BillingPolicy) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, in UTC, read in the policy's zone."""
    year, number = (int(part) for part in month.split("-"))
    first = datetime.combine(datetime(year, number, 1).date(), time(), policy.timezone)
    following = datetime(year + number // 12, number % 12 + 1, 1).date()
    return first.astimezone(UTC), datetime.combine(following, time(), policy.timezone).astimezone(
        UTC
    )
