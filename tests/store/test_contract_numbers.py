"""Contract: the Time2Chat 09 numbers, their declaration (R11) and the bot each serves."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from store.base import Store
from store.numbers_records import NumberRecord
from tests.store import T0, StoreFactory, sec

NUMBER = "+33937000001"


def declaration(number: str = NUMBER, **changes: Any) -> dict[str, Any]:
    contact = {
        "last_name": "Dupont",
        "first_name": "Zoé",
        "phone": "+33612345678",
        "email": "zoe@example.fr",
    }
    return {
        "number": number,
        "client_name": "Garage Martin",
        "siret": "73282932000074",
        "usage": "Confirmations de rendez-vous",
        "contact": contact,
        **changes,
    }


def record(number: str = NUMBER, **changes: Any) -> NumberRecord:
    return replace(NumberRecord(number, declaration(number), T0), **changes)


async def test_an_unknown_number_is_none(store: Store) -> None:
    assert await store.get_number(NUMBER) is None
    assert await store.list_numbers() == []
    assert not await store.assign_number(NUMBER, "rdv", sec(1))
    assert not await store.release_number(NUMBER, sec(1))


async def test_a_number_is_declared_once_while_live(store: Store) -> None:
    assert await store.declare_number(record())
    assert await store.get_number(NUMBER) == record()
    other = record(declaration=declaration(client_name="Autre"), declared_at=sec(5))
    assert not await store.declare_number(other)
    assert await store.get_number(NUMBER) == record()  # nothing written


async def test_numbers_are_listed_by_number(store: Store) -> None:
    for number in ("+33939000001", "+33937000002", "+33938000003"):
        await store.declare_number(record(number))
    await store.release_number("+33938000003", sec(2))
    listed = await store.list_numbers()
    assert [r.number for r in listed] == ["+33937000002", "+33938000003", "+33939000001"]
    assert listed[1].released_at == sec(2)


async def test_a_declared_number_is_assigned_then_released(store: Store) -> None:
    await store.declare_number(record())
    assert await store.assign_number(NUMBER, "rdv", sec(1))
    assert await store.get_number(NUMBER) == record(bot_id="rdv", assigned_at=sec(1))
    assert await store.assign_number(NUMBER, "colis", sec(2))  # moved to another bot
    assert await store.get_number(NUMBER) == record(bot_id="colis", assigned_at=sec(2))
    assert await store.release_number(NUMBER, sec(3))
    released = record(released_at=sec(3))
    assert await store.get_number(NUMBER) == released
    assert not await store.release_number(NUMBER, sec(9))  # the first time stays
    assert not await store.assign_number(NUMBER, "rdv", sec(4))
    assert await store.get_number(NUMBER) == released


async def test_a_released_number_is_declared_again(store: Store) -> None:
    await store.declare_number(record(bot_id="rdv", assigned_at=T0))
    await store.release_number(NUMBER, sec(3))
    again = record(declaration=declaration(client_name="Nouveau client"), declared_at=sec(5))
    assert await store.declare_number(again)
    assert await store.get_number(NUMBER) == again
    assert not await store.declare_number(record())


async def test_numbers_outlive_the_process_that_declared_them(backing: StoreFactory) -> None:
    async with backing() as first:
        await first.declare_number(record())
        await first.assign_number(NUMBER, "rdv", sec(1))
    async with backing() as second:
        assert await second.get_number(NUMBER) == record(bot_id="rdv", assigned_at=sec(1))
