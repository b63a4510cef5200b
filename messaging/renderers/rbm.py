"""Channel-neutral content rendered as RBM `AgentMessage` JSON (reference/rbm.md §1).

Pure: no I/O and no clock. The functions return plain dicts ready to be sent as the body of
`POST /v1/phones/{E.164}/agentMessages`; `agent_message_bytes` gives the exact bytes whose size
is checked against the 250 KB cap.

One content may need two agent messages: an `image`, `video` or `file` with a `text` is sent as
the text first, then the media, because an `AgentContentMessage` carries exactly one of `text`,
`richCard`, `contentInfo`... (§1.2). `render_rbm_messages` handles every content and is what a
sender should call; `render_rbm` is the one-message shortcut and refuses such a content rather
than drop its text.

The renderer trusts its input: the content must have been validated without the deferred
context (`messaging.limits`), so that no Jinja template is left in it. Fields whose JSON type is
not a string (dates, coordinates, phone numbers) are still checked, because a template left there
would otherwise give a body RBM rejects for a reason far from its cause.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, assert_never
from zoneinfo import ZoneInfo

from messaging.content import (
    Card,
    CardOrientation,
    CardWidth,
    Content,
    File,
    Image,
    MediaHeight,
    RichCard,
    RichCarousel,
    Text,
    Video,
)
from messaging.phone import Phone
from messaging.suggestions import (
    AddToCalendar,
    Dial,
    OpenUrl,
    Place,
    Reply,
    ShareLocation,
    ShowLocation,
    Suggestion,
)

MAX_VALIDITY = timedelta(days=15)
"""Longest `ttl`, and latest `expireTime` after submission (rbm.md §1.6)."""

MAX_AGENT_MESSAGE_BYTES = 250_000
"""The whole stringified AgentMessage (rbm.md §1.6: "250 KB"). Google does not say whether a KB
is 1000 or 1024 bytes; the smaller reading never sends what RBM may refuse."""

CALENDAR_LOCAL_TIME = ZoneInfo("Europe/Paris")
"""Time zone given to naive calendar datetimes: flow authors write local French times."""


class TrafficType(StrEnum):
    """`messageTrafficType` values (rbm.md §1.4)."""

    TRANSACTION = "TRANSACTION"
    PROMOTION = "PROMOTION"
    AUTHENTICATION = "AUTHENTICATION"
    SERVICEREQUEST = "SERVICEREQUEST"
    ACKNOWLEDGEMENT = "ACKNOWLEDGEMENT"


_FLOW_TRAFFIC = {
    "transactional": TrafficType.TRANSACTION,
    "marketing": TrafficType.PROMOTION,
}


def traffic_for_flow(traffic: str) -> TrafficType:
    """The RBM traffic type of a flow's `traffic:` word (FLOWS.md "Top level").

    `transactional` -> TRANSACTION, `marketing` -> PROMOTION; any other word is a ValueError.
    """
    try:
        return _FLOW_TRAFFIC[traffic]
    except KeyError:
        known = ", ".join(_FLOW_TRAFFIC)
        raise ValueError(f"unknown flow traffic {traffic!r} (expected one of {known})") from None


# --- Public entry points ---------------------------------------------------------------------


def render_rbm_messages(
    content: Content,
    *,
    traffic: TrafficType = TrafficType.TRANSACTION,
    ttl: timedelta | None = None,
    expire_time: datetime | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The RBM AgentMessages that send `content`, in sending order (rbm.md §1.1).

    One message, except for an image, video or file with `text`: the text message, then the
    media message. Each message carries `traffic` and the same validity: `ttl` (a positive
    duration of at most 15 days) or `expire_time` (an aware instant), not both. `now`, the
    submission instant, lets `expire_time` be checked against the same 15-day cap; without it
    only its time zone is checked. The content's `sms` field is ignored.

    Raises ValueError when a rule of rbm.md §1 would be broken, naming the rule.
    """
    validity = _validity(ttl, expire_time, now)
    messages = [
        {"contentMessage": body, "messageTrafficType": str(traffic), **validity}
        for body in _content_messages(content)
    ]
    for message in messages:
        _check_size(message)
    return messages


