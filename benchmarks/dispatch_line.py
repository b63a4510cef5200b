"""The wiring of `benchmarks/dispatch.py`: one loopback HTTP server holding both emulators and
our webhooks, a SQLite store, the real clients, and the fallback router and dispatcher.

The same wiring as `tests/fallback/harness.py` (not imported: benchmarks do not depend on the
tests), but on real time: the `SystemClock`, `asyncio.sleep`, the smsmode emulator delivering
and posting its reports in the background (`background=True`), RBM delivering with no latency.
So while messages are sent, DELIVERED events and delivery reports come back to our webhooks and
are written to the store, as in production. A counting middleware tells how many requests of
each kind the server answered.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from agents.google_auth import StaticToken
from agents.rbm import RbmClient
from agents.smsmode import SmsmodeClient
from fallback.channels import BotChannels
from fallback.dispatcher import Dispatcher
from fallback.policy import DispatchPolicy
from fallback.router import Router
from messaging.clock import SystemClock
from sandbox.phonebook import Network, PhoneBook
from sandbox.rbm import RbmEmulator
from sandbox.smsmode import SmsmodeChannel, SmsmodeEmulator
from store.records import AgentRecord, OutboxEntry, OutboxStatus
from store.sqlite import SqliteStore
from webhooks.rbm import add_rbm_webhook
from webhooks.smsmode import SmsRoute, add_smsmode_callbacks

BOT = "rappels"
AGENT = "rappels_agent"
NUMBER = "+33939000001"
"""The bot's Time2Chat 09 number: its SMS go as `t2c`."""
CLIENT_TOKEN = "jeton-webhook"
API_KEY = "cle-smsmode"
CALLBACK_TOKEN = "c" * 32
OWNER = "dispatch-bench"
LEASE = timedelta(seconds=30)
TIMEOUT = timedelta(seconds=30)
"""Of each client call: generous, a loaded loop must not turn into timeouts and retries."""

REQUEST_KINDS = (
    "rbm send",
    "rbm capabilities",
    "rbm revoke",
    "smsmode send",
    "rbm webhook",
    "smsmode callback",
)
"""What the counting middleware tells apart, by path and method."""


def phone_numbers(count: int, sms_share: float) -> list[tuple[str, Network]]:
    """`count` French mobile numbers; a `sms_share` of them, spread evenly, SMS only."""
    phones = []
    for index in range(count):
        sms = int((index + 1) * sms_share) > int(index * sms_share)
        phones.append((f"+336{10_000_000 + index:08d}", Network.SMS if sms else Network.RCS))
    return phones


def request_kind(request: web.Request) -> str:
    path = request.path
    if path.startswith("/rbm/"):
        if path.endswith("/capabilities"):
            return "rbm capabilities"
        return "rbm revoke" if request.method == "DELETE" else "rbm send"
    if path.startswith("/smsmode/"):
        return "smsmode send"
    if path.startswith("/webhooks/rbm"):
        return "rbm webhook"
    if path.startswith("/webhooks/smsmode"):
        return "smsmode callback"
    return "other"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STORE_CALLS = (
    "claim_outbound",
    "mark_outbound (router)",
    "mark_outbound (receipts)",
    "find_outbound_by_provider_id",
    "agents",
)
"""The store calls `TimedStore` times: the dispatcher's claims, the router's writes (under its
lease), the webhooks' receipts (a lookup, then a write without owner), and the agent reads
and writes of `fallback.agent_status`."""


