"""What the store keeps of the address book (R6): contacts, their custom fields, and the named
lists they belong to (`causette contacts import|export`, bots/cli_contacts.py).

A contact's fields are the ones a flow's templates read as `contact.*` (first_name, opt_in,
anything the business imports): text, as a CSV holds it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Contact:
    """A person of the address book, keyed by their number."""

    phone: str
    """E.164, the key."""
    fields: Mapping[str, str]
    created_at: datetime
    updated_at: datetime


def merge_contacts(
    existing: Mapping[str, Contact], contacts: Sequence[Contact]
) -> tuple[dict[str, Contact], int, int]:
    """What `Store.upsert_contacts` writes, the same on both backends: each contact of
    `contacts` over the one kept under its number, if any (its fields replace those of the
    same name and add new ones, the others stay; `created_at` stays the first one), a number
    given twice merged the same way in order. Returns the contacts to write by number, and
    how many numbers are new and how many were already there."""
    merged: dict[str, Contact] = {}
    for contact in contacts:
        before = merged.get(contact.phone) or existing.get(contact.phone)
        if before is None:
            merged[contact.phone] = contact
            continue
        fields = {**before.fields, **contact.fields}
        merged[contact.phone] = Contact(
            contact.phone, fields, before.created_at, contact.updated_at
        )
    created = sum(1 for phone in merged if phone not in existing)
    return merged, created, len(merged) - created
