"""The smsmode REST v1 client: send one SMS (reference/sms.md §1.3), also from a 09 number.

Only the current API generation is spoken (`https://rest.smsmode.com/sms/v1/...`, header
`X-Api-Key`, sms.md §1.1); the legacy HTTP 1.6 API is not mixed in. One method, one HTTP call;
retries and fallback belong to `fallback/`.

Unlike RBM, smsmode has no idempotency key: `refClient` is echoed in callbacks but a duplicate
is sent twice (sms.md §1.3, §1.8). A `Transient` raised on a timeout therefore does not prove
that nothing was sent; only a connection refused before the request was written does.

Time2Chat (sms.md §1.7): smsmode's T2C API is not public [?]. The working assumption is an SMS
channel whose `from` is the bot's 09 number in international digits (`3393...`): see
`t2c_sender`.

What leaves this module (exception messages, `body`, logs) never holds the API key or a full
phone number.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import aiohttp
from yarl import URL

from agents.errors import Invalid, Permanent, ProviderError, RateLimited, Transient
from agents.rbm import parse_retry_after, scrub, transport_error
from messaging.clock import Clock, SystemClock
from messaging.phone import InvalidPhoneError, Phone

DEFAULT_BASE_URL = "https://rest.smsmode.com"
DEFAULT_TIMEOUT = timedelta(seconds=10)
ERROR_BODY_LIMIT = 500
"""Characters of smsmode's error body kept in `ProviderError.body` for logs."""

RecipientFormat = Literal["digits", "e164"]
"""How `recipient.to` is written: `33612345678` ("digits") or `+33612345678` ("e164").

smsmode accepts both per integrators; digits without `+` is the safest reading and the
default, but the accepted formats are not documented (sms.md §1.3 [?], §5)."""

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SmsAccepted:
    """smsmode took the SMS (HTTP 201) and answered with its message resource (sms.md §1.3)."""

    message_id: str
    """smsmode's `messageId` (a UUID), the key of later delivery reports."""
    encoding: str | None
    """`GSM7` or `UNICODE`, as smsmode chose it (sms.md §2)."""
    part_count: int | None
    """`messagePartCount`: the parts billed (sms.md §2)."""
    price: Decimal | None
    """`price.amount` (a string or a number in the wild, sms.md §1.3)."""
    currency: str | None = None
    """`price.currency`, e.g. `EUR`."""


def t2c_sender(number_e164: str) -> str:
    """The `from` of a Time2Chat bot: its 09 number in international digits (`339...`).

    sms.md §1.7 working assumption [?]. Raises ValueError for a number that is not a French
    09 number.
    """
    try:
        phone = Phone(number_e164)
    except InvalidPhoneError as error:
        raise ValueError(str(error)) from None
    if not phone.e164.startswith("+339"):
        raise ValueError(f"{phone.masked} is not a French 09 number (Time2Chat)")
    return phone.e164[1:]


def recipient_number(phone: Phone, number_format: RecipientFormat = "digits") -> str:
    """`recipient.to` for `phone` in the chosen format (sms.md §1.3)."""
    return phone.e164 if number_format == "e164" else phone.e164[1:]


