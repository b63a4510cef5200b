"""Contract: the address book (R6), its contacts' fields and the lists they belong to."""

from __future__ import annotations

import sqlite3

import pytest

from store.base import Store
from store.contacts_records import Contact
from store.sqlite import SqliteStore
from tests.store import PHONE, PHONES, T0, sec


def contact(phone: str = PHONE, at: int = 0, **fields: str) -> Contact:
    return Contact(phone, fields, sec(at), sec(at))


async def test_an_empty_address_book(store: Store) -> None:
    assert await store.get_contact(PHONE) is None
    assert await store.contacts() == []
    assert await store.contacts("clients") == []
    assert await store.lists() == {}
    assert await store.upsert_contacts([]) == (0, 0)
    assert await store.upsert_contacts([], "clients") == (0, 0)
    assert await store.lists() == {}


async def test_contacts_are_created_then_updated_field_by_field(store: Store) -> None:
    zoe = contact(first_name="Zoé", opt_in="oui")
    assert await store.upsert_contacts([zoe, contact(PHONES[1], first_name="Paul")]) == (2, 0)
    assert await store.get_contact(PHONE) == zoe

    again = contact(at=60, last_name="Martin", opt_in="non")
    assert await store.upsert_contacts([again, contact(PHONES[2])]) == (1, 1)
    fields = {"first_name": "Zoé", "last_name": "Martin", "opt_in": "non"}
    assert await store.get_contact(PHONE) == Contact(PHONE, fields, T0, sec(60))
    assert [c.phone for c in await store.contacts()] == [PHONES[1], PHONES[2], PHONE]


async def test_a_number_given_twice_is_merged_in_order(store: Store) -> None:
    first, second = contact(first_name="Zoé", city="Lyon"), contact(at=1, city="Marseille")
    assert await store.upsert_contacts([first, second]) == (1, 0)
    fields = {"first_name": "Zoé", "city": "Marseille"}
    assert await store.get_contact(PHONE) == Contact(PHONE, fields, T0, sec(1))


async def test_lists_hold_their_members(store: Store) -> None:
    assert await store.upsert_contacts([contact(), contact(PHONES[1])], "clients") == (2, 0)
    assert await store.upsert_contacts([contact(PHONES[2]), contact(at=5)], "vip") == (1, 1)
    assert await store.upsert_contacts([contact(PHONES[3])]) == (1, 0)  # in no list
    assert await store.lists() == {"clients": 2, "vip": 2}
    assert [c.phone for c in await store.contacts("clients")] == [PHONES[1], PHONE]
    assert [c.phone for c in await store.contacts("vip")] == [PHONES[2], PHONE]
    assert len(await store.contacts()) == 4
    assert await store.contacts("nobody") == []
    # Joining a list again changes nothing.
    assert await store.upsert_contacts([contact(PHONES[1])], "clients") == (0, 1)
    assert await store.lists() == {"clients": 2, "vip": 2}


async def test_numbers_leave_a_list_and_keep_their_contact(store: Store) -> None:
    await store.upsert_contacts([contact(), contact(PHONES[1]), contact(PHONES[2])], "clients")
    await store.upsert_contacts([contact()], "vip")
    assert await store.leave_list("clients", [PHONE, PHONE, PHONES[3]]) == 1  # once, known only
    assert [c.phone for c in await store.contacts("clients")] == [PHONES[1], PHONES[2]]
    assert await store.lists() == {"clients": 2, "vip": 1}  # the other list keeps the number
    assert await store.leave_list("clients") == 2  # the whole list: gone
    assert await store.lists() == {"vip": 1}
    assert len(await store.contacts()) == 3  # nobody was deleted
    assert await store.leave_list("nobody") == 0


async def test_many_contacts_at_once(store: Store) -> None:
    many = [contact(f"+336{n:08d}", n=str(n)) for n in range(1200)]
    assert await store.upsert_contacts(many, "tous") == (1200, 0)
    assert await store.upsert_contacts(many[1100:]) == (0, 100)
    assert await store.lists() == {"tous": 1200}
    assert await store.contacts("tous") == many


async def test_an_import_that_fails_writes_nothing() -> None:
    """SQLite: one transaction; a failure half-way leaves the address book as it was."""
    async with SqliteStore(":memory:") as store:
        assert await store.upsert_contacts([contact(first_name="Zoé")]) == (1, 0)
        store._conn.execute("""CREATE TRIGGER refuse BEFORE INSERT ON contact_lists
            WHEN NEW.phone = '+33612345602' BEGIN SELECT RAISE(ABORT, 'refused'); END""")
        batch = [contact(at=9, first_name="Zoe"), contact(PHONES[1]), contact(PHONES[2])]
        with pytest.raises(sqlite3.IntegrityError):
            await store.upsert_contacts(batch, "clients")
        assert await store.contacts() == [contact(first_name="Zoé")]
        assert await store.lists() == {}


async def test_contacts_after_pages_by_number(store: Store) -> None:
    await store.upsert_contacts([contact(PHONES[2]), contact(PHONES[0])], "clients")
    await store.upsert_contacts([contact(PHONES[1])])
    assert [c.phone for c in await store.contacts_after()] == list(PHONES[:3])
    assert [c.phone for c in await store.contacts_after(limit=2)] == list(PHONES[:2])
    assert [c.phone for c in await store.contacts_after(after=PHONES[0])] == list(PHONES[1:3])
    assert [c.phone for c in await store.contacts_after("clients")] == [PHONES[0], PHONES[2]]
    assert await store.contacts_after("clients", after=PHONES[0]) == [
        await store.get_contact(PHONES[2])
    ]
    assert await store.contacts_after("nobody") == []
    assert await store.contacts_after(limit=0) == []
