"""The handoff queue: the conversations handed to a person, what the person wrote since, and
a person's answers through the bot's channels (FLOWS.md `handoff`; bots/handoff.py)."""

from __future__ import annotations

import logging

from aiohttp import web
from pydantic import ValidationError

from bots.admin.auth import TOKEN
from bots.admin.conversations import CONVERSATION, IDEMPOTENCY, bot_conversation, change_error
from bots.admin.errors import invalid
from bots.admin.models import (
    AgentMessage,
    HandedOff,
    HandoffList,
    PageQuery,
    QueuedMessage,
    TranscriptLine,
)
from bots.admin.operations import Admin, Answer, Operation, answer, body_of, header_value, query_of
from bots.admin.views import (
    after_conversation,
    conversation_cursor,
    conversation_view,
    transcript_line,
)
from bots.flow_versions import UnknownFlowVersion
from bots.handoff import ADMIN_LINE, AGENT_LINE, ConversationChangeError, request_digest
from messaging.content import Text
from messaging.phone import Phone
from store.records import Conversation, ConversationStatus, Direction, HistoryEntry

log = logging.getLogger(__name__)

HANDED_OFF = frozenset({ConversationStatus.HANDED_OFF})


async def list_handoffs(admin: Admin, request: web.Request) -> web.Response:
    """A page of the bot's handed-off conversations, oldest first, each with its queue and
    the person's messages since the bot's last one."""
    query = query_of(request, PageQuery)
    store = admin.runtime.store
    found = await store.conversations_after(
        admin.bot(request),
        statuses=HANDED_OFF,
        after=after_conversation(query.cursor),
        limit=query.limit,
    )
    handoffs = [
        HandedOff(
            conversation=conversation_view(conversation),
            queue=await _queue(admin, conversation),
            messages=_since_the_bot(await store.history(conversation.id)),
        )
        for conversation in found
    ]
    page = HandoffList(handoffs=handoffs, next_cursor=conversation_cursor(found, query.limit))
    return answer(page)


async def _queue(admin: Admin, conversation: Conversation) -> str | None:
    """The queue of the flow's `handoff` in the state the conversation is in."""
    try:
        flow = await admin.runtime.flows.get(conversation.flow_hash)
    except UnknownFlowVersion:
        return None
    state = flow.states.get(conversation.state)
    handoff = state.spec.handoff if state is not None else None
    return handoff.queue if handoff is not None else None


def _since_the_bot(lines: list[HistoryEntry]) -> list[TranscriptLine]:
    """The person's messages and the agents' answers after the bot's last message (the bot is
    silent while handed off: its last message is the handoff's, or the one it answered)."""
    start = 0
    for index, line in enumerate(lines):
        if line.direction is Direction.OUT and not line.key.startswith(AGENT_LINE):
            start = index + 1
    return [
        transcript_line(line)
        for line in lines[start:]
        if line.key.startswith(AGENT_LINE)
        or (not line.key.startswith(ADMIN_LINE) and line.body.get("kind") == "inbound")
    ]


async def post_message(admin: Admin, request: web.Request) -> web.Response:
    """A person answers a handed-off conversation: queued as one of its messages, routed and
    gated like the bot's, once per `Idempotency-Key` (per token)."""
    conversation = await bot_conversation(admin, request)
    key = header_value(request, IDEMPOTENCY)
    message = body_of(request, AgentMessage)
    suggestions = [s.model_dump(exclude_none=True) for s in message.suggestions]
    try:
        text = Text.model_validate({"text": message.text, "suggestions": suggestions})
    except ValidationError as error:  # the chips' own rules (distinct data...)
        raise invalid(error, "body") from None
    content = text.model_dump(mode="json", exclude_unset=True)
    token = request[TOKEN]
    digest = request_digest(token.id, key)
    try:
        entry, created = await admin.runtime.changes.answer(conversation.id, content, digest)
    except ConversationChangeError as error:
        raise change_error(error) from None
    if created:
        masked = Phone(conversation.phone).masked
        log.info("admin API: an answer to %s in %s (token %s)", masked, conversation.id, token.id)
    return answer(QueuedMessage(key=entry.key, created=created), 202 if created else 200)


OPERATIONS = (
    Operation(
        "GET",
        "/bots/{bot}/handoffs",
        "listHandoffs",
        "The handoff queue: a bot's handed-off conversations, oldest first",
        list_handoffs,
        (Answer(200, "The conversations, their queues and the person's messages.", HandoffList),),
        query=PageQuery,
    ),
    Operation(
        "POST",
        CONVERSATION + "/messages",
        "answerHandoff",
        "A person answers a handed-off conversation",
        post_message,
        (
            Answer(202, "Queued: it leaves through the bot's channels.", QueuedMessage),
            Answer(200, "A replay of an Idempotency-Key already used.", QueuedMessage),
        ),
        description=(
            "The text (and reply chips) is queued as one of the conversation's messages: the"
            " router picks its channel and the send gate applies, as for the bot's. Idempotent"
            " by `Idempotency-Key` (per token); the same key with another message answers 409."
        ),
        body=AgentMessage,
        headers=(IDEMPOTENCY,),
        errors=(
            (404, "No bot, or no conversation of the bot, has this id."),
            (409, "Not handed off, or the Idempotency-Key was used for another message."),
        ),
    ),
)
