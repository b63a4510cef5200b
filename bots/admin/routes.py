"""The admin API's routes (under `/v1/`), each validating its input with `bots/admin/models.py`
and answering with them."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bots.admin.auth import TOKEN
from bots.admin.errors import ApiError, invalid
from bots.admin.models import (
    IDEMPOTENCY_KEY,
    MAX_IDEMPOTENCY_KEY,
    ConversationList,
    ConversationView,
    FieldError,
    StartConversation,
    StartedConversation,
    TranscriptLine,
)
from bots.runtime import Runtime
from messaging.phone import Phone
from sessions.policy import BillingPolicy
from sessions.report import DELIVERY_LAG, month_bounds, monthly_report, report_json
from store.events import start_event
from store.records import Conversation

log = logging.getLogger(__name__)

CONVERSATIONS = "/bots/{bot}/conversations"
USAGE = "/bots/{bot}/usage"
CONVERSATION = "/bots/{bot}/conversations/{id}"
LIST_LIMIT = 1000
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
MAX_BODY = 64 * 1024
"""The largest request body read (bytes); a larger one is refused with 413."""


class AdminRoutes:
    """The handlers, over one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def add_to(self, app: web.Application) -> None:
        app.router.add_post(CONVERSATIONS, self.start_conversation)
        app.router.add_get(USAGE, self.usage)
        app.router.add_get(CONVERSATIONS, self.list_conversations)
        app.router.add_get(CONVERSATION, self.show_conversation)

    async def list_conversations(self, request: web.Request) -> web.Response:
        """The bot's live conversations (active or handed off), oldest first."""
        bot = self._bot(request)
        found = await self.runtime.store.list_conversations(bot, limit=LIST_LIMIT)
        views = [_view(conversation) for conversation in found]
        return web.json_response(ConversationList(conversations=views).model_dump(mode="json"))

    async def show_conversation(self, request: web.Request) -> web.Response:
        """One conversation with its transcript."""
        bot = self._bot(request)
        conversation = await self.runtime.store.get_conversation_by_id(request.match_info["id"])
        if conversation is None or conversation.bot_id != bot:
            raise ApiError(404, "unknown_conversation", "this bot has no such conversation")
        lines = await self.runtime.store.history(conversation.id)
        transcript = [
            TranscriptLine(direction=line.direction.value, at=line.at, body=line.body)
            for line in lines
        ]
        view = _view(conversation).model_copy(update={"transcript": transcript})
        return web.json_response(view.model_dump(mode="json"))

    def _bot(self, request: web.Request) -> str:
        bot = request.match_info["bot"]
        if bot not in self.runtime.flow_files:
            raise ApiError(404, "unknown_bot", "no bot has this id")
        return bot

    async def usage(self, request: web.Request) -> web.Response:
        """The bot's billing report of a calendar month (`?month=YYYY-MM`), as
        `causette billing report --format json` prints it (docs/billing.md)."""
        bot = request.match_info["bot"]
        if bot not in self.runtime.flow_files:
            raise ApiError(404, "unknown_bot", "no bot has this id")
        month = request.query.get("month", "")
        if not _MONTH.match(month):
            problem = FieldError(loc=["query", "month"], msg="required, as YYYY-MM")
            raise ApiError(400, "invalid_request", "the request is not valid", [problem])
        billing = self.runtime.billing
        policy = billing.policy if billing is not None else BillingPolicy()
        start, end = month_bounds(month, policy)
        entries = await self.runtime.store.ledger(since=start - DELIVERY_LAG, until=end, bot_id=bot)
        report = monthly_report(entries, month, policy, bot_id=bot)
        return web.json_response(report_json(report))

    async def start_conversation(self, request: web.Request) -> web.Response:
        """Start the flow for one recipient, once per `Idempotency-Key` (per token): 202 when
        stored now, 200 with the same answer for a replay, 409 for a key reused with another
        request."""
        bot = request.match_info["bot"]
        if bot not in self.runtime.flow_files:
            raise ApiError(404, "unknown_bot", "no bot has this id")
        key = _idempotency_key(request)
        body = await _json_body(request)
        try:
            start = StartConversation.model_validate(body)
        except ValidationError as error:
            raise invalid(error, "body") from None
        token = request[TOKEN]
        channel = start.channel.value if start.channel is not None else None
        entry, created = await self.runtime.start_conversation(
            bot,
            start.phone,
            key=f"api:{token.id}:{key}",
            contact=start.contact,
            variables=start.vars,
            channel=channel,
        )
        expected = start_event(start.contact, start.vars, channel or "")
        if not created and (entry.bot_id, entry.phone, entry.event) != (bot, start.phone, expected):
            raise ApiError(
                409,
                "idempotency_key_reused",
                "this Idempotency-Key was already used for another request",
            )
        masked = Phone(start.phone).masked
        log.info("admin API: %s start for %s (token %s)", bot, masked, token.id)
        answer = StartedConversation(inbox_seq=entry.seq, created=created, phone=masked)
        return web.json_response(answer.model_dump(mode="json"), status=202 if created else 200)


def _view(conversation: Conversation) -> ConversationView:
    return ConversationView(
        id=conversation.id,
        bot=conversation.bot_id,
        phone=Phone(conversation.phone).masked,
        flow=conversation.flow_id,
        state=conversation.state,
        status=conversation.status.value,
        channel=conversation.channel,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
    )


def _idempotency_key(request: web.Request) -> str:
    key = request.headers.get(IDEMPOTENCY_KEY, "")
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        problem = FieldError(
            loc=["header", IDEMPOTENCY_KEY],
            msg=f"required, 1 to {MAX_IDEMPOTENCY_KEY} characters",
        )
        raise ApiError(400, "invalid_request", "the request is not valid", [problem])
    return key


async def _json_body(request: web.Request) -> Any:
    """The body read as JSON (413 past `MAX_BODY`); strings that no store could write (lone
    surrogates) are bad input, not a store failure."""
    if (request.content_length or 0) > MAX_BODY:
        raise ApiError(413, "payload_too_large", f"the body is over {MAX_BODY} bytes")
    raw = await request.read()  # bounded by the server's `client_max_size` too
    if len(raw) > MAX_BODY:
        raise ApiError(413, "payload_too_large", f"the body is over {MAX_BODY} bytes")
    try:
        body = json.loads(raw)
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError):
        raise ApiError(400, "invalid_json", "the body is not valid UTF-8 JSON") from None
    return body
