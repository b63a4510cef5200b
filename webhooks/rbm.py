"""The RBM webhook: Google's RCS platform posts user messages, user events and server events
here (reference/rbm.md §5).

One POST endpoint does it all:

1. Verification handshake (§5.2), told by its `clientToken` and `secret` keys: answered 200
   with the bare secret as `text/plain` when the token is ours (constant-time comparison),
   403 otherwise. Google's docs and our sandbox want the secret itself as the body (Google's
   Node sample answers `secret: <secret>`, which only a lenient checker accepts).
2. Anything else must be signed (§5.3): `X-Goog-Signature` = base64(HMAC-SHA512(client
   token, base64-decoded `message.data`)), compared in constant time. No signature: 401 at
   once. An envelope that is not Pub/Sub-shaped, or whose `data` is not canonical base64:
   400. A signature that does not match: 401. Nothing of the payload is read before that.
3. The payload (§5.4) is stored, then 200 is answered:
   - a user message becomes an inbox entry (source `rbm`, provider id = its `messageId`,
     event `inbound_event(message, "rcs")`); RBM's retry of it is stored once;
   - DELIVERED and READ move the outbox entry sent as `messageId` forward, never back (READ
     after DELIVERED yes, DELIVERED after READ no: `webhooks.common.advances`);
     TTL_EXPIRATION_REVOKED marks it `revoked` ("revoked by TTL") and due, for the fallback
     router to send it by SMS at once; TTL_EXPIRATION_REVOKE_FAILED records a line in its
     history and leaves the status alone (it may still be delivered: no SMS). A receipt
     naming another of our agents than the entry's bot's changes nothing;
   - IS_TYPING is accepted and dropped; SUBSCRIBE and UNSUBSCRIBE are handed to
     `on_subscription_change` when given (compliance), dropped otherwise.

Accepted and dropped with 200, logged: a payload for an agent not in `agents`, a receipt for
a message id no outbox entry has, an event type we do not know. RBM queues every agent of a
partner on one queue and retries anything but 200 for 7 days (§5.5): a webhook shared by
several agents (the partner webhook) must not hold that queue back for an event nobody here
will ever take. A 4xx is kept for requests that are not what RBM sends (bad JSON, shapes,
base64, a body over `MAX_BODY`): from RBM they would be a bug worth seeing in its console.
A store failure answers 503 (the one 5xx), so that RBM retries once the store is back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from messaging.clock import Clock
from messaging.inbound import Inbound, InboundFile, InboundLocation, InboundPostback, InboundText
from messaging.phone import Phone
from store.base import Store
from store.events import inbound_event
from store.records import InboxSource, NewInbound, OutboxStatus
from webhooks.common import (
    Reject,
    apply_receipt,
    bad_request,
    json_errors,
    msisdn,
    ok,
    parse_object,
    read_body,
    store_failures,
    store_inbound,
    validate,
)
from webhooks.rbm_events import (
    Envelope,
    Handshake,
    ServerEvent,
    UserEvent,
    UserMessage,
    parse_payload,
)

log = logging.getLogger(__name__)

NAME = "rbm webhook"
SIGNATURE_HEADER = "X-Goog-Signature"
AGENT_SUFFIX = "@rbm.goog"
CHANNEL = "rcs"

REVOKED_BY_TTL = "revoked by TTL"
TTL_REVOKE_FAILED = "TTL revoke failed"


@dataclass(frozen=True, slots=True)
class SubscriptionChange:
    """A user's SUBSCRIBE or UNSUBSCRIBE event (UNSUBSCRIBE: "no further non-essential
    messages", rbm.md §5.4), for compliance to act on."""

    bot_id: str
    phone: str
    """E.164."""
    subscribed: bool
    event_id: str | None
    at: datetime


OnSubscriptionChange = Callable[[SubscriptionChange], Awaitable[None]]


def agent_key(agent_id: str) -> str:
    """An agent id without its `@rbm.goog` suffix: payloads carry either form (§0)."""
    return agent_id.strip().removesuffix(AGENT_SUFFIX)


def sign(data: bytes, client_token: str) -> str:
    """The `X-Goog-Signature` of a payload: base64(HMAC-SHA512(token, decoded data))."""
    digest = hmac.new(client_token.encode("utf-8"), data, hashlib.sha512).digest()
    return base64.b64encode(digest).decode("ascii")


