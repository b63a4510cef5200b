"""The address book (R6) and erasure (R34). The address book belongs to the deployment, not
to a bot's business: only a token of every bot (`*`) reads it, and numbers are shown in full
(it is the list itself, as `causette contacts export` writes it)."""

from __future__ import annotations

import logging

from aiohttp import web

from bots.admin.auth import TOKEN
from bots.admin.errors import ApiError
from bots.admin.models import ContactList, ContactQuery, ContactView, Erased, ListsView
from bots.admin.operations import Admin, Answer, Operation, answer, path_phone, query_of
from bots.admin.views import decode_cursor, encode_cursor
from compliance.erasure import hashed_phone
from store.contacts_records import Contact

log = logging.getLogger(__name__)

CONTACT = "/contacts/{phone}"


def _view(contact: Contact) -> ContactView:
    return ContactView(
        phone=contact.phone,
        fields=dict(contact.fields),
        created_at=contact.created_at,
        updated_at=contact.updated_at,
    )


async def list_contacts(admin: Admin, request: web.Request) -> web.Response:
    """A page of the address book (or of one list), by number."""
    query = query_of(request, ContactQuery)
    after = decode_cursor(query.cursor, 1)
    found = await admin.runtime.store.contacts_after(
        query.list or None, after=after[0] if after else None, limit=query.limit
    )
    more = len(found) == query.limit
    page = ContactList(
        contacts=[_view(c) for c in found],
        next_cursor=encode_cursor(found[-1].phone) if more else None,
    )
    return answer(page)


async def show_contact(admin: Admin, request: web.Request) -> web.Response:
    contact = await admin.runtime.store.get_contact(path_phone(request).e164)
    if contact is None:
        raise ApiError(404, "unknown_contact", "the address book has no such number")
    return answer(_view(contact))


async def lists(admin: Admin, request: web.Request) -> web.Response:
    return answer(ListsView(lists=await admin.runtime.store.lists()))


async def erase(admin: Admin, request: web.Request) -> web.Response:
    """Erase everything about a number, as `causette contacts erase` does (R34): the same
    salted hash (compliance/erasure.py) and the same `Store.erase_phone`."""
    number = path_phone(request)
    if not admin.erasure_salt:
        raise ApiError(
            409,
            "erasure_not_configured",
            "this deployment has no erasure salt (compliance.erasure_salt_env)",
        )
    hashed = hashed_phone(number.e164, admin.erasure_salt)
    counts = await admin.runtime.store.erase_phone(number.e164, hashed)
    log.info("admin API: %s erased (token %s)", number.masked, request[TOKEN].id)
    return answer(Erased(phone=number.masked, counts=counts))


OPERATIONS = (
    Operation(
        "GET",
        "/contacts",
        "listContacts",
        "A page of the address book, by number",
        list_contacts,
        (Answer(200, "The contacts, numbers in full.", ContactList),),
        query=ContactQuery,
        scope="all",
    ),
    Operation(
        "GET",
        CONTACT,
        "showContact",
        "One contact of the address book",
        show_contact,
        (Answer(200, "The contact and its fields.", ContactView),),
        errors=((404, "The address book has no such number."),),
        scope="all",
    ),
    Operation(
        "DELETE",
        CONTACT,
        "eraseContact",
        "Erase everything about a number (R34)",
        erase,
        (Answer(200, "What was removed, or kept hashed, table by table.", Erased),),
        description=(
            "As `causette contacts erase`: conversations, history, inbox, outbox, timers,"
            " archive, red lists, the contact and its lists are removed; opt-out records and"
            " ledger entries stay with a salted hash instead of the number. Erasing again"
            " removes nothing more."
        ),
        errors=((409, "The deployment has no erasure salt configured."),),
        scope="all",
    ),
    Operation(
        "GET",
        "/lists",
        "listLists",
        "The address book's lists and their sizes",
        lists,
        (Answer(200, "Each list and how many contacts it holds.", ListsView),),
        scope="all",
    ),
)
