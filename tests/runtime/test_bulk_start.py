"""A bulk start (a campaign's sends): one conversation per recipient after E.164 normalisation
(R5), paced, and never twice for the same send."""

from __future__ import annotations

from datetime import timedelta

from bots.outbox import RecordingSender
from messaging.clock import FakeClock
from store.contacts_records import Contact
from tests.runtime.conftest import RuntimeFactory


async def test_one_message_per_recipient_after_normalisation(
    make_runtime: RuntimeFactory, sender: RecordingSender
) -> None:
    runtime = make_runtime()
    await runtime.open()
    report = await runtime.start_many(
        "rdv",
        ["06 12 34 56 78", "+33612345678", "0033612345678", "07 98 76 54 32", "pas un numéro"],
        key="rappel-lundi",
        variables={},
    )
    assert (report.started, report.merged) == (2, 2)
    assert [(item.index, item.raw) for item in report.invalid] == [(4, "pas un numéro")]
    await runtime.run_until_idle()
    assert sorted({entry.phone for entry in sender.sent}) == ["+33612345678", "+33798765432"]
    again = await runtime.start_many("rdv", ["+33612345678"], key="rappel-lundi")
    assert again.started == 0  # the same send, run again, starts nobody twice


async def test_a_paced_start_spreads_the_first_messages(
    make_runtime: RuntimeFactory, sender: RecordingSender, clock: FakeClock
) -> None:
    runtime = make_runtime()
    await runtime.open()
    phones = [f"+3361234560{n}" for n in range(4)]
    await runtime.start_many("rdv", phones, key="soldes", per_minute=2)
    await runtime.run_until_idle()
    assert len({entry.phone for entry in sender.sent}) == 1  # the first one, now
    clock.advance(timedelta(seconds=30))
    await runtime.run_until_idle()
    assert len({entry.phone for entry in sender.sent}) == 2
    clock.advance(timedelta(minutes=1))
    await runtime.run_until_idle()
    assert len({entry.phone for entry in sender.sent}) == 4


async def test_the_address_book_fields_reach_the_templates(
    make_runtime: RuntimeFactory, sender: RecordingSender, clock: FakeClock
) -> None:
    """`contact.*` in a flow reads the fields of `causette contacts import` (R6)."""
    runtime = make_runtime()
    await runtime.open()
    await runtime.store.upsert_contacts(
        [Contact("+33612345678", {"first_name": "Zoé", "ville": "Lyon"}, clock.now(), clock.now())],
        None,
    )
    await runtime.start_many("rdv", ["06 12 34 56 78"], key="annuaire")
    await runtime.run_until_idle()
    conversation = await runtime.store.get_conversation("rdv", "+33612345678")
    assert conversation is not None
    assert conversation.contact["first_name"] == "Zoé"
    assert conversation.contact["ville"] == "Lyon"
    assert "Zoé" in str(sender.sent[0].content)
