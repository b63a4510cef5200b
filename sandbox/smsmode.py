"""An offline smsmode: `POST /sms/v1/messages` of REST v1, its callbacks, and fault knobs.

It speaks smsmode's wire format (reference/sms.md §1.3, §1.4, §1.7, §1.8): API keys per
channel, the message resource, delivery reports and replies (MO) POSTed to the callback URLs
with smsmode's retries (`sandbox.smsmode_callbacks`). SMS reach the phones of the
`PhoneBook`, RCS-capable or not; what a person types on an SMS phone comes back as an MO.
This module is the emulator itself: the API, delivery to the phones, replies and the control
API. Requests are checked by `sandbox.smsmode_validation`, resources are written by
`sandbox.smsmode_resources`, jobs run on `sandbox.smsmode_scheduler`, and the knobs are
`sandbox.smsmode_faults`.

Where smsmode's behaviour is not documented (**[?]**), the emulator chooses:

- a field the request schema does not know is refused (400 `UNKNOWN_FIELD`), so that a typo
  such as `callbackUrlStatuts` fails here instead of silently losing reports;
  `unknown_fields="ignore"` accepts and logs it, as a lenient JSON binder would;
- `recipient.to`: digits with an optional `+` (`+33612345678`, `33612345678`, `0611223344`,
  national numbers read as French), a valid number; echoed as `33612345678`;
- `from`: a SenderID of 1 to 11 ASCII letters and digits, not digits only, or the channel's
  shortcode (`default_from`) or one of its Time2Chat numbers in international digits;
- `body.stop: true` appends `stop_mention` on a new line; the resource describes the text as
  sent (`length` in septets or UTF-16 units), at most `max_parts` parts, priced per part;
- `sentDate`: ISO-8601, read in `WIRE_TIMEZONE` without offset; a past one sends now;
- an unreachable phone's SMS is retried every `unreachable_retry` and ends UNDELIVERED
  (detail null) with its `validity`; an opted-out phone's ends UNDELIVERABLE, BLACKLISTED.

A person can answer a shortcode or a 09 number only (not a SenderID): the reply goes to the
sender of the last SMS the phone got, or to `action["to"]`, and is POSTed to that SMS's
`callbackUrlMo`, else to its channel's `default_callback_url_mo`; a first word STOP opts out.
"""

from __future__ import annotations

import asyncio
import functools
import http
import json
import logging
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import timedelta
from decimal import Decimal
from typing import Any, Final, Literal

from aiohttp import web

from messaging.clock import Clock, SystemClock
from messaging.phone import Phone
from sandbox.phonebook import PhoneBook, SimulatedPhone
from sandbox.smsmode_callbacks import RETRY_DELAYS, CallbackSender
from sandbox.smsmode_faults import SmsmodeFaults
from sandbox.smsmode_resources import SentSms, SmsmodeChannel, digits, lookup, mo_resource
from sandbox.smsmode_scheduler import Scheduler
from sandbox.smsmode_validation import ApiError, read_number, read_request

__all__ = ["CONTROL_PREFIX", "SmsmodeChannel", "SmsmodeEmulator", "SmsmodeFaults"]

log = logging.getLogger(__name__)

CONTROL_PREFIX: Final = "/sandbox/smsmode"
_FAULT_CODES: Final = {429: "RATE_LIMITED", 500: "INTERNAL_ERROR", 503: "SERVICE_UNAVAILABLE"}


