"""R24: an active agent's monthly fee, once per calendar month (Paris time)."""

from __future__ import annotations

from decimal import Decimal

from sessions.classes import BillingClass
from sessions.monthly import active_agent_entry
from sessions.policy import BillingPolicy
from store.billing_records import LedgerKind
from tests.sessions.factories import AGENT, BOT, paris, utc

POLICY = BillingPolicy()


def test_two_sends_in_a_month_give_one_fee() -> None:
    first = active_agent_entry(AGENT, BOT, paris(2026, 11, 3, 10), POLICY)
    second = active_agent_entry(AGENT, BOT, paris(2026, 11, 28, 18), POLICY)

    assert first.id == second.id == f"agent_month:{AGENT}:2026-11"
    assert first.kind is LedgerKind.AGENT_MONTH
    assert first.billing_class == BillingClass.RCS_ACTIVE_AGENT
    assert (first.sender, first.sender_type, first.bot_id) == (AGENT, "rcs_agent", BOT)
    assert (first.recipient, first.channel, first.country) == ("", "rcs", "FR")
    assert (first.quantity, first.amount, first.currency) == (1, Decimal("15.00"), "EUR")
    assert first.at == paris(2026, 11, 3, 10)
    assert "R24" in first.rule


def test_the_next_month_is_a_new_fee() -> None:
    november = active_agent_entry(AGENT, BOT, paris(2026, 11, 30, 23, 59), POLICY)
    december = active_agent_entry(AGENT, BOT, paris(2026, 12, 1, 0, 0), POLICY)

    assert november.id.endswith(":2026-11")
    assert december.id.endswith(":2026-12")


def test_the_month_turns_at_midnight_paris_not_utc() -> None:
    # 23:30 UTC on 30 November is 00:30 on 1 December in Paris.
    assert active_agent_entry(AGENT, BOT, utc(2026, 11, 30, 23, 30), POLICY).id.endswith(":2026-12")
    # 22:30 UTC on 31 October is 23:30 in Paris (CET since the 25th): still October.
    assert active_agent_entry(AGENT, BOT, utc(2026, 10, 31, 22, 30), POLICY).id.endswith(":2026-10")


def test_each_agent_has_its_own_fee() -> None:
    at = paris(2026, 11, 3)
    assert (
        active_agent_entry("a", BOT, at, POLICY).id != active_agent_entry("b", BOT, at, POLICY).id
    )
