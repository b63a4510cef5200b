"""Campaigns through the admin API (docs/campaigns.md): created from a list of the address
book, from rows in the JSON body, or from an uploaded CSV (its extra columns are each row's
variables); their progress read; paused, resumed, cancelled. `causette serve` runs them.

An upload is spooled to a temporary file (memory past `SPOOL` bytes goes to disk) and checked
whole before anything is written: UTF-8, no NUL, a header with a number column. Bad rows are
reported with their line and skipped, as by `causette campaigns send --csv`.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import logging
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO
from uuid import uuid4

from aiohttp import web

from bots.admin.auth import TOKEN
from bots.admin.campaign_models import (
    CampaignList,
    CampaignView,
    CreateCampaign,
    UploadQuery,
)
from bots.admin.errors import ApiError
from bots.admin.operations import Admin, Answer, Operation, answer, body_of, query_of
from bots.campaigns import set_status
from bots.campaigns_csv import csv_rows
from bots.campaigns_import import CampaignExists, Row, create_campaign, given_rows, list_rows
from bots.campaigns_progress import progress
from bots.csv_files import CsvFileError
from store.campaigns_records import Campaign

log = logging.getLogger(__name__)

CAMPAIGNS = "/bots/{bot}/campaigns"
CAMPAIGN = CAMPAIGNS + "/{campaign}"
MAX_UPLOAD = 64 * 1024 * 1024
"""The largest CSV accepted (bytes): about a million rows."""
SPOOL = 1024 * 1024
CHUNK = 64 * 1024
CSV_NAME = "upload.csv"
"""How the upload's rows are named in problems (`upload.csv:LINE: ...`)."""


async def create_from_json(admin: Admin, request: web.Request) -> web.Response:
    """A campaign to a list of the address book, or to the rows of the body."""
    bot = admin.bot(request)
    body = body_of(request, CreateCampaign)
    if body.list_name is not None:
        if body.list_name not in await admin.runtime.store.lists():
            raise ApiError(404, "unknown_list", "the address book has no such list")
        rows: Iterable[Row] | None = None
    else:
        rows = _body_rows(body)
    return await _create(
        admin,
        request,
        bot,
        campaign_id=body.id,
        rows=rows,
        list_name=body.list_name,
        send_at=body.send_at,
        rate=body.rate,
        variables=body.vars,
    )


async def create_from_csv(admin: Admin, request: web.Request) -> web.Response:
    """A campaign to the rows of the uploaded CSV (UTF-8; `,` or `;`)."""
    bot = admin.bot(request)
    query = query_of(request, UploadQuery)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL) as spool:
        await _spool(request, spool)
        spool.seek(0)
        text = io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")
        rows = _checked_rows(csv_rows(text, CSV_NAME))
        return await _create(
            admin,
            request,
            bot,
            campaign_id=query.id,
            rows=rows,
            list_name=None,
            send_at=query.send_at,
            rate=query.rate,
            variables={},
        )


async def list_campaigns(admin: Admin, request: web.Request) -> web.Response:
    """The bot's campaigns, oldest first, each with its progress."""
    bot = admin.bot(request)
    store, now = admin.runtime.store, admin.runtime.clock.now()
    views = []
    for campaign in await store.list_campaigns():
        if campaign.bot_id == bot:
            views.append(await _view(admin, campaign.id, now))
    return answer(CampaignList(campaigns=views))


async def show_campaign(admin: Admin, request: web.Request) -> web.Response:
    campaign = await _campaign(admin, request)
    return answer(await _view(admin, campaign.id, admin.runtime.clock.now()))


async def _change(admin: Admin, request: web.Request, action: str) -> web.Response:
    campaign = await _campaign(admin, request)
    now = admin.runtime.clock.now()
    try:
        await set_status(admin.runtime.store, campaign.id, action, now)
    except ValueError as error:
        raise ApiError(409, "campaign_status", str(error)) from None
    log.info("admin API: campaign %s %s (token %s)", campaign.id, action, request[TOKEN].id)
    return answer(await _view(admin, campaign.id, now))


async def pause_campaign(admin: Admin, request: web.Request) -> web.Response:
    """Stop starting conversations (a running campaign stops between two batches)."""
    return await _change(admin, request, "pause")


async def resume_campaign(admin: Admin, request: web.Request) -> web.Response:
    """Go on from the pending recipients (nobody is started twice)."""
    return await _change(admin, request, "resume")


async def cancel_campaign(admin: Admin, request: web.Request) -> web.Response:
    """Start nobody more, for good."""
    return await _change(admin, request, "cancel")


async def _create(
    admin: Admin,
    request: web.Request,
    bot: str,
    *,
    campaign_id: str | None,
    rows: Iterable[Row] | None,
    list_name: str | None,
    send_at: datetime | None,
    rate: float | None,
    variables: dict[str, object],
) -> web.Response:
    store, now = admin.runtime.store, admin.runtime.clock.now()
    identifier = campaign_id or f"c-{uuid4().hex[:12]}"
    source = rows if rows is not None else list_rows(store, list_name or "")
    try:
        campaign = await create_campaign(
            store,
            campaign_id=identifier,
            bot_id=bot,
            rows=source,
            now=now,
            send_at=send_at,
            rate=rate,
            variables=variables,
            list_name=list_name,
        )
    except CampaignExists:
        raise ApiError(409, "campaign_exists", "a campaign of this id exists already") from None
    except (csv.Error, CsvFileError, UnicodeError) as error:
        # Past the checks made before writing (a field over csv's size limit): what was
        # written goes, and the campaign sends nothing.
        await store.delete_campaign_recipients(identifier)
        await set_status(store, identifier, "cancel", now)
        raise ApiError(400, "invalid_csv", f"{CSV_NAME}: {error}") from None
    log.info(
        "admin API: campaign %s of %s created, %s recipients (token %s)",
        campaign.id,
        bot,
        campaign.status.value,
        request[TOKEN].id,
    )
    return answer(await _view(admin, campaign.id, now), 201)


