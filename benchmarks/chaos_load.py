"""The pieces of `benchmarks/chaos.py`: the smsmode emulator the phones and the bot talk to, the
`causette serve` process (killed and restarted at will), the phones' load, and the tally of
what came back (the front that delivers every webhook three times is in `chaos_front.py`, the
RBM emulator of `rbm-faults` in `chaos_rcs.py`, the reads of the server's outbox in
`chaos_outbox.py`).

The phones behave as people do: each writes its next message once the bot answered the last
one (or after `patience` seconds without an answer), so a conversation's order is the order its
phone wrote in, whatever retries and duplicates the faults cause on the way. Each MO says
`m<seq>` and the echo flow answers `re:m<seq>`: every reply names the MO it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bots.wiring import SMSMODE_CALLBACK_PREFIX, callback_token
from sandbox.phonebook import Direction, Network, PhoneBook
from sandbox.smsmode import SmsmodeChannel, SmsmodeEmulator
from sandbox.smsmode_callbacks import CallbackAttempt
from store.numbers_records import NumberRecord
from store.sqlite import SqliteStore

HOST = "127.0.0.1"
BOT, NUMBER = "echo", "+33939000001"
SECRETS = {"CHAOS_SMSMODE_KEY": "cle-chaos", "CHAOS_SMSMODE_SECRET": "secret-des-rappels-chaos"}
CAUSETTE = Path(sys.executable).parent / "causette"
ROOT = Path(__file__).resolve().parent.parent
READY_WITHIN = 60.0
FLOW = """\
flow: echo
start: listen
states:
  listen:
    on:
      - keywords: [fin]
        goto: done
    otherwise:
      say: "re:{{ input.text }}"
  done: {say: Au revoir., end: true}
"""
RETRY_DELAYS = tuple(timedelta(seconds=s) for s in (0.5, 1, 2, 3, 5, *[5] * 120))
"""smsmode's callback retries (30 s, 2 min, 10 min, ...: sandbox/smsmode_callbacks.py) pressed
into seconds so that a run lasts minutes, not hours; ~10 minutes of retries in all, far more
than any outage here, so that a callback abandoned is a fault of the harness, counted."""


def phone_numbers(count: int) -> list[str]:
    """`count` French mobile numbers, E.164 (the 07 range: none of benchmarks/turns.py's)."""
    return [f"+3375{1_000_000 + index:07d}" for index in range(count)]


def sms_phonebook(phones: list[str]) -> PhoneBook:
    """Every phone SMS-only."""
    phonebook = PhoneBook()
    for number in phones:
        phonebook.add(number, Network.SMS)
    return phonebook


async def declare_number(database: Path) -> None:
    """R11: the bot's 09 number is declared before `causette serve` lets it go live."""
    async with SqliteStore(database) as store:
        record = NumberRecord(NUMBER, {"number": NUMBER}, datetime.now(UTC), bot_id=BOT)
        await store.declare_number(record)


CONFIRM_WAIT = 20
"""`dispatch.sms_confirm_wait` in seconds: smsmode's report of an SMS a killed process sent
comes back every 5 s here (`RETRY_DELAYS`, pressed), as the real one's 30 s and 2 min retries
do within the 5 min default."""


def write_config(
    folder: Path,
    emulator_url: str,
    public_url: str,
    unknown_outcome: str,
    lease: int | None,
    rcs: tuple[str, str] = ("", ""),
) -> Path:
    """The `bots.yaml` of the echo bot on a Time2Chat number, SQLite in `folder`; the
    providers' callbacks to `public_url` (the server's own, or a front's). `rcs`: the RBM
    provider's lines and the bot's `rcs:` line, when it has an agent (`chaos_rcs.rcs_config`)."""
    provider, agent = rcs
    (folder / "echo.yaml").write_text(FLOW, encoding="utf-8")
    path = folder / "bots.yaml"
    path.write_text(
        f"""\
store: sqlite://{folder / "causette.db"}
public_url: {public_url}
dispatch: {{sms_unknown_outcome: {unknown_outcome}, sms_confirm_wait: {CONFIRM_WAIT}s}}
{f"worker: {{lease: {lease}s}}" if lease is not None else ""}
providers:
{provider}  smsmode:
    api_key_env: CHAOS_SMSMODE_KEY
    callback_secret_env: CHAOS_SMSMODE_SECRET
    base_url: {emulator_url}
bots:
  - id: {BOT}
    flow: echo.yaml
    t2c: {{number: "{NUMBER}"}}
{agent}""",
        encoding="utf-8",
    )
    return path


class Server:
    """`causette serve` on a fixed port, so that a restarted process takes the killed one's
    callbacks; its output appended to `log` across restarts; `env` on top of `SECRETS`."""

    def __init__(
        self, config: Path, port: int, log: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.config, self.port, self.log = config, port, log
        self.env = {**SECRETS, **(env or {})}
        self.process: asyncio.subprocess.Process | None = None
        self.kills = 0
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def start(self) -> None:
        command = [str(CAUSETTE), "serve", "--config", str(self.config), "--port", str(self.port)]
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                *command, cwd=ROOT, env={**os.environ, **self.env}, stdout=out, stderr=out
            )
        await self._until_healthy()

    async def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
            self.kills += 1

    async def restart(self) -> None:
        await self.kill()
        await self.start()
        self.restarts += 1

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), READY_WITHIN)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    def tail(self) -> str:
        return self.log.read_text("utf-8", errors="replace")[-3000:]

    async def _until_healthy(self) -> None:
        deadline = time.monotonic() + READY_WITHIN
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process is None or self.process.returncode is not None:
                    break
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(f"{self.url}/healthz") as answer:
                        if answer.status == 200:
                            return
                await asyncio.sleep(0.1)  # a real process starting: a bounded wait loop
        raise RuntimeError(f"causette serve did not start:\n{self.tail()}")


