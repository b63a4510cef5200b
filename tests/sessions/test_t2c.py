"""Time2Chat sessions and MTs (seed rules R12-R16), DST nights included."""

from __future__ import annotations

import copy
from datetime import UTC, timedelta
from decimal import Decimal

import pytest

from sessions.classes import BillingClass
from sessions.policy import BillingPolicy, PriceTable
from sessions.t2c import session_end, t2c_step
from store.billing_records import LedgerKind
from tests.sessions.factories import BOT, NUMBER_09, PERSON, paris, rcs_mo, t2c_mo, t2c_mt, utc

POLICY = BillingPolicy()


def test_an_mo_opens_a_session_billed_once_until_midnight_paris() -> None:
    """R14, R16."""
    state, entries = t2c_step(None, t2c_mo("mo-1", paris(2026, 11, 3, 10)), POLICY)

    [entry] = entries
    assert entry.id == "session:t2c:mo-1"
    assert entry.kind is LedgerKind.SESSION
    assert entry.billing_class == BillingClass.T2C_SESSION
    assert entry.session_id == "t2c:mo-1"
    assert entry.message_key == "mo-1"
    assert (entry.bot_id, entry.sender, entry.sender_type) == (BOT, NUMBER_09, "t2c_number")
    assert (entry.recipient, entry.channel, entry.country) == (PERSON, "t2c", "FR")
    assert (entry.quantity, entry.unit_price, entry.currency) == (1, Decimal("0.090"), "EUR")
    assert entry.at == paris(2026, 11, 3, 10)
    assert "R14" in entry.rule
    assert "R16" in entry.rule
    assert "2026-11-04 00:00 Europe/Paris" in entry.rule
    assert state["session"]["until"] == "2026-11-03T23:00:00+00:00"
    assert "due" not in state  # nothing to settle: the session ends by itself


def test_mts_inside_the_session_are_covered_and_after_midnight_billed() -> None:
    """R15 inside; R12/R14 once the session ended at midnight."""
    state, _ = t2c_step(None, t2c_mo("mo-1", paris(2026, 11, 3, 10)), POLICY)

    state, [inside] = t2c_step(state, t2c_mt("mt-1", paris(2026, 11, 3, 23, 59)), POLICY)
    state, [after] = t2c_step(state, t2c_mt("mt-2", paris(2026, 11, 4, 0, 0)), POLICY)

    assert inside.id == "message:mt-1"
    assert inside.kind is LedgerKind.MESSAGE
    assert inside.billing_class == BillingClass.COVERED
    assert (inside.unit_price, inside.session_id, inside.message_key) == (
        Decimal(0),
        "t2c:mo-1",
        "mt-1",
    )
    assert "R15" in inside.rule
    assert after.billing_class == BillingClass.T2C_MT
    assert (after.unit_price, after.quantity, after.session_id) == (Decimal("0.050"), 1, None)
    assert "R12" in after.rule


def test_an_mt_before_any_mo_is_billed_as_a_t2c_mt() -> None:
    """R12, R14: no MO yet, no session: each MT at the first-MT price."""
    state, [first] = t2c_step(None, t2c_mt("mt-1", paris(2026, 11, 3, 9)), POLICY)
    _, [second] = t2c_step(state, t2c_mt("mt-2", paris(2026, 11, 3, 9, 5)), POLICY)

    assert [first.billing_class, second.billing_class] == [BillingClass.T2C_MT] * 2
    assert first.sender_type == "t2c_number"
    assert "R14" in first.rule


def test_an_mo_at_23_59_and_another_at_00_01_open_two_sessions() -> None:
    """R16: the session of 23:59 ends at midnight; 00:01 is a new day."""
    state, [first] = t2c_step(None, t2c_mo("mo-1", paris(2026, 11, 3, 23, 59)), POLICY)
    state, [between] = t2c_step(state, t2c_mt("mt-1", paris(2026, 11, 4, 0, 0, second=30)), POLICY)
    _, [second] = t2c_step(state, t2c_mo("mo-2", paris(2026, 11, 4, 0, 1)), POLICY)

    assert [first.id, second.id] == ["session:t2c:mo-1", "session:t2c:mo-2"]
    assert between.billing_class == BillingClass.T2C_MT