def _body_rows(body: CreateCampaign) -> Iterator[Row]:
    rows = ((row.phone, row.vars) for row in body.recipients or ())
    return given_rows(rows, lambda seq: f"recipients[{seq - 1}]")


async def _spool(request: web.Request, spool: IO[bytes]) -> None:
    """The body into `spool`, checked as it comes: at most `MAX_UPLOAD` bytes of UTF-8 text
    without NUL (which `csv` refuses half-way)."""
    if (request.content_length or 0) > MAX_UPLOAD:
        raise ApiError(413, "payload_too_large", f"the CSV is over {MAX_UPLOAD} bytes")
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = 0
    async for chunk in request.content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > MAX_UPLOAD:
            raise ApiError(413, "payload_too_large", f"the CSV is over {MAX_UPLOAD} bytes")
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError:
            raise _bad_csv("not UTF-8 text (save the file as CSV UTF-8)") from None
        if b"\x00" in chunk:
            raise _bad_csv("contains a NUL character")
        spool.write(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise _bad_csv("not UTF-8 text (it ends inside a character)") from None


def _checked_rows(rows: Iterator[Row]) -> Iterator[Row]:
    """`rows` with their header already read: a file without one, or without a number
    column, is refused before anything is written."""
    try:
        first = next(rows, None)
    except (CsvFileError, csv.Error) as error:
        raise _bad_csv(str(error).removeprefix(f"{CSV_NAME}: ")) from None
    return rows if first is None else itertools.chain((first,), rows)


def _bad_csv(reason: str) -> ApiError:
    return ApiError(400, "invalid_csv", f"{CSV_NAME}: {reason}")


async def _campaign(admin: Admin, request: web.Request) -> Campaign:
    found = await admin.runtime.store.get_campaign(request.match_info["campaign"])
    if found is None or found.bot_id != admin.bot(request):
        raise ApiError(404, "unknown_campaign", "this bot has no such campaign")
    return found


async def _view(admin: Admin, campaign_id: str, now: datetime) -> CampaignView:
    found = await progress(admin.runtime.store, campaign_id, now)
    if found is None:  # deleted meanwhile: no campaign is ever deleted
        raise ApiError(404, "unknown_campaign", "this bot has no such campaign")
    return CampaignView.model_validate(found.as_json())


_VIEW = (Answer(200, "The campaign and its counts.", CampaignView),)
_STATUS_CONFLICT = (
    (404, "No such bot, or no campaign of the bot has this id."),
    (409, "The campaign's status does not allow it (a finished one, say)."),
)
_CREATED = (
    Answer(201, "Created: its recipients are written, it runs at `send_at`.", CampaignView),
)
_CREATE_ERRORS = ((409, "A campaign of this `id` exists already."),)

OPERATIONS = (
    Operation(
        "POST",
        CAMPAIGNS,
        "createCampaign",
        "Create a campaign to a list of the address book, or to the rows given",
        create_from_json,
        _CREATED,
        description=(
            "Numbers are read as E.164 and duplicates merged (R5); invalid rows are counted"
            " and the first ones named in `problems`. The campaign starts one conversation of"
            " the bot per recipient at `rate` per second from `send_at`, skipping opted-out"
            " (marketing flows) and red-listed numbers, waiting for the marketing hours."
        ),
        body=CreateCampaign,
        errors=(*_CREATE_ERRORS, (404, "No such bot, or no such list.")),
    ),
    Operation(
        "POST",
        CAMPAIGNS + "/csv",
        "uploadCampaign",
        "Create a campaign to the rows of an uploaded CSV",
        create_from_csv,
        _CREATED,
        description=(
            "The body is the CSV itself (`text/csv`, UTF-8, `,` or `;`): a header naming a"
            " number column (`phone`, `telephone`, `numero` or `mobile`), the other columns"
            " each row's variables. Bad rows are reported by line (`problems`) and skipped."
        ),
        query=UploadQuery,
        upload="text/csv",
        errors=(*_CREATE_ERRORS, (400, "Not UTF-8, no header or no number column.")),
    ),
    Operation(
        "GET",
        CAMPAIGNS,
        "listCampaigns",
        "The bot's campaigns, oldest first, with their progress",
        list_campaigns,
        (Answer(200, "The campaigns.", CampaignList),),
    ),
    Operation(
        "GET",
        CAMPAIGN,
        "showCampaign",
        "A campaign's progress",
        show_campaign,
        _VIEW,
        errors=_STATUS_CONFLICT[:1],
    ),
    Operation(
        "POST",
        CAMPAIGN + "/pause",
        "pauseCampaign",
        "Pause a scheduled or running campaign",
        pause_campaign,
        _VIEW,
        errors=_STATUS_CONFLICT,
    ),
    Operation(
        "POST",
        CAMPAIGN + "/resume",
        "resumeCampaign",
        "Resume a paused campaign from its pending recipients",
        resume_campaign,
        _VIEW,
        errors=_STATUS_CONFLICT,
    ),
    Operation(
        "POST",
        CAMPAIGN + "/cancel",
        "cancelCampaign",
        "Cancel a campaign for good",
        cancel_campaign,
        _VIEW,
        errors=_STATUS_CONFLICT,
    ),
)
