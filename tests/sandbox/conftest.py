"""Shared fixtures for the sandbox emulators' tests (RBM, smsmode, simulator).

- `RCS_PHONE`, `OTHER_RCS_PHONE`, `SMS_PHONE` and the `phonebook` fixture holding them (an RCS
  phone, a second one, and an SMS-only one). A test module may override `phonebook`.
- `clock`: a `FakeClock` at `T0`; it moves only when a test (or `sleeps` below) moves it.
- `sleeps`: an `InstantSleep`, the `sleep` to inject into an emulator so that latencies and
  retry waits cost no real time; it records every requested wait and can hold sleepers behind a
  gate.
- `receiver`: a `Receiver`, a tiny HTTP endpoint on loopback that records every request (a bot's
  webhook, a callback URL) and answers what `receiver.answer` says (200 `OK` by default).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from messaging.clock import FakeClock
from sandbox.phonebook import Network, PhoneBook

RCS_PHONE = "+33612345678"
OTHER_RCS_PHONE = "+33611223344"
SMS_PHONE = "+33698765432"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


class InstantSleep:
    """A stand-in for `asyncio.sleep` that waits no real time.

    Each call records its seconds in `waits`, moves `clock` forward by them when one is given,
    waits for `gate` when it is set to an unset `asyncio.Event`, then yields to the loop once.
    """

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.waits: list[float] = []
        self.clock = clock
        self.gate: asyncio.Event | None = None

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.clock is not None:
            self.clock.advance(timedelta(seconds=seconds))
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)


@dataclass
class Received:
    """One request that reached a `Receiver`."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Records every request on any path; `answer` decides each response."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answer: Callable[[Received], web.Response] = lambda _: web.Response(text="OK")
        self.base_url = ""
        """Set by the fixture once the server listens (`http://127.0.0.1:PORT`)."""
        self._arrived = asyncio.Condition()

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Wait until `count` requests arrived (the timeout is only a safety net)."""
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(self.requests) >= count), timeout
            )
        return self.requests

    async def _handle(self, request: web.Request) -> web.Response:
        received = Received(
            request.method,
            request.path,
            dict(request.query),
            dict(request.headers),
            await request.read(),
        )
        self.requests.append(received)
        async with self._arrived:
            self._arrived.notify_all()
        return self.answer(received)


@pytest.fixture
def phonebook() -> PhoneBook:
    book = PhoneBook()
    book.add(RCS_PHONE, Network.RCS, "Ana")
    book.add(OTHER_RCS_PHONE, Network.RCS, "Bob")
    book.add(SMS_PHONE, Network.SMS, "Chloé")
    return book


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def sleeps() -> InstantSleep:
    return InstantSleep()


@pytest.fixture
async def receiver(aiohttp_server: ServerFactory) -> Receiver:
    endpoint = Receiver()
    server = await aiohttp_server(endpoint.app())
    endpoint.base_url = str(server.make_url("")).rstrip("/")
    return endpoint
