"""What the RBM messaging API accepts: AgentMessage and AgentEvent bodies (reference/rbm.md §1, §4).

Pure functions. A body is first read as Google's proto-JSON reader does (`sandbox.rbm_schema`:
unknown names, wrong JSON types, bad enum values, two members of one `oneof`, each refused with
Google's own wording), then checked here against the rules and limits of rbm.md §1.2-§1.6:
required content, chips and cards, files and URLs, actions, ttl/expireTime. Every refusal is an
`InvalidArgument` whose message names the field; the emulator answers it as
`400 INVALID_ARGUMENT`. This module also tells what a validated message needs of the phone
(`features_used`) and when it expires (`expiry`).

Choices where Google is silent (rbm.md **[?]**), all on the strict side so that nothing passes
here that RBM may refuse: an empty `text` or suggestion label, a `ttl` of zero and an
`expireTime` already past are refused; the 2048-character URL cap also applies to file URLs;
lengths count Unicode code points; 250 KB is 250,000 bytes of compact UTF-8 JSON.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sandbox.rbm_schema import (
    ACTION_KINDS,
    AGENT_EVENT,
    AGENT_MESSAGE,
    CONTENT_KINDS,
    MEDIA_SOURCES,
    InvalidArgument,
    format_timestamp,
    parse_duration,
    parse_timestamp,
    read,
)

__all__ = [
    "CARD_SUGGESTIONS_MAX",
    "CHIPS_MAX",
    "E164",
    "FEATURES",
    "MAX_MESSAGE_BYTES",
    "MAX_VALIDITY",
    "InvalidArgument",
    "all_suggestions",
    "expiry",
    "features_used",
    "format_timestamp",
    "parse_duration",
    "parse_timestamp",
    "validate_agent_event",
    "validate_agent_message",
]

E164 = re.compile(r"\+[1-9]\d{6,14}")
MAX_VALIDITY = timedelta(days=15)
MAX_MESSAGE_BYTES = 250_000
CHIPS_MAX = 11
CARD_SUGGESTIONS_MAX = 4
FEATURES = (
    "REVOCATION",
    "RICHCARD_STANDALONE",
    "RICHCARD_CAROUSEL",
    "ACTION_CREATE_CALENDAR_EVENT",
    "ACTION_DIAL",
    "ACTION_OPEN_URL",
    "ACTION_SHARE_LOCATION",
    "ACTION_VIEW_LOCATION",
)
"""Capability `features` of a fully capable phone (rbm.md §3.1)."""


def _need(condition: object, message: str) -> None:
    if not condition:
        raise InvalidArgument(message)


def validate_agent_message(
    body: Any, *, now: datetime, card_suggestions_max: int = CARD_SUGGESTIONS_MAX
) -> dict[str, Any]:
    """The AgentMessage as read (see module doc); raises InvalidArgument naming the bad field."""
    message: dict[str, Any] = read(body, AGENT_MESSAGE, ["agent_message"])
    size = len(json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode())
    _need(size <= MAX_MESSAGE_BYTES, f"agentMessage is {size} bytes; at most 250 KB are allowed")
    _need("contentMessage" in message, "contentMessage is required")
    content: dict[str, Any] = message["contentMessage"]
    _need(
        any(kind in content for kind in CONTENT_KINDS),
        f"contentMessage needs one of {', '.join(CONTENT_KINDS)}",
    )
    _need(content.get("text") != "", "contentMessage.text is empty")
    chips = len(content.get("suggestions", []))
    _need(chips <= CHIPS_MAX, f"contentMessage.suggestions has {chips}; at most {CHIPS_MAX}")
    for key in ("contentInfo", "uploadedRbmFile"):
        if key in content:
            _file(content[key], f"contentMessage.{key}")
    if "richCard" in content:
        _rich_card(content["richCard"], card_suggestions_max)
    for where, suggestion in all_suggestions(content):
        _suggestion(suggestion, where)
    _expiration(message, now)
    return message


def validate_agent_event(body: Any) -> dict[str, Any]:
    """An AgentEvent (rbm.md §4) as read; raises InvalidArgument naming the bad field."""
    event: dict[str, Any] = read(body, AGENT_EVENT, ["agent_event"])
    kind = event.get("eventType", "TYPE_UNSPECIFIED")
    _need(kind != "TYPE_UNSPECIFIED", "eventType is required (IS_TYPING or READ)")
    _need(kind != "READ" or event.get("messageId"), "messageId is required for a READ event")
    return event


def expiry(message: dict[str, Any], sent: datetime) -> datetime | None:
    """When a validated message stops being deliverable: `sent + ttl`, its `expireTime`, or None."""
    if "ttl" in message:
        return sent + parse_duration(message["ttl"])
    return parse_timestamp(message["expireTime"]) if "expireTime" in message else None


_ACTION_FEATURES = {
    "dialAction": "ACTION_DIAL",
    "openUrlAction": "ACTION_OPEN_URL",
    "viewLocationAction": "ACTION_VIEW_LOCATION",
    "shareLocationAction": "ACTION_SHARE_LOCATION",
    "createCalendarEventAction": "ACTION_CREATE_CALENDAR_EVENT",
}


def features_used(message: dict[str, Any]) -> set[str]:
    """Capability features a validated message needs (rbm.md §3.1; §6: 400 when one lacks)."""
    content = message["contentMessage"]
    card = content.get("richCard", {})
    used = {"RICHCARD_STANDALONE"} if "standaloneCard" in card else set()
    used |= {"RICHCARD_CAROUSEL"} if "carouselCard" in card else set()
    for _, suggestion in all_suggestions(content):
        used |= {_ACTION_FEATURES[k] for k in suggestion.get("action", {}) if k in _ACTION_FEATURES}
    return used


def _cards(content: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    card, where = content.get("richCard", {}), "contentMessage.richCard"
    if "standaloneCard" in card:
        return [(f"{where}.standaloneCard.cardContent", card["standaloneCard"]["cardContent"])]
    cards = card.get("carouselCard", {}).get("cardContents", [])
    return [(f"{where}.carouselCard.cardContents[{i}]", c) for i, c in enumerate(cards)]


def all_suggestions(content: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """`(where, suggestion)` for every chip and card suggestion of a validated contentMessage."""
    found: list[tuple[str, dict[str, Any]]] = []
    for where, holder in [("contentMessage", content), *_cards(content)]:
        found += [
            (f"{where}.suggestions[{i}]", s) for i, s in enumerate(holder.get("suggestions", []))
        ]
    return found


def _rich_card(card: dict[str, Any], card_suggestions_max: int) -> None:
    where = "contentMessage.richCard"
    _need(card, f"{where} needs a standaloneCard or a carouselCard")
    horizontal, width = False, None
    if "standaloneCard" in card:
        orientation = card["standaloneCard"].get("cardOrientation", "CARD_ORIENTATION_UNSPECIFIED")
        _need(
            orientation != "CARD_ORIENTATION_UNSPECIFIED",
            f"{where}.standaloneCard.cardOrientation is required",
        )
        _need(
            "cardContent" in card["standaloneCard"],
            f"{where}.standaloneCard.cardContent is required",
        )
        horizontal = orientation == "HORIZONTAL"
    else:
        width = card["carouselCard"].get("cardWidth", "CARD_WIDTH_UNSPECIFIED")
        _need(width != "CARD_WIDTH_UNSPECIFIED", f"{where}.carouselCard.cardWidth is required")
        count = len(card["carouselCard"].get("cardContents", []))
        _need(2 <= count <= 10, f"{where}.carouselCard.cardContents has {count} cards, not 2 to 10")
    for at, content in _cards({"richCard": card}):
        _need(
            any(key in content for key in ("title", "description", "media")),
            f"{at} needs at least one of title, description or media",
        )
        count = len(content.get("suggestions", []))
        _need(
            count <= card_suggestions_max,
            f"{at}.suggestions has {count}; at most {card_suggestions_max} per card",
        )
        media = content.get("media")
        if media is None:
            continue
        _need(
            any(key in media for key in MEDIA_SOURCES),
            f"{at}.media needs one of {', '.join(MEDIA_SOURCES)}",
        )
        for key in ("contentInfo", "uploadedRbmFile"):
            if key in media:
                _file(media[key], f"{at}.media.{key}")
        height = media.get("height", "HEIGHT_UNSPECIFIED")
        if horizontal:
            _need(
                any(key in content for key in ("title", "description", "suggestions")),
                f"{at}: a horizontal card with media needs a title, description or suggestions",
            )
        else:
            _need(height != "HEIGHT_UNSPECIFIED", f"{at}.media.height is required")
        _need(
            width != "SMALL" or height != "TALL",
            f"{at}.media.height: no TALL media in a SMALL carousel",
        )


def _file(source: dict[str, Any], where: str) -> None:
    if where.endswith("uploadedRbmFile"):
        _need(source.get("fileName"), f"{where}.fileName is required")
        return
    _need("fileUrl" in source, f"{where}.fileUrl is required")
    for key in ("fileUrl", "thumbnailUrl"):
        _need(key not in source or _http_url(source[key]), f"{where}.{key} is not an http(s) URL")


def _http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc) and " " not in value


def _suggestion(suggestion: dict[str, Any], where: str) -> None:
    kind = "reply" if "reply" in suggestion else "action"
    _need(kind in suggestion, f"{where} needs a reply or an action")
    body = suggestion[kind]
    _need(body.get("text"), f"{where}.{kind}.text is required")
    if kind == "reply":
        return
    where += ".action"
    url = body.get("fallbackUrl")
    _need(url is None or _http_url(url), f"{where}.fallbackUrl is not an http(s) URL")
    found = [key for key in ACTION_KINDS if key in body]
    _need(found, f"{where} needs one of {', '.join(ACTION_KINDS)}")
    name = found[0]
    action, where = body[name], f"{where}.{name}"
    if name == "dialAction":
        _need(E164.fullmatch(action.get("phoneNumber", "")), f"{where}.phoneNumber is not E.164")
    elif name == "openUrlAction":
        _need(urlsplit(action.get("url", "")).scheme, f"{where}.url must be an absolute URL")
    elif name == "viewLocationAction":
        point = action.get("latLong")
        _need(point is not None or action.get("query"), f"{where} needs a latLong or a query")
        if point is not None:
            _need(
                -90 <= point.get("latitude", 0.0) <= 90,
                f"{where}.latLong.latitude is not in [-90, 90]",
            )
            _need(
                -180 <= point.get("longitude", 0.0) <= 180,
                f"{where}.latLong.longitude is not in [-180, 180]",
            )
    elif name == "createCalendarEventAction":
        for key in ("startTime", "endTime", "title"):
            _need(action.get(key), f"{where}.{key} is required")


def _expiration(message: dict[str, Any], now: datetime) -> None:
    if "ttl" in message:
        ttl = parse_duration(message["ttl"])
        _need(ttl > timedelta(0), "ttl must be positive")
        _need(ttl <= MAX_VALIDITY, f"ttl {message['ttl']} is more than 15 days")
    if "expireTime" in message:
        instant = parse_timestamp(message["expireTime"])
        assert instant is not None
        _need(instant > now, f"expireTime {message['expireTime']} is in the past")
        _need(
            instant - now <= MAX_VALIDITY,
            f"expireTime {message['expireTime']} is more than 15 days away",
        )
