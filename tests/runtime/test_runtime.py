"""The runtime end to end on SQLite: ordering, durable timers, flow versions, idempotency."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bots.outbox import RecordingSender
from bots.runtime import Runtime
from bots.worker import BotProfile
from messaging.clock import FakeClock
from messaging.inbound import InboundPostback, InboundText
from store.base import Store
from store.records import InboxSource, OutboxEntry, OutboxStatus
from store.sqlite import SqliteStore
from tests.runtime.conftest import PHONE, START, RuntimeFactory


def texts(sender: RecordingSender) -> list[str]:
    return [str(entry.content.get("text")) for entry in sender.sent]


async def test_a_started_conversation_sends_its_first_message(
    make_runtime: RuntimeFactory, sender: RecordingSender
) -> None:
    runtime = make_runtime()
    await runtime.open()
    _, new = await runtime.start_conversation(
        "rdv", "06 12 34 56 78", key="campaign-1:ana", contact={"first_name": "Ana"}
    )
    assert new
    await runtime.run_until_idle()
    assert texts(sender) == ["Bonjour Ana, rendez-vous du 12 décembre ?"]
    assert sender.sent[0].phone == PHONE
    assert sender.sent[0].channel == "sms"
    stored = await runtime.store.get_outbound(sender.sent[0].key)
    assert stored is not None
    assert stored.status is OutboxStatus.SENT


async def test_the_same_start_key_starts_once(
    make_runtime: RuntimeFactory, sender: RecordingSender
) -> None:
    runtime = make_runtime()
    await runtime.open()
    first, _ = await runtime.start_conversation(
        "rdv", PHONE, key="k", contact={"first_name": "Ana"}
    )
    again, new = await runtime.start_conversation(
        "rdv", PHONE, key="k", contact={"first_name": "Ana"}
    )
    assert (again.seq, new) == (first.seq, False)
    await runtime.run_until_idle()
    assert len(sender.sent) == 1


async def test_events_of_a_conversation_run_in_arrival_order(
    make_runtime: RuntimeFactory, sender: RecordingSender
) -> None:
    runtime = make_runtime()
    await runtime.open()
    await runtime.start_conversation("rdv", PHONE, key="k", contact={"first_name": "Ana"})
    await runtime.receive(
        "rdv", PHONE, InboundText(text="hein ?"), source=InboxSource.SMSMODE, provider_id="m1"
    )
    await runtime.receive(
        "rdv", PHONE, InboundText(text="2"), source=InboxSource.SMSMODE, provider_id="m2"
    )
    await runtime.receive(
        "rdv", PHONE, InboundText(text="2"), source=InboxSource.SMSMODE, provider_id="m2"
    )
    await runtime.run_until_idle()
    assert texts(sender) == [
        "Bonjour Ana, rendez-vous du 12 décembre ?",
        "Je n'ai pas compris.",
        "C'est annulé.",
    ]
    conversation = await runtime.store.get_conversation("rdv", PHONE)
    assert conversation is None  # ended: no live conversation left


async def test_a_message_from_a_stranger_starts_the_flow_and_is_read_by_it(
    make_runtime: RuntimeFactory, sender: RecordingSender
) -> None:
    runtime = make_runtime()
    await runtime.open()
    await runtime.receive(
        "rdv", PHONE, InboundPostback(data="confirm"), source=InboxSource.RBM, provider_id="r1"
    )
    await runtime.run_until_idle()
    assert texts(sender)[-1] == "Merci, à bientôt !"


async def test_a_timer_fires_once_after_a_restart(
    make_runtime: RuntimeFactory, sender: RecordingSender, clock: FakeClock
) -> None:
    first = make_runtime()
    await first.open()
    await first.start_conversation("rdv", PHONE, key="k", contact={"first_name": "Ana"})
    await first.run_until_idle()
    assert await first.store.next_timer_due() == clock.now() + timedelta(hours=2)
    await first.close()  # the process stops between arming and firing

    clock.advance(timedelta(hours=3))
    second = make_runtime(owner="worker-2")
    await second.open()
    await second.run_until_idle()
    await second.run_until_idle()
    assert texts(sender).count("Petit rappel") == 1
    assert await second.store.next_timer_due() is None


async def test_a_conversation_finishes_on_the_flow_version_it_started_with(
    make_runtime: RuntimeFactory, sender: RecordingSender, flow_file: Path
) -> None:
    runtime = make_runtime()
    await runtime.open()
    await runtime.start_conversation("rdv", PHONE, key="a", contact={"first_name": "Ana"})
    await runtime.run_until_idle()
    old = await runtime.store.get_conversation("rdv", PHONE)
    assert old is not None

    flow_file.write_text(
        flow_file.read_text(encoding="utf-8").replace("C'est annulé.", "Rendez-vous annulé."),
        encoding="utf-8",
    )
    changed = await runtime.flows.reload()
    assert [c.bot_id for c in changed] == ["rdv"]

    await runtime.receive(
        "rdv", PHONE, InboundText(text="2"), source=InboxSource.SMSMODE, provider_id="m1"
    )
    other = "+33698765432"
    await runtime.start_conversation("rdv", other, key="b", contact={"first_name": "Bob"})
    await runtime.receive(
        "rdv", other, InboundText(text="2"), source=InboxSource.SMSMODE, provider_id="m2"
    )
    await runtime.run_until_idle()
    by_phone = {(e.phone, str(e.content.get("text"))) for e in sender.sent}
    assert (PHONE, "C'est annulé.") in by_phone
    assert (other, "Rendez-vous annulé.") in by_phone


async def test_a_turn_of_many_messages_is_sent_in_order(
    make_runtime: RuntimeFactory, sender: RecordingSender, flow_file: Path
) -> None:
    says = "\n".join(f"      - m{n}" for n in range(12))
    flow_file.write_text(
        f"flow: rdv\nstart: talk\nstates:\n  talk:\n    say:\n{says}\n    end: true\n",
        encoding="utf-8",
    )
    runtime = make_runtime()
    await runtime.open()
    for n in range(3):  # several turns at the same instant: key order is send order
        await runtime.start_conversation("rdv", f"+3361234567{n}", key=f"k{n}")
    await runtime.run_until_idle()
    for n in range(3):
        sent = [
            t for e, t in zip(sender.sent, texts(sender), strict=True) if e.phone.endswith(f"{n}")
        ]
        assert sent == [f"m{i}" for i in range(12)]


class RacingSender:
    """A provider whose DELIVERED receipt arrives before its answer to the send."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.seen_before_send: OutboxEntry | None = None

    async def send(self, entry: OutboxEntry) -> str:
        self.seen_before_send = entry
        await self.store.mark_outbound(entry.key, OutboxStatus.DELIVERED, START)
        return f"rbm-{entry.key}"


async def test_a_receipt_racing_the_send_is_kept(
    flow_file: Path, clock: FakeClock, db_path: Path
) -> None:
    """The dispatcher's write after the send is fenced by its lease: a receipt that settled
    the entry meanwhile stays (the RBM path records its id before sending: tests/fallback)."""
    store = SqliteStore(db_path)
    sender = RacingSender(store)
    runtime = Runtime(
        store, {"rdv": BotProfile("rdv")}, {"rdv": flow_file}, clock=clock, sender=sender
    )
    await runtime.open()
    try:
        await runtime.start_conversation("rdv", PHONE, key="k", contact={"first_name": "Ana"})
        await runtime.run_until_idle()
        assert sender.seen_before_send is not None
        stored = await store.get_outbound(sender.seen_before_send.key)
        assert stored is not None
        assert stored.status is OutboxStatus.DELIVERED  # not stepped back to `sent`
    finally:
        await runtime.close()