@dataclass
class Providers:
    phonebook: PhoneBook
    sms: SmsmodeEmulator
    runner: web.AppRunner
    site: web.TCPSite
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def down(self) -> None:
        """smsmode's API unreachable: new connections refused, and 503 on the connections
        kept alive from before (the emulator's callbacks, MOs and reports, still go out)."""
        self.sms.faults.error_rates = {503: 1.0}
        await self.site.stop()

    async def up(self) -> None:
        self.sms.faults.error_rates = {}
        self.site = web.TCPSite(self.runner, HOST, self.port)
        await self.site.start()


@contextlib.asynccontextmanager
async def running_providers(phonebook: PhoneBook, server_url: str) -> AsyncIterator[Providers]:
    """The smsmode emulator on loopback, its MO callbacks to `server_url` (the server or a
    front), callbacks retried on `RETRY_DELAYS`."""
    token = callback_token(SECRETS["CHAOS_SMSMODE_SECRET"], BOT)
    channel = SmsmodeChannel(
        api_keys=(SECRETS["CHAOS_SMSMODE_KEY"],),
        numbers=(NUMBER,),
        default_callback_url_mo=f"{server_url}{SMSMODE_CALLBACK_PREFIX}/{token}",
    )
    sms = SmsmodeEmulator(phonebook, [channel], retry_delays=RETRY_DELAYS)
    runner = web.AppRunner(sms.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    try:
        yield Providers(phonebook, sms, runner, site, runner.addresses[0][1])
    finally:
        await sms.close()
        await runner.cleanup()


@dataclass
class Load:
    """What the phones wrote and got, by phone (E.164)."""

    sent: dict[str, list[str]] = field(default_factory=dict)
    received: dict[str, list[str]] = field(default_factory=dict)
    waited_out: int = 0
    """MOs whose phone stopped waiting for the reply (`patience`) and wrote the next one."""
    progress: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def written(self) -> int:
        return sum(len(texts) for texts in self.sent.values())

    async def reached(self, count: int) -> None:
        """Once the phones wrote `count` MOs (a fault falls in the middle of the load)."""
        while self.written < count:
            self.progress.clear()
            await self.progress.wait()


def new_load(phonebook: PhoneBook) -> Load:
    return Load(
        sent={number: [] for number in phonebook.phones},
        received={number: [] for number in phonebook.phones},
    )


async def run_phones(
    sms: SmsmodeEmulator,
    load: Load,
    total: int,
    *,
    patience: float,
    settle: float,
    settled: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """The phones write `total` MOs in all, each phone one at a time; then wait until every
    reply came or none came for `settle` seconds, then for `settled` (what else may still
    reach a phone), and the callbacks still pending went."""
    phonebook = sms.phonebook
    answered = {number: asyncio.Event() for number in phonebook.phones}
    arrived = asyncio.Event()
    queue = phonebook.watch()
    seen: set[str] = set()
    counter = iter(range(total))

    async def listen() -> None:
        while True:
            message = await queue.get()
            # `mark` publishes a message again when read: each one is counted once.
            if message.direction is Direction.TO_PHONE and message.id not in seen:
                seen.add(message.id)
                text = str(message.body.get("text", ""))
                load.received[message.phone].append(text)
                arrived.set()
                sent = load.sent[message.phone]
                if sent and text == f"re:{sent[-1]}":
                    answered[message.phone].set()

    async def phone(number: str) -> None:
        for _ in counter:
            text = f"m{len(load.sent[number])}"
            answered[number].clear()
            load.sent[number].append(text)
            load.progress.set()
            await phonebook.act(number, {"text": text, "to": NUMBER.removeprefix("+")})
            try:
                await asyncio.wait_for(answered[number].wait(), patience)
            except TimeoutError:
                load.waited_out += 1

    listener = asyncio.create_task(listen())
    try:
        await asyncio.gather(*(phone(number) for number in phonebook.phones))
        while sum(len(texts) for texts in load.received.values()) < load.written:
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), settle)
            except TimeoutError:
                break
        if settled is not None:
            await settled()
        # The last delivery reports, and the callbacks still being retried, get their turn
        # while the server is up, on their own schedule; the emulator has no event for it: a
        # bounded poll.
        deadline = time.monotonic() + settle
        while (_never_taken(sms) or _unreported(sms)) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    finally:
        listener.cancel()
        phonebook.unwatch(queue)


