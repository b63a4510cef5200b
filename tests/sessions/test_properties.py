"""Properties over random traffic: one entry per message, never two sessions at once (R16,
R22), reports and credits that add up to the ledger exactly."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sessions.classes import BillingClass
from sessions.credits import allocate, expiry
from sessions.entries import DAY
from sessions.events import Mo, Mt
from sessions.policy import BillingPolicy
from sessions.rcs import rcs_settle, rcs_step
from sessions.report import monthly_report, report_csv, report_json
from sessions.t2c import session_end, t2c_step
from store.billing_records import CreditPurchase, LedgerEntry, LedgerKind
from tests.sessions.factories import ledger_entry, rcs_mo, rcs_mt, t2c_mo, t2c_mt, utc

START = utc(2026, 10, 23, 12)
"""Traffic runs over the fall-back night of 25 October 2026."""

traffic = st.lists(
    st.tuples(
        st.sampled_from(["mo", "mt"]),
        st.integers(0, 4 * 24 * 60),  # minutes after START
        st.integers(1, 3),  # segments (T2C) or rich-ness (RCS: 3 is rich)
    ),
    max_size=40,
)
policies = st.builds(
    BillingPolicy,
    long_mt=st.sampled_from(["segments", "characters"]),
    long_mt_in_session_billed=st.booleans(),
)


def t2c_events(spec: list[tuple[str, int, int]]) -> list[Mt | Mo]:
    events: list[Mt | Mo] = []
    for n, (kind, minutes, segments) in enumerate(sorted(spec, key=lambda item: item[1])):
        at = START + timedelta(minutes=minutes)
        if kind == "mo":
            events.append(t2c_mo(f"mo-{n}", at))
        else:
            events.append(t2c_mt(f"mt-{n}", at, segments=segments, characters=segments * 150))
    return events


def rcs_events(spec: list[tuple[str, int, int]]) -> list[Mt | Mo]:
    events: list[Mt | Mo] = []
    for n, (kind, minutes, shape) in enumerate(sorted(spec, key=lambda item: item[1])):
        at = START + timedelta(minutes=minutes)
        events.append(
            rcs_mo(f"mo-{n}", at) if kind == "mo" else rcs_mt(f"mt-{n}", at, rich=shape == 3)
        )
    return events


def one_entry_per_message(events: list[Mt | Mo], entries: list[LedgerEntry]) -> None:
    ids = Counter(entry.id for entry in entries)
    assert all(n == 1 for n in ids.values()), ids
    messages = {e.message_key for e in entries if e.kind is LedgerKind.MESSAGE}
    assert messages == {event.key for event in events if isinstance(event, Mt)}


@settings(max_examples=200, deadline=None)
@given(traffic, policies)
def test_t2c_sessions_never_overlap_and_every_mt_has_one_entry(
    spec: list[tuple[str, int, int]], policy: BillingPolicy
) -> None:
    events = t2c_events(spec)
    state: dict[str, Any] | None = None
    entries: list[LedgerEntry] = []
    for event in events:
        state, produced = t2c_step(state, event, policy)
        entries += produced
        assert "due" not in state

    one_entry_per_message(events, entries)
    windows = sorted(
        (e.at, session_end(e.at, policy), e.session_id)
        for e in entries
        if e.kind is LedgerKind.SESSION
    )
    for (_, end, _), (start, _, _) in pairwise(windows):
        assert end <= start  # R16: never two sessions open at once
    days = Counter(start.astimezone(policy.timezone).date() for start, _, _ in windows)
    assert all(n == 1 for n in days.values())  # R16 Choice: one per local day at most
    spans = {sid: (start, end) for start, end, sid in windows}
    mos = [e for e in events if isinstance(e, Mo)]
    for entry in entries:
        if entry.billing_class == BillingClass.COVERED:
            start, end = spans[entry.session_id]
            assert start <= entry.at < end  # R15: only inside the session
        if entry.billing_class == BillingClass.T2C_MT:
            # (An MT at the very instant of the MO, handled before it, was billed.)
            assert not any(start < entry.at < end for start, end in spans.values())
    # Every MO falls in some session: its own, or the one already open (R14, R16).
    for mo in mos:
        assert any(start <= mo.at < end for start, end in spans.values())


@settings(max_examples=200, deadline=None)
@given(traffic)
def test_t2c_replays_add_no_new_ids(spec: list[tuple[str, int, int]]) -> None:
    policy = BillingPolicy()
    state: dict[str, Any] | None = None
    seen: dict[str, LedgerEntry] = {}
    for event in t2c_events(spec):
        before = state
        state, produced = t2c_step(state, event, policy)
        assert t2c_step(before, event, policy) == (state, produced)  # deterministic
        _, replayed = t2c_step(state, event, policy)  # the same event after it was applied
        seen.update((e.id, e) for e in produced)
        assert {e.id for e in replayed} <= set(seen)


@settings(max_examples=200, deadline=None)
@given(traffic)
def test_rcs_conversations_never_overlap_and_every_mt_has_one_entry(
    spec: list[tuple[str, int, int]],
) -> None:
    policy = BillingPolicy()
    events = rcs_events(spec)
    state: dict[str, Any] | None = None
    entries: list[LedgerEntry] = []
    for event in events:
        state, produced = rcs_step(state, event, policy, conversational=True)
        entries += produced
        pending = state["pending"]
        if pending:
            first = min(datetime.fromisoformat(item["at"]) for item in pending)
            assert state["due"] == (first + DAY).isoformat()
        else:
            assert "due" not in state
        _, replayed = rcs_step(state, event, policy, conversational=True)
        assert {e.id for e in replayed} <= {e.id for e in entries}  # replays add nothing
    state, last = rcs_settle(state, START + timedelta(days=10), policy)
    entries += last
    assert state["pending"] == []
    assert "due" not in state

    one_entry_per_message(events, entries)
    windows = sorted((e.at, e.at + DAY) for e in entries if e.kind is LedgerKind.SESSION)
    for (_, end), (start, _) in pairwise(windows):
        assert end <= start  # R22: one conversation at a time
    for entry in entries:
        if entry.billing_class == BillingClass.COVERED:
            opened = next(e for e in entries if e.id == f"session:{entry.session_id}")
            assert opened.at - DAY < entry.at < opened.at + DAY


amounts = st.decimals(min_value=0, max_value=20, places=3, allow_nan=False, allow_infinity=False)
ledgers = st.lists(
    st.tuples(
        st.integers(0, 90 * 24 * 60),
        amounts,
        st.integers(1, 4),
        st.sampled_from(["t2c_mt", "sms_mt", "covered", "rcs_basic", "t2c_session"]),
        st.sampled_from(["bot-1", "bot-2"]),
        st.sampled_from(["t2c", "sms", "rcs"]),
        st.booleans(),
    ),
    max_size=40,
)


def billed_at(entry: LedgerEntry) -> datetime | None:
    """The default policy: RCS basic counts when delivered, the rest when submitted (R7)."""
    return entry.delivered_at if entry.billing_class == "rcs_basic" else entry.at


def make_ledger(spec: list[Any]) -> list[LedgerEntry]:
    return [
        ledger_entry(
            f"e{n}",
            utc(2026, 10, 1) + timedelta(minutes=minutes),
            str(amount),
            quantity=quantity,
            billing_class=billing_class,
            bot_id=bot,
            channel=channel,
            delivered_at=(
                utc(2026, 10, 1) + timedelta(minutes=minutes + 30) if delivered else None
            ),
        )
        for n, (minutes, amount, quantity, billing_class, bot, channel, delivered) in enumerate(
            spec
        )
    ]


@settings(max_examples=100, deadline=None)
@given(ledgers)
def test_report_csv_and_json_add_up_to_the_ledger(spec: list[Any]) -> None:
    policy = BillingPolicy()
    entries = make_ledger(spec)

    report = monthly_report(entries, "2026-11", policy)

    counted = [
        e
        for e in entries
        if (at := billed_at(e)) is not None
        and f"{at.astimezone(policy.timezone):%Y-%m}" == "2026-11"
    ]
    total = sum((e.amount for e in counted), Decimal(0))
    assert report.total.amount == total
    assert report.total.count == len(counted)
    assert sum((g.totals.amount for g in report.by_bot), Decimal(0)) == total
    assert sum((g.totals.amount for g in report.by_channel), Decimal(0)) == total
    assert sum((g.totals.amount for g in report.by_class), Decimal(0)) == total
    rows = report_csv(report).splitlines()[1:]
    assert sum((Decimal(row.split(",")[5]) for row in rows), Decimal(0)) == total
    data = report_json(report)
    assert Decimal(data["total"]["amount"]) == total
    assert sum(Decimal(line["amount"]) for line in data["lines"]) == total


@settings(max_examples=100, deadline=None)
@given(
    ledgers,
    st.lists(st.tuples(st.integers(-400, 80), amounts), max_size=5),
)
def test_credits_pay_at_most_what_was_bought_and_the_rest_is_unpaid(
    spec: list[Any], bought: list[tuple[int, Decimal]]
) -> None:
    policy = BillingPolicy()
    entries = make_ledger(spec)
    purchases = [
        CreditPurchase(
            f"p{n}",
            amount,
            "EUR",
            utc(2026, 10, 1) + timedelta(days=days),
            expiry(utc(2026, 10, 1) + timedelta(days=days)),
        )
        for n, (days, amount) in enumerate(bought)
    ]
    now = utc(2027, 1, 15)

    result = allocate(purchases, entries, now, policy)

    counted = sum(
        (e.amount for e in entries if billed_at(e) is not None),
        Decimal(0),
    )
    assert sum((d.amount for d in result.debits), Decimal(0)) + result.unpaid_total == counted
    for line in result.lines:
        assert line.spent + line.available + line.lost <= line.purchase.amount
        if line.purchase.purchased_at <= now:
            assert line.spent + line.available + line.lost == line.purchase.amount
    for debit in result.debits:
        paid_by = next(p for p in purchases if p.id == debit.purchase_id)
        assert paid_by.purchased_at <= debit.at < paid_by.expires_at  # R8
