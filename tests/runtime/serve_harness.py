"""Real `causette serve` processes on one MongoDB, with the providers played by the sandbox in
the test process: what tests/runtime/test_serve_processes.py drives.

- `Providers`: one loopback server with the RBM emulator (`/rbm`), the smsmode emulator
  (`/smsmode`) and a Google token endpoint (`/token`, for the service account key the servers
  read: they run google-auth's real flow);
- `Balancer`: the load balancer in front of the servers (docs/runtime.md, "Several processes"):
  each request goes to the next server in turn, and to the one after when a server cannot be
  reached or drops the connection (a killed process), as a balancer's health check would;
  the providers' webhooks and callbacks go through it;
- `ServeProcess`: `causette serve --config bots.yaml --port P [--workers N]`, its output in a
  file, ready once `/healthz` answers.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from bots.wiring import RBM_WEBHOOK_PATH, SMSMODE_CALLBACK_PREFIX, callback_token
from sandbox.google_token import TOKEN_PATH, add_token_endpoint, service_account_key
from sandbox.phonebook import Direction, Network, PhoneBook
from sandbox.rbm import RbmEmulator
from sandbox.smsmode import SmsmodeChannel, SmsmodeEmulator

ROOT = Path(__file__).resolve().parents[2]
CAUSETTE = Path(sys.executable).parent / "causette"
BOT, AGENT, NUMBER, SENDER = "echo", "echo_agent", "+33939000001", "ECHO"
SECRETS = {
    "T_RBM_CLIENT_TOKEN": "jeton-webhook-rbm",
    "T_SMSMODE_KEY": "cle-smsmode",
    "T_SMSMODE_SECRET": "secret-des-callbacks",
}
ECHO = """\
flow: echo
start: listen
vars: {n: 0}
states:
  listen:
    on:
      - keywords: [fin]
        goto: done
    otherwise:
      set: {n: "{{ vars.n + 1 }}"}
      say: "{{ vars.n }}:{{ input.text }}"
  done: {say: Au revoir., end: true}