def tally(load: Load, sms: SmsmodeEmulator) -> dict[str, Any]:
    """The counts every scenario prints: MOs sent, replies expected and received, lost,
    duplicated, out of order; the callbacks' answers, and those never taken."""
    lost = duplicated = out_of_order = unexpected = 0
    for number, sent in load.sent.items():
        got = load.received[number]
        copies = Counter(got)
        expected = [f"re:{text}" for text in sent]
        lost += sum(1 for reply in expected if copies[reply] == 0)
        duplicated += sum(copies[reply] - 1 for reply in set(expected) if copies[reply] > 1)
        unexpected += sum(count for reply, count in copies.items() if reply not in expected)
        # Each reply's first arrival, against the order its phone wrote in.
        firsts = list(dict.fromkeys(reply for reply in got if reply in expected))
        in_order = [reply for reply in expected if reply in copies]
        out_of_order += sum(1 for a, b in zip(firsts, in_order, strict=True) if a != b)
    attempts = sms.callbacks.attempts
    answers = Counter(str(a.status) if a.status else "no answer" for a in attempts)
    taken = {a.message_id for a in attempts if a.kind == "mo" and _taken(a.status)}
    return {
        "mos_sent": load.written,
        "mos_acknowledged": len(taken),
        "replies_expected": load.written,
        "replies_received": sum(len(texts) for texts in load.received.values()),
        "lost": lost,
        "duplicated": duplicated,
        "out_of_order": out_of_order,
        "unexpected": unexpected,
        "waited_out": load.waited_out,
        "callback_answers": dict(sorted(answers.items())),
        "callbacks_never_taken": _never_taken(sms),
        "reports_never_taken": _unreported(sms),
    }


def _taken(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def _unreported(sms: SmsmodeEmulator) -> int:
    """SMS the emulator took whose delivery report the server has not taken yet."""
    reported = {
        a.message_id for a in sms.callbacks.attempts if a.kind == "status" and _taken(a.status)
    }
    return len(sms.messages.keys() - reported)


def _never_taken(sms: SmsmodeEmulator) -> list[str]:
    """Callbacks (MOs, reports) no attempt of which got a 2xx, each with its last answer."""
    last: dict[tuple[str, str], CallbackAttempt] = {}
    taken: set[tuple[str, str]] = set()
    for attempt in sms.callbacks.attempts:
        key = (attempt.kind, attempt.message_id)
        last[key] = attempt
        if _taken(attempt.status):
            taken.add(key)
    return [
        f"{a.kind} {a.message_id} attempt {a.attempt}: {a.status or a.error}"
        for key, a in last.items()
        if key not in taken
    ]
