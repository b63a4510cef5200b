"""RCS billing: basic and single (R21), conversations of 24 h (R22, rbm.md §8.1)."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from sessions.classes import BillingClass
from sessions.events import Mo, Mt
from sessions.policy import BillingPolicy
from sessions.rcs import rcs_class, rcs_settle, rcs_step
from store.billing_records import LedgerEntry, LedgerKind
from tests.sessions.factories import AGENT, PERSON, paris, rcs_mo, rcs_mt, t2c_mo, utc

POLICY = BillingPolicy()
T0 = paris(2026, 11, 3, 10)
H = timedelta(hours=1)
MIN = timedelta(minutes=1)


def step(
    state: dict[str, Any] | None, event: Mt | Mo, *, conversational: bool = True
) -> tuple[dict[str, Any], list[LedgerEntry]]:
    return rcs_step(state, event, POLICY, conversational=conversational)


def classes(entries: list[LedgerEntry]) -> list[str]:
    return [entry.billing_class for entry in entries]


# --- R21: basic or single -------------------------------------------------------------------


def test_basic_is_plain_text_of_at_most_160_bytes() -> None:
    assert rcs_class(rcs_mt("a", T0, size=160), POLICY) is BillingClass.RCS_BASIC
    assert rcs_class(rcs_mt("b", T0, size=161), POLICY) is BillingClass.RCS_SINGLE
    assert rcs_class(rcs_mt("c", T0, rich=True, size=10), POLICY) is BillingClass.RCS_SINGLE


def test_the_160_can_be_read_as_characters() -> None:
    """R21 says characters, Google's reports bytes: 100 accented letters are 200 bytes."""
    mt = Mt("k", "bot", PERSON, T0, "rcs", AGENT, "rcs_agent", text_bytes=200, text_characters=100)

    assert rcs_class(mt, POLICY) is BillingClass.RCS_SINGLE
    assert rcs_class(mt, BillingPolicy(rcs_basic_measure="characters")) is BillingClass.RCS_BASIC


def test_a_non_conversational_agent_pays_per_message() -> None:
    """R21: every A2P message billed at once; the person's messages cost nothing."""
    state, [basic] = step(None, rcs_mt("mt-1", T0), conversational=False)
    state, [single] = step(state, rcs_mt("mt-2", T0 + MIN, rich=True), conversational=False)
    state, nothing = step(state, rcs_mo("mo-1", T0 + 2 * MIN), conversational=False)

    assert (basic.id, basic.kind, basic.message_key) == ("message:mt-1", LedgerKind.MESSAGE, "mt-1")
    assert (basic.billing_class, basic.unit_price) == (BillingClass.RCS_BASIC, Decimal("0.020"))
    assert (single.billing_class, single.unit_price) == (BillingClass.RCS_SINGLE, Decimal("0.045"))
    assert (basic.sender, basic.sender_type, basic.channel, basic.country) == (
        AGENT,
        "rcs_agent",
        "rcs",
        "FR",
    )
    assert "R21: basic message (text only, 20 bytes of at most 160)" in basic.rule
    assert "R21: single message (suggestions, media or a card)" in single.rule
    assert nothing == []
    assert "due" not in state


# --- R22: A2P conversations -----------------------------------------------------------------


def test_an_agent_message_waits_for_a_reply() -> None:
    state, entries = step(None, rcs_mt("mt-1", T0))

    assert entries == []
    assert [item["key"] for item in state["pending"]] == ["mt-1"]
    assert state["pending"][0]["class"] == "rcs_basic"
    assert state["due"] == "2026-11-04T09:00:00+00:00"  # T0 + 24 h