def render_rbm(
    content: Content,
    *,
    traffic: TrafficType = TrafficType.TRANSACTION,
    ttl: timedelta | None = None,
    expire_time: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The one RBM AgentMessage that sends `content`; see `render_rbm_messages` for the rules.

    Raises ValueError for a media with `text`, which needs two messages: use
    `render_rbm_messages` for it (or for any content, when in doubt).
    """
    messages = render_rbm_messages(
        content, traffic=traffic, ttl=ttl, expire_time=expire_time, now=now
    )
    if len(messages) != 1:
        raise ValueError(
            f"this {content.kind} content has a text and needs {len(messages)} RBM messages;"
            " use render_rbm_messages"
        )
    return messages[0]


def agent_message_bytes(message: dict[str, Any]) -> bytes:
    """The request body for an AgentMessage: compact UTF-8 JSON, the form whose size is capped.

    Senders should post these bytes so that what was checked is what goes on the wire
    (`json.dumps` defaults would escape every accent as `\\u00e9`, up to 3 times larger).
    """
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()


# --- Wire formats ------------------------------------------------------------------------------


def rbm_duration(duration: timedelta) -> str:
    """A protobuf Duration as JSON: `"3600s"`, `"3.5s"` (integer seconds when whole)."""
    micros = duration // timedelta(microseconds=1)
    sign = "-" if micros < 0 else ""
    whole, fraction = divmod(abs(micros), 1_000_000)
    if fraction == 0:
        return f"{sign}{whole}s"
    return f"{sign}{whole}.{fraction:06d}".rstrip("0") + "s"


def rbm_timestamp(instant: datetime) -> str:
    """An aware datetime as an RFC 3339 UTC timestamp ending in `Z`.

    Fractional seconds get 0, 3 or 6 digits, as protobuf's own JSON writer does.
    """
    if instant.tzinfo is None:
        raise ValueError(f"{instant.isoformat()} has no time zone; RBM needs an exact instant")
    utc = instant.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond % 1000 == 0 and utc.microsecond:
        text += f".{utc.microsecond // 1000:03d}"
    elif utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


def _validity(
    ttl: timedelta | None, expire_time: datetime | None, now: datetime | None
) -> dict[str, str]:
    """The `ttl` or `expireTime` field of an AgentMessage (rbm.md §1.1, cap in §1.6)."""
    if ttl is not None and expire_time is not None:
        raise ValueError("ttl and expire_time are mutually exclusive in RBM; give only one")
    if ttl is not None:
        if ttl <= timedelta(0):
            raise ValueError(f"ttl must be positive, not {rbm_duration(ttl)}")
        if ttl > MAX_VALIDITY:
            raise ValueError(
                f"ttl is {rbm_duration(ttl)}; RBM allows at most {MAX_VALIDITY.days} days"
            )
        return {"ttl": rbm_duration(ttl)}
    if expire_time is not None:
        stamp = rbm_timestamp(expire_time)
        if now is not None:
            if expire_time <= now:
                raise ValueError(f"expire_time {stamp} is not after now ({rbm_timestamp(now)})")
            if expire_time - now > MAX_VALIDITY:
                raise ValueError(
                    f"expire_time {stamp} is more than {MAX_VALIDITY.days} days after now"
                    f" ({rbm_timestamp(now)}); RBM refuses it"
                )
        return {"expireTime": stamp}
    return {}


def _check_size(message: dict[str, Any]) -> None:
    size = len(agent_message_bytes(message))
    if size > MAX_AGENT_MESSAGE_BYTES:
        raise ValueError(
            f"the AgentMessage is {size} bytes once stringified;"
            f" RBM allows at most {MAX_AGENT_MESSAGE_BYTES} (250 KB)"
        )


# --- Content (rbm.md §1.2, §1.3) ---------------------------------------------------------------

_HEIGHTS = {
    MediaHeight.SHORT: "SHORT",
    MediaHeight.MEDIUM: "MEDIUM",
    MediaHeight.TALL: "TALL",
}
_ORIENTATIONS = {
    CardOrientation.VERTICAL: "VERTICAL",
    CardOrientation.HORIZONTAL: "HORIZONTAL",
}
_WIDTHS = {CardWidth.SMALL: "SMALL", CardWidth.MEDIUM: "MEDIUM"}


def _content_messages(content: Content) -> list[dict[str, Any]]:
    """The `contentMessage` bodies of a content, one content kind per body."""
    match content:
        case Text():
            return [_text_message(content.text, content.suggestions)]
        case RichCard():
            return [{"richCard": {"standaloneCard": _standalone_card(content.card)}}]
        case RichCarousel():
            carousel = {
                "cardWidth": _WIDTHS[content.carousel.width],
                "cardContents": [_card_content(card) for card in content.carousel.cards],
            }
            return [{"richCard": {"carouselCard": carousel}}]
        case Image():
            return _media_messages(content.text, content.image)
        case Video():
            return _media_messages(content.text, content.video)
        case File():
            return _media_messages(content.text, content.file)
        case _:
            assert_never(content)


def _text_message(text: str, suggestions: list[Suggestion]) -> dict[str, Any]:
    message: dict[str, Any] = {"text": text}
    if suggestions:
        message["suggestions"] = [_suggestion(s) for s in suggestions]
    return message


def _media_messages(text: str | None, url: str) -> list[dict[str, Any]]:
    media = {"contentInfo": {"fileUrl": url}}
    return [media] if text is None else [_text_message(text, []), media]


def _standalone_card(card: Card) -> dict[str, Any]:
    orientation = card.orientation or CardOrientation.VERTICAL
    standalone: dict[str, Any] = {"cardOrientation": _ORIENTATIONS[orientation]}
    if orientation is CardOrientation.HORIZONTAL:
        # Applies to horizontal cards only (§1.3): the media goes beside the text, on the left.
        standalone["thumbnailImageAlignment"] = "LEFT"
    standalone["cardContent"] = _card_content(card)
    return standalone


def _card_content(card: Card) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if card.title is not None:
        content["title"] = card.title
    if card.description is not None:
        content["description"] = card.description
    if card.media is not None:
        height = _HEIGHTS[card.height or MediaHeight.MEDIUM]
        content["media"] = {"height": height, "contentInfo": {"fileUrl": card.media}}
    if card.suggestions:
        content["suggestions"] = [_suggestion(s) for s in card.suggestions]
    return content


# --- Suggestions (rbm.md §1.2) -----------------------------------------------------------------


def _suggestion(suggestion: Suggestion) -> dict[str, Any]:
    if isinstance(suggestion, Reply):
        return {"reply": {"text": suggestion.text, "postbackData": suggestion.postback}}
    action: dict[str, Any] = {"text": suggestion.text, "postbackData": suggestion.postback}
    match suggestion:
        case OpenUrl():
            action["openUrlAction"] = {"url": suggestion.url}
        case Dial():
            # Phone() rejects a template left in place of the number; RBM wants E.164.
            action["dialAction"] = {"phoneNumber": Phone(suggestion.dial).e164}
        case ShowLocation():
            action["viewLocationAction"] = _view_location(suggestion.location, suggestion.label)
        case ShareLocation():
            action["shareLocationAction"] = {}
        case AddToCalendar():
            event = suggestion.calendar
            calendar = {
                "startTime": _calendar_time(event.start, "start"),
                "endTime": _calendar_time(event.end, "end"),
                "title": event.title,
            }
            if event.description is not None:
                calendar["description"] = event.description
            action["createCalendarEventAction"] = calendar
        case _:
            assert_never(suggestion)
    return {"action": action}


def _view_location(place: Place, label: str) -> dict[str, Any]:
    if place.query is not None:
        return {"query": place.query}
    latitude, longitude = place.lat, place.lng
    # A deferred template may have been left as a string where a number belongs.
    if not isinstance(latitude, int | float) or not isinstance(longitude, int | float):
        raise ValueError(f"location ({latitude!r}, {longitude!r}) is not a pair of numbers")
    return {"latLong": {"latitude": latitude, "longitude": longitude}, "label": label}


def _calendar_time(value: datetime, which: str) -> str:
    """A calendar instant in RFC 3339 UTC; a naive datetime is Europe/Paris local time."""
    if not isinstance(value, datetime):
        raise ValueError(f"calendar {which} {value!r} is not a date and time")
    if value.tzinfo is None:
        value = value.replace(tzinfo=CALENDAR_LOCAL_TIME)
    return rbm_timestamp(value)
