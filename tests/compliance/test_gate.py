"""The send gate for one message (compliance/gate.py): R6, R25, R28, R30, sms.md §3.3."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from compliance.gate import Block, GatePolicy, Hold, Outgoing, Send, Traffic, decide
from compliance.quiet_hours import PARIS, QuietHours
from compliance.urls import UrlPolicy

POLICY = GatePolicy()
OPEN = datetime(2026, 3, 9, 10, 0, tzinfo=PARIS)  # a Monday morning
CLOSED = datetime(2026, 3, 7, 20, 0, tzinfo=PARIS)  # a Saturday evening
MONDAY_8H = datetime(2026, 3, 9, 7, 0, tzinfo=UTC)


def message(traffic: Traffic = "marketing", **changes: object) -> Outgoing:
    base = Outgoing(traffic=traffic, phone="+33612345678", text="Promo -20%", now=OPEN)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_plain_message_is_sent() -> None:
    assert decide(message(), POLICY) == Send()
    assert decide(message("transactional"), POLICY) == Send()


class TestRedList:
    @pytest.mark.parametrize("traffic", ["marketing", "transactional"])
    def test_blocks_everything_r6(self, traffic: Traffic) -> None:
        decision = decide(message(traffic, red_listed=True, recipient_started=True), POLICY)
        assert isinstance(decision, Block)
        assert decision.rule == "R6"
        assert "(R6)" in decision.reason

    def test_comes_first(self) -> None:
        decision = decide(message(red_listed=True, opted_out=True, consent=False), POLICY)
        assert isinstance(decision, Block)
        assert decision.rule == "R6"


class TestOptOut:
    def test_blocks_marketing_r25(self) -> None:
        decision = decide(message(opted_out=True), POLICY)
        assert isinstance(decision, Block)
        assert decision.rule == "R25"
        assert "(R25)" in decision.reason

    def test_blocks_marketing_even_in_a_conversation_the_recipient_started(self) -> None:
        decision = decide(message(opted_out=True, recipient_started=True), POLICY)
        assert isinstance(decision, Block)
        assert decision.rule == "R25"

    def test_transactional_still_goes(self) -> None:
        assert decide(message("transactional", opted_out=True), POLICY) == Send()

    def test_comes_before_consent(self) -> None:
        decision = decide(message(opted_out=True, consent=False), POLICY)
        assert isinstance(decision, Block)
        assert decision.rule == "R25"


class TestConsent:
    def test_missing_consent_blocks_marketing_r30(self) -> None:
        decision = decide(message(consent=False), POLICY)
        assert isinstance(decision, Block)
        assert decision.rule == "R30"
        assert "(R30)" in decision.reason

    def test_given_or_not_required(self) -> None:
        assert decide(message(consent=True), POLICY) == Send()
        assert decide(message(consent=None), POLICY) == Send()

    def test_transactional_needs_none(self) -> None:
        assert decide(message("transactional", consent=False), POLICY) == Send()


class TestUrls:
    @pytest.mark.parametrize("traffic", ["marketing", "transactional"])
    def test_templated_links_are_checked_r28(self, traffic: Traffic) -> None:
        decision = decide(message(traffic, text="Suivi: https://bit.ly/x"), POLICY)
        assert isinstance(decision, Block)
        assert decision.rule == "R28"
        assert "https://bit.ly/x" in decision.reason
        assert "(R28)" in decision.reason

    def test_every_problem_is_in_the_reason(self) -> None:
        decision = decide(message(text="bit.ly/a et http://10.0.0.1/b"), POLICY)
        assert isinstance(decision, Block)
        assert "bit.ly/a" in decision.reason
        assert "10.0.0.1/b" in decision.reason

    def test_free_text_is_not_checked(self) -> None:
        assert decide(message(text="https://bit.ly/x", templated=False), POLICY) == Send()

    def test_allow_list(self) -> None:
        policy = GatePolicy(urls=UrlPolicy(allowed_domains=frozenset({"exemple.fr"})))
        assert decide(message(text="https://exemple.fr/a"), policy) == Send()
        assert isinstance(decide(message(text="https://autre.fr/a"), policy), Block)

    def test_a_block_wins_over_a_hold(self) -> None:
        decision = decide(message(text="https://bit.ly/x", now=CLOSED), POLICY)
        assert isinstance(decision, Block)
        assert decision.rule == "R28"

    def test_consent_comes_before_links(self) -> None:
        decision = decide(message(consent=False, text="https://bit.ly/x"), POLICY)
        assert isinstance(decision, Block)
        assert decision.rule == "R30"


class TestQuietHours:
    def test_marketing_is_held_until_monday_8h(self) -> None:
        decision = decide(message(now=CLOSED), POLICY)
        assert isinstance(decision, Hold)
        assert decision.until == MONDAY_8H
        assert "sms.md §3.3" in decision.reason
        assert "Monday 09 March 2026 08:00 Europe/Paris" in decision.reason

    def test_transactional_is_not_held(self) -> None:
        assert decide(message("transactional", now=CLOSED), POLICY) == Send()

    def test_a_reply_in_a_conversation_the_recipient_started_is_not_held(self) -> None:
        assert decide(message(now=CLOSED, recipient_started=True), POLICY) == Send()

    def test_policy_window(self) -> None:
        late = GatePolicy(quiet_hours=QuietHours(end=datetime(2026, 1, 1, 21, 30).time()))
        assert decide(message(now=CLOSED), late) == Send()

    def test_holiday(self) -> None:
        easter_monday = datetime(2027, 3, 29, 10, 0, tzinfo=PARIS)
        decision = decide(message(now=easter_monday), POLICY)
        assert isinstance(decision, Hold)
        assert decision.until == datetime(2027, 3, 30, 6, 0, tzinfo=UTC)
