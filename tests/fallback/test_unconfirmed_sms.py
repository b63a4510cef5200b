"""An SMS whose send has an unknown outcome waits for smsmode's report before it is sent again
(`dispatch.sms_unknown_outcome: confirm`, store/unconfirmed_sms.py): a process killed after
smsmode took it, one killed before, a send that timed out. Each reaches the phone once, and is
billed once (R7)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fallback.policy import DispatchPolicy
from sessions.billing import Billing, BotBilling
from sessions.policy import BillingPolicy
from store.records import OutboxStatus
from store.unconfirmed_sms import REPORTED, UNCONFIRMED
from tests.fallback.harness import AGENT, BOT, LEASE, NUMBER, SMS_PHONE, Line, details, open_line

WAIT = DispatchPolicy().sms_confirm_wait


async def _die_while_sending_by_sms(line: Line, key: str, *, reached_smsmode: bool) -> None:
    """What a process leaves when it is killed between its `sending` mark and smsmode's
    answer: the entry `sending` by SMS under a lease nobody renews, and smsmode holding the
    SMS (with our key as `refClient`) or not."""
    (claimed,) = await line.store.claim_outbound("dead-process", line.clock.now(), LEASE)
    assert claimed.key == key
    await line.store.mark_outbound(
        key, OutboxStatus.SENDING, line.clock.now(), route="t2c", owner="dead-process"
    )
    if reached_smsmode:
        bot = line.router.bots[BOT]
        assert line.router.smsmode is not None
        await line.router.smsmode.send_sms(
            SMS_PHONE,
            "Bonjour",
            sender=None,
            ref_client=key,
            status_url=bot.status_url,
            mo_url=bot.mo_url,
        )


def _bill(line: Line) -> Billing:
    billing = Billing(line.store, BillingPolicy(), {BOT: BotBilling(AGENT, NUMBER)})
    line.router.billing = billing
    return billing


async def test_a_report_proves_an_interrupted_send_which_is_not_sent_again(
    tmp_path: Path,
) -> None:
    async with open_line(tmp_path) as line:
        _bill(line)
        (key,) = await line.queue(SMS_PHONE, "Bonjour")
        await _die_while_sending_by_sms(line, key, reached_smsmode=True)
        # The report is posted at once: refused (409) while the dead process's lease holds.
        await line.settle()
        assert (await line.entry(key)).status is OutboxStatus.SENDING
        await line.advance(LEASE + timedelta(seconds=1))
        entry = await line.entry(key)
        assert entry.status is OutboxStatus.QUEUED
        assert details(entry)[-1].startswith(f"{UNCONFIRMED}: interrupted while sending by SMS")
        # smsmode posts the report again 2 min after the 409 (sms.md §1.4): it proves the send.
        await line.advance(timedelta(minutes=2))
        entry = await line.entry(key)
        assert entry.status is OutboxStatus.SENT
        (message_id,) = line.sms.messages
        assert entry.provider_id == message_id
        assert any(detail.startswith(f"{REPORTED}:") for detail in details(entry))
        # And the report, posted once more, now settles it.
        await line.advance(timedelta(minutes=10))
        assert (await line.entry(key)).status is OutboxStatus.DELIVERED
        await line.advance(WAIT)
        assert line.texts(SMS_PHONE) == [("sms", "Bonjour")]
        ledger = [e for e in await line.store.ledger() if e.id == f"message:{key}"]
        assert len(ledger) == 1
        assert ledger[0].delivered_at is not None


async def test_without_a_report_an_interrupted_send_goes_after_the_wait(tmp_path: Path) -> None:
    async with open_line(tmp_path) as line:
        _bill(line)
        (key,) = await line.queue(SMS_PHONE, "Bonjour")
        await _die_while_sending_by_sms(line, key, reached_smsmode=False)
        await line.advance(LEASE + timedelta(seconds=1))
        assert (await line.entry(key)).status is OutboxStatus.QUEUED
        await line.advance(WAIT - timedelta(seconds=1))
        assert line.texts(SMS_PHONE) == []
        await line.advance(timedelta(seconds=1))
        assert line.texts(SMS_PHONE) == [("sms", "Bonjour")]
        assert (await line.entry(key)).status is OutboxStatus.DELIVERED
        assert len([e for e in await line.store.ledger() if e.id == f"message:{key}"]) == 1


async def test_a_timed_out_send_waits_then_goes_once(tmp_path: Path) -> None:
    """smsmode hung and dropped the request (504 once released): no report ever comes."""
    async with open_line(tmp_path, sms_timeout=timedelta(seconds=0.05)) as line:
        line.sms.faults.hang_rate = 1.0
        (key,) = await line.queue(SMS_PHONE, "Bonjour")
        await line.settle()
        entry = await line.entry(key)
        assert entry.status is OutboxStatus.QUEUED
        assert details(entry)[-1].startswith(f"{UNCONFIRMED}: smsmode send to")
        line.sms.faults.hang_rate = 0.0
        line.sms.release_hung()
        await line.advance(WAIT)
        assert line.texts(SMS_PHONE) == [("sms", "Bonjour")]


async def test_later_messages_wait_behind_an_unconfirmed_one(tmp_path: Path) -> None:
    async with open_line(tmp_path) as line:
        first, second = await line.queue(SMS_PHONE, "Un", "Deux")
        await _die_while_sending_by_sms(line, first, reached_smsmode=False)
        await line.advance(LEASE + timedelta(seconds=1))
        assert (await line.entry(second)).status is OutboxStatus.QUEUED
        assert line.texts(SMS_PHONE) == []
        await line.advance(WAIT)
        assert [text for _, text in line.texts(SMS_PHONE)] == ["Un", "Deux"]


async def test_fail_never_sends_an_unknown_outcome_again(tmp_path: Path) -> None:
    policy = DispatchPolicy(sms_unknown_outcome="fail")
    async with open_line(tmp_path, policy=policy) as line:
        (key,) = await line.queue(SMS_PHONE, "Bonjour")
        await _die_while_sending_by_sms(line, key, reached_smsmode=False)
        await line.advance(LEASE + timedelta(seconds=1))
        entry = await line.entry(key)
        assert entry.status is OutboxStatus.FAILED
        assert "interrupted while sending by SMS" in details(entry)[-1]
        await line.advance(WAIT)
        assert line.texts(SMS_PHONE) == []
