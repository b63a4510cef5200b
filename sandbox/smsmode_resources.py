"""smsmode's wire format (reference/sms.md §1.2-§1.4): the channel, the message resource of an SMS
a bot sent (`SentSms`), the resource of a reply (`mo_resource`), and how numbers and timestamps
are written in them.

Separate from the emulator and its callbacks because these are the shapes both of them speak:
the 201 of a send, the state of the control API and every report and MO POSTed back are built
here, from plain data, without HTTP.
"""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from messaging.encoding import SmsSegments
from messaging.phone import Phone

WIRE_TIMEZONE: Final = UTC
"""The zone of smsmode's offset-less timestamps (`2025-03-04T10:00:00`), undocumented
(sms.md §1.3, **[?]**): times are written in it, and a `sentDate` without offset read in it."""

ChannelType = Literal["SMS", "WHATSAPP", "RCS"]
ChannelFlow = Literal["MARKETING", "TRANSACTIONAL", "OTP"]


def wire_time(instant: datetime) -> str:
    """`instant` as smsmode writes it: ISO-8601 to the second, without offset."""
    return instant.astimezone(WIRE_TIMEZONE).strftime("%Y-%m-%dT%H:%M:%S")


def parse_wire_time(raw: str) -> datetime:
    """An ISO-8601 date-time with or without offset (then in `WIRE_TIMEZONE`); ValueError
    otherwise (a date alone too)."""
    if "T" not in raw:
        raise ValueError("a date-time needs a time")
    instant = datetime.fromisoformat(raw)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=WIRE_TIMEZONE)
    return instant.astimezone(UTC)


def digits(phone: Phone) -> str:
    """A number as smsmode writes it: international digits, no `+` (`33612345678`)."""
    return phone.e164.removeprefix("+")


_FRENCH_NETWORKS: Final = tuple(
    {"20801": "ORANGE", "20810": "SFR", "20815": "FREE", "20820": "BOUYGUES"}.items()
)
"""The four MNOs (sms.md §3.6), named in the upper case of smsmode's `BOUYGUES` example."""


def lookup(number: str) -> dict[str, str | None]:
    """The `status.lookup` of a report. Numbers are portable, so there is no true answer
    offline: a French number gets one of the four MNOs, always the same for one number."""
    phone = Phone(number)
    if phone.region != "FR":
        return {"mccMnc": None, "country": phone.region, "network": None}
    mcc_mnc, network = _FRENCH_NETWORKS[zlib.crc32(phone.e164.encode()) % 4]
    return {"mccMnc": mcc_mnc, "country": "France", "network": network}


@dataclass(frozen=True, slots=True)
class SmsmodeChannel:
    """A channel of the organisation, with its API keys (sms.md §1.2)."""

    api_keys: tuple[str, ...]
    name: str = "sms"
    type: ChannelType = "SMS"
    flow: ChannelFlow = "TRANSACTIONAL"
    default_from: str = "36034"
    """The sender when a request names none: a shortcode or a SenderID."""
    numbers: tuple[str, ...] = ()
    """Time2Chat 09 numbers (any form `Phone` reads) it sends from and receives on."""
    default_callback_url_status: str | None = None
    default_callback_url_mo: str | None = None
    channel_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def senders(self) -> frozenset[str]:
        """The numeric `from` values it may use: its shortcode and numbers, in digits."""
        return frozenset({self.default_from, *(digits(Phone(n)) for n in self.numbers)})

    def to_json(self) -> dict[str, str]:
        return {"channelId": self.channel_id, "name": self.name, "type": self.type} | {
            "flow": self.flow
        }


@dataclass(slots=True)
class SentSms:
    """An SMS a bot sent (an MT), as the emulator follows it."""

    id: str
    channel: SmsmodeChannel
    to: Phone
    sender: str
    text: str
    """As sent: with the STOP mention when `stop` asked for it."""
    stop: bool
    segments: SmsSegments
    ref_client: str | None
    callback_url_status: str | None
    callback_url_mo: str | None
    accepted_at: datetime
    sent_date: datetime
    href: str
    price: str
    status: str
    detail: str | None = None
    delivery_date: datetime | None = None
    lookup: dict[str, str | None] | None = None

    def resource(self) -> dict[str, Any]:
        """The message resource of the 201 and of every report (sms.md §1.3)."""
        delivered = wire_time(self.delivery_date) if self.delivery_date else None
        return {
            "messageId": self.id,
            "campaignId": None,
            "originMessageId": None,
            "acceptedAt": wire_time(self.accepted_at),
            "sentDate": wire_time(self.sent_date),
            "channel": self.channel.to_json(),
            "type": "SMS",
            "direction": "MT",
            "recipient": {"to": digits(self.to)},
            "from": self.sender,
            "body": {
                "text": self.text,
                "stop": self.stop,
                "encoding": self.segments.encoding.smsmode,
                "messagePartCount": self.segments.count,
                "length": self.segments.units,
            },
            "price": {"amount": self.price, "currency": "EUR"},
            "status": {
                "value": self.status,
                "detail": self.detail,
                "deliveryDate": delivered,
                "lookup": self.lookup,
            },
            "refClient": self.ref_client,
            "callbackUrlStatus": self.callback_url_status,
            "callbackUrlMo": self.callback_url_mo,
            "href": self.href,
        }


def mo_resource(
    message_id: str,
    channel: SmsmodeChannel,
    phone: Phone,
    sender: str,
    text: str,
    *,
    stop: bool,
    at: datetime,
    origin: SentSms | None,
) -> dict[str, Any]:
    """A reply as smsmode posts it (sms.md §1.4): the phone in `from`, the bot's shortcode or
    09 number in `recipient.to`, the MT it answers in `originMessageId`; no `status`."""
    return {
        "messageId": message_id,
        "originMessageId": origin.id if origin else None,
        "sentDate": wire_time(at),
        "channel": channel.to_json(),
        "type": "SMS",
        "direction": "MO",
        "recipient": {"to": sender},
        "from": digits(phone),
        "body": {"text": text, "stop": stop},
        "refClient": origin.ref_client if origin else None,
    }
