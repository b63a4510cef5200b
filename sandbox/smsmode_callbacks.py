"""smsmode's callbacks: delivery reports and replies (MO) POSTed to the callback URLs with
smsmode's retries, on the emulator's `Scheduler`.

smsmode POSTs the message resource as JSON to the message's `callbackUrlStatus` (reports) or
`callbackUrlMo` (replies), unsigned, and retries a non-2xx answer after about 30 s, 2 min,
10 min, 1 h, 5 h and 24 h (reference/sms.md §1.4, **[3P]**). The delays are taken here as the
waits between consecutive attempts: a callback is POSTed at most seven times (**[?]**).

The wire format lives in `sandbox.smsmode_resources`, the fault knobs in `sandbox.smsmode_faults`
and the schedule in `sandbox.smsmode_scheduler`; the names they held here before are still
importable from this module.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import aiohttp

from sandbox.smsmode_faults import SmsmodeFaults
from sandbox.smsmode_resources import (
    WIRE_TIMEZONE,
    SentSms,
    SmsmodeChannel,
    digits,
    lookup,
    mo_resource,
    parse_wire_time,
    wire_time,
)
from sandbox.smsmode_scheduler import Scheduler

__all__ = [
    "RETRY_DELAYS",
    "WIRE_TIMEZONE",
    "CallbackAttempt",
    "CallbackKind",
    "CallbackSender",
    "Scheduler",
    "SentSms",
    "SmsmodeChannel",
    "SmsmodeFaults",
    "digits",
    "lookup",
    "mo_resource",
    "parse_wire_time",
    "wire_time",
]

log = logging.getLogger(__name__)

RETRY_DELAYS: Final = tuple(
    timedelta(seconds=seconds) for seconds in (30, 120, 600, 3600, 5 * 3600, 24 * 3600)
)
"""smsmode's waits before retrying a callback answered with a non-2xx (sms.md §1.4)."""

CallbackKind = Literal["status", "mo"]


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
