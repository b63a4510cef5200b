"""A dispatcher wired to both emulators over loopback HTTP, on a fake clock.

One aiohttp server holds the RBM emulator (`/rbm`), the smsmode emulator (`/smsmode`) and our
webhooks, so that DELIVERED, READ, TTL events and delivery reports come back as in production.
The router uses the real clients. Time moves only by `Line.advance`; `Line.settle` runs the
dispatcher and both emulators until nothing is left to do at the current instant (no sleeps).
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from agents.google_auth import StaticToken
from agents.rbm import RbmClient
from agents.smsmode import SmsmodeClient
from fallback.channels import BotChannels
from fallback.dispatcher import Dispatcher
from fallback.policy import DispatchPolicy, RcsPolicy
from fallback.router import Router
from messaging.clock import FakeClock
from sandbox.phonebook import Direction, Network, PhoneBook, PhoneMessage
from sandbox.rbm import RbmEmulator
from sandbox.smsmode import SmsmodeChannel, SmsmodeEmulator
from store.base import Store
from store.records import (
    Conversation,
    ConversationStatus,
    InboxSource,
    NewInbound,
    NewOutbound,
    OutboxEntry,
    TurnWrite,
)
from store.sqlite import SqliteStore
from webhooks.rbm import add_rbm_webhook
from webhooks.smsmode import SmsRoute, add_smsmode_callbacks

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
BOT = "rappels"
AGENT = "rappels_agent"
NUMBER = "+33939000001"
"""The bot's Time2Chat 09 number."""
CLIENT_TOKEN = "jeton-webhook"
API_KEY = "cle-smsmode"
CALLBACK_TOKEN = "c" * 32
RCS_PHONE, SMS_PHONE = "+33612345601", "+33798765432"
OWNER = "dispatcher-test"
LEASE = timedelta(seconds=30)

_seq = itertools.count(1)


@dataclass
class Line:
    clock: FakeClock
    store: Store
    phonebook: PhoneBook
    rbm: RbmEmulator
    sms: SmsmodeEmulator
    router: Router
    dispatcher: Dispatcher
    base_url: str

    async def queue(
        self,
        phone: str,
        *texts: str,
        channel: str = "rcs",
        content: Sequence[dict[str, Any]] = (),
        queued_at: datetime | None = None,
        due_at: datetime | None = None,
        traffic: str | None = None,
        reply: bool = False,
    ) -> list[str]:
        """Queue messages of one conversation (a committed turn, as the worker writes it);
        returns their outbox keys, in order."""
        bodies = [*({"text": text} for text in texts), *content]
        now = queued_at or self.clock.now()
        number = next(_seq)
        inbound = NewInbound(
            InboxSource.START, f"start-{number}", BOT, phone, {"kind": "start"}, now
        )
        await self.store.append_inbound(inbound)
        claim = await self.store.claim("worker", now, LEASE)
        assert claim is not None
        seq = claim.entry.seq
        conversation = Conversation(
            id=f"{BOT}-{seq}",
            bot_id=BOT,
            phone=phone,
            flow_id="rappels",
            flow_hash="h",
            state="s",
            vars={},
            choices=[],
            status=ConversationStatus.ENDED,  # many per phone: each queue() is one
            attempts=0,
            epoch=0,
            contact={},
            channel=channel,
            version=1,
            last_inbox_seq=0,
            created_at=now,
            updated_at=now,
        )
        keys = [f"{seq:012d}:{index:03d}" for index in range(len(bodies))]
        outbound = [
            NewOutbound(key, body, channel, due_at or now, traffic, reply)
            for key, body in zip(keys, bodies, strict=True)
        ]
        await self.store.commit_turn(claim, TurnWrite(conversation, outbound, [], [], []), now)
        return keys

    async def settle(self) -> None:
        """Dispatch, deliver and post receipts until nothing moves at the current instant."""
        while True:
            await self.rbm.drain()  # deliveries, receipts and TTL events posted to us
            ran = await self.sms.drain(within=timedelta(0))
            claimed = await self.dispatcher.dispatch_due()
            if not claimed and not ran:
                return

    async def advance(self, delta: timedelta) -> None:
        """Move the clock, let RBM expire what is due (TTL events), then settle."""
        self.clock.advance(delta)
        self.rbm.expire_due()
        await self.settle()

    async def entry(self, key: str) -> OutboxEntry:
        stored = await self.store.get_outbound(key)
        assert stored is not None
        return stored

    def received(self, phone: str) -> list[PhoneMessage]:
        """What the phone got from the bot, oldest first."""
        found = self.phonebook.get(phone)
        assert found is not None
        return [m for m in found.messages if m.direction is Direction.TO_PHONE]

    def texts(self, phone: str) -> list[tuple[str, str]]:
        """(channel, text) of each message the phone got."""
        return [(m.channel, _text(m)) for m in self.received(phone)]

    def copies(self) -> Counter[str]:
        """How many times each text reached any phone, on any channel."""
        return Counter(_text(m) for phone in self.phonebook.phones for m in self.received(phone))