def test_a_reply_at_23_h_59_opens_an_a2p_session() -> None:
    state, _ = step(None, rcs_mt("mt-1", T0))

    state, [session, covered] = step(state, rcs_mo("mo-1", T0 + 23 * H + 59 * MIN))

    assert session.id == "session:rcs:mo-1"
    assert session.kind is LedgerKind.SESSION
    assert session.billing_class == BillingClass.RCS_A2P_SESSION
    assert (session.session_id, session.message_key, session.unit_price) == (
        "rcs:mo-1",
        "mo-1",
        Decimal("0.080"),
    )
    assert (session.sender, session.sender_type) == (AGENT, "rcs_agent")
    assert "R22" in session.rule
    assert covered.id == "message:mt-1"
    assert (covered.billing_class, covered.unit_price) == (BillingClass.COVERED, Decimal(0))
    assert (covered.session_id, covered.at) == ("rcs:mo-1", T0)
    assert state["pending"] == []
    assert "due" not in state
    assert state["session"]["until"] == "2026-11-05T08:59:00+00:00"


@pytest.mark.parametrize("late", [24 * H, 24 * H + MIN])
def test_a_reply_at_24_h_or_later_opens_nothing_and_the_message_is_billed(
    late: timedelta,
) -> None:
    """The window is [sent, sent + 24 h): exactly 24 h is too late."""
    state, _ = step(None, rcs_mt("mt-1", T0))

    state, [billed] = step(state, rcs_mo("mo-1", T0 + late))

    assert billed.id == "message:mt-1"
    assert (billed.billing_class, billed.at, billed.session_id) == (
        BillingClass.RCS_BASIC,
        T0,
        None,
    )
    assert "no reply within 24 h" in billed.rule
    assert state["session"] is None
    assert state["pending"] == []
    assert state["last_mo"] is not None  # the agent may still answer it (P2A)


def test_settling_bills_messages_left_unanswered_24_h() -> None:
    state, _ = step(None, rcs_mt("mt-1", T0, rich=True))
    state, _ = step(state, rcs_mt("mt-2", T0 + 2 * H))

    early, nothing = rcs_settle(state, T0 + 23 * H + 59 * MIN, POLICY)
    assert (early, nothing) == (state, [])

    state, [billed] = rcs_settle(state, T0 + 24 * H + MIN, POLICY)

    assert (billed.id, billed.billing_class, billed.at) == (
        "message:mt-1",
        BillingClass.RCS_SINGLE,
        T0,
    )
    assert "R22" in billed.rule
    assert [item["key"] for item in state["pending"]] == ["mt-2"]
    assert state["due"] == "2026-11-04T11:00:00+00:00"  # mt-2's turn
    state, [last] = rcs_settle(state, T0 + 30 * H, POLICY)
    assert last.id == "message:mt-2"
    assert "due" not in state
    assert rcs_settle(None, T0, POLICY) == ({"session": None, "last_mo": None, "pending": []}, [])


def test_a_reply_covers_what_it_answers_and_bills_what_is_older() -> None:
    state, _ = step(None, rcs_mt("old", T0))
    state, _ = step(state, rcs_mt("recent", T0 + 20 * H))

    state, entries = step(state, rcs_mo("mo-1", T0 + 25 * H))

    assert [(e.id, e.billing_class) for e in entries] == [
        ("message:old", BillingClass.RCS_BASIC),
        ("session:rcs:mo-1", BillingClass.RCS_A2P_SESSION),
        ("message:recent", BillingClass.COVERED),
    ]


def test_inside_a_session_everything_is_covered_for_24_h() -> None:
    state, _ = step(None, rcs_mt("mt-1", T0))
    state, _ = step(state, rcs_mo("mo-1", T0 + H))

    state, [covered] = step(state, rcs_mt("mt-2", T0 + 2 * H, rich=True))
    state, nothing = step(state, rcs_mo("mo-2", T0 + 3 * H))
    state, [last] = step(state, rcs_mt("mt-3", T0 + 24 * H + 59 * MIN))
    state, after = step(state, rcs_mt("mt-4", T0 + 25 * H))  # the session ended at T0 + 25 h

    assert (covered.billing_class, covered.session_id) == (BillingClass.COVERED, "rcs:mo-1")
    assert nothing == []
    assert last.billing_class == BillingClass.COVERED
    assert after == []
    assert [item["key"] for item in state["pending"]] == ["mt-4"]


