"""A bot's business's red list (R6) and opt-outs (R25), read and managed through the API as
`causette redlist` does. Both belong to the bot's business (`compliance.business`), shared by
its bots: a token of one bot sees that business's records only. Numbers are shown in full: it
is the list itself."""

from __future__ import annotations

import logging

from aiohttp import web

from bots.admin.auth import TOKEN
from bots.admin.errors import ApiError
from bots.admin.models import (
    OptOutList,
    OptOutView,
    PageQuery,
    RedListAdd,
    RedListChange,
    RedListEntry,
    RedListView,
)
from bots.admin.operations import (
    Admin,
    Answer,
    Operation,
    answer,
    body_of,
    path_phone,
    query_of,
)
from bots.admin.views import decode_cursor, encode_cursor
from messaging.phone import Phone
from store.compliance_records import RedListed

log = logging.getLogger(__name__)

RED_LIST = "/bots/{bot}/red-list"


async def show_red_list(admin: Admin, request: web.Request) -> web.Response:
    business = admin.business(admin.bot(request))
    entries = await admin.runtime.store.red_list(business)
    view = RedListView(
        business=business,
        entries=[RedListEntry(phone=e.phone, at=e.at, reason=e.reason) for e in entries],
    )
    return answer(view)


async def add_to_red_list(admin: Admin, request: web.Request) -> web.Response:
    """Put a number on the red list: nothing is sent to it any more (R6). Idempotent."""
    business = admin.business(admin.bot(request))
    add = body_of(request, RedListAdd)
    entry = RedListed(business, add.phone, admin.runtime.clock.now(), add.reason)
    added = await admin.runtime.store.red_list_add(entry)
    masked = Phone(add.phone).masked
    log.info("admin API: %s red-listed for %s (token %s)", masked, business, request[TOKEN].id)
    return answer(RedListChange(phone=add.phone, changed=added), 201 if added else 200)


async def remove_from_red_list(admin: Admin, request: web.Request) -> web.Response:
    business = admin.business(admin.bot(request))
    number = path_phone(request)
    if not await admin.runtime.store.red_list_remove(business, number.e164):
        raise ApiError(404, "not_red_listed", "this number is not on the red list")
    log.info("admin API: %s off the red list of %s", number.masked, business)
    return answer(RedListChange(phone=number.e164, changed=True))


async def list_opt_outs(admin: Admin, request: web.Request) -> web.Response:
    """A page of the business's opt-out records, by number (opted back in ones too)."""
    business = admin.business(admin.bot(request))
    query = query_of(request, PageQuery)
    after = decode_cursor(query.cursor, 1)
    found = await admin.runtime.store.opt_outs(
        business, after=after[0] if after else None, limit=query.limit
    )
    more = len(found) == query.limit
    page = OptOutList(
        business=business,
        opt_outs=[
            OptOutView(phone=r.phone, opted_out=r.opted_out, at=r.at, source=r.source)
            for r in found
        ],
        next_cursor=encode_cursor(found[-1].phone) if more else None,
    )
    return answer(page)


OPERATIONS = (
    Operation(
        "GET",
        RED_LIST,
        "showRedList",
        "The red list of the bot's business, oldest first",
        show_red_list,
        (Answer(200, "The numbers (in full) that get no message at all.", RedListView),),
    ),
    Operation(
        "POST",
        RED_LIST,
        "addToRedList",
        "Put a number on the red list of the bot's business",
        add_to_red_list,
        (
            Answer(201, "Added.", RedListChange),
            Answer(200, "It already was (kept as it was).", RedListChange),
        ),
        body=RedListAdd,
    ),
    Operation(
        "DELETE",
        RED_LIST + "/{phone}",
        "removeFromRedList",
        "Take a number off the red list of the bot's business",
        remove_from_red_list,
        (Answer(200, "Taken off.", RedListChange),),
        errors=((404, "No such bot, or the number is not on the red list."),),
    ),
    Operation(
        "GET",
        "/bots/{bot}/opt-outs",
        "listOptOuts",
        "A page of the opt-outs of the bot's business, by number",
        list_opt_outs,
        (Answer(200, "The records, numbers in full (or hashed once erased).", OptOutList),),
        query=PageQuery,
    ),
)
