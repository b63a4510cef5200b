"""STOP and START end to end (R25, R26): Bruno answers `stop` to the marketing survey by SMS,
gets exactly one confirmation, then no marketing on SMS or RCS while a transactional message
still arrives; after `START`, marketing arrives again."""

from __future__ import annotations

from store.records import OutboxStatus
from tests.e2e.conftest import BRUNO, Demo

CONFIRMED = "vous ne recevrez plus nos messages commerciaux"
OPTED_IN = "vous recevrez de nouveau nos messages"
BRUNO_CONTACT = {"first_name": "Bruno"}


async def test_stop_confirms_once_blocks_marketing_and_start_restores_it(demo: Demo) -> None:
    bruno = demo.person(BRUNO)
    survey_number = demo.settings.bot("survey").t2c
    assert survey_number is not None
    await demo.runtime.start_conversation(
        "survey", BRUNO, key="promo-1", channel="t2c", contact=BRUNO_CONTACT
    )
    await bruno.expect("Bonjour", "STOP au 36034")
    await bruno.say(" stop ")  # case and spaces do not matter
    await bruno.expect(CONFIRMED)
    assert await demo.conversation("survey", BRUNO) is None  # STOP ended it

    # The next campaign, on RCS this time, is blocked: an opt-out holds on every channel.
    await demo.runtime.start_conversation(
        "survey", BRUNO, key="promo-2", channel="rcs", contact=BRUNO_CONTACT
    )
    # A transactional message still arrives, and it is the very next one: no marketing came.
    await demo.start("appointment", BRUNO, "t2c")
    await bruno.expect("Bruno, le cabinet dentaire du Prado")
    survey = await demo.conversation("survey", BRUNO)
    assert survey is not None
    assert OutboxStatus.BLOCKED in await demo.runtime.store.outbox_depth()

    await bruno.say("START")
    await bruno.expect(OPTED_IN)  # the next message: still no marketing in between
    # Opted in again, Bruno answers the survey's number: its marketing reaches him again.
    # (The phone book's own action: the simulator's page always answers the last sender.)
    await demo.phonebook.act(BRUNO, {"text": "1", "to": survey_number.number[1:]})
    await bruno.expect("STOP au 36034")
    assert sum(CONFIRMED in text for text in bruno.received) == 1
