"""The AgentMessage and AgentEvent bodies as Google's proto-JSON reader takes them (reference/rbm.md
§1, §4), and the wire forms of the Timestamp and Duration they hold.

`read(body, AGENT_MESSAGE, ["agent_message"])` reads a body as RBM's front end does: unknown
names, wrong JSON types, bad enum values, two members of one `oneof` and strings over a field's
length limit are each refused with Google's own wording (`InvalidArgument`), `null` is read as
absent and `snake_case` names as their `lowerCamel` form. The specs below (`_Obj`, `_List`,
`_Enum`, `_Scalar`) are the schema of the two bodies, field by field.

Separate from `sandbox.rbm_validation`, which checks the rules of rbm.md §1.2-§1.6 on what this
module read: here is only what a generic proto-JSON reader would refuse, given the schema.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

DURATION = re.compile(r"(\d+)(\.\d{1,9})?s")
TIMESTAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", re.I)


class InvalidArgument(ValueError):
    """A request RBM refuses with `400 INVALID_ARGUMENT`; the message names the field."""


# --- The schema: field specs ------------------------------------------------------------------


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
ACTION_KINDS: tuple[str, ...] = ("dialAction", "viewLocationAction", "createCalendarEventAction")
ACTION_KINDS += ("openUrlAction", "shareLocationAction", "composeAction")
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
    {"action": ACTION_KINDS},
)
_SUGGESTION = _Obj({"reply": _REPLY, "action": _ACTION}, {"option": ("reply", "action")})
_CONTENT_INFO = _Obj({"fileUrl": URL, "thumbnailUrl": URL, "forceRefresh": BOOL})
_UPLOADED = _Obj({"fileName": STR, "thumbnailName": STR})
MEDIA_SOURCES = ("fileName", "uploadedRbmFile", "contentInfo")
_HEIGHT = _enum("Media.Height", "HEIGHT_UNSPECIFIED SHORT MEDIUM TALL")
_MEDIA = _Obj(
    {
        "height": _HEIGHT,
        "fileName": STR,
        "uploadedRbmFile": _UPLOADED,
        "contentInfo": _CONTENT_INFO,
    },
    {"content": MEDIA_SOURCES},
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
CONTENT_KINDS = ("text", "fileName", "uploadedRbmFile", "richCard", "contentInfo")
_CONTENT_MESSAGE = _Obj(
    {"text": _Scalar("string", 3072), "fileName": STR, "uploadedRbmFile": _UPLOADED}
    | {"richCard": _RICH_CARD, "contentInfo": _CONTENT_INFO, "suggestions": _List(_SUGGESTION)},
    {"content": CONTENT_KINDS},
)
_TRAFFIC = _enum(
    "MessageTrafficType",
    "MESSAGE_TRAFFIC_TYPE_UNSPECIFIED AUTHENTICATION TRANSACTION PROMOTION SERVICEREQUEST"
    " ACKNOWLEDGEMENT",
)
_CLASSIFICATION = _Obj({"classificationType": STR, "segmentCount": NUM})
AGENT_MESSAGE = _Obj(
    {"contentMessage": _CONTENT_MESSAGE, "messageTrafficType": _TRAFFIC}
    | {"ttl": DURATION_SPEC, "expireTime": TIMESTAMP_SPEC}
    # Output only: accepted and ignored, as Google does.
    | {"name": STR, "sendTime": TIMESTAMP_SPEC, "carrier": STR, "totalPayloadSizeBytes": STR}
    | {"richMessageClassification": _CLASSIFICATION},
    {"expiration": ("expireTime", "ttl")},
)
_EVENT_TYPE = _enum("AgentEvent.EventType", "TYPE_UNSPECIFIED IS_TYPING READ")
AGENT_EVENT = _Obj(
    {"eventType": _EVENT_TYPE, "messageId": STR, "name": STR, "sendTime": TIMESTAMP_SPEC}
)


# --- The reader --------------------------------------------------------------------------------


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


def read(value: Any, spec: Any, path: list[str]) -> Any:
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
            out[name] = read(item, spec.fields[name], [*path, name])
        return out
    if isinstance(spec, _List):
        if not isinstance(value, list):
            raise _bad_value(path, "TYPE_MESSAGE", value)
        return [read(item, spec.item, [*path, f"[{i}]"]) for i, item in enumerate(value)]
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


# --- Timestamp and Duration --------------------------------------------------------------------


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
