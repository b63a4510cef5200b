"""Posting business events (store/business_events_records.py) to each bot's `webhook:` URL,
signed (bots/business_events.py), with retries until `give_up_after`.

Delivery is at least once: an event is claimed under a lease, posted, then settled; a process
that dies between the post and the settle leaves it to be posted again once the lease runs
out, so receivers drop a second copy by its `id` (docs/business-webhooks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import aiohttp

from bots.business_events import (
    EVENT_HEADER,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    body,
    retry_delay,
    sign,
)
from bots.http import USER_AGENT
from bots.webhook_settings import BusinessWebhookSettings
from messaging.clock import Clock
from store.base import Store
from store.business_events_records import BusinessEvent, EventKind, EventStatus

log = logging.getLogger(__name__)

POLL = timedelta(seconds=5)
"""How often the loop looks for due events when the last look found none."""
BATCH = 50
"""Events claimed at a time; they are posted concurrently."""
GONE = 410
"""The answer that means "stop sending this": the event fails at once."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A bot's webhook, its secret read from the environment."""

    settings: BusinessWebhookSettings
    secret: str

    @property
    def url(self) -> str:
        return str(self.settings.url)


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one post went: `status` is the HTTP status, or None when no answer came."""

    event_id: str
    status: int | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def endpoints_from(
    webhooks: Mapping[str, BusinessWebhookSettings], environ: Mapping[str, str]
) -> dict[str, Endpoint]:
    """Each bot's endpoint. `load_settings` refuses a configuration whose `secret_env` is not
    set; `KeyError` naming the variable if it went missing since."""
    found: dict[str, Endpoint] = {}
    for bot_id, settings in webhooks.items():
        secret = environ.get(settings.secret_env)
        if not secret:
            raise KeyError(
                f"bot {bot_id}: webhook.secret_env names {settings.secret_env}, which is not set"
            )
        found[bot_id] = Endpoint(settings, secret)
    return found


async def post_event(
    session: aiohttp.ClientSession, endpoint: Endpoint, event: BusinessEvent, clock: Clock
) -> Attempt:
    """One signed post of `event` to `endpoint` (no store write)."""
    payload = body(event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event.kind.value,
        EVENT_ID_HEADER: event.id,
        SIGNATURE_HEADER: sign(endpoint.secret, payload, clock.now()),
    }
    timeout = aiohttp.ClientTimeout(total=endpoint.settings.timeout.total_seconds())
    try:
        async with session.post(
            endpoint.url, data=payload, headers=headers, timeout=timeout
        ) as answer:
            await answer.read()
            return Attempt(event.id, answer.status, None if answer.ok else answer.reason)
    except TimeoutError:
        return Attempt(event.id, None, "no answer in time")
    except aiohttp.ClientError as error:
        return Attempt(event.id, None, type(error).__name__)


class BusinessWebhooks:
    """Claims due events and posts them, until stopped."""

    def __init__(
        self,
        store: Store,
        endpoints: Mapping[str, Endpoint],
        session: aiohttp.ClientSession,
        *,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.endpoints = endpoints
        self.session = session
        self.clock = clock
        self.rng = rng or random.Random()
        longest = max((e.settings.timeout for e in endpoints.values()), default=POLL)
        self.lease = longest * 2 + timedelta(seconds=30)
        """Long enough for a post to time out and be settled before anyone takes it again."""

    async def deliver_due(self) -> list[Attempt]:
        """Post every event due now, once; what each attempt gave."""
        events = await self.store.claim_business_events(self.clock.now(), self.lease, BATCH)
        return list(await asyncio.gather(*(self._deliver(event) for event in events)))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                busy = bool(await self.deliver_due())
            except Exception:  # the store may be briefly unreachable: next round
                log.exception("delivering business events failed; trying again")
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), POLL.total_seconds())

    async def _deliver(self, event: BusinessEvent) -> Attempt:
        endpoint = self.endpoints.get(event.bot_id)
        now = self.clock.now()
        if endpoint is None or (
            event.kind is not EventKind.PING and event.kind not in endpoint.settings.kinds()
        ):
            await self.store.settle_business_event(event.id, EventStatus.DROPPED, now)
            return Attempt(event.id, None, "no webhook for it")
        attempt = await post_event(self.session, endpoint, event, self.clock)
        now = self.clock.now()
        if attempt.delivered:
            await self.store.settle_business_event(event.id, EventStatus.DELIVERED, now)
            return attempt
        error = f"{attempt.status} {attempt.error}" if attempt.status else attempt.error
        retry_at = now + retry_delay(event.attempts, self.rng)
        too_old = retry_at > event.created_at + endpoint.settings.give_up_after
        if attempt.status == GONE or too_old:
            log.warning("business event %s given up: %s", event.id, error)
            await self.store.settle_business_event(event.id, EventStatus.FAILED, now, error=error)
        else:
            await self.store.settle_business_event(
                event.id, EventStatus.PENDING, now, next_at=retry_at, error=error
            )
        return attempt
