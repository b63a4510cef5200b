"""What smsmode's `POST /sms/v1/messages` accepts (reference/sms.md §1.3), and how it refuses.

`read_request` checks a request body field by field and answers the first fault as an
`ApiError`, whose `response()` is smsmode's error body; what passes is an `SmsRequest`, the SMS
as it will be sent. The emulator's own refusals (authentication, faults, media type, JSON) are
`ApiError`s too. Separate from the emulator because none of this depends on its state: only on
the request, the channel its API key opened, and three settings.

Where smsmode's behaviour is not documented (**[?]**), see `sandbox.smsmode`: unknown fields,
the forms of `recipient.to` and `from`, `sentDate` without offset, `stop`, the part limit.
"""

from __future__ import annotations

import http
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from aiohttp import web
from yarl import URL

from messaging.encoding import SmsSegments, split
from messaging.phone import InvalidPhoneError, Phone
from sandbox.smsmode_resources import SmsmodeChannel, parse_wire_time

log = logging.getLogger(__name__)

REF_CLIENT_MAX: Final = 140

_SENDER_ID = re.compile(r"[A-Za-z0-9]{1,11}")
_NUMBER = re.compile(r"\+?[0-9]+")
_FIELDS: Final = {
    "": frozenset(
        {"recipient", "body", "from", "sentDate", "refClient", "callbackUrlStatus", "callbackUrlMo"}
    ),
    "recipient.": frozenset({"to"}),
    "body.": frozenset({"text", "stop"}),
}


class ApiError(Exception):
    """A refusal, answered with smsmode's error body (sms.md §1.3, a [3P] shape). No
    `errorCode` catalogue was found ([?]): ours are `MISSING_FIELD`, `INVALID_FIELD`,
    `UNKNOWN_FIELD`, `MALFORMED_JSON`, `UNSUPPORTED_MEDIA_TYPE`, `UNAUTHORIZED`,
    `CHANNEL_TYPE_MISMATCH`, `RATE_LIMITED`, `INTERNAL_ERROR`, `SERVICE_UNAVAILABLE`,
    `TIMEOUT`."""

    def __init__(self, status: int, code: str, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail

    def response(self) -> web.Response:
        title = http.HTTPStatus(self.status).phrase
        body = {"title": title, "message": self.message, "detail": self.detail}
        return web.json_response(body | {"errorCode": self.code}, status=self.status)


def _invalid(path: str, problem: str, code: str = "INVALID_FIELD") -> ApiError:
    return ApiError(400, code, f"{path} {problem}", path)


@dataclass(frozen=True, slots=True)
class SmsRequest:
    """The SMS a valid request asks for, its text as sent (with the STOP mention if asked)."""

    to: Phone
    text: str
    stop: bool
    segments: SmsSegments
    sender: str
    sent_date: datetime | None
    ref_client: str | None
    callback_url_status: str | None
    callback_url_mo: str | None


def read_request(
    payload: Any,
    channel: SmsmodeChannel,
    *,
    unknown_fields: Literal["reject", "ignore"],
    stop_mention: str,
    max_parts: int,
) -> SmsRequest:
    """The SMS `payload` asks for, checked field by field (the first fault is answered)."""
    root = _object(payload, "request")
    recipient = _object(root.get("recipient"), "recipient")
    body = _object(root.get("body"), "body")
    for prefix, fields in (("", root), ("recipient.", recipient), ("body.", body)):
        for name in sorted(fields.keys() - _FIELDS[prefix]):
            if unknown_fields == "reject":
                raise _invalid(prefix + name, "is not a known field", "UNKNOWN_FIELD")
            log.warning("smsmode emulator: unknown field %s ignored", prefix + name)
    to = read_number(_string(recipient, "to", "recipient.", required=True) or "")
    text = _string(body, "text", "body.", required=True) or ""
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, bool):
        raise _invalid("body.stop", "must be a boolean")
    sender = _sender(_string(root, "from"), channel)
    sent_date = _date_time(_string(root, "sentDate"))
    ref_client = _string(root, "refClient")
    if ref_client is not None and len(ref_client) > REF_CLIENT_MAX:
        raise _invalid("refClient", f"is longer than {REF_CLIENT_MAX} characters")
    status_url = _url(root, "callbackUrlStatus")
    mo_url = _url(root, "callbackUrlMo")
    if stop:
        text = f"{text}\n{stop_mention}"
    segments = split(text)
    if segments.count > max_parts:
        raise _invalid("body.text", f"takes {segments.count} parts, over {max_parts}")
    head = (to, text, bool(stop), segments, sender, sent_date, ref_client)
    return SmsRequest(*head, status_url, mo_url)


def _object(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        raise _invalid(path, "is required", "MISSING_FIELD")
    if not isinstance(value, dict):
        raise _invalid(path, "must be a JSON object")
    return value


def _string(
    fields: dict[str, Any], name: str, prefix: str = "", *, required: bool = False
) -> str | None:
    """A string field; null is absent, and a required one may be neither absent nor empty."""
    value = fields.get(name)
    if value is not None and not isinstance(value, str):
        raise _invalid(prefix + name, "must be a string")
    if required and not value:
        raise _invalid(prefix + name, "is required", "MISSING_FIELD")
    return value


def read_number(raw: str) -> Phone:
    """`+33612345678`, `33612345678` or `0611223344`, a valid number."""
    try:
        if not _NUMBER.fullmatch(raw):
            raise InvalidPhoneError(raw)
        return Phone(raw if raw.startswith(("+", "0")) else "+" + raw)
    except InvalidPhoneError:
        raise _invalid("recipient.to", "is not a valid phone number") from None


def _sender(raw: str | None, channel: SmsmodeChannel) -> str:
    if raw is None:
        return channel.default_from
    if raw in channel.senders or (_SENDER_ID.fullmatch(raw) and not raw.isdigit()):
        return raw
    raise _invalid(
        "from",
        "must be a SenderID of 1 to 11 letters and digits (not digits only), or the "
        "channel's shortcode or Time2Chat number in international digits",
    )


def _date_time(raw: str | None) -> datetime | None:
    try:
        return None if raw is None else parse_wire_time(raw)
    except ValueError:
        raise _invalid("sentDate", "must be an ISO-8601 date-time") from None


def _url(fields: dict[str, Any], name: str) -> str | None:
    raw = _string(fields, name)
    if raw is None:
        return None
    try:
        url = URL(raw)
    except ValueError:
        url = URL()
    if url.scheme not in ("http", "https") or not url.host:
        raise _invalid(name, "must be an absolute http(s) URL")
    return raw