class TimedStore(SqliteStore):
    """The SQLite store, with the ns spent in the calls of `STORE_CALLS` and their count.

    The store runs its statements inline, without awaiting (store/sqlite.py): the time around
    a call is the time of its SQL and its record conversions, nothing else's.
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.spent: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def _add(self, name: str, start: int) -> None:
        self.spent[name] += time.perf_counter_ns() - start
        self.calls[name] += 1

    async def claim_outbound(
        self, owner: str, now: datetime, lease: timedelta, limit: int = 100
    ) -> list[OutboxEntry]:
        start = time.perf_counter_ns()
        try:
            return await super().claim_outbound(owner, now, lease, limit)
        finally:
            self._add("claim_outbound", start)

    async def mark_outbound(
        self,
        key: str,
        status: OutboxStatus,
        now: datetime,
        *,
        provider_id: str | None = None,
        detail: str | None = None,
        route: str | None = None,
        due_at: datetime | None = None,
        deadline_at: datetime | None = None,
        owner: str | None = None,
        valid_from: datetime | None = None,
    ) -> None:
        start = time.perf_counter_ns()
        try:
            await super().mark_outbound(
                key,
                status,
                now,
                provider_id=provider_id,
                detail=detail,
                route=route,
                due_at=due_at,
                deadline_at=deadline_at,
                owner=owner,
                valid_from=valid_from,
            )
        finally:
            self._add(f"mark_outbound ({'receipts' if owner is None else 'router'})", start)

    async def find_outbound_by_provider_id(self, provider_id: str) -> OutboxEntry | None:
        start = time.perf_counter_ns()
        try:
            return await super().find_outbound_by_provider_id(provider_id)
        finally:
            self._add("find_outbound_by_provider_id", start)

    async def get_agent(self, agent_id: str) -> AgentRecord | None:
        start = time.perf_counter_ns()
        try:
            return await super().get_agent(agent_id)
        finally:
            self._add("agents", start)

    async def record_agent_send(self, agent_id: str, at: datetime) -> None:
        start = time.perf_counter_ns()
        try:
            await super().record_agent_send(agent_id, at)
        finally:
            self._add("agents", start)


@dataclass
class Line:
    """Everything a round runs on; the baseline uses `rbm_client` and `smsmode` directly."""

    store: TimedStore
    phonebook: PhoneBook
    rbm: RbmEmulator
    sms: SmsmodeEmulator
    bot: BotChannels
    rbm_client: RbmClient
    smsmode: SmsmodeClient
    router: Router
    dispatcher: Dispatcher
    requests: Counter[str]
    """Requests the server answered so far, by `request_kind`."""

    async def settle(self) -> None:
        """Wait until the emulators have nothing left to do: every delivery made and every
        DELIVERED event and delivery report posted to the webhooks (and answered)."""
        while True:
            await self.rbm.drain()
            if not await self.sms.drain():
                return


@asynccontextmanager
async def open_line(
    folder: Path, phones: list[tuple[str, Network]], *, in_flight: int, seed: int
) -> AsyncIterator[Line]:
    """A fresh line: the store is `folder/line.db`; all is closed on exit."""
    clock = SystemClock()
    phonebook = PhoneBook()
    for number, network in phones:
        phonebook.add(number, network)
    rbm = RbmEmulator(phonebook, agents=(AGENT,), clock=clock, rng=random.Random(seed))
    sms = SmsmodeEmulator(
        phonebook,
        [SmsmodeChannel(api_keys=(API_KEY,), numbers=(NUMBER,))],
        clock=clock,
        rng=random.Random(seed + 1),
        background=True,
    )
    requests: Counter[str] = Counter()

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        requests[request_kind(request)] += 1
        return await handler(request)

    store = TimedStore(folder / "line.db")
    await store.open()
    session: aiohttp.ClientSession | None = None
    server: TestServer | None = None
    try:
        app = web.Application(middlewares=[count])
        app.add_subapp("/rbm", rbm.app())
        app.add_subapp("/smsmode", sms.app())
        add_rbm_webhook(
            app,
            "/webhooks/rbm",
            store=store,
            clock=clock,
            client_token=CLIENT_TOKEN,
            agents={AGENT: BOT},
        )
        callback_routes = {CALLBACK_TOKEN: SmsRoute(BOT, "t2c", NUMBER)}
        add_smsmode_callbacks(
            app, "/webhooks/smsmode", store=store, clock=clock, routes=callback_routes
        )
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        base = str(server.make_url("")).rstrip("/")
        rbm.add_agent(AGENT, webhook_url=f"{base}/webhooks/rbm", client_token=CLIENT_TOKEN)
        session = aiohttp.ClientSession()
        rbm_client = RbmClient(
            session,
            agent_id=AGENT,
            tokens=StaticToken("sandbox"),
            base_url=f"{base}/rbm",
            timeout=TIMEOUT,
            clock=clock,
        )
        callback = f"{base}/webhooks/smsmode/{CALLBACK_TOKEN}"
        # No `limiter`: production paces each agent at `RcsPolicy.rate` (50/s by default), a
        # guard that would measure the pacing instead of the dispatcher.
        bot = BotChannels(rbm=rbm_client, t2c_number=NUMBER, status_url=callback, mo_url=callback)
        smsmode = SmsmodeClient(
            session, api_key=API_KEY, base_url=f"{base}/smsmode", timeout=TIMEOUT, clock=clock
        )
        policy = DispatchPolicy(in_flight=in_flight)  # capability checks on, as by default
        router = Router(
            store, clock, {BOT: bot}, smsmode, owner=OWNER, policy=policy, rng=random.Random(seed)
        )
        dispatcher = Dispatcher(store, router, clock, owner=OWNER, lease=LEASE, in_flight=in_flight)
        yield Line(
            store, phonebook, rbm, sms, bot, rbm_client, smsmode, router, dispatcher, requests
        )
    finally:
        if session is not None:
            await session.close()
        if server is not None:
            await server.close()  # the emulators' apps close them on cleanup
        # Closing again is harmless, and covers a server that never started.
        await rbm.close()
        await sms.close()
        await store.close()
