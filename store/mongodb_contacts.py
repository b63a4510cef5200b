"""The MongoDB store's address book (store/contacts_records.py): one document per contact,
`_id` the number in E.164, with its fields as a sub-document and the names of its lists as an
array (a multikey index finds a list's members).

An import is one transaction where the server has them. On a standalone server it is a read of
the numbers already known, then one ordered bulk write of whole documents: a crash in between
leaves a prefix of the contacts written, and running the same import again writes the same
documents (each write replaces a contact by its number), so it finishes the import."""

from __future__ import annotations

from collections.abc import Sequence

from pymongo import ReplaceOne

from store.contacts_records import Contact, merge_contacts
from store.mongodb_documents import Connected, Doc, Session, ms

_CHUNK = 1000
"""Numbers looked up per query."""


def contact_doc(contact: Contact, lists: Sequence[str]) -> Doc:
    c = contact
    return {
        "_id": c.phone,
        "fields": dict(c.fields),
        "created_at": ms(c.created_at),
        "updated_at": ms(c.updated_at),
        "lists": sorted(lists),
    }


def contact_of(doc: Doc) -> Contact:
    return Contact(
        phone=doc["_id"],
        fields=doc["fields"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )


class MongoContacts(Connected):
    async def upsert_contacts(
        self, contacts: Sequence[Contact], list_name: str | None = None
    ) -> tuple[int, int]:
        async def body(session: Session) -> tuple[int, int]:
            return await self._upsert_contacts(contacts, list_name, session)

        return await self._unit(body)

    async def _upsert_contacts(
        self, contacts: Sequence[Contact], list_name: str | None, session: Session
    ) -> tuple[int, int]:
        phones = sorted({contact.phone for contact in contacts})
        existing: dict[str, Contact] = {}
        lists: dict[str, set[str]] = {}
        for start in range(0, len(phones), _CHUNK):
            query = {"_id": {"$in": phones[start : start + _CHUNK]}}
            async for doc in self._c.contacts.find(query, session=session):
                existing[doc["_id"]] = contact_of(doc)
                lists[doc["_id"]] = set(doc.get("lists", []))
        merged, created, updated = merge_contacts(existing, contacts)
        writes: list[ReplaceOne[Doc]] = []
        for phone, contact in merged.items():
            names = lists.get(phone, set()) | ({list_name} if list_name is not None else set())
            writes.append(ReplaceOne({"_id": phone}, contact_doc(contact, sorted(names)), True))
        if writes:
            await self._c.contacts.bulk_write(writes, ordered=True, session=session)
        return created, updated

    async def get_contact(self, phone: str) -> Contact | None:
        doc = await self._c.contacts.find_one({"_id": phone})
        return None if doc is None else contact_of(doc)

    async def contacts(self, list_name: str | None = None) -> list[Contact]:
        query = {} if list_name is None else {"lists": list_name}
        cursor = self._c.contacts.find(query).sort("_id", 1)
        return [contact_of(doc) async for doc in cursor]

    async def contacts_after(
        self, list_name: str | None = None, *, after: str | None = None, limit: int = 100
    ) -> list[Contact]:
        if limit <= 0:  # MongoDB reads a limit of 0 as none at all
            return []
        query: Doc = {"_id": {"$gt": after or ""}}
        if list_name is not None:
            query["lists"] = list_name
        cursor = self._c.contacts.find(query).sort("_id", 1).limit(limit)
        return [contact_of(doc) async for doc in cursor]

    async def leave_list(self, list_name: str, phones: Sequence[str] | None = None) -> int:
        query: Doc = {"lists": list_name}
        if phones is not None:
            query["_id"] = {"$in": sorted(set(phones))}
        result = await self._c.contacts.update_many(query, {"$pull": {"lists": list_name}})
        return result.modified_count

    async def lists(self) -> dict[str, int]:
        sizes: dict[str, int] = {}
        cursor = self._c.contacts.find({"lists.0": {"$exists": True}}, {"lists": 1})
        async for doc in cursor:
            for name in doc["lists"]:
                sizes[name] = sizes.get(name, 0) + 1
        return dict(sorted(sizes.items()))
