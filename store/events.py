"""The JSON of inbox events: what webhooks, timers and the start API append, what the worker
reads back.

Kept beside the inbox it fills, so that `webhooks/` (below `bots/` in the house) can build
events without importing the runtime.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from messaging.inbound import Inbound

INBOUND: TypeAdapter[Inbound] = TypeAdapter(Inbound)


def start_event(
    contact: dict[str, Any],
    variables: dict[str, Any],
    channel: str,
    send_at: datetime | None = None,
) -> dict[str, Any]:
    """Start a conversation (from code, a campaign, the admin API); its first messages leave
    no sooner than `send_at` when given (a campaign's pace)."""
    event = {"kind": "start", "contact": contact, "vars": variables, "channel": channel}
    if send_at is not None:
        event["send_at"] = send_at.isoformat()
    return event


def inbound_event(message: Inbound, channel: str = "") -> dict[str, Any]:
    """A message from the recipient; `channel` says where it came from (`rcs`, `sms`, `t2c`)."""
    return {"kind": "inbound", "message": message.model_dump(mode="json"), "channel": channel}


def timer_event(conversation_id: str, key: str) -> dict[str, Any]:
    """A durable timer of a conversation fell due."""
    return {"kind": "timer", "conversation_id": conversation_id, "key": key}


def inbound_message(event: dict[str, Any]) -> Inbound:
    """The message of an `inbound` event; ValueError when it is malformed."""
    return INBOUND.validate_python(event["message"])
