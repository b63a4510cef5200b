"""What the ledger is told of a message the router handed to a provider (`sessions.events.Mt`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fallback.channels import SmsLine
from messaging.channel import Channel
from messaging.renderers.sms import SmsMessage
from sessions.events import Mt
from store.records import OutboxEntry


def rcs_mt(entry: OutboxEntry, agent_id: str, parts: list[dict[str, Any]], at: datetime) -> Mt:
    """The ledger's view of an RCS message: rich (R21 "single") when it has suggestions,
    media or a card, or goes as several RBM messages; else measured by its text."""
    bodies = [part["contentMessage"] for part in parts]
    text = "".join(str(body.get("text", "")) for body in bodies)
    rich = len(bodies) > 1 or any(set(body) != {"text"} for body in bodies)
    return Mt(
        entry.key,
        entry.bot_id,
        entry.phone,
        at,
        Channel.RCS.value,
        agent_id,
        "rcs_agent",
        rich=rich,
        text_bytes=len(text.encode("utf-8")),
        text_characters=len(text),
    )


def sms_mt(entry: OutboxEntry, line: SmsLine, sms: SmsMessage, at: datetime) -> Mt:
    """An SMS as billed: its segments and sender; `fallback` when it was meant for RCS (R20)."""
    return Mt(
        entry.key,
        entry.bot_id,
        entry.phone,
        at,
        line.channel.value,
        line.shown,
        line.sender_type,
        segments=sms.segments.count,
        characters=len(sms.text),
        fallback=entry.channel == Channel.RCS,
    )