def _text(message: PhoneMessage) -> str:
    body = message.body
    return str(body.get("text", ""))


def history(entry: OutboxEntry) -> list[tuple[str, str | None]]:
    """(status, channel) of each history line."""
    return [(line["status"], line.get("channel")) for line in entry.history]


def details(entry: OutboxEntry) -> list[str]:
    return [str(line.get("detail") or "") for line in entry.history]


@asynccontextmanager
async def open_line(
    tmp_path: Path,
    *,
    policy: DispatchPolicy | None = None,
    rcs: RcsPolicy | None = None,
    phones: Sequence[tuple[str, Network]] = ((RCS_PHONE, Network.RCS), (SMS_PHONE, Network.SMS)),
    rbm_timeout: timedelta = timedelta(seconds=5),
    sms_timeout: timedelta = timedelta(seconds=5),
    seed: int = 7,
    in_flight: int = 32,
) -> AsyncIterator[Line]:
    clock = FakeClock(T0)
    phonebook = PhoneBook()
    for number, network in phones:
        phonebook.add(number, network)

    async def instant(_: float) -> None:
        return None

    rbm = RbmEmulator(
        phonebook, agents=(AGENT,), clock=clock, rng=random.Random(seed), sleep=instant
    )
    sms = SmsmodeEmulator(
        phonebook,
        [SmsmodeChannel(api_keys=(API_KEY,), numbers=(NUMBER,))],
        clock=clock,
        rng=random.Random(seed + 1),
        background=False,
    )
    store = SqliteStore(str(tmp_path / "line.db"))
    await store.open()
    app = web.Application()
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
    add_smsmode_callbacks(
        app,
        "/webhooks/smsmode",
        store=store,
        clock=clock,
        routes={CALLBACK_TOKEN: SmsRoute(BOT, "t2c", NUMBER)},
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    rbm.add_agent(AGENT, webhook_url=f"{base}/webhooks/rbm", client_token=CLIENT_TOKEN)
    session = aiohttp.ClientSession()
    callback = f"{base}/webhooks/smsmode/{CALLBACK_TOKEN}"
    channels = BotChannels(
        rbm=RbmClient(
            session,
            agent_id=AGENT,
            tokens=StaticToken("sandbox"),
            base_url=f"{base}/rbm",
            timeout=rbm_timeout,
            clock=clock,
        ),
        t2c_number=NUMBER,
        rcs=rcs or RcsPolicy(),
        status_url=callback,
        mo_url=callback,
    )
    smsmode = SmsmodeClient(
        session, api_key=API_KEY, base_url=f"{base}/smsmode", timeout=sms_timeout
    )
    policy = policy or DispatchPolicy()
    router = Router(
        store, clock, {BOT: channels}, smsmode, owner=OWNER, policy=policy, rng=random.Random(seed)
    )
    dispatcher = Dispatcher(store, router, clock, owner=OWNER, lease=LEASE, in_flight=in_flight)
    try:
        yield Line(clock, store, phonebook, rbm, sms, router, dispatcher, base)
    finally:
        rbm.release_held()
        sms.release_hung()
        await session.close()
        await server.close()
        await store.close()


def with_rcs(line: Line, **changes: Any) -> None:
    """Change the bot's RCS policy (fallback_after, rate) in place."""
    bot = line.router.bots[BOT]
    line.router.bots[BOT] = replace(bot, rcs=replace(bot.rcs, **changes))
