"""The monthly report, its JSON and CSV, and `billing explain` lines."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from sessions.classes import BillingClass
from sessions.events import Mo, Mt
from sessions.explain import explain
from sessions.monthly import active_agent_entry
from sessions.policy import BillingPolicy
from sessions.report import CSV_HEADER, money, monthly_report, report_csv, report_json
from sessions.sms import sms_entry
from sessions.t2c import t2c_step
from store.billing_records import LedgerEntry, LedgerKind
from tests.sessions.factories import (
    AGENT,
    BOT,
    ledger_entry,
    paris,
    sms_mt,
    t2c_mo,
    t2c_mt,
    utc,
)

POLICY = BillingPolicy()


def november() -> list[LedgerEntry]:
    """A month of traffic as the trackers write it, and entries at its edges."""
    entries: list[LedgerEntry] = []
    state = None
    events: list[Mt | Mo] = [
        t2c_mt("mt-1", paris(2026, 11, 3, 9)),  # t2c_mt 0.050
        t2c_mo("mo-1", paris(2026, 11, 3, 10)),  # t2c_session 0.090
        t2c_mt("mt-2", paris(2026, 11, 3, 10, 1)),  # covered
        t2c_mt("mt-3", paris(2026, 11, 3, 10, 2)),  # covered
        t2c_mt("mt-4", paris(2026, 11, 3, 11), segments=3, characters=400),  # sms 3 × 0.045
        t2c_mo("mo-2", paris(2026, 11, 4, 8)),  # t2c_session 0.090
        t2c_mt("mt-5", paris(2026, 11, 4, 8, 1)),  # covered
    ]
    for event in events:
        state, produced = t2c_step(state, event, POLICY)
        entries += produced
    entries.append(sms_entry(sms_mt("sms-1", paris(2026, 11, 5, 12), segments=2), POLICY))
    entries.append(active_agent_entry(AGENT, "bot-2", paris(2026, 11, 6), POLICY))
    entries += [
        ledger_entry(
            "rcs-delivered",
            paris(2026, 11, 6, 9),
            "0.020",
            billing_class="rcs_basic",
            bot_id="bot-2",
            channel="rcs",
            delivered_at=paris(2026, 11, 6, 9, 1),
            operator="Orange",
        ),
        ledger_entry(  # sent in October, delivered in November: a November cost
            "rcs-late",
            paris(2026, 10, 31, 23, 50),
            "0.045",
            billing_class="rcs_single",
            bot_id="bot-2",
            channel="rcs",
            delivered_at=paris(2026, 11, 1, 0, 10),
            operator="SFR",
        ),
        ledger_entry(  # never delivered: counts nowhere yet
            "rcs-undelivered",
            paris(2026, 11, 7),
            "0.020",
            billing_class="rcs_basic",
            bot_id="bot-2",
            channel="rcs",
        ),
        ledger_entry("october", utc(2026, 10, 31, 22, 30), "0.050"),  # 23:30 Paris
        ledger_entry("december", utc(2026, 11, 30, 23, 30), "0.050"),  # 00:30 Paris
        ledger_entry("last-minute", utc(2026, 11, 30, 22, 59), "0.050", operator="Orange"),
    ]
    return entries


def test_the_month_counts_by_bot_channel_and_class_exactly() -> None:
    report = monthly_report(november(), "2026-11", POLICY)

    by_class = {group.key: group.totals for group in report.by_class}
    assert {k: (t.count, t.quantity, t.amount) for k, t in by_class.items()} == {
        "covered": (3, 3, Decimal(0)),
        "rcs_active_agent": (1, 1, Decimal("15.00")),
        "rcs_basic": (1, 1, Decimal("0.020")),
        "rcs_single": (1, 1, Decimal("0.045")),
        "sms_mt": (2, 5, Decimal("0.225")),
        "t2c_mt": (2, 2, Decimal("0.100")),
        "t2c_session": (2, 2, Decimal("0.180")),
    }
    assert report.total.amount == Decimal("15.570")
    assert report.total.count == 12
    assert {g.key: g.totals.amount for g in report.by_bot} == {
        BOT: Decimal("0.505"),
        "bot-2": Decimal("15.065"),
    }
    assert {g.key: g.totals.amount for g in report.by_channel} == {
        "rcs": Decimal("15.065"),
        "sms": Decimal("0.090"),
        "t2c": Decimal("0.415"),
    }
    assert report.awaiting_delivery == 1
    assert (report.month, report.currency, report.bot_id) == ("2026-11", "EUR", None)


def test_sessions_and_messages_per_session() -> None:
    report = monthly_report(november(), "2026-11", POLICY)

    assert [(g.key, g.totals.count) for g in report.sessions_opened] == [("t2c_session", 2)]
    assert report.covered_messages == 3
    assert report.messages_per_session == Decimal("1.50")
    empty = monthly_report([], "2026-11", POLICY)
    assert empty.messages_per_session is None
    assert empty.total.amount == 0


def test_operator_shares_per_country() -> None:
    """R9: traffic concentrated on one operator may be repriced; message entries only."""
    report = monthly_report(november(), "2026-11", POLICY)

    assert [(s.country, s.operator, s.count, s.share) for s in report.operator_shares] == [
        ("FR", "Orange", 2, Decimal("0.6667")),
        ("FR", "SFR", 1, Decimal("0.3333")),
    ]


def test_one_bot() -> None:
    report = monthly_report(november(), "2026-11", POLICY, bot_id="bot-2")

    assert report.total.amount == Decimal("15.065")
    assert [g.key for g in report.by_bot] == ["bot-2"]
    assert report.awaiting_delivery == 1


def test_delivered_classes_can_count_when_submitted() -> None:
    policy = BillingPolicy(count_at={})  # R7 for every class
    report = monthly_report(november(), "2026-11", policy)

    assert {g.key: g.totals.count for g in report.by_class}["rcs_basic"] == 2
    assert "rcs_single" not in {g.key for g in report.by_class}  # submitted in October
    assert report.awaiting_delivery == 0


def test_the_same_entry_twice_counts_once() -> None:
    entries = november()
    assert monthly_report(entries + entries, "2026-11", POLICY) == monthly_report(
        entries, "2026-11", POLICY
    )


def test_csv_has_one_row_per_bot_channel_class_and_sums_to_the_total() -> None:
    report = monthly_report(november(), "2026-11", POLICY)

    rows = list(csv.reader(io.StringIO(report_csv(report))))

    assert tuple(rows[0]) == CSV_HEADER
    body = rows[1:]
    assert len(body) == len(report.lines) == len({tuple(r[:3]) for r in body})
    assert sum(Decimal(r[5]) for r in body) == report.total.amount
    assert sum(int(r[3]) for r in body) == report.total.count
    assert sum(int(r[4]) for r in body) == report.total.quantity
    assert [BOT, "sms", "sms_mt", "1", "2", "0.090", "EUR"] in body
    assert [BOT, "t2c", "covered", "3", "3", "0.00", "EUR"] in body
    assert ["bot-2", "rcs", "rcs_active_agent", "1", "1", "15.00", "EUR"] in body


def test_json_says_the_same_in_strings() -> None:
    report = monthly_report(november(), "2026-11", POLICY)

    data = report_json(report)

    assert data["total"] == {"count": 12, "quantity": 15, "amount": "15.570"}
    assert Decimal(data["by_bot"]["bot-2"]["amount"]) == Decimal("15.065")
    assert sum(Decimal(line["amount"]) for line in data["lines"]) == report.total.amount
    assert data["sessions_opened"] == {"t2c_session": 2}
    assert data["messages_per_session"] == "1.50"
    assert data["operator_shares"][0] == {
        "country": "FR",
        "operator": "Orange",
        "count": 2,
        "share": "0.6667",
    }
    assert data["awaiting_delivery"] == 1


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal(0), "0.00"),
        (Decimal("15"), "15.00"),
        (Decimal("0.1"), "0.10"),
        (Decimal("0.135"), "0.135"),
        (Decimal("0.0900"), "0.0900"),
        (Decimal("1E+1"), "10.00"),
        (Decimal("-0.5"), "-0.50"),
    ],
)
def test_money_is_exact_with_two_decimals_at_least(amount: Decimal, text: str) -> None:
    assert money(amount) == text


def test_bad_months_and_currencies_are_refused() -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        monthly_report([], "2026-13", POLICY)
    dollars = ledger_entry("usd", paris(2026, 11, 3), "1", currency="USD")
    with pytest.raises(ValueError, match="USD"):
        monthly_report([dollars], "2026-11", POLICY)


def test_explain_says_when_what_how_much_and_why() -> None:
    state, [session] = t2c_step(None, t2c_mo("mo-1", paris(2026, 11, 3, 10)), POLICY)
    _, [long] = t2c_step(state, t2c_mt("mt-1", paris(2026, 11, 3, 9), segments=3), POLICY)

    lines = explain([session, long])

    assert lines[0] == (
        "2026-11-03 09:00 Paris  sms_mt            3 × 0.045 = 0.135 EUR  — " + long.rule
    )
    assert lines[1].startswith("2026-11-03 10:00 Paris  t2c_session       0.090 EUR  — R14")
    assert session.kind is LedgerKind.SESSION
    assert explain([session], timezone=ZoneInfo("UTC"))[0].startswith("2026-11-03 09:00 UTC")


def test_explain_names_the_class_from_the_ledger() -> None:
    entry = ledger_entry("x", paris(2026, 11, 3, 10), "0.050")
    assert BillingClass.T2C_MT in explain([entry])[0]