def test_the_24_h_are_real_hours_across_the_fall_back_night() -> None:
    """Sent Saturday 12:00 CEST, answered Sunday 11:30 CET: 23 h 30 on the wall clock, 24 h 30
    of real time: too late."""
    state, _ = step(None, rcs_mt("mt-1", paris(2026, 10, 24, 12)))

    _, entries = step(state, rcs_mo("mo-1", paris(2026, 10, 25, 11, 30)))

    assert classes(entries) == [BillingClass.RCS_BASIC]


# --- R22: P2A conversations -----------------------------------------------------------------


def test_the_agent_answering_within_24_h_opens_a_p2a_session() -> None:
    state, nothing = step(None, rcs_mo("mo-1", T0))
    assert nothing == []
    assert state["last_mo"] == "2026-11-03T09:00:00+00:00"
    assert "due" not in state

    state, [session, covered] = step(state, rcs_mt("mt-1", T0 + 23 * H + 59 * MIN))

    assert session.id == "session:rcs:mt-1"
    assert (session.billing_class, session.session_id, session.message_key) == (
        BillingClass.RCS_P2A_SESSION,
        "rcs:mt-1",
        "mt-1",
    )
    assert (covered.id, covered.billing_class, covered.session_id) == (
        "message:mt-1",
        BillingClass.COVERED,
        "rcs:mt-1",
    )
    assert state["last_mo"] is None


def test_the_agent_answering_after_24_h_opens_nothing() -> None:
    state, _ = step(None, rcs_mo("mo-1", T0))

    state, entries = step(state, rcs_mt("mt-1", T0 + 24 * H + MIN))

    assert entries == []
    assert [item["key"] for item in state["pending"]] == ["mt-1"]


def test_an_mo_inside_a_session_is_spent() -> None:
    """Choice: it does not make the agent's next message, after the session, a P2A opener."""
    state, _ = step(None, rcs_mo("mo-1", T0))
    state, _ = step(state, rcs_mt("mt-1", T0 + H))
    state, _ = step(state, rcs_mo("mo-2", T0 + 24 * H + 30 * MIN))

    state, entries = step(state, rcs_mt("mt-2", T0 + 25 * H + MIN))

    assert entries == []


# --- replays and the state ------------------------------------------------------------------


def test_a_retried_message_is_pending_once() -> None:
    state, _ = step(None, rcs_mt("mt-1", T0))

    again, entries = step(state, rcs_mt("mt-1", T0 + MIN))

    assert entries == []
    assert again == state


def test_replaying_gives_entries_with_the_same_ids() -> None:
    mt, mo = rcs_mt("mt-1", T0), rcs_mo("mo-1", T0 + H)
    state, _ = step(None, mt)
    opened, first = step(state, mo)

    assert step(state, mo) == (opened, first)
    state, replayed_mo = step(opened, mo)
    state, replayed_mt = step(state, mt)

    assert replayed_mo == first[:1]  # the session entry, again
    assert replayed_mt == first[1:]  # still covered by the session it was answered in
    assert state == opened


def test_replaying_a_p2a_opener_gives_its_two_entries_again() -> None:
    state, _ = step(None, rcs_mo("mo-1", T0))
    state, first = step(state, rcs_mt("mt-1", T0 + H))

    _, again = step(state, rcs_mt("mt-1", T0 + H))

    assert again == first


def test_the_state_is_json_and_not_changed_in_place() -> None:
    state, _ = step(None, rcs_mt("mt-1", T0))
    before = copy.deepcopy(state)

    after, _ = step(state, rcs_mo("mo-1", T0 + H))

    assert state == before
    assert json.loads(json.dumps(after)) == after
    assert after["session"]["covered"] == ["mt-1"]


def test_other_channels_and_fallbacks_are_refused() -> None:
    with pytest.raises(ValueError, match="not RCS"):
        step(None, t2c_mo("mo-1", T0))
    fallback = Mt("k", "bot", PERSON, T0, "rcs", AGENT, "rcs_agent", fallback=True)
    with pytest.raises(ValueError, match="not RCS"):
        step(None, fallback)
    with pytest.raises(ValueError, match="timezone-aware"):
        rcs_settle({}, utc(2026, 1, 1).replace(tzinfo=None), POLICY)
