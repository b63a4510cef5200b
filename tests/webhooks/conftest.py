"""The webhooks on a real aiohttp server over loopback, in front of a real (SQLite) store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from messaging.clock import FakeClock
from store.base import Store
from store.records import InboxEntry, OutboxEntry, OutboxStatus
from store.sqlite import SqliteStore
from tests.store import LEASE, T0
from tests.webhooks.payloads import (
    AGENT,
    BOT,
    CLIENT_TOKEN,
    OTHER_AGENT,
    OTHER_BOT,
    OTHER_TOKEN,
    SMS_TOKEN,
    T2C_NUMBER,
    T2C_TOKEN,
)
from webhooks.rbm import SubscriptionChange, add_rbm_webhook
from webhooks.smsmode import SmsRoute, add_smsmode_callbacks

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]

RBM_PATH = "/webhooks/rbm"
SMS_PREFIX = "/webhooks/smsmode"
ROUTES = {
    SMS_TOKEN: SmsRoute(BOT, "sms"),
    T2C_TOKEN: SmsRoute(BOT, "t2c", T2C_NUMBER),
    OTHER_TOKEN: SmsRoute(OTHER_BOT, "sms"),
}


@dataclass
class Calls:
    """What the webhooks handed to the runtime."""

    wakes: int = 0
    subscriptions: list[SubscriptionChange] = field(default_factory=list)

    def wake(self) -> None:
        self.wakes += 1

    async def subscription(self, change: SubscriptionChange) -> None:
        self.subscriptions.append(change)


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    async with SqliteStore(":memory:") as opened:
        yield opened


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def calls() -> Calls:
    return Calls()


def rbm_app(store: Store, clock: FakeClock, calls: Calls, **options: Any) -> web.Application:
    app = web.Application()
    add_rbm_webhook(
        app,
        RBM_PATH,
        store=store,
        clock=clock,
        client_token=CLIENT_TOKEN,
        agents={f"{AGENT}@rbm.goog": BOT, OTHER_AGENT: OTHER_BOT},
        on_inbound=calls.wake,
        **options,
    )
    return app


def sms_app(store: Store, clock: FakeClock, calls: Calls) -> web.Application:
    app = web.Application()
    add_smsmode_callbacks(
        app, SMS_PREFIX, store=store, clock=clock, routes=ROUTES, on_inbound=calls.wake
    )
    return app


@pytest.fixture
async def rbm(
    aiohttp_client: ClientFactory, store: Store, clock: FakeClock, calls: Calls
) -> Client:
    """The RBM webhook, SUBSCRIBE and UNSUBSCRIBE handed to `calls`."""
    return await aiohttp_client(
        rbm_app(store, clock, calls, on_subscription_change=calls.subscription)
    )


@pytest.fixture
async def sms(
    aiohttp_client: ClientFactory, store: Store, clock: FakeClock, calls: Calls
) -> Client:
    return await aiohttp_client(sms_app(store, clock, calls))


def sms_url(token: str) -> str:
    return f"{SMS_PREFIX}/{token}"


async def drain_inbox(store: Store) -> list[InboxEntry]:
    """Every inbox entry not yet handled, oldest first; each is marked done on the way."""
    entries = []
    while (claim := await store.claim("test", T0, LEASE)) is not None:
        entries.append(claim.entry)
        await store.skip(claim, T0)
    return entries


async def outbox_snapshot(
    store: Store, keys: list[str]
) -> tuple[dict[OutboxStatus, int], list[OutboxEntry | None]]:
    return await store.outbox_depth(), [await store.get_outbound(key) for key in keys]
