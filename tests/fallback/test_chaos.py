"""The acceptance run of the fallback router: RBM failing 30% of calls (5xx and timeouts) over
2,000 messages. Every message must end delivered, on RCS or by SMS, within its validity, once,
and each conversation's messages in their order."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sandbox.phonebook import Network
from store.records import OutboxStatus
from tests.fallback.harness import T0, details, open_line

CONVERSATIONS = 200
MESSAGES = 10  # per conversation: 2,000 in all


async def test_every_message_arrives_once_despite_30_percent_rbm_failures(tmp_path: Path) -> None:
    # Three phones in four have RCS; the others take SMS only.
    phones = [
        (f"+3361{n:07d}", Network.SMS if n % 4 == 0 else Network.RCS) for n in range(CONVERSATIONS)
    ]
    async with open_line(tmp_path, phones=phones, rbm_timeout=timedelta(seconds=0.05)) as line:
        line.rbm.faults.error_rates = {500: 0.1, 503: 0.1}
        line.rbm.faults.timeout_rate = 0.1  # held: our client gives up; RBM may still take it
        keys: list[str] = []
        expected: dict[str, list[str]] = {}
        for n, (phone, _) in enumerate(phones):
            texts = [f"c{n}-m{m}" for m in range(MESSAGES)]
            expected[phone] = texts
            keys += await line.queue(phone, *texts)
        for _ in range(200):
            await line.settle()
            line.rbm.release_held()  # the held calls are carried out, late
            await line.advance(timedelta(seconds=10))
            statuses = {(await line.entry(key)).status for key in keys}
            if statuses <= {OutboxStatus.DELIVERED, OutboxStatus.READ}:
                break
        assert statuses == {OutboxStatus.DELIVERED}
        assert line.clock.now() < T0 + timedelta(hours=24)  # within the validity (R4)
        copies = line.copies()
        assert len(copies) == CONVERSATIONS * MESSAGES
        assert set(copies.values()) == {1}, "a message arrived twice"
        for phone, texts in expected.items():
            # In order on each channel; across channels, a message sent by SMS may be
            # overtaken by the next one sent by RCS when the route changed in between
            # (docs/channels.md).
            got = line.texts(phone)
            for channel in ("rcs", "sms"):
                on_channel = [text for sent_on, text in got if sent_on == channel]
                assert on_channel == sorted(on_channel, key=texts.index), phone
        channels = {channel for phone in expected for channel, _ in line.texts(phone)}
        assert channels == {"rcs", "sms"}
        # The faults did bite: retries after 5xx and after timeouts, and SMS fallbacks.
        entries = [await line.entry(key) for key in keys]
        notes = [" ".join(details(entry)) for entry in entries]
        assert sum("HTTP 5" in note for note in notes) > 100
        assert sum("no answer in time" in note for note in notes) > 50
        assert sum(entry.route == "t2c" for entry in entries) > CONVERSATIONS * MESSAGES / 4