def test_an_mo_while_a_session_is_open_opens_nothing() -> None:
    """R16 Choice: no second session (nor fee) the same day."""
    state, _ = t2c_step(None, t2c_mo("mo-1", paris(2026, 11, 3, 8)), POLICY)

    after, entries = t2c_step(state, t2c_mo("mo-2", paris(2026, 11, 3, 22)), POLICY)

    assert entries == []
    assert after["session"]["id"] == "t2c:mo-1"


def test_spring_forward_night_session_ends_at_the_right_instant() -> None:
    """2026-03-29, a 23-hour day: 01:30 CET (00:30 UTC) ends at 00:00 CEST = 22:00 UTC."""
    at = paris(2026, 3, 29, 1, 30)
    assert at == utc(2026, 3, 29, 0, 30)

    state, [entry] = t2c_step(None, t2c_mo("mo-1", at), POLICY)

    assert session_end(at, POLICY) == utc(2026, 3, 29, 22)
    assert state["session"]["until"] == "2026-03-29T22:00:00+00:00"
    assert "2026-03-30 00:00 Europe/Paris" in entry.rule
    _, [last] = t2c_step(state, t2c_mt("mt-1", utc(2026, 3, 29, 21, 59)), POLICY)
    _, [next_day] = t2c_step(state, t2c_mt("mt-2", utc(2026, 3, 29, 22)), POLICY)
    assert last.billing_class == BillingClass.COVERED
    assert next_day.billing_class == BillingClass.T2C_MT


def test_the_night_before_spring_forward_ends_at_cet_midnight() -> None:
    assert session_end(paris(2026, 3, 28, 23, 30), POLICY) == utc(2026, 3, 28, 23)


def test_fall_back_night_session_of_01_30_ends_at_cet_midnight() -> None:
    """2026-10-25, a 25-hour day: 01:30 CEST (23:30 UTC the day before) ends at 00:00 CET on
    the 26th = 23:00 UTC on the 25th, 23 h 30 later."""
    at = paris(2026, 10, 25, 1, 30)
    assert at == utc(2026, 10, 24, 23, 30)

    state, _ = t2c_step(None, t2c_mo("mo-1", at), POLICY)

    assert state["session"]["until"] == "2026-10-25T23:00:00+00:00"
    assert session_end(at, POLICY) - at == timedelta(hours=23, minutes=30)
    # The second 02:30 (CET, fold=1) is the same local day: same end, no new session.
    again = paris(2026, 10, 25, 2, 30, fold=1)
    # (PEP 495: a time in the fold never equals another zone's, so compare in UTC.)
    assert again.astimezone(UTC) == utc(2026, 10, 25, 1, 30)
    assert session_end(again, POLICY) == utc(2026, 10, 25, 23)
    assert t2c_step(state, t2c_mo("mo-2", again), POLICY)[1] == []


def test_an_mo_at_the_start_of_the_25_hour_day_holds_25_hours() -> None:
    at = paris(2026, 10, 25, 0, 0)
    state, _ = t2c_step(None, t2c_mo("mo-1", at), POLICY)

    assert session_end(at, POLICY) - at == timedelta(hours=25)
    _, [late] = t2c_step(state, t2c_mt("mt-1", paris(2026, 10, 25, 23, 59)), POLICY)
    assert late.billing_class == BillingClass.COVERED
    assert late.at - at == timedelta(hours=24, minutes=59)


def test_a_long_mt_outside_a_session_is_billed_per_segment_and_opens_nothing() -> None:
    """R13."""
    state, [entry] = t2c_step(
        None, t2c_mt("mt-1", paris(2026, 11, 3, 9), segments=3, characters=400), POLICY
    )

    assert entry.billing_class == BillingClass.SMS_MT
    assert (entry.quantity, entry.unit_price, entry.amount) == (
        3,
        Decimal("0.045"),
        Decimal("0.135"),
    )
    assert entry.session_id is None
    assert "R13" in entry.rule
    assert state["session"] is None
    _, [short] = t2c_step(state, t2c_mt("mt-2", paris(2026, 11, 3, 9, 1)), POLICY)
    assert short.billing_class == BillingClass.T2C_MT


