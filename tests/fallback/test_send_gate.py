"""The sending rules where messages leave: red list (R6), opt-out (R25), consent (R30), links
(R28), quiet hours for marketing (sms.md §3.3), the STOP mention (R25), through the router and
both emulators on a fake clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from compliance.sender_ids import SenderIdRules
from fallback.send_gate import SendGate, SendRules
from messaging.renderers.rbm import TrafficType
from sandbox.phonebook import Network
from store.compliance_records import OptOut, RedListed
from store.records import OutboxStatus
from tests.fallback.harness import BOT, RCS_PHONE, SMS_PHONE, Line, details, open_line

BLOCKED, QUEUED = OutboxStatus.BLOCKED, OutboxStatus.QUEUED
PARIS_SATURDAY_19_58 = datetime(2026, 3, 7, 18, 58, tzinfo=UTC)  # CET: UTC+1


def marketing(line: Line, *, consent_field: str | None = None) -> None:
    """The bot sends marketing (a flow with `traffic: marketing`), under the sending rules."""
    bot = line.router.bots[BOT]
    line.router.bots[BOT] = replace(bot, traffic=TrafficType.PROMOTION, consent_field=consent_field)
    line.router.gate = SendGate(line.store, SendRules())


async def test_an_opted_out_number_gets_no_marketing_on_any_channel(tmp_path: Path) -> None:
    """R25: the RCS agent and the SMS numbers of one business share one opt-out."""
    async with open_line(tmp_path) as line:
        marketing(line)
        for phone in (RCS_PHONE, SMS_PHONE):
            await line.store.set_opt_out(
                OptOut("default", phone, True, line.clock.now(), "sms:stop")
            )
        (by_rcs,) = await line.queue(RCS_PHONE, "Promo -20 %")
        (by_sms,) = await line.queue(SMS_PHONE, "Promo -20 %", channel="t2c")
        # The opt-out confirmation and other transactional messages still go.
        (notice,) = await line.queue(SMS_PHONE, "Rendez-vous demain", traffic="transactional")
        await line.settle()
        for key in (by_rcs, by_sms):
            entry = await line.entry(key)
            assert entry.status is BLOCKED
            assert "(R25)" in details(entry)[-1]
        assert line.texts(RCS_PHONE) == []
        assert line.texts(SMS_PHONE) == [("sms", "Rendez-vous demain")]
        assert (await line.entry(notice)).status is OutboxStatus.DELIVERED
        # Opted back in (START): marketing goes again.
        await line.store.set_opt_out(
            OptOut("default", SMS_PHONE, False, line.clock.now(), "sms:start")
        )
        await line.queue(SMS_PHONE, "Promo -30 %", channel="t2c")
        await line.settle()
        assert line.texts(SMS_PHONE)[-1] == ("sms", "Promo -30 %\nSTOP au 36034")


async def test_the_red_list_blocks_everything(tmp_path: Path) -> None:
    """R6: a red-listed number gets nothing, transactional included."""
    async with open_line(tmp_path) as line:
        line.router.gate = SendGate(line.store, SendRules())
        await line.store.red_list_add(RedListed("default", SMS_PHONE, line.clock.now(), "demande"))
        (key,) = await line.queue(SMS_PHONE, "Rendez-vous demain", traffic="transactional")
        await line.settle()
        entry = await line.entry(key)
        assert entry.status is BLOCKED
        assert "(R6)" in details(entry)[-1]
        assert line.texts(SMS_PHONE) == []


async def test_marketing_needs_consent_where_the_bot_requires_it(tmp_path: Path) -> None:
    """R30: without a recorded opt-in (the contact field), no marketing."""
    async with open_line(tmp_path) as line:
        marketing(line, consent_field="opt_in")
        (key,) = await line.queue(SMS_PHONE, "Promo", channel="t2c")
        await line.settle()
        assert (await line.entry(key)).status is BLOCKED
        assert "(R30)" in details(await line.entry(key))[-1]


async def test_a_templated_shortener_link_is_blocked_when_it_leaves(tmp_path: Path) -> None:
    """R28: operators block smishing-looking links; a templated one is caught at send time."""
    async with open_line(tmp_path) as line:
        line.router.gate = SendGate(line.store, SendRules())
        (key,) = await line.queue(
            SMS_PHONE, "Suivez votre colis : https://bit.ly/3xYz", channel="t2c"
        )
        await line.settle()
        entry = await line.entry(key)
        assert entry.status is BLOCKED
        assert "bit.ly" in details(entry)[-1]
        assert line.texts(SMS_PHONE) == []


async def test_a_refused_sender_id_never_leaves(tmp_path: Path) -> None:
    """R27: a SenderID on the AF2M's SI list is refused, not rewritten."""
    async with open_line(tmp_path, phones=((SMS_PHONE, Network.SMS),)) as line:
        bot = line.router.bots[BOT]
        line.router.bots[BOT] = replace(bot, t2c_number=None, sms_sender="BANQUE")
        rules = SendRules(senders=SenderIdRules(forbidden=frozenset({"BANQUE"})))
        line.router.gate = SendGate(line.store, rules)
        (key,) = await line.queue(SMS_PHONE, "Votre code", channel="sms")
        await line.settle()
        entry = await line.entry(key)
        assert entry.status is BLOCKED
        assert "(R27)" in details(entry)[-1]


