"""R24: each RCS agent active in a calendar month pays a monthly fee, whatever its traffic."""

from __future__ import annotations

from datetime import datetime

from sessions.classes import BillingClass
from sessions.entries import aware, make_entry
from sessions.policy import BillingPolicy
from store.billing_records import LedgerEntry, LedgerKind

AGENT_COUNTRY = "FR"
"""The fee is the agent's, not a destination's: it is priced on the French line (Causette's
market, where the agents are registered) rather than on any recipient's region."""


def agent_month(at: datetime, policy: BillingPolicy) -> str:
    """`YYYY-MM` of `at` in `policy.timezone` (R24's calendar month is read in Paris time)."""
    return f"{aware(at, 'an agent send time').astimezone(policy.timezone):%Y-%m}"


def active_agent_entry(
    agent_id: str, bot_id: str, at: datetime, policy: BillingPolicy
) -> LedgerEntry:
    """The month's fee of an agent that sent something at `at`. Its id,
    `agent_month:{agent_id}:{YYYY-MM}`, makes every later send of the month add nothing."""
    month = agent_month(at, policy)
    return make_entry(
        f"agent_month:{agent_id}:{month}",
        LedgerKind.AGENT_MONTH,
        BillingClass.RCS_ACTIVE_AGENT,
        bot_id=bot_id,
        sender=agent_id,
        sender_type="rcs_agent",
        recipient="",
        channel="rcs",
        at=at,
        rule=f"R24: agent {agent_id} active in {month}, billed once for the month",
        policy=policy,
        country=AGENT_COUNTRY,
    )
