"""The Google RBM messaging API client: send, revoke, capabilities, agent events.

Wire formats are those of reference/rbm.md: hosts, auth and ids §0, sending §1, revoking §2,
capabilities §3.1, agent events §4, errors §6. The client is thin on purpose: it does one
HTTP call per method (plus one retry after a 401 with a fresh token) and turns every answer
into a value or an `agents.errors` type; retries, backoff and fallback belong to `fallback/`.

Idempotency comes from the ids the caller passes: a `messageId` or `eventId` the agent already
used is ignored by RBM (rbm.md §0), so a retried send with the same id (`agents.message_ids`)
is never delivered twice.

What leaves this module (exception messages, `body`, logs) never holds the bearer token or a
full phone number: phones are shown `Phone.masked`, and error bodies are scrubbed of both.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import aiohttp
from yarl import URL

from agents.errors import (
    Invalid,
    NotReachable,
    OutcomeUnknown,
    Permanent,
    ProviderError,
    RateLimited,
    Transient,
)
from agents.google_auth import TokenSource, redact
from messaging.clock import Clock, SystemClock
from messaging.phone import InvalidPhoneError, Phone
from messaging.renderers.rbm import agent_message_bytes

DEFAULT_BASE_URL = "https://europe-rcsbusinessmessaging.googleapis.com"
"""The European regional host (rbm.md §0); `us-` and `asia-` exist too, and the sandbox
overrides the whole URL. That the region must match the agent's is implied, not stated
(rbm.md §0 [?]), hence a parameter rather than a rule."""

DEFAULT_TIMEOUT = timedelta(seconds=10)
"""Total time for one HTTP exchange, connection included."""

AGENT_ID_SUFFIX = "@rbm.goog"
"""Inbound payloads may show agent ids with it; the API wants them without (rbm.md §0)."""

ERROR_BODY_LIMIT = 500
"""Characters of a provider's error body kept in `ProviderError.body` for logs."""

EventType = Literal["READ", "IS_TYPING"]
"""The agent events one can send (rbm.md §4)."""

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RbmAccepted:
    """RBM took the message (HTTP 200); delivery is reported later on the webhook (rbm.md §1)."""

    message_id: str
    send_time: datetime | None
    """When RBM accepted it (`sendTime`), if the answer said so in a readable form."""


def normalise_agent_id(agent_id: str) -> str:
    """The agent id as the API wants it: without `@rbm.goog` (rbm.md §0)."""
    bare = agent_id.strip().removesuffix(AGENT_ID_SUFFIX)
    if not bare:
        raise ValueError("an RBM agent id must not be empty")
    return bare