def add_rbm_webhook(
    app: web.Application,
    path: str,
    *,
    store: Store,
    clock: Clock,
    client_token: str,
    agents: Mapping[str, str],
    on_inbound: Callable[[], None] | None = None,
    on_subscription_change: OnSubscriptionChange | None = None,
) -> None:
    """Serve the RBM webhook at POST `path`.

    `agents` maps an RBM agent id (with or without `@rbm.goog`) to the bot it speaks for;
    `on_inbound` is called after a new inbox entry is stored (to wake the runtime);
    `on_subscription_change` is awaited, before the 200, for each SUBSCRIBE or UNSUBSCRIBE
    of a known agent (an exception from it answers 503: RBM retries).
    """
    if not client_token:
        raise ValueError("the RBM webhook needs a client token")
    webhook = _RbmWebhook(
        store=store,
        clock=clock,
        token=client_token.encode("utf-8"),
        agents=_agent_map(agents),
        on_inbound=on_inbound,
        on_subscription_change=on_subscription_change,
    )
    app.router.add_post(path, json_errors(NAME, webhook.handle))


def _agent_map(agents: Mapping[str, str]) -> dict[str, str]:
    bots: dict[str, str] = {}
    for agent_id, bot_id in agents.items():
        key = agent_key(agent_id)
        if not key:
            raise ValueError(f"empty RBM agent id for bot {bot_id!r}")
        if bots.get(key, bot_id) != bot_id:
            raise ValueError(f"RBM agent {key!r} is mapped to bots {bots[key]!r} and {bot_id!r}")
        bots[key] = bot_id
    return bots


@dataclass(frozen=True, slots=True)
class _RbmWebhook:
    store: Store
    clock: Clock
    token: bytes
    agents: dict[str, str]
    on_inbound: Callable[[], None] | None
    on_subscription_change: OnSubscriptionChange | None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = parse_object(await read_body(request), "request body")
        if "clientToken" in body and "secret" in body:
            return self._handshake(validate(Handshake, body, "verification request"))
        signature = request.headers.get(SIGNATURE_HEADER)
        if signature is None:
            raise Reject(401, f"missing {SIGNATURE_HEADER}")
        data = _envelope_data(validate(Envelope, body, "envelope"))
        if not self._signed(data, signature):
            raise Reject(401, f"{SIGNATURE_HEADER} does not match the payload")
        payload = parse_payload(parse_object(data, "message.data"))
        if isinstance(payload, UserMessage):
            return await self._user_message(payload)
        if isinstance(payload, UserEvent):
            return await self._user_event(payload)
        return await self._server_event(payload)

    # --- authentication ---------------------------------------------------------------------

    def _handshake(self, handshake: Handshake) -> web.Response:
        if not hmac.compare_digest(handshake.clientToken.encode("utf-8"), self.token):
            raise Reject(403, "clientToken does not match")
        log.info("%s: verification handshake answered", NAME)
        return web.Response(text=handshake.secret, content_type="text/plain")

    def _signed(self, data: bytes, signature: str) -> bool:
        try:
            given = _base64(signature.strip())
        except ValueError:
            return False
        expected = hmac.new(self.token, data, hashlib.sha512).digest()
        return hmac.compare_digest(given, expected)

    # --- payloads ---------------------------------------------------------------------------

    def _bot(self, agent_id: str | None) -> str | None:
        return None if agent_id is None else self.agents.get(agent_key(agent_id))

    async def _user_message(self, payload: UserMessage) -> web.Response:
        if payload.agentId is None:
            raise bad_request("user message: agentId is required to find its bot")
        bot_id = self._bot(payload.agentId)
        if bot_id is None:
            return _unknown_agent(payload.agentId)
        phone = _phone(payload.senderPhoneNumber, "senderPhoneNumber")
        inbound = NewInbound(
            InboxSource.RBM,
            payload.messageId,
            bot_id,
            phone.e164,
            inbound_event(_message(payload), CHANNEL),
            self.clock.now(),
        )
        entry, new = await store_inbound(self.store, inbound, self.on_inbound, NAME)
        return ok("stored" if new else "duplicate", seq=str(entry.seq))

    async def _user_event(self, payload: UserEvent) -> web.Response:
        bot_id = self._bot(payload.agentId)
        if payload.agentId is not None and bot_id is None:
            return _unknown_agent(payload.agentId)
        phone = _phone(payload.senderPhoneNumber, "senderPhoneNumber")
        kind = payload.eventType
        if kind in ("DELIVERED", "READ"):
            status = OutboxStatus.DELIVERED if kind == "DELIVERED" else OutboxStatus.READ
            return await self._receipt(payload.messageId, kind, status, None, bot_id)
        callback = self.on_subscription_change
        if kind in ("SUBSCRIBE", "UNSUBSCRIBE") and callback is not None:
            if bot_id is None:
                raise bad_request(f"user event: agentId is required for {kind}")
            change = SubscriptionChange(
                bot_id, phone.e164, kind == "SUBSCRIBE", payload.eventId, self.clock.now()
            )
            with store_failures(NAME):
                await callback(change)
            log.info("%s: %s from %s for bot %s", NAME, kind, phone.masked, bot_id)
            return ok("accepted")
        if kind not in ("IS_TYPING", "SUBSCRIBE", "UNSUBSCRIBE"):
            log.info("%s: user event type %s not known here; ignored", NAME, kind[:40])
        return ok("ignored", reason=f"{kind[:40]} is not stored")

    async def _server_event(self, payload: ServerEvent) -> web.Response:
        bot_id = self._bot(payload.agentId)
        if payload.agentId is not None and bot_id is None:
            return _unknown_agent(payload.agentId)
        _phone(payload.phoneNumber, "phoneNumber")
        kind = payload.eventType
        if kind == "TTL_EXPIRATION_REVOKED":
            return await self._receipt(
                payload.messageId, kind, OutboxStatus.REVOKED, REVOKED_BY_TTL, bot_id
            )
        if kind == "TTL_EXPIRATION_REVOKE_FAILED":
            return await self._receipt(payload.messageId, kind, None, TTL_REVOKE_FAILED, bot_id)
        log.info("%s: server event type %s not known here; ignored", NAME, kind[:40])
        return ok("ignored", reason=f"{kind[:40]} is not stored")

    async def _receipt(
        self,
        message_id: str | None,
        kind: str,
        status: OutboxStatus | None,
        detail: str | None,
        bot_id: str | None,
    ) -> web.Response:
        if message_id is None:
            raise bad_request(f"{kind} event: messageId is required")
        outcome = await apply_receipt(
            self.store,
            self.clock,
            message_id,
            status=status,
            detail=detail,
            bot_id=bot_id,
            name=NAME,
        )
        return ok(outcome.value)


