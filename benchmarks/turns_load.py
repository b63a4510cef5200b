"""The load side of `benchmarks/turns.py`: simulated phones, the smsmode emulator they and the
bot talk to, and open-loop arrivals of MOs at a fixed rate.

The emulator (`sandbox.smsmode.SmsmodeEmulator`, background deliveries) is served on loopback
in this process; its delivery reports are dropped (`drop_dlr_rate=1`) so that every server
measured does the same work per turn: one MO in, one reply out. A middleware notes the moment
the emulator accepts each reply (its 201), which ends the turn of the phone it goes to.

Each MO is the resource smsmode POSTs for a reply (`sandbox.smsmode_resources.mo_resource`),
sent by this process straight to the server's callback URL, so that the time our webhook takes
to answer (the acknowledgement) is measured around the POST itself. Arrivals are open-loop:
MO number i is due at `start + i / rate`, whatever the answers, and its turn's latency counts
from that due time, so that a slow generator or server cannot hide queueing (no coordinated
omission). A phone may have several MOs in flight; its replies end its turns in order (a
conversation's turns are handled one at a time, in arrival order).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from benchmarks.turns_servers import API_KEY, HOST, NUMBER, NUMBER_DIGITS
from messaging.phone import Phone
from sandbox.phonebook import Network, PhoneBook
from sandbox.smsmode import SmsmodeChannel, SmsmodeEmulator, SmsmodeFaults
from sandbox.smsmode_resources import mo_resource

SEND_PATH = "/sms/v1/messages"
CONNECTIONS = 1000
"""The load generator's connection pool: well above what open-loop arrivals keep in flight."""
MO_TIMEOUT = aiohttp.ClientTimeout(total=30)


def phone_numbers(count: int) -> list[str]:
    """`count` French mobile numbers, E.164."""
    return [f"+336{20_000_000 + index:08d}" for index in range(count)]


@dataclass
class Turns:
    """What one offered load gave, in perf_counter nanoseconds."""

    offered: int = 0
    """MOs due in the window."""
    acked: int = 0
    """MOs our webhook answered with a 2xx."""
    refused: dict[str, int] = field(default_factory=dict)
    """MOs not acknowledged, by HTTP status or error name."""
    ack_ns: list[int] = field(default_factory=list)
    """Each MO's POST, from the moment it left to the answer."""
    lag_ns: list[int] = field(default_factory=list)
    """How late each MO left after its due time (the generator's own delay)."""
    turn_ns: list[int] = field(default_factory=list)
    """Each completed turn: from the MO's due time to the emulator accepting the reply."""
    unmatched: int = 0
    """Replies to a phone with no turn open (none expected)."""
    first_due: int = 0
    last_due: int = 0
    last_done: int = 0
    sent_until: int = 0
    """When the last MO had left."""

    @property
    def completed(self) -> int:
        return len(self.turn_ns)


class TurnClock:
    """Each phone's open turns, oldest first, and where the current run's figures go."""

    def __init__(self) -> None:
        self.open: dict[str, deque[int]] = defaultdict(deque)
        self.turns = Turns()
        self.settled = asyncio.Event()

    def begin(self, phone_digits: str, due: int) -> None:
        self.open[phone_digits].append(due)

    def end(self, phone_digits: str, at: int) -> None:
        waiting = self.open.get(phone_digits)
        if not waiting:
            self.turns.unmatched += 1
            return
        self.turns.turn_ns.append(at - waiting.popleft())
        self.turns.last_done = at
        if self.turns.completed >= self.turns.acked and self.turns.sent_until:
            self.settled.set()

    def forget(self, phone_digits: str, due: int) -> None:
        """An MO that was not acknowledged: no reply will end its turn."""
        waiting = self.open.get(phone_digits)
        if waiting is not None and due in waiting:
            waiting.remove(due)

    def reset(self) -> Turns:
        """Start a new run's figures (turns still open from the last run are forgotten)."""
        self.open.clear()
        self.settled.clear()
        self.turns = Turns()
        return self.turns


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Emulator:
    sms: SmsmodeEmulator
    clock: TurnClock
    base_url: str
    phones: list[str]


