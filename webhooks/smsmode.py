"""smsmode callbacks: incoming messages (MO) and delivery reports (reference/sms.md §1.4).

smsmode POSTs the message resource (sms.md §1.3) as JSON, unsigned. Each bot's channel is
given a callback URL `{path_prefix}/{token}` with an unguessable token of its own, which is
the only credential: an unknown token is answered 404 before the body is read, so that
someone guessing learns nothing, not even that the path is a webhook. Tokens are compared in
constant time, and a token only reaches its own bot's inbox and outbox entries.

One URL takes both kinds. A delivery report always has `status`, an MO never does: that
decides (a report that says `direction: MT` without a `status` is refused as malformed).

- Delivery report: `status.value` is mapped to our canonical status (sms.md §4): DELIVERED
  → delivered, READ → read, UNDELIVERABLE / UNDELIVERED (and the other aggregators' failure
  words) → undeliverable, EXPIRED → expired, REJECTED → rejected; the outbox entry sent as
  `messageId` moves forward, never back. Any other value (SCHEDULED, ENROUTE, BUFFERED,
  UNKNOWN, a word smsmode adds tomorrow) changes no status and is noted in the entry's
  history: an unknown value is never a failure.
- MO: the sender is whichever of `from` and `recipient.to` is a phone number (smsmode's
  orientation varies, sms.md §1.4), the bot's own number (a Time2Chat 09 number) excluded.
  `body.type` TEXT (or none) → text, SUGGESTION → postback, LOCATION → location, FILE →
  file. `body.stop: true` is an ordinary text (compliance reads STOP); without a text it
  reads as `STOP`. The inbox entry's provider id is the MO's `messageId`, so smsmode's
  retries are stored once; its channel is the route's (`sms` or `t2c`).

Answers: 200 once stored (or once a report is known to change nothing: an unknown message
id, a duplicate); 409 for a report that overtook our record of the send (its `refClient`
names a message still `sending`: smsmode posts it again ~30 s later); 400 for a body that
is not a message resource; 413 over `MAX_BODY`; 404 for an unknown token; 503 when the store
fails. sms.md §1.4 suggests 2xx even for unparseable
bodies; we keep the house rule (4xx, nothing stored): smsmode then retries a malformed body
six times over a day and drops it, and the refusals show in both sides' logs.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from messaging.clock import Clock
from messaging.inbound import Inbound, InboundFile, InboundLocation, InboundPostback, InboundText
from messaging.phone import Phone
from store.base import Store
from store.events import inbound_event
from store.records import InboxSource, NewInbound, OutboxStatus
from store.unconfirmed_sms import reported_detail, unconfirmed
from webhooks.common import (
    Id,
    ProviderModel,
    ReceiptOutcome,
    Reject,
    Text,
    apply_receipt,
    bad_request,
    detail_text,
    json_errors,
    msisdn,
    ok,
    parse_object,
    read_body,
    store_failures,
    store_inbound,
    validate,
)

log = logging.getLogger(__name__)

NAME = "smsmode callback"
MIN_TOKEN = 16
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")

DLR_STATUS: Mapping[str, OutboxStatus] = {
    # sms.md §4: smsmode REST values first, then the other families' words for the same.
    "DELIVERED": OutboxStatus.DELIVERED,
    "DELIVRD": OutboxStatus.DELIVERED,
    "READ": OutboxStatus.READ,
    "UNDELIVERABLE": OutboxStatus.UNDELIVERABLE,
    "UNDELIVERED": OutboxStatus.UNDELIVERABLE,
    "UNDELIV": OutboxStatus.UNDELIVERABLE,
    "NOTDELIVERED": OutboxStatus.UNDELIVERABLE,
    "FAILED": OutboxStatus.UNDELIVERABLE,
    "EXPIRED": OutboxStatus.EXPIRED,
    "REJECTED": OutboxStatus.REJECTED,
    "REJECTD": OutboxStatus.REJECTED,
}
"""Final statuses by `status.value`; a value not here changes nothing (it is noted)."""


@dataclass(frozen=True, slots=True)
class SmsRoute:
    """Where the callbacks of one token go: a bot, on plain SMS or on its Time2Chat number."""

    bot_id: str
    channel: Literal["sms", "t2c"]
    number: str | None = None
    """The bot's own number (E.164 or smsmode's digits), never taken for the sender; required
    for `t2c`, where it is the 09 number and the sender is the other side."""


def add_smsmode_callbacks(
    app: web.Application,
    path_prefix: str,
    *,
    store: Store,
    clock: Clock,
    routes: Mapping[str, SmsRoute],
    on_inbound: Callable[[], None] | None = None,
) -> None:
    """Serve smsmode's MO and delivery-report callbacks at POST `{path_prefix}/{token}`.

    `routes` maps each unguessable token (at least 16 of `A-Z a-z 0-9 _ -`) to its route;
    `on_inbound` is called after a new inbox entry is stored (to wake the runtime).
    """
    callbacks = _SmsmodeCallbacks(store, clock, _checked_routes(routes), on_inbound)
    app.router.add_post(f"{path_prefix.rstrip('/')}/{{token}}", json_errors(NAME, callbacks.handle))


def _checked_routes(routes: Mapping[str, SmsRoute]) -> tuple[tuple[bytes, SmsRoute], ...]:
    checked = []
    for token, route in routes.items():
        if len(token) < MIN_TOKEN or not _TOKEN.fullmatch(token):
            raise ValueError(
                f"the smsmode callback token of bot {route.bot_id!r} must be at least "
                f"{MIN_TOKEN} URL-safe characters (A-Z a-z 0-9 _ -)"
            )
        if route.channel == "t2c" and route.number is None:
            raise ValueError(f"the Time2Chat route of bot {route.bot_id!r} needs its 09 number")
        number = None if route.number is None else Phone(route.number).e164
        checked.append((token.encode("ascii"), SmsRoute(route.bot_id, route.channel, number)))
    return tuple(checked)


# --- the message resource (sms.md §1.3, §1.4) -----------------------------------------------


class Lookup(ProviderModel):
    """The recipient's network as the report names it (sms.md §1.4): R9's operator share."""

    mccMnc: Annotated[Text, StringConstraints(max_length=16)] | None = None
    network: Annotated[Text, StringConstraints(max_length=64)] | None = None


class SmsStatus(ProviderModel):
    value: Annotated[Text, StringConstraints(min_length=1, max_length=64)]
    detail: Text | None = None
    lookup: Lookup | None = None


class Recipient(ProviderModel):
    to: Text | None = None


class Body(ProviderModel):
    type: Text | None = None
    """RCS MO only: TEXT, SUGGESTION, LOCATION, FILE."""
    text: Text | None = None
    stop: bool | None = None
    postbackData: Text | None = None
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    fileUrl: Annotated[Text, StringConstraints(min_length=1)] | None = None
    filename: Text | None = None
    contentType: Text | None = None


class SmsmodeMessage(ProviderModel):
    messageId: Id
    direction: Text | None = None
    sender: Text | None = Field(default=None, alias="from")
    recipient: Recipient | None = None
    body: Body | None = None
    status: SmsStatus | None = None
    refClient: Text | None = None
    """Ours, echoed: the outbox key of the message a report is about (agents/smsmode.py)."""


# --- the handler ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _SmsmodeCallbacks:
    store: Store
    clock: Clock
    routes: tuple[tuple[bytes, SmsRoute], ...]
    on_inbound: Callable[[], None] | None

    def _route(self, token: str) -> SmsRoute:
        given = token.encode("utf-8", "replace")
        found: SmsRoute | None = None
        for key, route in self.routes:  # every token compared: the time says nothing
            if hmac.compare_digest(given, key):
                found = route
        if found is None:
            raise Reject(404, "not found")
        return found

    async def handle(self, request: web.Request) -> web.StreamResponse:
        route = self._route(request.match_info["token"])
        message = validate(
            SmsmodeMessage, parse_object(await read_body(request), "request body"), "message"
        )
        if message.status is not None:
            return await self._report(route, message, message.status)
        if (message.direction or "").upper() == "MT":
            raise bad_request("a delivery report (direction MT) must have a status")
        return await self._incoming(route, message)

    async def _report(
        self, route: SmsRoute, message: SmsmodeMessage, status: SmsStatus
    ) -> web.Response:
        value = status.value.strip().upper()
        detail = f"smsmode {value}" + (f": {status.detail}" if status.detail else "")
        outcome = await apply_receipt(
            self.store,
            self.clock,
            message.messageId,
            status=DLR_STATUS.get(value),
            detail=detail_text(detail),
            bot_id=route.bot_id,
            name=NAME,
            operator=_operator(status.lookup),
        )
        if outcome is ReceiptOutcome.UNKNOWN:
            outcome = await self._by_ref_client(route, message, value)
        if outcome is ReceiptOutcome.PENDING:
            # The report overtook our own record of the send: smsmode answered (or a send's
            # outcome is unknown, store/unconfirmed_sms.py) and posted the report before the
            # router wrote the message id. Asked again, smsmode posts it after about 30 s
            # (sms.md §1.4), by when the id is known.
            raise Reject(409, "the message is not recorded as sent yet: post the report again")
        return ok(outcome.value)

    async def _by_ref_client(
        self, route: SmsRoute, message: SmsmodeMessage, value: str
    ) -> ReceiptOutcome:
        """A report of an unknown message id may name (`refClient`) an entry of this bot whose
        send is not recorded yet: `PENDING` for one still `sending`, and for one whose send
        had an unknown outcome, which this report proves (its message id is recorded, the
        entry made due for the router); else `UNKNOWN`."""
        if not message.refClient:
            return ReceiptOutcome.UNKNOWN
        with store_failures(NAME):
            entry = await self.store.get_outbound(message.refClient)
            if entry is None or entry.bot_id != route.bot_id:
                return ReceiptOutcome.UNKNOWN
            if unconfirmed(entry):
                now = self.clock.now()
                await self.store.mark_outbound(
                    entry.key,
                    OutboxStatus.QUEUED,
                    now,
                    provider_id=message.messageId,
                    due_at=now,
                    detail=reported_detail(value, message.messageId),
                )
                log.info("%s: report proves the unconfirmed outbox %s was sent", NAME, entry.key)
                return ReceiptOutcome.PENDING
        sending = entry.status is OutboxStatus.SENDING
        if sending and message.messageId not in entry.provider_ids:
            return ReceiptOutcome.PENDING
        return ReceiptOutcome.UNKNOWN

    async def _incoming(self, route: SmsRoute, message: SmsmodeMessage) -> web.Response:
        phone = _sender(route, message)
        if message.body is None:
            raise bad_request("an incoming message needs a body")
        inbound = NewInbound(
            InboxSource.SMSMODE,
            message.messageId,
            route.bot_id,
            phone.e164,
            inbound_event(_content(message.body), route.channel),
            self.clock.now(),
        )
        entry, new = await store_inbound(self.store, inbound, self.on_inbound, NAME)
        return ok("stored" if new else "duplicate", seq=str(entry.seq))


def _sender(route: SmsRoute, message: SmsmodeMessage) -> Phone:
    """The MO's sender: the side that is a phone number and not the bot's own."""
    sides = (message.sender, message.recipient.to if message.recipient else None)
    phones: list[Phone] = []
    for raw in sides:
        phone = msisdn(raw)
        if phone is not None and phone.e164 != route.number and phone not in phones:
            phones.append(phone)
    if not phones:
        raise bad_request("neither from nor recipient.to is the sender's phone number")
    if len(phones) > 1:
        raise bad_request("from and recipient.to are both phone numbers, neither the bot's own")
    return phones[0]


def _content(body: Body) -> Inbound:
    kind = (body.type or "TEXT").upper()
    if kind == "TEXT":
        if body.text is not None:
            return InboundText(text=body.text)
        if body.stop:
            return InboundText(text="STOP")
        raise bad_request("body.text is required")
    if kind == "SUGGESTION":
        if body.postbackData is None:
            raise bad_request("body.postbackData is required for a SUGGESTION")
        return InboundPostback(data=body.postbackData, text=body.text or "")
    if kind == "LOCATION":
        if body.latitude is None or body.longitude is None:
            raise bad_request("body.latitude and body.longitude are required for a LOCATION")
        return InboundLocation(latitude=body.latitude, longitude=body.longitude)
    if kind == "FILE":
        if body.fileUrl is None:
            raise bad_request("body.fileUrl is required for a FILE")
        return InboundFile(
            url=body.fileUrl, content_type=body.contentType or "", name=body.filename or ""
        )
    raise bad_request("body.type is none of TEXT, SUGGESTION, LOCATION, FILE")


def _operator(lookup: Lookup | None) -> str | None:
    if lookup is None:
        return None
    return lookup.network or lookup.mccMnc
