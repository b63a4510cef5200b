"""Requests in the providers' documented shapes (reference/rbm.md §5, reference/sms.md §1.4),
and the outbox entries their receipts refer to.

RBM payloads are built as Google documents them, wrapped in a Pub/Sub-shaped envelope and
signed as the platform signs: base64(HMAC-SHA512(client token, decoded `message.data`)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from store.base import Store
from store.records import OutboxEntry, OutboxStatus
from tests.store import LEASE, T0, conversation, outbound, start

CLIENT_TOKEN = "rbm-client-token-7d1f0c"
AGENT = "causette_4f2a9c1e_agent"
OTHER_AGENT = "boutique_0b9e11aa_agent"
BOT = "bot-a"
OTHER_BOT = "bot-b"
PHONE = "+33612345678"
OTHER_PHONE = "+33698765432"

SMS_TOKEN = "sms-token-0123456789abcdef"
T2C_TOKEN = "t2c-token-0123456789abcdef"
OTHER_TOKEN = "sms-token-of-bot-b-9876543210"
SHORTCODE = "36034"
T2C_NUMBER = "+33939123456"
T2C_DIGITS = "33939123456"
PHONE_DIGITS = "33612345678"


# --- RBM ----------------------------------------------------------------------------------------


def hmac_signature(data: bytes, token: str = CLIENT_TOKEN) -> str:
    """Computed here independently of `webhooks.rbm.sign`, from rbm.md §5.3."""
    return base64.b64encode(hmac.new(token.encode(), data, hashlib.sha512).digest()).decode()


def envelope(data: bytes) -> dict[str, Any]:
    return {
        "message": {
            "data": base64.b64encode(data).decode(),
            "messageId": "2070443601311540",
            "publishTime": "2026-01-05T09:00:00.123Z",
            "attributes": {},
        },
        "subscription": "projects/rbm-causette-4f2a9c1e/subscriptions/rbm-agent-subscription",
    }


def signed(
    payload: dict[str, Any] | bytes, token: str = CLIENT_TOKEN
) -> tuple[bytes, dict[str, str]]:
    """The body and headers RBM posts for `payload`."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    body = json.dumps(envelope(data)).encode()
    return body, {
        "Content-Type": "application/json",
        "X-Goog-Signature": hmac_signature(data, token),
    }


def _user(message_id: str, agent: str, phone: str, **content: Any) -> dict[str, Any]:
    return {
        "senderPhoneNumber": phone,
        "messageId": message_id,
        "sendTime": "2026-01-05T08:59:58.123456Z",
        "agentId": agent,
        **content,
    }


def user_text(
    message_id: str = "MxTxt1",
    text: str = "Bonjour",
    *,
    agent: str = f"{AGENT}@rbm.goog",
    phone: str = PHONE,
) -> dict[str, Any]:
    return _user(message_id, agent, phone, text=text)


def user_postback(message_id: str = "MxChip1", *, agent: str = AGENT) -> dict[str, Any]:
    chip = {"postbackData": "confirm_yes", "text": "Oui", "type": "REPLY"}
    return _user(message_id, agent, PHONE, suggestionResponse=chip)


def user_location(message_id: str = "MxLoc1", *, agent: str = AGENT) -> dict[str, Any]:
    return _user(message_id, agent, PHONE, location={"latitude": 48.85, "longitude": 2.35})


def user_file(message_id: str = "MxFile1", *, agent: str = AGENT) -> dict[str, Any]:
    return _user(
        message_id,
        agent,
        PHONE,
        userFile={
            "thumbnail": {
                "mimeType": "image/jpeg",
                "fileSizeBytes": 1280,
                "fileName": "a.jpeg",
                "fileUri": "https://rcs-user-files.example/thumb/a.jpeg",
            },
            "payload": {
                "mimeType": "image/gif",
                "fileSizeBytes": 127806,
                "fileName": "a.gif",
                "fileUri": "https://rcs-user-files.example/a.gif",
            },
        },
    )


def user_event(
    event_type: str,
    message_id: str | None = None,
    *,
    agent: str | None = f"{AGENT}@rbm.goog",
    event_id: str = "EvT1",
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "senderPhoneNumber": PHONE,
        "eventType": event_type,
        "eventId": event_id,
        "sendTime": "2026-01-05T09:00:01.000Z",
    }
    if message_id is not None:
        event["messageId"] = message_id
    if agent is not None:
        event["agentId"] = agent
    return event


def server_event(
    event_type: str, message_id: str, *, agent: str = AGENT, event_id: str = "SrvEv1"
) -> dict[str, Any]:
    return {
        "phoneNumber": PHONE,
        "agentId": agent,
        "messageId": message_id,
        "eventType": event_type,
        "eventId": event_id,
        "sendTime": "2026-01-05T09:10:00.000Z",
    }


# --- smsmode ------------------------------------------------------------------------------------


def mo(
    message_id: str = "mo-0001",
    *,
    sender: str = PHONE_DIGITS,
    to: str = SHORTCODE,
    body: dict[str, Any] | None = None,
    channel_type: str = "SMS",
) -> dict[str, Any]:
    """An MO as sms.md §1.4 documents it: the phone in `from`, our number in `recipient.to`."""
    return {
        "messageId": message_id,
        "originMessageId": "mt-0001",
        "sentDate": "2026-01-05T09:00:00",
        "channel": {"channelId": "c0ffee00-0000-4000-8000-000000000001", "type": channel_type},
        "type": channel_type,
        "direction": "MO",
        "from": sender,
        "recipient": {"to": to},
        "body": body if body is not None else {"text": "Oui merci"},
        "refClient": "conv-42:3",
    }


def dlr(message_id: str, value: str, detail: str | None = None) -> dict[str, Any]:
    """A delivery report: the message resource with its `status` (sms.md §1.3)."""
    return {
        "messageId": message_id,
        "campaignId": "camp-1",
        "acceptedAt": "2026-01-05T09:00:00",
        "sentDate": "2026-01-05T09:00:00",
        "channel": {"channelId": "c0ffee00-0000-4000-8000-000000000001", "type": "SMS"},
        "type": "SMS",
        "direction": "MT",
        "recipient": {"to": PHONE_DIGITS},
        "from": SHORTCODE,
        "body": {"text": "Bonjour", "encoding": "GSM7", "messagePartCount": 1, "length": 7},
        "price": {"amount": "0.0450", "currency": "EUR"},
        "status": {
            "deliveryDate": "2026-01-05T09:00:05",
            "value": value,
            "detail": detail,
            "lookup": {"mccMnc": "20801", "country": "France", "network": "Orange"},
        },
        "refClient": "conv-42:3",
    }


# --- outbox entries the receipts refer to ---------------------------------------------------------


async def sent(store: Store, provider_ids: dict[str, str], *, bot: str = BOT) -> list[OutboxEntry]:
    """Queue one outbox entry per key of `provider_ids` through a committed turn of a
    conversation of `bot`, then record each as sent under its provider id, as the dispatcher
    does; returns them as stored."""
    keys = list(provider_ids)
    conv = conversation(f"conv-{bot}", bot=bot)
    await start(store, conv, outbound=[outbound(f"{bot}:{key}") for key in keys])
    entries = []
    for key in keys:
        full = f"{bot}:{key}"
        # One at a time: a conversation's next message is claimable once this one is sent.
        (claimed,) = await store.claim_outbound("dispatcher", T0, LEASE)
        assert claimed.key == full
        await store.mark_outbound(full, OutboxStatus.SENT, T0, provider_id=provider_ids[key])
        entry = await store.get_outbound(full)
        assert entry is not None
        entries.append(entry)
    return entries
