"""What the RBM messaging API accepts: AgentMessage and AgentEvent bodies (reference/rbm.md §1, §4).

Pure functions. A body is first read as Google's proto-JSON reader does (unknown names, wrong
JSON types, bad enum values, two members of one `oneof`: each refused with Google's own wording,
`null` read as absent, `snake_case` names read as their `lowerCamel` form), then checked against
the rules and limits of rbm.md §1.2-§1.6. Every refusal is an `InvalidArgument` whose message
names the field; the emulator answers it as `400 INVALID_ARGUMENT`.

Choices where Google is silent (rbm.md **[?]**), all on the strict side so that nothing passes
here that RBM may refuse: an empty `text` or suggestion label, a `ttl` of zero and an
`expireTime` already past are refused; the 2048-character URL cap also applies to file URLs;
lengths count Unicode code points; 250 KB is 250,000 bytes of compact UTF-8 JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

E164 = re.compile(r"\+[1-9]\d{6,14}")
DURATION = re.compile(r"(\d+)(\.\d{1,9})?s")
TIMESTAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", re.I)
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


class InvalidArgument(ValueError):
    """A request RBM refuses with `400 INVALID_ARGUMENT`; the message names the field."""


# --- The proto-JSON reader ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Scalar:
    kind: str  # "string", "number", "bool", "duration", "timestamp"
    limit: int | None = None


@dataclass(frozen=True)
class _Enum:
    type_name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class _Obj:
    fields: dict[str, Any]
    oneofs: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class _List:
    item: Any


STR, NUM, BOOL = _Scalar("string"), _Scalar("number"), _Scalar("bool")
URL = _Scalar("string", 2048)
DURATION_SPEC, TIMESTAMP_SPEC = _Scalar("duration"), _Scalar("timestamp")


def _enum(name: str, values: str) -> _Enum:
    prefix = "type.googleapis.com/google.communications.rcsbusinessmessaging.v1."
    return _Enum(prefix + name, tuple(values.split()))


_REPLY = _Obj({"text": _Scalar("string", 25), "postbackData": _Scalar("string", 2048)})
_RECORDING_TYPE = _enum("ComposeRecordingActionType", "TYPE_UNSPECIFIED AUDIO VIDEO")
_COMPOSE = _Obj(
    {
        "composeTextMessage": _Obj({"phoneNumber": STR, "text": STR}),
        "composeRecordingMessage": _Obj({"phoneNumber": STR, "type": _RECORDING_TYPE}),
    },
    {"action": ("composeTextMessage", "composeRecordingMessage")},
)
_CALENDAR = _Obj(
    {"startTime": TIMESTAMP_SPEC, "endTime": TIMESTAMP_SPEC, "title": _Scalar("string", 100)}
    | {"description": _Scalar("string", 500)}
)
_OPEN_URL = _Obj(
    {
        "url": URL,
        "application": _enum(
            "OpenUrlApplication", "OPEN_URL_APPLICATION_UNSPECIFIED BROWSER WEBVIEW"
        ),
        "webviewViewMode": _enum("WebviewViewMode", "WEBVIEW_VIEW_MODE_UNSPECIFIED FULL HALF TALL"),
        "description": STR,
    }
)
_LAT_LNG = _Obj({"latitude": NUM, "longitude": NUM})
_ACTION_KINDS: tuple[str, ...] = ("dialAction", "viewLocationAction", "createCalendarEventAction")
_ACTION_KINDS += ("openUrlAction", "shareLocationAction", "composeAction")
_ACTION = _Obj(
    _REPLY.fields
    | {
        "fallbackUrl": URL,
        "dialAction": _Obj({"phoneNumber": STR}),
        "viewLocationAction": _Obj({"latLong": _LAT_LNG, "label": STR, "query": STR}),
        "createCalendarEventAction": _CALENDAR,
        "openUrlAction": _OPEN_URL,
        "shareLocationAction": _Obj({}),
        "composeAction": _COMPOSE,
    },
    {"action": _ACTION_KINDS},
)
_SUGGESTION = _Obj({"reply": _REPLY, "action": _ACTION}, {"option": ("reply", "action")})
_CONTENT_INFO = _Obj({"fileUrl": URL, "thumbnailUrl": URL, "forceRefresh": BOOL})
_UPLOADED = _Obj({"fileName": STR, "thumbnailName": STR})
_MEDIA_SOURCES = ("fileName", "uploadedRbmFile", "contentInfo")
_HEIGHT = _enum("Media.Height", "HEIGHT_UNSPECIFIED SHORT MEDIUM TALL")
_MEDIA = _Obj(
    {
        "height": _HEIGHT,
        "fileName": STR,
        "uploadedRbmFile": _UPLOADED,
        "contentInfo": _CONTENT_INFO,
    },
    {"content": _MEDIA_SOURCES},
)
_CARD_CONTENT = _Obj(
    {"title": _Scalar("string", 200), "description": _Scalar("string", 2000), "media": _MEDIA}
    | {"suggestions": _List(_SUGGESTION)}
)
_ORIENTATION = _enum(
    "StandaloneCard.CardOrientation", "CARD_ORIENTATION_UNSPECIFIED HORIZONTAL VERTICAL"
)
_ALIGNMENT = _enum(
    "StandaloneCard.ThumbnailImageAlignment", "THUMBNAIL_IMAGE_ALIGNMENT_UNSPECIFIED LEFT RIGHT"
)
_WIDTH = _enum("CarouselCard.CardWidth", "CARD_WIDTH_UNSPECIFIED SMALL MEDIUM")
_RICH_CARD = _Obj(
    {
        "standaloneCard": _Obj(
            {"cardOrientation": _ORIENTATION, "thumbnailImageAlignment": _ALIGNMENT}
            | {"cardContent": _CARD_CONTENT}
        ),
        "carouselCard": _Obj({"cardWidth": _WIDTH, "cardContents": _List(_CARD_CONTENT)}),
    },
    {"card": ("standaloneCard", "carouselCard")},
)
_CONTENT_KINDS = ("text", "fileName", "uploadedRbmFile", "richCard", "contentInfo")
_CONTENT_MESSAGE = _Obj(
    {"text": _Scalar("string", 3072), "fileName": STR, "uploadedRbmFile": _UPLOADED}
    | {"richCard": _RICH_CARD, "contentInfo": _CONTENT_INFO, "suggestions": _List(_SUGGESTION)},
    {"content": _CONTENT_KINDS},
)
_TRAFFIC = _enum(
    "MessageTrafficType",
    "MESSAGE_TRAFFIC_TYPE_UNSPECIFIED AUTHENTICATION TRANSACTION PROMOTION SERVICEREQUEST"
    " ACKNOWLEDGEMENT",
)
_CLASSIFICATION = _Obj({"classificationType": STR, "segmentCount": NUM})
_AGENT_MESSAGE = _Obj(
    {"contentMessage": _CONTENT_MESSAGE, "messageTrafficType": _TRAFFIC}
    | {"ttl": DURATION_SPEC, "expireTime": TIMESTAMP_SPEC}
    # Output only: accepted and ignored, as Google does.
    | {"name": STR, "sendTime": TIMESTAMP_SPEC, "carrier": STR, "totalPayloadSizeBytes": STR}
    | {"richMessageClassification": _CLASSIFICATION},
    {"expiration": ("expireTime", "ttl")},
)
_EVENT_TYPE = _enum("AgentEvent.EventType", "TYPE_UNSPECIFIED IS_TYPING READ")
_AGENT_EVENT = _Obj(
    {"eventType": _EVENT_TYPE, "messageId": STR, "name": STR, "sendTime": TIMESTAMP_SPEC}
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _where(path: list[str]) -> str:
    return ".".join(_snake(part) for part in path).replace(".[", "[")


def _bad_value(path: list[str], type_name: str, value: Any) -> InvalidArgument:
    shown = json.dumps(value, ensure_ascii=False)
    return InvalidArgument(f"Invalid value at '{_where(path)}' ({type_name}), {shown}")


def _read(value: Any, spec: Any, path: list[str]) -> Any:
    """`value` as Google's proto-JSON reader takes it: camelCase names, no nulls."""
    if isinstance(spec, _Obj):
        if not isinstance(value, dict):
            raise _bad_value(path, "TYPE_MESSAGE", value)
        out: dict[str, Any] = {}
        for raw_name, item in value.items():
            name = raw_name if raw_name in spec.fields else _camel(raw_name)
            if name not in spec.fields:
                raise InvalidArgument(
                    f"Invalid JSON payload received. Unknown name {json.dumps(raw_name)}"
                    f" at '{_where(path)}': Cannot find field."
                )
            if item is None:
                continue
            for oneof, members in spec.oneofs.items():
                if name in members and any(member in out for member in members):
                    raise InvalidArgument(
                        f"Invalid JSON payload received. Oneof field '{oneof}' is already set."
                        f" Cannot set '{name}'"
                    )
            out[name] = _read(item, spec.fields[name], [*path, name])
        return out
    if isinstance(spec, _List):
        if not isinstance(value, list):
            raise _bad_value(path, "TYPE_MESSAGE", value)
        return [_read(item, spec.item, [*path, f"[{i}]"]) for i, item in enumerate(value)]
    if isinstance(spec, _Enum):
        if value not in spec.values:
            raise _bad_value(path, spec.type_name, value)
        return value
    if spec.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _bad_value(path, "TYPE_DOUBLE", value)
        try:
            return float(value)
        except ValueError:
            raise _bad_value(path, "TYPE_DOUBLE", value) from None
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise _bad_value(path, "TYPE_BOOL", value)
        return value
    if not isinstance(value, str):
        raise _bad_value(path, "TYPE_STRING", value)
    if spec.kind == "duration" and not DURATION.fullmatch(value):
        raise _bad_value(path, "type.googleapis.com/google.protobuf.Duration", value)
    if spec.kind == "timestamp" and parse_timestamp(value) is None:
        raise _bad_value(path, "type.googleapis.com/google.protobuf.Timestamp", value)
    if spec.limit is not None and len(value) > spec.limit:
        name = ".".join(path[1:]).replace(".[", "[")
        raise InvalidArgument(
            f"{name} is {len(value)} characters long; at most {spec.limit} are allowed"
        )
    return value


