"""What smsmode sends back after it took an SMS: the message resource, delivery reports and
replies (MO), POSTed to the callback URLs with smsmode's retries, on a schedule tests drain;
and the fault knobs of the emulator (`SmsmodeFaults`).

smsmode POSTs the message resource as JSON to the message's `callbackUrlStatus` (reports) or
`callbackUrlMo` (replies), unsigned, and retries a non-2xx answer after about 30 s, 2 min,
10 min, 1 h, 5 h and 24 h (reference/sms.md §1.4, **[3P]**). The delays are taken here as the
waits between consecutive attempts: a callback is POSTed at most seven times (**[?]**).

Everything the emulator does later (a delivery after its latency, a report, a retry, the end
of a message's validity) is a job of the `Scheduler`, due at an instant of the injected
`Clock`. In the background the scheduler runs each job when it is due; `drain()` runs them at
once, in due order, moving a `FakeClock` to each job's instant, so that tests see the real
schedule without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
import uuid
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Literal

import aiohttp
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from messaging.clock import Clock, FakeClock
from messaging.encoding import SmsSegments
from messaging.phone import Phone

log = logging.getLogger(__name__)

RETRY_DELAYS: Final = tuple(
    timedelta(seconds=seconds) for seconds in (30, 120, 600, 3600, 5 * 3600, 24 * 3600)
)
"""smsmode's waits before retrying a callback answered with a non-2xx (sms.md §1.4)."""

WIRE_TIMEZONE: Final = UTC
"""The zone of smsmode's offset-less timestamps (`2025-03-04T10:00:00`), undocumented
(sms.md §1.3, **[?]**): times are written in it, and a `sentDate` without offset read in it."""

FAULT_STATUSES: Final = (429, 500, 503)
ChannelType = Literal["SMS", "WHATSAPP", "RCS"]
ChannelFlow = Literal["MARKETING", "TRANSACTIONAL", "OTP"]
CallbackKind = Literal["status", "mo"]
Job = Callable[[], Awaitable[None]]


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


def _rate(value: float) -> float:
    if not 0 <= value <= 1:
        raise ValueError("a rate is between 0 and 1")
    return value


Rate = Annotated[float, AfterValidator(_rate)]


class SmsmodeFaults(BaseModel):
    """Fault knobs, read at each request, delivery and callback: change them at any time."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid", ser_json_temporal="seconds")

    latency: Annotated[timedelta, Field(ge=timedelta(0))] = timedelta(0)
    """From acceptance (or `sentDate`) to delivery and report; from a reply to its MO."""
    error_rates: dict[int, Rate] = Field(default_factory=dict)
    """Share of authenticated requests answered 429, 500 or 503 instead of taken."""
    hang_rate: Rate = 0.0
    """Share of requests left unanswered until `release_hung()` or shutdown, then 504."""
    drop_dlr_rate: Rate = 0.0
    """Share of delivery reports never POSTed."""
    duplicate_callback_rate: Rate = 0.0
    """Share of callbacks (reports and MO) POSTed twice."""
    unreachable: frozenset[str] = frozenset()
    """Phones switched off (any form, kept E.164): their SMS wait, at most until validity."""

    @field_validator("error_rates")
    @classmethod
    def _known_statuses(cls, rates: dict[int, float]) -> dict[int, float]:
        if unknown := set(rates) - set(FAULT_STATUSES):
            raise ValueError(f"error rates apply to {FAULT_STATUSES}, not {sorted(unknown)}")
        if sum(rates.values()) > 1:
            raise ValueError("error rates add up to more than 1")
        return rates

    @field_validator("unreachable")
    @classmethod
    def _e164(cls, numbers: frozenset[str]) -> frozenset[str]:
        return frozenset(Phone(number).e164 for number in numbers)

    def draw(self, rng: random.Random) -> int | Literal["hang"] | None:
        """The fault a request meets: an HTTP status, a hang, or None (one draw of `rng`)."""
        if not self.error_rates and not self.hang_rate:
            return None
        roll, bound = rng.random(), 0.0
        for status in FAULT_STATUSES:
            bound += self.error_rates.get(status, 0.0)
            if roll < bound:
                return status
        return "hang" if roll < bound + self.hang_rate else None


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


class Scheduler:
    """Jobs due at instants of `clock`, run in the background or by `drain()`."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._queue: list[tuple[datetime, int, Job]] = []
        self._order = itertools.count()
        self._wake: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    def at(self, due: datetime, job: Job) -> None:
        heapq.heappush(self._queue, (due, next(self._order), job))
        if self._wake is not None:
            self._wake.set()

    def after(self, delay: timedelta, job: Job) -> None:
        self.at(self.clock.now() + delay, job)

    def start(self) -> None:
        """Run jobs when they are due, in the background, until `stop()`."""
        if self._runner is None:
            self._wake = asyncio.Event()
            self._runner = asyncio.create_task(self._run(self._wake))

    async def stop(self) -> None:
        """Stop the background runner and cancel the jobs it runs; queued jobs stay queued."""
        tasks = [task for task in (self._runner, *self._running) if task is not None]
        self._runner, self._wake = None, None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self, within: timedelta | None = None) -> int:
        """Run the jobs that are due, and those they schedule in turn, in due order, after the
        ones running in the background; returns how many it ran.

        With a `FakeClock`, every job due within `within` from now (every job when None) is
        due: the clock moves to each job's instant before the job runs. With another clock,
        only jobs already due run: nothing runs early.
        """
        fake = isinstance(self.clock, FakeClock)
        horizon = self.clock.now() + within if fake and within is not None else None
        ran = 0
        while True:
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)
                continue
            if not self._queue:
                return ran
            due = self._queue[0][0]
            if due > ((horizon or due) if fake else self.clock.now()):
                return ran
            job = heapq.heappop(self._queue)[2]
            if isinstance(self.clock, FakeClock) and due > self.clock.now():
                self.clock.set(due)
            await _run_job(job)
            ran += 1

    async def _run(self, wake: asyncio.Event) -> None:
        while True:
            wake.clear()
            wait = (self._queue[0][0] - self.clock.now()).total_seconds() if self._queue else None
            if wait is None or wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), wait)
                continue
            task = asyncio.create_task(_run_job(heapq.heappop(self._queue)[2]))
            self._running.add(task)
            task.add_done_callback(self._running.discard)


