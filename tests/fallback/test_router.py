"""Each path of the fallback router, through both emulators and our webhooks (seed rules R4,
R17-R20; reference/rbm.md §2, §3, §6, §9)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import aiohttp

from fallback.breaker import BreakerState
from fallback.policy import BreakerPolicy, DispatchPolicy, RcsPolicy
from store.records import AgentRecord, AgentState, OutboxStatus
from tests.fallback.harness import (
    AGENT,
    CALLBACK_TOKEN,
    LEASE,
    NUMBER,
    RCS_PHONE,
    SMS_PHONE,
    T0,
    Line,
    details,
    history,
    open_line,
    with_rcs,
)
from tests.webhooks.payloads import mo

DELIVERED, SENT, EXPIRED = OutboxStatus.DELIVERED, OutboxStatus.SENT, OutboxStatus.EXPIRED


async def test_an_rcs_phone_gets_rcs_and_the_entry_keeps_its_history(tmp_path: Path) -> None:
    async with open_line(tmp_path) as line:
        (key,) = await line.queue(RCS_PHONE, "Bonjour")
        await line.settle()
        assert line.texts(RCS_PHONE) == [("rcs", "Bonjour")]
        entry = await line.entry(key)
        assert entry.status is DELIVERED
        assert entry.route == "rcs"
        assert history(entry) == [
            ("queued", None),
            ("sending", "rcs"),
            ("sent", "rcs"),
            ("delivered", "rcs"),
        ]
        assert entry.deadline_at is None  # settled: no revoke pending


async def test_every_rcs_message_carries_a_ttl_within_its_validity(tmp_path: Path) -> None:
    """R4: RBM must drop an undelivered message before its validity ends; the ttl keeps the
    SMS margin (one hour by default) for the fallback."""
    async with open_line(tmp_path) as line:
        await line.queue(RCS_PHONE, "Bonjour")
        await line.settle()
        (sent,) = line.rbm.messages.values()
        assert sent.expire_at == T0 + timedelta(hours=23)


async def test_a_phone_without_rcs_goes_straight_to_sms(tmp_path: Path) -> None:
    async with open_line(tmp_path) as line:
        first, second = await line.queue(SMS_PHONE, "Un", "Deux")
        await line.settle()
        assert line.texts(SMS_PHONE) == [("sms", "Un"), ("sms", "Deux")]
        entry = await line.entry(first)
        assert entry.route == "t2c"  # from the bot's 09 number (R20)
        assert entry.status is DELIVERED  # smsmode's delivery report came back
        assert "by SMS: not reachable by RCS (capability check: 404)" in details(entry)
        assert not line.rbm.messages  # nothing was sent to RBM
        # The answer is remembered: the second message asked RBM nothing.
        assert "by SMS: not reachable by RCS (known since" in details(await line.entry(second))[1]


async def test_a_404_on_send_falls_back_at_once_when_checks_are_off(tmp_path: Path) -> None:
    async with open_line(tmp_path, policy=DispatchPolicy(capability_check=False)) as line:
        (key,) = await line.queue(SMS_PHONE, "Un")
        await line.settle()
        assert line.texts(SMS_PHONE) == [("sms", "Un")]
        entry = await line.entry(key)
        assert history(entry)[1:3] == [("sending", "rcs"), ("sending", "t2c")]
        assert "by SMS: not reachable by RCS (send: 404)" in details(entry)


async def test_an_agent_not_launched_for_the_phone_sends_by_sms(tmp_path: Path) -> None:
    async with open_line(tmp_path) as line:
        line.rbm.faults.not_launched.add(RCS_PHONE)
        line.rbm.faults.not_launched_status = 403  # older docs' answer: the same to us
        (key,) = await line.queue(RCS_PHONE, "Bonjour")
        await line.settle()
        assert line.texts(RCS_PHONE) == [("sms", "Bonjour")]
        assert "by SMS: not reachable by RCS (capability check: 403)" in details(
            await line.entry(key)
        )


async def test_an_agent_silent_for_six_months_is_treated_as_deactivated(tmp_path: Path) -> None:
    """R19: an agent that sent nothing for six months may be deactivated; its messages go by
    SMS (R20) until an admin records its re-validation."""
    async with open_line(tmp_path) as line:
        await line.queue(RCS_PHONE, "Mars")
        await line.settle()
        await line.advance(timedelta(days=184))  # 2 March -> 2 September
        (key,) = await line.queue(RCS_PHONE, "Septembre")
        await line.settle()
        assert line.texts(RCS_PHONE) == [("rcs", "Mars"), ("sms", "Septembre")]
        assert (
            "by SMS: RCS agent inactive: nothing sent since 2026-03-02, six months or more (R19)"
            in details(await line.entry(key))
        )
        agent = await line.store.get_agent(AGENT)
        assert agent is not None
        await line.store.save_agent(
            AgentRecord(AGENT, AgentState.LAUNCHED, agent.last_sent_at, line.clock.now(), T0)
        )
        await line.advance(timedelta(minutes=2))  # past the process's cached view
        await line.queue(RCS_PHONE, "Revalidé")
        await line.settle()
        assert line.texts(RCS_PHONE)[-1] == ("rcs", "Revalidé")


async def test_five_months_of_silence_is_not_inactivity(tmp_path: Path) -> None:
    async with open_line(tmp_path) as line:
        await line.queue(RCS_PHONE, "Mars")
        await line.settle()
        await line.advance(timedelta(days=150))
        await line.queue(RCS_PHONE, "Août")
        await line.settle()
        assert line.texts(RCS_PHONE)[-1] == ("rcs", "Août")


async def test_a_suspended_or_unlaunched_agent_sends_by_sms(tmp_path: Path) -> None:
    async with open_line(tmp_path) as line:
        for state, reason in (
            (AgentState.SUSPENDED, "RCS agent suspended"),
            (AgentState.UNLAUNCHED, "RCS agent not launched"),
        ):
            await line.store.save_agent(AgentRecord(AGENT, state, None, None, T0))
            await line.advance(timedelta(minutes=2))
            (key,) = await line.queue(RCS_PHONE, state.value)
            await line.settle()
            assert line.texts(RCS_PHONE)[-1] == ("sms", state.value)
            assert f"by SMS: {reason}" in details(await line.entry(key))


async def test_5xx_bursts_open_the_breaker_until_a_probe_succeeds(tmp_path: Path) -> None:
    policy = DispatchPolicy(breaker=BreakerPolicy(failures=3, cool_down=timedelta(seconds=30)))
    async with open_line(tmp_path, policy=policy) as line:
        await line.queue(RCS_PHONE, "Avant")
        await line.settle()  # the phone's reach is known: sends are the only RBM calls now
        line.rbm.faults.error_rates = {500: 1.0}
        failing = [(await line.queue(RCS_PHONE, f"Panne {n}"))[0] for n in range(3)]
        await line.settle()
        breaker = line.router.breakers[AGENT]
        assert breaker.state is BreakerState.OPEN
        for key in failing:  # each failed once, waits for its retry
            assert (await line.entry(key)).status is OutboxStatus.QUEUED
        # While open, traffic goes by SMS, the retried messages too: nothing reaches RBM.
        await line.advance(timedelta(seconds=10))
        assert [text for _, text in line.texts(RCS_PHONE)] == [
            "Avant",
            "Panne 0",
            "Panne 1",
            "Panne 2",
        ]
        assert {channel for channel, _ in line.texts(RCS_PHONE)[1:]} == {"sms"}
        assert "by SMS: RBM unavailable (breaker open)" in details(await line.entry(failing[0]))
        # After the cool-down one probe goes to RBM; it fails: open again, still SMS.
        await line.advance(timedelta(seconds=30))
        (probe,) = await line.queue(RCS_PHONE, "Sonde 1")
        await line.settle()
        assert breaker.state is BreakerState.OPEN
        await line.advance(timedelta(seconds=10))
        assert line.texts(RCS_PHONE)[-1] == ("sms", "Sonde 1")
        # RBM is back: the next probe succeeds and closes the breaker.
        line.rbm.faults.error_rates = {}
        await line.advance(timedelta(seconds=30))
        await line.queue(RCS_PHONE, "Sonde 2")
        await line.settle()
        assert breaker.state.value == "closed"  # (mypy narrowed `state` above)
        await line.queue(RCS_PHONE, "Après")
        await line.settle()
        assert line.texts(RCS_PHONE)[-2:] == [("rcs", "Sonde 2"), ("rcs", "Après")]
        assert line.copies()["Sonde 1"] == 1
        assert (await line.entry(probe)).route == "t2c"


async def test_undelivered_rcs_is_revoked_then_sent_by_sms_once(tmp_path: Path) -> None:
    async with open_line(tmp_path) as line:
        await line.queue(RCS_PHONE, "Avant")
        await line.settle()
        line.rbm.set_offline(RCS_PHONE)
        (key,) = await line.queue(RCS_PHONE, "Rendez-vous demain")
        await line.settle()
        entry = await line.entry(key)
        assert entry.status is SENT
        assert entry.deadline_at == T0 + timedelta(seconds=60)  # fallback_after's default
        await line.advance(timedelta(seconds=59))
        assert line.texts(RCS_PHONE) == [("rcs", "Avant")]
        await line.advance(timedelta(seconds=1))  # the deadline: revoke answered 200
        entry = await line.entry(key)
        assert entry.status is OutboxStatus.REVOKED
        await line.advance(timedelta(seconds=5))  # the grace: the SMS leaves
        assert line.texts(RCS_PHONE)[-1] == ("sms", "Rendez-vous demain")
        line.rbm.set_offline(RCS_PHONE, False)  # back online: the revoked copy never arrives
        await line.advance(timedelta(hours=1))
        assert line.copies()["Rendez-vous demain"] == 1
        entry = await line.entry(key)
        assert entry.status is DELIVERED
        assert [status for status, _ in history(entry)] == [
            "queued",
            "sending",
            "sent",
            "revoked",  # at the deadline
            "sending",
            "sent",
            "delivered",
        ]
        assert "not delivered within 60 s: revoked, SMS in 5 s" in details(entry)
        assert len(entry.provider_ids) == 2  # the RBM id, then smsmode's


async def test_fallback_after_is_the_bots_setting(tmp_path: Path) -> None:
    async with open_line(tmp_path, rcs=RcsPolicy(fallback_after=timedelta(minutes=10))) as line:
        line.rbm.set_offline(RCS_PHONE)
        (key,) = await line.queue(RCS_PHONE, "OTP 1234")
        await line.settle()
        assert (await line.entry(key)).deadline_at == T0 + timedelta(minutes=10)
        with_rcs(line, fallback_after=timedelta(seconds=30))  # applies to the next sends
        await line.advance(timedelta(minutes=10))
        await line.advance(timedelta(seconds=5))  # the revoke's grace
        assert line.texts(RCS_PHONE) == [("sms", "OTP 1234")]


async def test_a_revoke_answered_404_means_delivered_and_sends_no_sms(tmp_path: Path) -> None:
    async with open_line(tmp_path) as line:
        line.rbm.faults.drop_receipts = 1.0  # delivered, but DELIVERED never reaches us
        (key,) = await line.queue(RCS_PHONE, "Bonjour")
        await line.settle()
        assert (await line.entry(key)).status is SENT
        await line.advance(timedelta(seconds=60))
        entry = await line.entry(key)
        assert entry.status is DELIVERED
        assert details(entry)[-1] == "revoke answered 404: already delivered"
        await line.advance(timedelta(hours=1))
        assert line.texts(RCS_PHONE) == [("rcs", "Bonjour")]


async def test_a_delivered_racing_the_revoke_cancels_the_sms(tmp_path: Path) -> None:
    """rbm.md §2: a revoke answered 200 may still be followed by DELIVERED. Within the grace,
    the DELIVERED settles the message and no SMS leaves: never both."""
    async with open_line(tmp_path) as line:
        line.rbm.faults.revoke_race = True
        line.rbm.set_offline(RCS_PHONE)
        (key,) = await line.queue(RCS_PHONE, "Bonjour")
        await line.settle()
        await line.advance(timedelta(seconds=60))  # revoke: 200, yet still queued at RBM
        assert (await line.entry(key)).status is OutboxStatus.REVOKED
        line.rbm.set_offline(RCS_PHONE, False)  # delivered after all
        await line.settle()
        entry = await line.entry(key)
        assert entry.status is DELIVERED
        await line.advance(timedelta(minutes=5))
        assert line.texts(RCS_PHONE) == [("rcs", "Bonjour")]
        assert (await line.entry(key)).status is DELIVERED


async def test_a_delivered_after_the_sms_is_only_noted(tmp_path: Path) -> None:
    """Past the grace the SMS has left; a late DELIVERED of the revoked copy is recorded in
    the history and changes nothing else (the race the grace narrows but cannot close)."""
    async with open_line(tmp_path) as line:
        line.rbm.faults.revoke_race = True
        line.rbm.set_offline(RCS_PHONE)
        (key,) = await line.queue(RCS_PHONE, "Bonjour")
        await line.settle()
        await line.advance(timedelta(seconds=60))  # revoked
        await line.advance(timedelta(seconds=5))  # the SMS after the grace
        assert line.texts(RCS_PHONE) == [("sms", "Bonjour")]
        line.rbm.set_offline(RCS_PHONE, False)
        await line.settle()
        entry = await line.entry(key)
        assert entry.route == "t2c"
        assert "earlier copy: delivered" in details(entry)
        assert details(entry).count("earlier copy: delivered") == 1
        assert entry.status is DELIVERED  # by the SMS's report


async def test_ttl_expiration_revoked_triggers_the_sms(tmp_path: Path) -> None:
    """RBM revokes at the ttl and says so (rbm.md §9): the SMS follows while still valid."""
    policy = DispatchPolicy(sms_margin=timedelta(minutes=30))
    rcs = RcsPolicy(fallback_after=timedelta(hours=2))  # longer than the ttl: RBM acts first
    async with open_line(tmp_path, policy=policy, rcs=rcs) as line:
        line.rbm.set_offline(RCS_PHONE)
        queued_at = T0 - timedelta(hours=23)
        (key,) = await line.queue(RCS_PHONE, "Dernier rappel", queued_at=queued_at)
        await line.settle()
        (sent,) = line.rbm.messages.values()
        assert sent.expire_at == T0 + timedelta(minutes=30)
        await line.advance(timedelta(minutes=30))
        assert line.texts(RCS_PHONE) == [("sms", "Dernier rappel")]
        assert "revoked by TTL" in details(await line.entry(key))


async def test_ttl_expiration_revoke_failed_sends_no_sms(tmp_path: Path) -> None:
    policy = DispatchPolicy(sms_margin=timedelta(minutes=30))
    rcs = RcsPolicy(fallback_after=timedelta(hours=2))
    async with open_line(tmp_path, policy=policy, rcs=rcs) as line:
        line.rbm.faults.ttl_revoke_fails = True
        line.rbm.set_offline(RCS_PHONE)
        (key,) = await line.queue(RCS_PHONE, "Dernier rappel", queued_at=T0 - timedelta(hours=23))
        await line.settle()
        await line.advance(timedelta(minutes=31))
        entry = await line.entry(key)
        assert entry.status is SENT  # it may still be delivered: wait for the receipt
        assert line.texts(RCS_PHONE) == []


async def test_429_waits_for_retry_after(tmp_path: Path) -> None:
    async with open_line(tmp_path) as line:
        await line.queue(RCS_PHONE, "Avant")
        await line.settle()
        line.rbm.faults.error_rates = {429: 1.0}
        line.rbm.faults.retry_after = 120
        (key,) = await line.queue(RCS_PHONE, "Bonjour")
        await line.settle()
        entry = await line.entry(key)
        assert entry.status is OutboxStatus.QUEUED
        assert entry.due_at >= T0 + timedelta(seconds=120)
        assert "retry in" in details(entry)[-1]
        line.rbm.faults.error_rates = {}
        await line.advance(timedelta(seconds=119))
        assert line.texts(RCS_PHONE) == [("rcs", "Avant")]
        await line.advance(entry.due_at - line.clock.now())
        assert line.texts(RCS_PHONE)[-1] == ("rcs", "Bonjour")
        # A 429 says nothing of RBM's health: the breaker stayed closed.
        assert line.router.breakers[AGENT].state is BreakerState.CLOSED


async def test_a_timed_out_send_is_retried_on_rcs_under_the_same_id(tmp_path: Path) -> None:
    """A timeout may hide an accepted message: moving it to SMS could deliver it twice. It is
    sent again to RBM under the same messageId, which RBM ignores if it has it (rbm.md §0)."""
    async with open_line(tmp_path, rbm_timeout=timedelta(seconds=0.05)) as line:
        await line.queue(RCS_PHONE, "Avant")
        await line.settle()
        line.rbm.faults.timeout_rate = 1.0
        (key,) = await line.queue(RCS_PHONE, "Bonjour")
        await line.settle()
        entry = await line.entry(key)
        assert entry.status is OutboxStatus.QUEUED
        assert entry.route == "rcs"
        line.rbm.faults.timeout_rate = 0.0
        line.rbm.release_held()  # the first send was taken after all
        await line.settle()
        await line.advance(timedelta(minutes=1))
        assert line.copies()["Bonjour"] == 1
        assert (await line.entry(key)).status is DELIVERED


async def test_a_timed_out_send_stays_on_rcs_through_later_5xx(tmp_path: Path) -> None:
    """Found by benchmarks/chaos.py --scenario rbm-faults: a send timed out, its retry got a
    503 with the breaker open, the message was chosen again and went by SMS, then RBM
    delivered the copy it held: twice. It stays on RCS (same id) until RBM answers."""
    policy = DispatchPolicy(breaker=BreakerPolicy(failures=1, cool_down=timedelta(hours=1)))
    async with open_line(tmp_path, policy=policy, rbm_timeout=timedelta(seconds=0.05)) as line:
        await line.queue(RCS_PHONE, "Avant")
        await line.settle()
        line.rbm.faults.timeout_rate = 1.0
        (key,) = await line.queue(RCS_PHONE, "Bonjour")
        await line.settle()
        line.rbm.faults.timeout_rate = 0.0
        line.rbm.faults.error_rates = {503: 1.0}
        await line.advance(timedelta(minutes=1))
        assert line.router.breakers[AGENT].state is BreakerState.OPEN
        entry = await line.entry(key)
        assert (entry.status, entry.route) == (OutboxStatus.QUEUED, "rcs")
        assert line.texts(RCS_PHONE) == [("rcs", "Avant")]
        line.rbm.release_held()  # RBM carries out the first send after all
        await line.settle()
        line.rbm.faults.error_rates = {}
        await line.advance(timedelta(minutes=10))
        assert line.copies()["Bonjour"] == 1
        assert (await line.entry(key)).status is DELIVERED


async def test_a_message_still_undeliverable_after_24_hours_expires(tmp_path: Path) -> None:
    """R4: no attempt after the validity; the entry ends `expired` and stays so."""
    async with open_line(tmp_path) as line:
        line.sms.faults.error_rates = {503: 1.0}
        (key,) = await line.queue(SMS_PHONE, "Bonjour")
        for _ in range(30 * 24):
            await line.advance(timedelta(minutes=2))
        entry = await line.entry(key)
        assert entry.status is EXPIRED
        assert "not delivered within 24 h of being queued (R4)" in details(entry)
        attempts = entry.attempts
        line.sms.faults.error_rates = {}
        await line.advance(timedelta(days=2))
        assert (await line.entry(key)).attempts == attempts
        assert line.texts(SMS_PHONE) == []


async def test_messages_of_a_conversation_leave_in_order_behind_a_retry(tmp_path: Path) -> None:
    async with open_line(tmp_path) as line:
        line.sms.faults.error_rates = {503: 1.0}
        keys = await line.queue(SMS_PHONE, "Un", "Deux", "Trois")
        await line.settle()
        assert (await line.entry(keys[1])).attempts == 0  # held behind the first
        line.sms.faults.error_rates = {}
        await line.advance(timedelta(minutes=1))
        assert [text for _, text in line.texts(SMS_PHONE)] == ["Un", "Deux", "Trois"]


async def test_an_sms_whose_outcome_is_unknown_can_fail_rather_than_risk_a_duplicate(
    tmp_path: Path,
) -> None:
    """smsmode has no idempotency key (sms.md §1.3): a timed-out send may have been taken;
    with `fail` it is never sent again, and the entry says why. (The default, `confirm`,
    waits for smsmode's report: tests/fallback/test_unconfirmed_sms.py.)"""
    policy = DispatchPolicy(sms_unknown_outcome="fail")
    async with open_line(tmp_path, policy=policy, sms_timeout=timedelta(seconds=0.05)) as line:
        line.sms.faults.hang_rate = 1.0
        (key,) = await line.queue(SMS_PHONE, "Bonjour")
        await line.settle()
        entry = await line.entry(key)
        assert entry.status is OutboxStatus.FAILED
        assert "not sent again, smsmode may have sent it (no duplicate)" in details(entry)[-1]


async def test_an_sms_whose_outcome_is_unknown_can_be_retried_by_choice(tmp_path: Path) -> None:
    policy = DispatchPolicy(sms_unknown_outcome="retry")
    async with open_line(tmp_path, policy=policy, sms_timeout=timedelta(seconds=0.05)) as line:
        line.sms.faults.hang_rate = 1.0
        (key,) = await line.queue(SMS_PHONE, "Bonjour")
        await line.settle()
        assert (await line.entry(key)).status is OutboxStatus.QUEUED
        line.sms.faults.hang_rate = 0.0
        line.sms.release_hung()
        await line.advance(timedelta(minutes=1))
        assert line.texts(SMS_PHONE) == [("sms", "Bonjour")]


async def _die_while_sending_by_sms(line: Line, key: str) -> None:
    """What a process leaves when it is killed between its `sending` mark and smsmode's
    answer: the entry `sending` by SMS under a lease nobody renews."""
    (claimed,) = await line.store.claim_outbound("dead-process", line.clock.now(), LEASE)
    assert claimed.key == key
    await line.store.mark_outbound(
        key, OutboxStatus.SENDING, line.clock.now(), route="sms", owner="dead-process"
    )
    await line.advance(LEASE + timedelta(seconds=1))


async def test_an_sms_interrupted_by_a_crash_is_sent_again_by_choice(tmp_path: Path) -> None:
    policy = DispatchPolicy(sms_unknown_outcome="retry")
    async with open_line(tmp_path, policy=policy) as line:
        (key,) = await line.queue(SMS_PHONE, "Bonjour")
        await _die_while_sending_by_sms(line, key)
        assert (await line.entry(key)).status is OutboxStatus.DELIVERED
        assert line.texts(SMS_PHONE) == [("sms", "Bonjour")]


async def test_an_sms_only_conversation_never_asks_rbm(tmp_path: Path) -> None:
    async with open_line(tmp_path) as line:
        (key,) = await line.queue(RCS_PHONE, "Bonjour", channel="t2c")
        await line.settle()
        assert line.texts(RCS_PHONE) == [("sms", "Bonjour")]
        assert "by SMS: conversation on t2c" in details(await line.entry(key))
        assert not line.rbm.messages


async def test_a_send_that_hangs_does_not_hold_back_other_messages(tmp_path: Path) -> None:
    """Found by benchmarks/chaos.py --scenario rbm-faults: the dispatcher claimed again only
    when a send finished, so one held RBM call delayed every message queued meanwhile until
    its timeout. A turn's commit (`wake`) now claims again while slots are free."""
    async with open_line(tmp_path, rbm_timeout=timedelta(seconds=30)) as line:
        await line.queue(RCS_PHONE, "Avant")
        await line.settle()
        line.rbm.faults.timeout_rate = 1.0
        await line.queue(RCS_PHONE, "Bloqué")
        wake = asyncio.Event()
        dispatching = asyncio.create_task(line.dispatcher.dispatch_due(wake))
        async with asyncio.timeout(10):  # a bug fails the test rather than hang it
            while not line.rbm.held:
                await asyncio.sleep(0)  # yield until the send is in flight
            (key,) = await line.queue(SMS_PHONE, "Libre", channel="t2c")
            wake.set()
            while (await line.entry(key)).status is not OutboxStatus.SENT:
                await asyncio.sleep(0)
        assert line.rbm.held == 1  # the RCS send still hangs; the SMS went meanwhile
        line.rbm.faults.timeout_rate = 0.0
        line.rbm.release_held()
        await dispatching


async def test_a_provider_that_hangs_never_holds_the_webhooks(tmp_path: Path) -> None:
    async with open_line(tmp_path, rbm_timeout=timedelta(seconds=30)) as line:
        await line.queue(RCS_PHONE, "Avant")
        await line.settle()
        line.rbm.faults.timeout_rate = 1.0  # every RBM call hangs
        await line.queue(RCS_PHONE, "Bloqué")
        dispatching = asyncio.create_task(line.dispatcher.dispatch_due())
        async with asyncio.timeout(10):  # a bug fails the test rather than hang it
            while not line.rbm.held:
                await asyncio.sleep(0)  # yield until the send is in flight
        reply = mo("mo-1", sender=SMS_PHONE[1:], to=NUMBER[1:])
        async with aiohttp.ClientSession() as session:
            answer = await session.post(
                f"{line.base_url}/webhooks/smsmode/{CALLBACK_TOKEN}", json=reply
            )
            assert answer.status == 200
        assert line.rbm.held == 1  # the send still hangs, the reply is stored
        assert await line.store.inbox_depth() == 1
        line.rbm.faults.timeout_rate = 0.0
        line.rbm.release_held()
        await dispatching