async def test_a_campaign_at_saturday_19_58_waits_for_monday_08_00(tmp_path: Path) -> None:
    """sms.md §3.3: marketing goes Monday to Saturday, 08:00-20:00 Paris; two minutes' worth
    leave, the rest waits for Monday (Sunday skipped), its 24 h validity counted from then."""
    async with open_line(tmp_path) as line:
        line.clock.set(PARIS_SATURDAY_19_58)
        keys = await campaign(line, per_minute=2, recipients=8)
        await line.settle()
        for _ in range(4):  # the clock runs on, half a minute at a time
            await line.advance(timedelta(seconds=30))
        await line.advance(timedelta(minutes=5))  # the later ones fall due, and are held
        sent = [k for k in keys if (await line.entry(k)).status is OutboxStatus.DELIVERED]
        assert len(sent) == 4  # 19:58, 19:58:30, 19:59, 19:59:30
        held = [await line.entry(k) for k in keys[4:]]
        monday_8 = datetime(2026, 3, 9, 7, 0, tzinfo=UTC)
        assert {(e.status, e.due_at) for e in held} == {(QUEUED, monday_8)}
        assert "held: Marketing goes out only" in details(held[0])[-1]
        await line.advance(monday_8 - line.clock.now() - timedelta(minutes=1))
        assert len(line.copies()) == 4  # nothing on Sunday nor Monday 07:59
        await line.advance(timedelta(minutes=1))
        assert len(line.copies()) == 8
        assert all(count == 1 for count in line.copies().values())


async def test_when_monday_is_easter_monday_the_campaign_waits_for_tuesday(
    tmp_path: Path,
) -> None:
    async with open_line(tmp_path) as line:
        line.clock.set(datetime(2027, 3, 27, 18, 58, tzinfo=UTC))  # Saturday before Easter
        keys = await campaign(line, per_minute=2, recipients=6)
        await line.settle()
        for _ in range(4):
            await line.advance(timedelta(seconds=30))
        await line.advance(timedelta(minutes=5))
        tuesday_8 = datetime(2027, 3, 30, 6, 0, tzinfo=UTC)  # CEST: UTC+2
        assert (await line.entry(keys[-1])).due_at == tuesday_8
        await line.advance(tuesday_8 - line.clock.now())
        assert len(line.copies()) == 6


async def campaign(line: Line, *, per_minute: int, recipients: int) -> list[str]:
    """A marketing campaign to SMS phones, paced: one start every `60 / per_minute` s."""
    marketing(line)
    keys = []
    start = line.clock.now()
    for index in range(recipients):
        phone = f"+3361000{index:04d}"
        line.phonebook.add(phone, Network.SMS)
        due = start + timedelta(seconds=60 * index / per_minute)
        keys += await line.queue(phone, f"Soldes {index}", channel="t2c", due_at=due)
    return keys