@pytest.mark.parametrize(
    ("billed", "billing_class", "quantity", "session_id"),
    [
        (True, BillingClass.SMS_MT, 2, None),
        (False, BillingClass.COVERED, 1, "t2c:mo-1"),
    ],
)
def test_a_long_mt_inside_a_session_follows_the_policy(
    billed: bool, billing_class: BillingClass, quantity: int, session_id: str | None
) -> None:
    """R13 vs R15: `long_mt_in_session_billed`."""
    policy = BillingPolicy(long_mt_in_session_billed=billed)
    state, _ = t2c_step(None, t2c_mo("mo-1", paris(2026, 11, 3, 10)), policy)

    _, [entry] = t2c_step(
        state, t2c_mt("mt-1", paris(2026, 11, 3, 11), segments=2, characters=200), policy
    )

    assert (entry.billing_class, entry.quantity, entry.session_id) == (
        billing_class,
        quantity,
        session_id,
    )
    assert entry.amount == (Decimal("0.090") if billed else 0)
    assert "R13" in entry.rule


def test_long_read_as_characters() -> None:
    """R13 read literally: 150 accented characters take 3 UCS-2 segments but are not long."""
    policy = BillingPolicy(long_mt="characters")
    at = paris(2026, 11, 3, 9)

    _, [ucs2] = t2c_step(None, t2c_mt("mt-1", at, segments=3, characters=150), policy)
    _, [long] = t2c_step(None, t2c_mt("mt-2", at, segments=2, characters=161), policy)
    _, [by_segments] = t2c_step(None, t2c_mt("mt-3", at, segments=3, characters=150), POLICY)

    assert (ucs2.billing_class, ucs2.quantity) == (BillingClass.T2C_MT, 1)
    assert (long.billing_class, long.quantity) == (BillingClass.SMS_MT, 2)
    assert "161 characters" in long.rule
    assert by_segments.billing_class == BillingClass.SMS_MT


def test_replaying_an_event_gives_entries_with_the_same_ids() -> None:
    """Idempotency is by id: the ledger keeps the first of each."""
    mo = t2c_mo("mo-1", paris(2026, 11, 3, 10))
    mt = t2c_mt("mt-1", paris(2026, 11, 3, 11))

    state, first = t2c_step(None, mo, POLICY)
    assert t2c_step(None, mo, POLICY) == (state, first)  # same state in: same result
    state, again = t2c_step(state, mo, POLICY)  # replayed after it was applied
    state, [sent] = t2c_step(state, mt, POLICY)
    _, [resent] = t2c_step(state, mt, POLICY)

    assert [e.id for e in again] == [e.id for e in first] == ["session:t2c:mo-1"]
    assert again == first
    assert resent == sent


def test_the_state_given_is_not_changed() -> None:
    state, _ = t2c_step(None, t2c_mo("mo-1", paris(2026, 11, 3, 10)), POLICY)
    state["due"] = "2026-11-03T00:00:00+00:00"  # left by an older version: removed
    before = copy.deepcopy(state)

    after, _ = t2c_step(state, t2c_mo("mo-2", paris(2026, 11, 4, 10)), POLICY)

    assert state == before
    assert "due" not in after
    assert after["session"]["id"] == "t2c:mo-2"


def test_an_mo_older_than_the_open_session_opens_nothing() -> None:
    """Out of order: it cannot tell whether its day had a session; billing twice is worse."""
    state, _ = t2c_step(None, t2c_mo("mo-2", paris(2026, 11, 3, 10)), POLICY)

    assert t2c_step(state, t2c_mo("mo-1", paris(2026, 11, 3, 9)), POLICY)[1] == []


def test_an_mt_before_the_mo_of_the_same_day_is_not_covered() -> None:
    """R14: a session starts with the MO; what was sent before it was billed."""
    state, _ = t2c_step(None, t2c_mo("mo-1", paris(2026, 11, 3, 10)), POLICY)

    _, [entry] = t2c_step(state, t2c_mt("mt-1", paris(2026, 11, 3, 9)), POLICY)

    assert entry.billing_class == BillingClass.T2C_MT


def test_prices_follow_the_recipient_region() -> None:
    policy = BillingPolicy(
        prices=PriceTable({"FR": {BillingClass.T2C_SESSION: Decimal("0.07")}, "*": {}})
    )

    _, [entry] = t2c_step(None, t2c_mo("mo-1", paris(2026, 11, 3, 10)), policy)

    assert entry.unit_price == Decimal("0.07")


def test_events_of_other_channels_and_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="not Time2Chat"):
        t2c_step(None, rcs_mo("mo-1", paris(2026, 11, 3, 10)), POLICY)
    with pytest.raises(ValueError, match="timezone-aware"):
        t2c_step(None, t2c_mo("mo-1", paris(2026, 11, 3, 10).replace(tzinfo=None)), POLICY)