def format_timestamp(instant: datetime) -> str:
    """An instant as Google writes it: RFC 3339 UTC with microseconds (`...35.474764Z`)."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str) -> datetime | None:
    """An RFC 3339 timestamp (up to 9 fractional digits) as an aware datetime, or None."""
    match = TIMESTAMP.fullmatch(value)
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    try:
        instant = datetime.fromisoformat(whole + ("+00:00" if zone in "Zz" else zone))
    except ValueError:
        return None
    micros = int((fraction or "0").ljust(9, "0")[:6])
    return instant.astimezone(UTC) + timedelta(microseconds=micros)


def parse_duration(value: str) -> timedelta:
    """A protobuf Duration string (`"3.5s"`) already matched by `DURATION`."""
    match = DURATION.fullmatch(value)
    assert match is not None
    seconds, fraction = match.groups()
    return timedelta(
        seconds=int(seconds), microseconds=int((fraction or ".0")[1:].ljust(9, "0")[:6])
    )


# --- Rules of rbm.md §1 ------------------------------------------------------------------------


def _need(condition: object, message: str) -> None:
    if not condition:
        raise InvalidArgument(message)


def validate_agent_message(
    body: Any, *, now: datetime, card_suggestions_max: int = CARD_SUGGESTIONS_MAX
) -> dict[str, Any]:
    """The AgentMessage as read (see module doc); raises InvalidArgument naming the bad field."""
    message: dict[str, Any] = _read(body, _AGENT_MESSAGE, ["agent_message"])
    size = len(json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode())
    _need(size <= MAX_MESSAGE_BYTES, f"agentMessage is {size} bytes; at most 250 KB are allowed")
    _need("contentMessage" in message, "contentMessage is required")
    content: dict[str, Any] = message["contentMessage"]
    _need(
        any(kind in content for kind in _CONTENT_KINDS),
        f"contentMessage needs one of {', '.join(_CONTENT_KINDS)}",
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
    event: dict[str, Any] = _read(body, _AGENT_EVENT, ["agent_event"])
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
            any(key in media for key in _MEDIA_SOURCES),
            f"{at}.media needs one of {', '.join(_MEDIA_SOURCES)}",
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
    found = [key for key in _ACTION_KINDS if key in body]
    _need(found, f"{where} needs one of {', '.join(_ACTION_KINDS)}")
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
