"""What the ledger is told of a message the router handed to a provider (`sessions.events.Mt`),
and its writing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fallback.channels import SmsLine
from messaging.channel import Channel
from messaging.renderers.sms import SmsMessage
from sessions.billing import Billing
from sessions.events import Mt
from store.base import Store
from store.records import OutboxEntry, OutboxStatus

log = logging.getLogger(__name__)


async def bill(billing: Billing, store: Store, mt: Mt) -> None:
    """Write the ledger entries of a message handed over; never raises (the message left)."""
    try:
        await billing.on_mt(mt)
        # A receipt that landed before the ledger entry existed stamped nothing: stamp it.
        stored = await store.get_outbound(mt.key)
        delivered = delivered_at(stored) if stored is not None else None
        if delivered is not None:
            await store.note_ledger_delivery(mt.key, delivered)
    except Exception:
        # A billing failure must not send the message again. Logged loudly: the ledger
        # misses this message.
        log.exception("outbox %s: sent, but its ledger entry was not written", mt.key)


def delivered_at(entry: OutboxEntry) -> datetime | None:
    """When the entry's history first says it was delivered (or read), if it does."""
    for line in entry.history:
        if line.get("status") in (OutboxStatus.DELIVERED, OutboxStatus.READ):
            return datetime.fromisoformat(str(line["at"]))
    return None


def rcs_mt(
    key: str,
    bot_id: str,
    recipient: str,
    at: datetime,
    agent_id: str,
    parts: Sequence[dict[str, Any]],
) -> Mt:
    """The ledger's view of an RCS message sent as these agent messages: rich (R21 "single")
    when it has suggestions, media or a card, or goes as several RBM messages (each billed:
    `parts`); else measured by its text. A media's text part alone might be "basic" on
    Google's side: billing both parts as single is at most that difference high."""
    bodies = [part["contentMessage"] for part in parts]
    text = "".join(str(body.get("text", "")) for body in bodies)
    rich = len(bodies) > 1 or any(set(body) != {"text"} for body in bodies)
    return Mt(
        key,
        bot_id,
        recipient,
        at,
        Channel.RCS.value,
        agent_id,
        "rcs_agent",
        rich=rich,
        text_bytes=len(text.encode("utf-8")),
        text_characters=len(text),
        parts=len(bodies),
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