"""
READY_WITHIN = 60.0
"""Seconds a server may take to answer `/healthz` (imports, store, flows)."""
_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


def database_uri(uri: str, database: str) -> str:
    """`uri` naming `database` (the store reads its database from the URI's path)."""
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


@dataclass
class Providers:
    """The sandbox providers, served by the test process."""

    phonebook: PhoneBook
    rbm: RbmEmulator
    sms: SmsmodeEmulator
    server: TestServer
    key: str
    """A service account key whose `token_uri` is this server's `/token`."""

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def texts(self, number: str) -> list[str]:
        """What the bot's messages to `number` said, in the order the phone got them."""
        phone = self.phonebook.get(number)
        assert phone is not None
        received = [m for m in phone.messages if m.direction is Direction.TO_PHONE]
        return [str(m.body.get("text", "")) for m in received]

    def channels(self, number: str) -> Counter[str]:
        phone = self.phonebook.get(number)
        assert phone is not None
        return Counter(m.channel for m in phone.messages if m.direction is Direction.TO_PHONE)

    async def close(self) -> None:
        await self.sms.close()
        await self.server.close()


async def start_providers(phones: dict[str, Network], balancer_url: str, seed: int) -> Providers:
    phonebook = PhoneBook()
    for number, network in phones.items():
        phonebook.add(number, network)
    rbm = RbmEmulator(phonebook, rng=random.Random(seed))
    token = callback_token(SECRETS["T_SMSMODE_SECRET"], BOT)
    channel = SmsmodeChannel(
        api_keys=(SECRETS["T_SMSMODE_KEY"],),
        numbers=(NUMBER,),
        # A person's first SMS to the 09 number, before the bot wrote: the channel's default.
        default_callback_url_mo=f"{balancer_url}{SMSMODE_CALLBACK_PREFIX}/{token}",
    )
    sms = SmsmodeEmulator(phonebook, [channel], rng=random.Random(seed + 1))

    app = web.Application()
    app.add_subapp("/rbm", rbm.app())
    app.add_subapp("/smsmode", sms.app())
    add_token_endpoint(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    rbm.add_agent(
        AGENT,
        webhook_url=f"{balancer_url}{RBM_WEBHOOK_PATH}",
        client_token=SECRETS["T_RBM_CLIENT_TOKEN"],
    )
    return Providers(phonebook, rbm, sms, server, service_account_key(f"{url}{TOKEN_PATH}"))


@dataclass
class Balancer:
    """Round robin over `backends` (base URLs); counts the requests each one answered."""

    backends: list[str] = field(default_factory=list)
    answered: Counter[str] = field(default_factory=Counter)
    server: TestServer | None = None
    _next: itertools.count[int] = field(default_factory=itertools.count)
    _session: aiohttp.ClientSession | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return str(self.server.make_url("")).rstrip("/")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self.server is not None:
            await self.server.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        first = next(self._next)
        for turn in range(len(self.backends)):
            backend = self.backends[(first + turn) % len(self.backends)]
            try:
                async with self._session.request(
                    request.method, f"{backend}{request.path_qs}", headers=headers, data=body
                ) as answer:
                    payload = await answer.read()
                    self.answered[backend] += 1
                    kind = answer.headers.get("Content-Type", "application/octet-stream")
                    return web.Response(
                        status=answer.status, body=payload, headers={"Content-Type": kind}
                    )
            except aiohttp.ClientConnectionError:  # down or killed: the next one takes it
                continue
        return web.Response(status=502, text="no server answered")


def write_config(folder: Path, store: str, providers: Providers, balancer_url: str) -> Path:
    """`bots.yaml`: the echo bot on RCS, Time2Chat and SMS, both providers in the sandbox,
    short leases so that a killed process's work is taken over quickly, and SMS sent at least
    once."""
    (folder / "echo.yaml").write_text(ECHO, encoding="utf-8")
    path = folder / "bots.yaml"
    path.write_text(
        f"""\
store: {store}
public_url: {balancer_url}
worker: {{concurrency: 4, lease: 5s, poll: 1s}}
# At least once: an SMS a killed process was sending goes again (the default, `fail`, would
# fail it rather than risk a second copy; docs/channels.md).
dispatch: {{sms_unknown_outcome: retry}}
providers:
  rbm:
    credentials_env: T_RBM_KEY
    client_token_env: T_RBM_CLIENT_TOKEN
    base_url: {providers.url}/rbm
  smsmode:
    api_key_env: T_SMSMODE_KEY
    callback_secret_env: T_SMSMODE_SECRET
    base_url: {providers.url}/smsmode
bots:
  - id: {BOT}
    flow: echo.yaml
    rcs: {{agent: {AGENT}}}
    t2c: {{number: "{NUMBER}"}}
    sms: {{sender: {SENDER}}}
""",
        encoding="utf-8",
    )
    return path


@dataclass
class ServeProcess:
    process: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.process.send_signal(sig)

    async def stop(self) -> int:
        """SIGTERM, then its exit code (SIGKILL after `READY_WITHIN` seconds)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(READY_WITHIN):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        assert self.process.returncode is not None
        return self.process.returncode


async def start_serve(config: Path, port: int, log: Path, key: str, *extra: str) -> ServeProcess:
    """`causette serve` on `port`, once `/healthz` answers 200 (fails with its output if it
    exits or is not ready within `READY_WITHIN` seconds)."""
    env = {**os.environ, **SECRETS, "T_RBM_KEY": key}
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            str(CAUSETTE),
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
            *extra,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    served = ServeProcess(process, port, log)
    await until_healthy(served)
    return served


async def until_healthy(served: ServeProcess) -> None:
    async with aiohttp.ClientSession() as session, asyncio.timeout(READY_WITHIN):
        while True:
            if served.process.returncode is not None:
                raise AssertionError(f"causette serve exited:\n{served.output()}")
            try:
                async with session.get(f"{served.url}/healthz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)  # a real process starting: a bounded wait loop
