"""Store records as the admin API shows them, and the opaque cursors of its pages."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from bots.admin.models import ConversationView, MessageDecision, StatusLine, TranscriptLine
from bots.admin.operations import bad_input
from bots.handoff import ADMIN_LINE, AGENT_LINE, is_agent_key
from messaging.phone import Phone
from store.records import Conversation, HistoryEntry, OutboxEntry


def conversation_view(conversation: Conversation) -> ConversationView:
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


def transcript_line(line: HistoryEntry) -> TranscriptLine:
    source = "flow"
    if line.key.startswith(AGENT_LINE):
        source = "agent"
    elif line.key.startswith(ADMIN_LINE):
        source = "admin"
    return TranscriptLine(direction=line.direction.value, source=source, at=line.at, body=line.body)


def message_decision(entry: OutboxEntry) -> MessageDecision:
    return MessageDecision(
        key=entry.key,
        source="agent" if is_agent_key(entry.key) else "flow",
        content=entry.content,
        channel=entry.channel,
        route=entry.route,
        status=entry.status.value,
        attempts=entry.attempts,
        created_at=entry.created_at,
        due_at=entry.due_at,
        history=[StatusLine.model_validate(line) for line in entry.history],
    )


def conversation_cursor(found: list[Conversation], limit: int) -> str | None:
    """The cursor of the page after `found` (None when it was the last one)."""
    if len(found) < limit or not found:
        return None
    return encode_cursor(found[-1].created_at.isoformat(), found[-1].id)


def after_conversation(cursor: str) -> tuple[datetime, str] | None:
    """Where a page of conversations starts, from the previous page's cursor."""
    values = decode_cursor(cursor, 2)
    if values is None:
        return None
    try:
        since = datetime.fromisoformat(values[0])
    except ValueError:
        since = None
    if since is None or since.utcoffset() is None:
        raise bad_input(["query", "cursor"], "not a cursor this API gave")
    return since, values[1]


def encode_cursor(*values: str) -> str:
    """An opaque cursor holding a page's last sort key."""
    raw = json.dumps(list(values), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[str] | None:
    """The values of a cursor made by `encode_cursor` (None for ``: the first page), or a
    400 naming `cursor`."""
    if not cursor:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        values = None
    if not (
        isinstance(values, list) and len(values) == size and all(isinstance(v, str) for v in values)
    ):
        raise bad_input(["query", "cursor"], "not a cursor this API gave")
    return values