class RbmClient:
    """One RBM agent's calls to Google, over a shared `aiohttp.ClientSession`.

    The session is the caller's (one per process, never one per request: it holds the
    connection pool) and so is closing it.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        agent_id: str,
        tokens: TokenSource,
        base_url: str = DEFAULT_BASE_URL,
        timeout: timedelta = DEFAULT_TIMEOUT,
        clock: Clock | None = None,
    ) -> None:
        self._session = session
        self.agent_id = normalise_agent_id(agent_id)
        """The agent id without `@rbm.goog`, as sent in `agentId`."""
        self._tokens = tokens
        self._base = URL(base_url)
        self._timeout = aiohttp.ClientTimeout(total=timeout.total_seconds())
        self._clock: Clock = clock or SystemClock()

    async def send(
        self, phone: str | Phone, message: Mapping[str, Any], *, message_id: str
    ) -> RbmAccepted:
        """Sends one AgentMessage (as made by `messaging.renderers.rbm.render_rbm`, rbm.md §1).

        The body is posted as `agent_message_bytes(message)`, the compact UTF-8 form whose size
        the renderer checked. Reusing `message_id` makes a retry harmless (rbm.md §0).
        """
        _require("message_id", message_id)
        recipient = _phone(phone, "send")
        answer = await self._call(
            "POST",
            recipient,
            ("agentMessages",),
            {"messageId": message_id},
            agent_message_bytes(dict(message)),
            action="send",
        )
        return RbmAccepted(message_id, _timestamp(_json_object(answer.body).get("sendTime")))

    async def revoke(self, phone: str | Phone, message_id: str) -> bool:
        """Revokes an undelivered message (rbm.md §2).

        True: revoked, it will never be delivered (send the SMS). False: Google answered 404,
        it was already delivered. Older docs say revoke always answers 200, and a DELIVERED
        may still follow a True (rbm.md §2): the receipt is the authority.
        """
        _require("message_id", message_id)
        recipient = _phone(phone, "revoke")
        answer = await self._call(
            "DELETE",
            recipient,
            ("agentMessages", message_id),
            {},
            None,
            action="revoke",
            expect=(200, 404),
        )
        return answer.status == 200

    async def capabilities(self, phone: str | Phone, *, request_id: str) -> frozenset[str]:
        """The RBM features of the user's device (rbm.md §3.1), e.g. `RICHCARD_CAROUSEL`.

        Raises `NotReachable` on 404 or 403: no RCS, or the agent is not launched for this
        carrier or user (rbm.md §3.1, §6).
        """
        _require("request_id", request_id)
        recipient = _phone(phone, "capabilities")
        answer = await self._call(
            "GET",
            recipient,
            ("capabilities",),
            {"requestId": request_id},
            None,
            action="capabilities",
        )
        features = _json_object(answer.body).get("features", [])
        if not isinstance(features, list):
            raise Transient(
                f"RBM capabilities for {recipient.masked}: unreadable answer", status=200
            )
        return frozenset(feature for feature in features if isinstance(feature, str))

    async def send_event(
        self,
        phone: str | Phone,
        event_type: EventType,
        *,
        event_id: str,
        message_id: str | None = None,
    ) -> None:
        """Sends READ (for the user's message `message_id`) or IS_TYPING (rbm.md §4).

        `event_id` shares the id space of messages: derive it with `rbm_event_id`.
        """
        _require("event_id", event_id)
        if event_type == "READ" and not message_id:
            raise ValueError("a READ event needs the message_id of the user's message")
        if event_type == "IS_TYPING" and message_id is not None:
            raise ValueError("an IS_TYPING event carries no message_id (rbm.md §4)")
        recipient = _phone(phone, "event")
        event: dict[str, str] = {"eventType": event_type}
        if message_id is not None:
            event["messageId"] = message_id
        await self._call(
            "POST",
            recipient,
            ("agentEvents",),
            {"eventId": event_id},
            _compact_json(event),
            action=f"{event_type} event",
        )

    # --- One call ------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        phone: Phone,
        path: Sequence[str],
        query: Mapping[str, str],
        body: bytes | None,
        *,
        action: str,
        expect: Collection[int] = (200,),
    ) -> Answer:
        # agentId is required on every messaging call (rbm.md §0); the call's own id goes first,
        # as in Google's documentation.
        url = self._base.joinpath("v1", "phones", phone.e164, *path).with_query(
            {**query, "agentId": self.agent_id}
        )
        token = await self._tokens.token()
        answer = await self._exchange(method, url, body, token, phone, action)
        if answer.status == 401:
            # An expired or revoked token (Google-wide convention, rbm.md §6 [?]): one fresh
            # token and one more try; a second 401 is not going to pass by retrying.
            self._tokens.invalidate(token)
            token = await self._tokens.token()
            answer = await self._exchange(method, url, body, token, phone, action)
        if answer.status in expect:
            return answer
        raise self._error(answer, phone, action, token)

    async def _exchange(
        self, method: str, url: URL, body: bytes | None, token: str, phone: Phone, action: str
    ) -> Answer:
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,  # Google does not redirect; a redirect is a wrong base URL
            ) as response:
                raw = await response.read()
                answer = Answer(response.status, raw, response.headers)
        except (TimeoutError, aiohttp.ClientError) as error:
            raise transport_error(
                error, f"RBM {action} for {phone.masked}", phone, (token,)
            ) from None
        _log.debug("RBM %s for %s: HTTP %d", action, phone.masked, answer.status)
        return answer

    def _error(self, answer: Answer, phone: Phone, action: str, token: str) -> ProviderError:
        status = answer.status
        body = scrub(answer.text, phone, (token,), limit=ERROR_BODY_LIMIT)
        summary = scrub(google_error_summary(answer.body), phone, (token,), limit=200)
        message = f"RBM {action} for {phone.masked}: HTTP {status}" + (
            f" {summary}" if summary else ""
        )
        if status in (403, 404):
            # Both mean "not reachable by RBM": Google moved cases between them (rbm.md §6).
            return NotReachable(message, status=status, body=body)
        return google_error(answer, message, body, self._clock.now())


def google_error(answer: Answer, message: str, body: str, now: datetime) -> ProviderError:
    """The `agents.errors` type of a Google API refusal (rbm.md §6): 429 to wait for, 400 a
    request to fix, 5xx to retry, a second 401 or anything else for good."""
    status = answer.status
    if status == 429:
        delay = parse_retry_after(answer.headers.get("Retry-After"), now)
        return RateLimited(message, status=status, body=body, retry_after=delay)
    if status == 400:
        return Invalid(message, status=status, body=body)
    if status >= 500:
        return Transient(message, status=status, body=body)
    if status == 401:
        return Permanent(message + " (refused a fresh token too)", status=status, body=body)
    return Permanent(message, status=status, body=body)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    headers: Mapping[str, str]
    """aiohttp's case-insensitive headers."""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


# --- Helpers shared with agents/smsmode.py ---------------------------------------------------
# Provider-neutral HTTP plumbing; they would sit best in their own module (agents/http.py).


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A `Retry-After` header as a delay: delay-seconds or an HTTP date (RFC 9110 §10.2.3).

    None when absent or unreadable; a date in the past gives zero.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # "-0000" means UTC with no stated zone
    return max(when - now, timedelta(0))


def transport_error(
    error: BaseException, what: str, phone: Phone | None, secrets: Sequence[str]
) -> ProviderError:
    """The `agents.errors` type of an aiohttp failure with no HTTP answer.

    A connection that could not be made is `Transient` (nothing was sent); a timeout or a
    connection lost once the request may have been written is `OutcomeUnknown` (the provider
    may have taken it); a URL aiohttp cannot even use is a configuration mistake, `Permanent`.
    The caller raises it `from None`: aiohttp's errors may print the request URL, which holds
    the phone number.
    """
    detail = scrub(str(error), phone, secrets, limit=200)
    name = type(error).__name__
    described = f"{name}: {detail}" if detail else name
    if isinstance(error, TimeoutError):
        return OutcomeUnknown(f"{what}: no answer in time ({name})")
    if isinstance(error, aiohttp.InvalidURL):
        return Permanent(f"{what}: unusable URL ({name})")
    if isinstance(error, aiohttp.ClientConnectorError):
        return Transient(f"{what}: {described}")
    return OutcomeUnknown(f"{what}: {described}")


def scrub(text: str, phone: Phone | None, secrets: Sequence[str], *, limit: int) -> str:
    """`text` fit for logs: the phone masked in every written form, secrets removed, shortened."""
    if phone is not None:
        digits = phone.e164[1:]
        national = "".join(char for char in phone.national if char.isdigit())
        for form in (phone.e164, digits, national):
            if len(form) >= 6:  # a short form would mask unrelated digits
                text = text.replace(form, phone.masked)
    return redact(text, secrets, limit=limit)


def google_error_summary(body: bytes) -> str:
    """`STATUS: message` from Google's error body (rbm.md §6), or "" when it has another shape."""
    error = _json_object(body).get("error")
    if not isinstance(error, dict):
        return ""
    parts = [str(error[key]) for key in ("status", "message") if error.get(key)]
    return ": ".join(parts)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _compact_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _timestamp(value: object) -> datetime | None:
    # RFC 3339 with up to 9 fractional digits; Python 3.11 reads it, keeping microseconds.
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _phone(raw: str | Phone, action: str) -> Phone:
    if isinstance(raw, Phone):
        return raw
    try:
        return Phone(raw)
    except InvalidPhoneError:
        # Not the number itself in the message: it may be a real one, mistyped.
        raise Invalid(f"RBM {action}: the recipient is not a valid phone number") from None


def _require(name: str, value: str) -> None:
    if not value:
        raise ValueError(f"{name} must not be empty")
