"""The router's side of billing: each message handed over is in the ledger once, and prepaid
credits stop sends when spent (R7, R8)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from fallback.billed import rcs_mt
from fallback.credit_gate import CreditGate
from sandbox.phonebook import Network
from sessions.billing import Billing, BotBilling
from sessions.credits import expiry
from sessions.policy import BillingPolicy
from store.billing_records import CreditPurchase
from store.records import OutboxStatus
from tests.fallback.harness import AGENT, BOT, NUMBER, RCS_PHONE, SMS_PHONE, T0, open_line


async def test_each_message_handed_over_is_billed_once_with_its_delivery(tmp_path: Path) -> None:
    async with open_line(tmp_path) as line:
        billing = Billing(line.store, BillingPolicy(), {BOT: BotBilling(AGENT, NUMBER)})
        line.router.billing = billing
        (rcs_key,) = await line.queue(RCS_PHONE, "Bonjour")
        (sms_key,) = await line.queue(SMS_PHONE, "Bonjour")
        await line.settle()
        entries = {entry.id: entry for entry in await line.store.ledger()}
        rcs = entries[f"message:{rcs_key}"]
        assert (rcs.billing_class, rcs.channel, rcs.sender) == ("rcs_basic", "rcs", AGENT)
        assert rcs.delivered_at is not None  # RBM's DELIVERED, through our webhook
        sms = entries[f"message:{sms_key}"]
        # An RCS conversation's message sent by SMS is billed as SMS (R20), not Time2Chat.
        assert (sms.billing_class, sms.channel, sms.sender) == ("sms_mt", "t2c", NUMBER)
        assert sms.delivered_at is not None
        assert f"agent_month:{AGENT}:2026-03" in entries  # R24
        # A retry of the same outbox entry (a replay) adds nothing.
        replay = rcs_mt(
            rcs_key, BOT, RCS_PHONE, T0, AGENT, [{"contentMessage": {"text": "Bonjour"}}]
        )
        await billing.on_mt(replay)
        assert len(await line.store.ledger()) == len(entries)


async def test_spent_prepaid_credits_hold_messages_until_a_purchase(tmp_path: Path) -> None:
    """R8: sends stop with a clear status while the balance is spent; messages wait."""
    async with open_line(tmp_path) as line:
        policy = BillingPolicy()
        line.router.billing = Billing(line.store, policy, {BOT: BotBilling(AGENT, NUMBER)})
        line.router.credits = CreditGate(line.store, policy, ttl=timedelta(0))
        (key,) = await line.queue(RCS_PHONE, "Bonjour")
        await line.settle()
        entry = await line.entry(key)
        assert entry.status is OutboxStatus.QUEUED
        assert entry.history[-1]["detail"] == "prepaid credits spent (R8): waiting for a purchase"
        assert line.texts(RCS_PHONE) == []
        await line.store.add_credit(
            CreditPurchase("p1", Decimal("20"), "EUR", line.clock.now(), expiry(line.clock.now()))
        )
        await line.advance(timedelta(minutes=1))
        assert line.texts(RCS_PHONE) == [("rcs", "Bonjour")]
        # The agent's monthly fee (15 EUR) and the message are debited: 20 was enough.
        assert not await line.router.credits.spent(line.clock.now())


async def test_time2chat_towards_a_belgian_mobile_goes_as_plain_sms(tmp_path: Path) -> None:
    """R10: Time2Chat reaches only the four French operators; the choice is recorded."""
    belgian = "+32470123456"
    phones = ((belgian, Network.SMS),)
    async with open_line(tmp_path, phones=phones) as line:
        line.router.billing = Billing(line.store, BillingPolicy(), {BOT: BotBilling(AGENT, NUMBER)})
        (key,) = await line.queue(belgian, "Bonjour", channel="t2c")
        await line.settle()
        entry = await line.entry(key)
        assert entry.route == "sms"
        assert "Time2Chat only towards French mobiles (R10)" in entry.history[1]["detail"]
        (billed,) = [e for e in await line.store.ledger() if e.message_key == key]
        assert (billed.billing_class, billed.country, billed.sender_type) == (
            "sms_mt",
            "BE",
            "default",
        )
