"""Conversations: start one, list them, show one with its transcript and channel decisions,
release a handoff, end one (docs/admin-api.md)."""

from __future__ import annotations

import logging

from aiohttp import web

from bots.admin.auth import TOKEN
from bots.admin.errors import ApiError
from bots.admin.models import (
    IDEMPOTENCY_KEY,
    MAX_IDEMPOTENCY_KEY,
    ConversationList,
    ConversationQuery,
    ConversationView,
    StartConversation,
    StartedConversation,
)
from bots.admin.operations import (
    Admin,
    Answer,
    Header,
    Operation,
    answer,
    body_of,
    header_value,
    query_of,
)
from bots.admin.views import (
    after_conversation,
    conversation_cursor,
    conversation_view,
    message_decision,
    transcript_line,
)
from bots.handoff import ConversationChangeError
from messaging.phone import Phone
from store.events import start_event
from store.records import LIVE_STATUSES, Conversation, ConversationStatus

log = logging.getLogger(__name__)

CONVERSATIONS = "/bots/{bot}/conversations"
CONVERSATION = "/bots/{bot}/conversations/{id}"
IDEMPOTENCY = Header(
    IDEMPOTENCY_KEY,
    "Makes the request safe to retry: the same key (per token) acts once.",
    MAX_IDEMPOTENCY_KEY,
)
_STATUSES = {
    "live": LIVE_STATUSES,
    "all": frozenset(ConversationStatus),
    **{status.value: frozenset({status}) for status in ConversationStatus},
}
TRANSCRIPT_LIMIT = 1000
"""Lines and messages shown with one conversation (the oldest ones)."""


async def bot_conversation(admin: Admin, request: web.Request) -> Conversation:
    """The path's conversation, if it is the path's bot's; else a 404."""
    conversation = await admin.runtime.store.get_conversation_by_id(request.match_info["id"])
    if conversation is None or conversation.bot_id != admin.bot(request):
        raise ApiError(404, "unknown_conversation", "this bot has no such conversation")
    return conversation


def change_error(error: ConversationChangeError) -> ApiError:
    """The API's answer to a change that does not apply (bots/handoff.py)."""
    status = 404 if error.code == "unknown_conversation" else 409
    return ApiError(status, error.code, str(error))


async def start_conversation(admin: Admin, request: web.Request) -> web.Response:
    """Start the flow for one recipient, once per `Idempotency-Key` (per token): 202 when
    stored now, 200 with the same answer for a replay, 409 for a key reused with another
    request."""
    bot = admin.bot(request)
    key = header_value(request, IDEMPOTENCY)
    start = body_of(request, StartConversation)
    token = request[TOKEN]
    channel = start.channel.value if start.channel is not None else None
    entry, created = await admin.runtime.start_conversation(
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
    started = StartedConversation(inbox_seq=entry.seq, created=created, phone=masked)
    return answer(started, 202 if created else 200)


async def list_conversations(admin: Admin, request: web.Request) -> web.Response:
    """A page of the bot's conversations, oldest first."""
    query = query_of(request, ConversationQuery)
    found = await admin.runtime.store.conversations_after(
        admin.bot(request),
        statuses=_STATUSES[query.status],
        after=after_conversation(query.cursor),
        limit=query.limit,
    )
    page = ConversationList(
        conversations=[conversation_view(c) for c in found],
        next_cursor=conversation_cursor(found, query.limit),
    )
    return answer(page)


async def show_conversation(admin: Admin, request: web.Request) -> web.Response:
    """One conversation with its transcript and its messages' channel decisions."""
    conversation = await bot_conversation(admin, request)
    store = admin.runtime.store
    lines = await store.history(conversation.id, TRANSCRIPT_LIMIT)
    entries = await store.conversation_outbound(conversation.id, TRANSCRIPT_LIMIT)
    view = conversation_view(conversation).model_copy(
        update={
            "transcript": [transcript_line(line) for line in lines],
            "messages": [message_decision(entry) for entry in entries],
        }
    )
    return answer(view)


async def release_conversation(admin: Admin, request: web.Request) -> web.Response:
    """Give a handed-off conversation back to the bot (bots/handoff.py)."""
    conversation = await bot_conversation(admin, request)
    try:
        released, _ = await admin.runtime.changes.release(conversation.id)
    except ConversationChangeError as error:
        raise change_error(error) from None
    return answer(conversation_view(released))


async def end_conversation(admin: Admin, request: web.Request) -> web.Response:
    """End a conversation; ending an ended one changes nothing."""
    conversation = await bot_conversation(admin, request)
    try:
        ended, _ = await admin.runtime.changes.end(conversation.id)
    except ConversationChangeError as error:
        raise change_error(error) from None
    return answer(conversation_view(ended))


_NO_CONVERSATION = (404, "No bot, or no conversation of the bot, has this id.")

OPERATIONS = (
    Operation(
        "POST",
        CONVERSATIONS,
        "startConversation",
        "Start a bot's flow for one recipient",
        start_conversation,
        (
            Answer(202, "Stored: the conversation will start.", StartedConversation),
            Answer(200, "A replay of an Idempotency-Key already used.", StartedConversation),
        ),
        description=(
            "Stores the start request; the conversation starts asynchronously in the worker."
            " Idempotent by `Idempotency-Key` (per token): a replay answers 200 with the first"
            " request's `inbox_seq` and `created: false`; the same key with another request"
            " answers 409."
        ),
        body=StartConversation,
        headers=(IDEMPOTENCY,),
        errors=((409, "The Idempotency-Key was already used for another request."),),
    ),
    Operation(
        "GET",
        CONVERSATIONS,
        "listConversations",
        "A page of a bot's conversations, oldest first",
        list_conversations,
        (Answer(200, "The conversations, phones masked.", ConversationList),),
        query=ConversationQuery,
    ),
    Operation(
        "GET",
        CONVERSATION,
        "showConversation",
        "One conversation with its transcript and channel decisions",
        show_conversation,
        (Answer(200, "The conversation, transcript and messages oldest first.", ConversationView),),
        errors=(_NO_CONVERSATION,),
    ),
    Operation(
        "POST",
        CONVERSATION + "/release",
        "releaseConversation",
        "Give a handed-off conversation back to the bot",
        release_conversation,
        (Answer(200, "The conversation, active again in its state.", ConversationView),),
        description=(
            "The bot resumes in the state it handed off from: the next message is matched"
            " against that state's `on`, the flow's global `on`, then `otherwise`. Releasing"
            " a conversation already released answers 200 again."
        ),
        errors=(_NO_CONVERSATION, (409, "The conversation is not handed off (or ended).")),
    ),
    Operation(
        "POST",
        CONVERSATION + "/end",
        "endConversation",
        "End a conversation",
        end_conversation,
        (Answer(200, "The conversation, ended.", ConversationView),),
        description=(
            "The conversation ends; the person's next message starts a new one. Messages"
            " already queued are still sent (the send gate applies to each). Ending an ended"
            " conversation answers 200 again."
        ),
        errors=(_NO_CONVERSATION, (409, "The conversation kept changing: try again.")),
    ),
)