class SmsmodeClient:
    """Sends SMS through one smsmode API key (hence one channel, sms.md §1.2).

    The `aiohttp.ClientSession` is the caller's, shared by every request, and so is closing it.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: timedelta = DEFAULT_TIMEOUT,
        recipient_format: RecipientFormat = "digits",
        clock: Clock | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("the smsmode API key must not be empty")
        self._session = session
        self._api_key = api_key
        self._url = URL(base_url).joinpath("sms", "v1", "messages")
        self._timeout = aiohttp.ClientTimeout(total=timeout.total_seconds())
        self._recipient_format: RecipientFormat = recipient_format
        self._clock: Clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"SmsmodeClient({str(self._url)!r}, api_key=<hidden>)"

    async def send_sms(
        self,
        to: str | Phone,
        text: str,
        *,
        sender: str | None,
        ref_client: str,
        status_url: str | None,
        mo_url: str | None,
    ) -> SmsAccepted:
        """`POST /sms/v1/messages` (sms.md §1.3); 201 gives the accepted message.

        `sender` is the `from` (a SenderID, or `t2c_sender(...)` for Time2Chat); None leaves
        the channel's default. `status_url` and `mo_url` override the channel's callback URLs
        for this message (sms.md §1.4). smsmode picks the encoding itself (sms.md §2).
        """
        if not text:
            raise ValueError("an SMS needs a text")
        phone = _phone(to)
        body: dict[str, Any] = {
            "recipient": {"to": recipient_number(phone, self._recipient_format)},
            "body": {"text": text},
        }
        # Absent, not null, when unset: `from` absent means the channel's default sender
        # (sms.md §1.3), and smsmode's handling of explicit nulls is not documented.
        optional = {
            "from": sender,
            "refClient": ref_client,
            "callbackUrlStatus": status_url,
            "callbackUrlMo": mo_url,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        what = f"smsmode send to {phone.masked}"
        try:
            async with self._session.post(
                self._url,
                data=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
                headers={
                    "X-Api-Key": self._api_key,
                    "Content-Type": "application/json",
                    # Required in practice: Symfony's bridge treats its absence as a bug (§1.3).
                    "Accept": "application/json",
                },
                timeout=self._timeout,
                allow_redirects=False,  # a redirect means a wrong base URL; never replay a POST
            ) as response:
                status = response.status
                raw = await response.read()
                retry_after = response.headers.get("Retry-After")
        except (TimeoutError, aiohttp.ClientError) as error:
            raise transport_error(error, what, phone, (self._api_key,)) from None
        _log.debug("%s: HTTP %d", what, status)
        if 200 <= status < 300:
            return _accepted(raw, what, status)
        raise self._error(status, raw, retry_after, what, phone)

    def _error(
        self, status: int, raw: bytes, retry_after: str | None, what: str, phone: Phone
    ) -> ProviderError:
        secrets = (self._api_key,)
        body = scrub(raw.decode("utf-8", "replace"), phone, secrets, limit=ERROR_BODY_LIMIT)
        summary = scrub(smsmode_error_summary(raw), phone, secrets, limit=200)
        message = f"{what}: HTTP {status}" + (f" {summary}" if summary else "")
        if status in (401, 403):
            # Unknown key, or a key of another channel type (403 "Channel type mismatch", §1.2).
            return Permanent(message, status=status, body=body)
        if status == 429:
            delay = parse_retry_after(retry_after, self._clock.now())
            return RateLimited(message, status=status, body=body, retry_after=delay)
        if status in (400, 422):
            return Invalid(message, status=status, body=body)
        if status >= 500:
            return Transient(message, status=status, body=body)
        return Permanent(message, status=status, body=body)


def smsmode_error_summary(raw: bytes) -> str:
    """`title: message (detail) [errorCode]` from smsmode's error JSON (sms.md §1.3 [3P])."""
    error = _json_object(raw)
    parts = [str(error[key]) for key in ("title", "message") if error.get(key)]
    summary = ": ".join(parts)
    if error.get("detail"):
        summary += f" ({error['detail']})"
    if error.get("errorCode") is not None:
        summary += f" [errorCode {error['errorCode']}]"
    return summary.strip()


def _accepted(raw: bytes, what: str, status: int) -> SmsAccepted:
    resource = _json_object(raw)
    message_id = resource.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        # The SMS is probably on its way but cannot be tracked. Permanent, not Transient: a
        # retry would send it a second time (no idempotency, sms.md §1.8).
        raise Permanent(f"{what}: HTTP {status} without a messageId", status=status)
    body = resource.get("body")
    body = body if isinstance(body, dict) else {}
    encoding = body.get("encoding")
    parts = body.get("messagePartCount")
    price = resource.get("price")
    price = price if isinstance(price, dict) else {}
    currency = price.get("currency")
    return SmsAccepted(
        message_id=message_id,
        encoding=encoding if isinstance(encoding, str) else None,
        part_count=parts if isinstance(parts, int) and not isinstance(parts, bool) else None,
        price=_amount(price.get("amount")),
        currency=currency if isinstance(currency, str) else None,
    )


def _amount(value: object) -> Decimal | None:
    # A string in smsmode's SMS type, a number in its RCS examples (sms.md §1.3): read both,
    # a float through its shortest repr so that 0.045 stays 0.045 and not 0.04499999...
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _phone(raw: str | Phone) -> Phone:
    if isinstance(raw, Phone):
        return raw
    try:
        return Phone(raw)
    except InvalidPhoneError:
        raise Invalid("smsmode send: the recipient is not a valid phone number") from None