async def _run_job(job: Job) -> None:
    try:
        await job()
    except Exception:  # one failing job must not stop the others
        log.exception("smsmode emulator: a scheduled job failed")


@dataclass(frozen=True, slots=True)
class CallbackAttempt:
    """One POST of a callback, kept for tests and the control API."""

    kind: CallbackKind
    url: str
    message_id: str
    attempt: int
    """0 for the first POST, n for the n-th retry."""
    at: datetime
    status: int | None
    """The HTTP status answered; None when there was no answer (refused, timed out)."""
    error: str | None = None


class CallbackSender:
    """POSTs callbacks as smsmode does: JSON, unsigned, retried on anything but a 2xx."""

    def __init__(
        self,
        scheduler: Scheduler,
        *,
        retry_delays: Sequence[timedelta] = RETRY_DELAYS,
        timeout: timedelta = timedelta(seconds=10),
    ) -> None:
        self.scheduler = scheduler
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout
        self.attempts: list[CallbackAttempt] = []
        self._session: aiohttp.ClientSession | None = None

    def send(
        self,
        kind: CallbackKind,
        url: str,
        payload: dict[str, Any],
        *,
        delay: timedelta = timedelta(0),
        duplicate: bool = False,
    ) -> None:
        """POST `payload` to `url` after `delay`; with `duplicate`, once more after it went
        through (the copy has its own retries)."""
        self._schedule(kind, url, payload, 0, duplicate, delay)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _schedule(
        self,
        kind: CallbackKind,
        url: str,
        payload: dict[str, Any],
        attempt: int,
        duplicate: bool,
        delay: timedelta,
    ) -> None:
        async def post() -> None:
            status, error = await self._post(url, payload)
            message_id = str(payload.get("messageId"))
            at = self.scheduler.clock.now()
            self.attempts.append(CallbackAttempt(kind, url, message_id, attempt, at, status, error))
            if status is not None and 200 <= status < 300:
                if duplicate:
                    self._schedule(kind, url, payload, 0, False, timedelta(0))
            elif attempt < len(self.retry_delays):
                retry = self.retry_delays[attempt]
                self._schedule(kind, url, payload, attempt + 1, duplicate, retry)
            else:
                log.warning("smsmode emulator: %s callback of %s abandoned", kind, message_id)

        self.scheduler.after(delay, post)

    async def _post(self, url: str, payload: dict[str, Any]) -> tuple[int | None, str | None]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        timeout = aiohttp.ClientTimeout(total=self.timeout.total_seconds())
        try:
            post = self._session.post(url, json=payload, timeout=timeout, allow_redirects=False)
            async with post as response:  # a redirect is a non-2xx answer, not followed
                await response.read()
                return response.status, None
        except (aiohttp.ClientError, TimeoutError) as error:
            return None, f"{type(error).__name__}: {error}"