@asynccontextmanager
async def running_emulator(phones: list[str]) -> AsyncIterator[Emulator]:
    """The smsmode emulator on a free loopback port, every phone in its phone book."""
    phonebook = PhoneBook()
    for number in phones:
        phonebook.add(number, Network.SMS)
    sms = SmsmodeEmulator(
        phonebook,
        [SmsmodeChannel(api_keys=(API_KEY,), numbers=(NUMBER,))],
        faults=SmsmodeFaults(drop_dlr_rate=1.0),
        background=True,
    )
    clock = TurnClock()

    @web.middleware
    async def note_replies(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if response.status == 201 and request.path == SEND_PATH:
            at = time.perf_counter_ns()
            body = json.loads(await request.read())  # read before: aiohttp keeps the bytes
            clock.end(str(body["recipient"]["to"]).removeprefix("+"), at)
        return response

    app = web.Application(middlewares=[note_replies])
    sms.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Emulator(sms, clock, f"http://{HOST}:{port}", phones)
    finally:
        await runner.cleanup()


def mo_body(phone: Phone, text: str) -> bytes:
    """A person's SMS to the bot's 09 number, as smsmode POSTs it."""
    channel = SmsmodeChannel(api_keys=(API_KEY,), numbers=(NUMBER,), channel_id="turns")
    message_id = str(uuid.uuid4())
    at = datetime.now(UTC)
    resource: dict[str, Any] = mo_resource(
        message_id, channel, phone, NUMBER_DIGITS, text, stop=False, at=at, origin=None
    )
    return json.dumps(resource).encode()


async def offer(
    emulator: Emulator, url: str, rate: int, duration: float, *, tag: str, drain: float
) -> Turns:
    """MOs to `url` at `rate` per second for `duration` seconds, phones in turn; then wait up
    to `drain` seconds for the last replies."""
    clock = emulator.clock
    turns = clock.reset()
    count = max(1, round(rate * duration))
    phones = [Phone(number) for number in emulator.phones]
    # Built before the window: the generator's own work inside it is the POST alone.
    bodies = [mo_body(phones[i % len(phones)], f"{tag} message {i}") for i in range(count)]
    keys = [phone.e164.removeprefix("+") for phone in phones]
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    tasks: set[asyncio.Task[None]] = set()

    async with aiohttp.ClientSession(connector=connector, timeout=MO_TIMEOUT) as session:

        async def post(index: int, due: int) -> None:
            left = time.perf_counter_ns()
            turns.lag_ns.append(left - due)
            key = keys[index % len(keys)]
            # Opened before the POST: the reply may be accepted before the answer arrives.
            clock.begin(key, due)
            try:
                async with session.post(url, data=bodies[index], headers=headers) as answer:
                    await answer.read()
                    status = answer.status
            except (aiohttp.ClientError, TimeoutError) as error:
                refused = type(error).__name__
            else:
                turns.ack_ns.append(time.perf_counter_ns() - left)
                if 200 <= status < 300:
                    turns.acked += 1
                    return
                refused = str(status)
            turns.refused[refused] = turns.refused.get(refused, 0) + 1
            clock.forget(key, due)

        start = time.perf_counter_ns() + 1_000_000
        step = 1e9 / rate
        turns.offered, turns.first_due = count, start
        index = 0
        while index < count:
            now = time.perf_counter_ns()
            while index < count and start + int(index * step) <= now:
                task = asyncio.create_task(post(index, start + int(index * step)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                index += 1
            if index < count:
                wait = start + int(index * step) - time.perf_counter_ns()
                await asyncio.sleep(max(wait, 0) / 1e9)
        turns.last_due = start + int((count - 1) * step)
        await asyncio.gather(*tasks)
        turns.sent_until = time.perf_counter_ns()
        if turns.completed < turns.acked:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(clock.settled.wait(), drain)
    return turns