class SmsmodeEmulator:
    """smsmode's SMS API over the phones of `phonebook` (see the module's docstring).

    With `background`, the app runs deliveries and callbacks when they are due; either way
    `drain()` runs whatever is pending at once (moving a `FakeClock` along), for tests.
    """

    def __init__(
        self,
        phonebook: PhoneBook,
        channels: Iterable[SmsmodeChannel],
        *,
        faults: SmsmodeFaults | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        background: bool = True,
        retry_delays: Sequence[timedelta] = RETRY_DELAYS,
        callback_timeout: timedelta = timedelta(seconds=10),
        validity: timedelta = timedelta(hours=24),
        unreachable_retry: timedelta = timedelta(minutes=10),
        price_per_part: Decimal = Decimal("0.0450"),
        max_parts: int = 10,
        stop_mention: str = "STOP 36034",
        unknown_fields: Literal["reject", "ignore"] = "reject",
    ) -> None:
        self.phonebook = phonebook
        self.channels = tuple(channels)
        self.faults = faults or SmsmodeFaults()
        self.rng = rng or random.Random()
        self.scheduler = Scheduler(clock or SystemClock())
        self.callbacks = CallbackSender(
            self.scheduler, retry_delays=retry_delays, timeout=callback_timeout
        )
        self.background = background
        self.validity, self.unreachable_retry = validity, unreachable_retry
        self.price_per_part, self.max_parts = price_per_part, max_parts
        self.stop_mention, self.unknown_fields = stop_mention, unknown_fields
        self.messages: dict[str, SentSms] = {}
        self.replies: list[dict[str, Any]] = []
        """Every MO resource, whether it had somewhere to go or not."""
        self.opted_out: set[str] = set()
        """Phones (E.164) that answered STOP: their SMS end UNDELIVERABLE, BLACKLISTED."""
        self._keys = {key: channel for channel in self.channels for key in channel.api_keys}
        self._threads: dict[str, dict[str, SentSms]] = {}
        """Per phone, the last SMS delivered from each sender, the most recent last."""
        self.hung = 0
        """Requests left hanging by the `hang_rate` fault, until `release_hung()`."""
        self._release = asyncio.Event()
        phonebook.on_action("sms", self._on_reply)

    @property
    def clock(self) -> Clock:
        return self.scheduler.clock

    def app(self) -> web.Application:
        app = web.Application()
        self.add_routes(app)
        return app

    def add_routes(self, app: web.Application) -> None:
        """Mount the API and the control API on `app`, and tie the emulator to its life.

        Control API, JSON under `/sandbox/smsmode`: `GET|PATCH /faults`, `GET /state`
        (messages, replies, callback attempts, opt-outs), `POST /drain` (runs what is pending).
        """
        router = app.router
        router.add_post("/sms/v1/messages", self._send)
        router.add_get(CONTROL_PREFIX + "/faults", self._get_faults)
        router.add_patch(CONTROL_PREFIX + "/faults", self._patch_faults)
        router.add_get(CONTROL_PREFIX + "/state", self._get_state)
        router.add_post(CONTROL_PREFIX + "/drain", self._drain)
        app.on_startup.append(self._startup)
        app.on_shutdown.append(self._shutdown)
        app.on_cleanup.append(self._cleanup)

    async def drain(self, within: timedelta | None = None) -> int:
        """Run the pending deliveries and callbacks (those due within `within`, or all)."""
        return await self.scheduler.drain(within)

    def release_hung(self) -> None:
        """Answer every hung request (504)."""
        self._release.set()
        self._release = asyncio.Event()

    async def close(self) -> None:
        self.release_hung()
        await self.scheduler.stop()
        await self.callbacks.close()

    # The API.

    async def _send(self, request: web.Request) -> web.Response:
        try:
            channel = self._authenticate(request)
            fault = self.faults.draw(self.rng)
            if fault == "hang":
                self.hung += 1
                try:
                    await self._release.wait()
                finally:
                    self.hung -= 1
                raise ApiError(504, "TIMEOUT", "No answer in time")
            if fault is not None:
                raise ApiError(fault, _FAULT_CODES[fault], http.HTTPStatus(fault).phrase)
            if request.content_type != "application/json":
                raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be JSON")
            try:
                payload = json.loads(await request.read())
            except ValueError:  # JSONDecodeError and UnicodeDecodeError
                raise ApiError(400, "MALFORMED_JSON", "The body is not valid JSON") from None
            message = self._accept(payload, channel, str(request.url.origin()))
        except ApiError as error:
            return error.response()
        return web.json_response(message.resource(), status=201)

    def _authenticate(self, request: web.Request) -> SmsmodeChannel:
        channel = self._keys.get(request.headers.get("X-Api-Key", ""))
        if channel is None:
            raise ApiError(401, "UNAUTHORIZED", "Missing or unknown X-Api-Key")
        if channel.type != "SMS":
            raise ApiError(403, "CHANNEL_TYPE_MISMATCH", "Channel type mismatch")
        return channel

    def _accept(self, payload: Any, channel: SmsmodeChannel, origin: str) -> SentSms:
        """Take the SMS `payload` asks for, if valid: priced, and due at its `sentDate` (or
        now) plus the latency."""
        request = read_request(
            payload,
            channel,
            unknown_fields=self.unknown_fields,
            stop_mention=self.stop_mention,
            max_parts=self.max_parts,
        )
        now = self.clock.now()
        sent = max(request.sent_date or now, now)
        message_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        price = (self.price_per_part * request.segments.count).quantize(Decimal("0.0001"))
        status = "SCHEDULED" if sent > now else "ENROUTE"
        href = f"{origin}/sms/v1/messages/{message_id}"
        head = (message_id, channel, request.to, request.sender, request.text, request.stop)
        tail = (request.callback_url_status, request.callback_url_mo, now, sent, href, str(price))
        message = SentSms(*head, request.segments, request.ref_client, *tail, status)
        self.messages[message_id] = message
        self.scheduler.at(sent + self.faults.latency, functools.partial(self._deliver, message))
        return message

    # What happens next.

    async def _deliver(self, message: SentSms) -> None:
        number, now = message.to.e164, self.clock.now()
        if number in self.opted_out and message.channel.flow == "MARKETING":
            # The platform's STOP list stops marketing; transactional messages (the opt-out
            # confirmation R26 asks for, an appointment) still go (sms.md §3.2).
            self._report(message, "UNDELIVERABLE", "BLACKLISTED")
        elif self.phonebook.get(number) is None:
            self._report(message, "UNDELIVERABLE", "INVALID_PHONE_NUMBER")
        elif number in self.faults.unreachable:
            expiry = message.sent_date + self.validity
            if now >= expiry:
                self._report(message, "UNDELIVERED")
            else:
                retry = min(now + self.unreachable_retry, expiry)
                self.scheduler.at(retry, functools.partial(self._deliver, message))
        else:
            encoding = message.segments.encoding.smsmode
            sms = {"text": message.text, "segments": message.segments.count}
            self.phonebook.deliver(
                number, "sms", sms | {"encoding": encoding, "from": message.sender}
            )
            threads = self._threads.setdefault(number, {})
            threads.pop(message.sender, None)
            threads[message.sender] = message
            self._report(message, "DELIVERED")

    def _report(self, message: SentSms, value: str, detail: str | None = None) -> None:
        delivered = value == "DELIVERED"
        message.status, message.detail = value, detail
        message.delivery_date = self.clock.now() if delivered else None
        if delivered or value == "UNDELIVERED":
            message.lookup = lookup(message.to.e164)
        url = message.callback_url_status or message.channel.default_callback_url_status
        if url is None:
            return
        if self._chance(self.faults.drop_dlr_rate):
            log.info("smsmode emulator: the report of %s is dropped (fault)", message.id)
            return
        duplicate = self._chance(self.faults.duplicate_callback_rate)
        self.callbacks.send("status", url, message.resource(), duplicate=duplicate)

    async def _on_reply(self, phone: SimulatedPhone, action: dict[str, Any]) -> None:
        """A person typed on an SMS phone: the MO (sms.md §1.4, §1.8 item 4)."""
        text, to = action.get("text"), action.get("to")
        threads = self._threads.get(phone.number, {})
        if not isinstance(text, str) or not text:
            log.info("smsmode emulator: an SMS phone sends text only")
            return
        if isinstance(to, str):
            sender = _sender_key(to)
            origin = threads.get(sender)
        elif threads:
            sender, origin = next(reversed(threads.items()))
        else:
            log.info("smsmode emulator: %s answers no SMS", Phone(phone.number).masked)
            return
        channel = origin.channel if origin else self._channel_of(sender)
        if channel is None or not sender.isdigit():
            log.info("smsmode emulator: nobody receives replies sent to %r", sender)
            return
        stop = _is_stop(text)
        if stop:
            self.opted_out.add(phone.number)
        message_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        at, number = self.clock.now(), Phone(phone.number)
        mo = mo_resource(message_id, channel, number, sender, text, stop=stop, at=at, origin=origin)
        self.replies.append(mo)
        url = (origin.callback_url_mo if origin else None) or channel.default_callback_url_mo
        if url is not None:
            duplicate = self._chance(self.faults.duplicate_callback_rate)
            self.callbacks.send("mo", url, mo, delay=self.faults.latency, duplicate=duplicate)

    def _channel_of(self, sender: str) -> SmsmodeChannel | None:
        return next((c for c in self.channels if c.type == "SMS" and sender in c.senders), None)

    def _chance(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    # The control API and the app's life.

    async def _get_faults(self, _: web.Request) -> web.Response:
        return web.json_response(self.faults.model_dump(mode="json"))

    async def _patch_faults(self, request: web.Request) -> web.Response:
        try:
            patch = await request.json()
            if not isinstance(patch, dict):
                raise ValueError("the body must be a JSON object")
            self.faults = SmsmodeFaults.model_validate(self.faults.model_dump() | patch)
        except ValueError as error:  # JSONDecodeError and ValidationError are ValueErrors
            return web.json_response({"error": str(error)}, status=400)
        return await self._get_faults(request)

    async def _get_state(self, _: web.Request) -> web.Response:
        messages = [message.resource() for message in self.messages.values()]
        callbacks = [
            asdict(attempt) | {"at": attempt.at.isoformat()} for attempt in self.callbacks.attempts
        ]
        state = {"messages": messages, "replies": self.replies, "callbacks": callbacks}
        return web.json_response(state | {"optedOut": sorted(self.opted_out)})

    async def _drain(self, _: web.Request) -> web.Response:
        return web.json_response({"ran": await self.drain()})

    async def _startup(self, _: web.Application) -> None:
        if self.background:
            self.scheduler.start()

    async def _shutdown(self, _: web.Application) -> None:
        self.release_hung()

    async def _cleanup(self, _: web.Application) -> None:
        await self.close()


def _sender_key(raw: str) -> str:
    """The sender a person answers (`to` of an action) as the emulator keys it: a shortcode or
    SenderID as is, a number in international digits."""
    try:
        return digits(read_number(raw.replace(" ", ""))) if len(raw) > 6 else raw
    except ApiError:
        return raw


def _is_stop(text: str) -> bool:
    """Whether the reply opts out: its first word is STOP, in any case (sms.md §1.4)."""
    words = text.strip().split(maxsplit=1)
    return bool(words) and words[0].rstrip(".!").casefold() == "stop"