def _base64(text: str) -> bytes:
    """Canonical standard base64, as Google encodes it; ValueError for anything else.

    Lenient decoders read `e30==`, `e3 0=` or `e31=` as `{}`, and CPython 3.11's strict mode
    still takes `eyJ9=` for `eyJ9`: the decoded bytes must encode back to the very text.
    """
    try:
        raw = text.encode("ascii")
        data = binascii.a2b_base64(raw, strict_mode=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise ValueError(str(error)) from None
    if binascii.b2a_base64(data, newline=False) != raw:
        raise ValueError("not canonical base64")
    return data


def _envelope_data(envelope: Envelope) -> bytes:
    try:
        return _base64(envelope.message.data)
    except ValueError:
        raise bad_request("message.data is not base64") from None


def _phone(raw: str, field: str) -> Phone:
    phone = msisdn(raw)
    if phone is None:
        raise bad_request(f"{field} is not a phone number")
    return phone


def _unknown_agent(agent_id: str) -> web.Response:
    log.warning("%s: agent %r is not one of ours; payload dropped", NAME, agent_id[:80])
    return ok("ignored", reason="unknown agent")


def _message(payload: UserMessage) -> Inbound:
    if payload.text is not None:
        return InboundText(text=payload.text)
    if payload.suggestionResponse is not None:
        chip = payload.suggestionResponse
        return InboundPostback(data=chip.postbackData, text=chip.text)
    if payload.location is not None:
        where = payload.location
        return InboundLocation(latitude=where.latitude, longitude=where.longitude)
    if payload.userFile is not None:
        file = payload.userFile.payload
        return InboundFile(
            url=file.fileUri, content_type=file.mimeType, name=file.fileName, size=file.size
        )
    raise AssertionError("UserMessage validates exactly one content field")
