"""The RCS side of `benchmarks/chaos.py`'s `rbm-faults` scenario: the RBM emulator the bot's
agent talks to, its faults, and what they did.

The emulator (`sandbox.rbm`) is served on loopback under `/rbm`, next to a Google token
endpoint (`/token`) that the server's service account key names as its `token_uri`, so that
`causette serve` runs google-auth's real flow. RCS phones write through the emulator, which posts
their user messages to the server's RBM webhook, and get the bot's RCS replies there; the SMS
fallbacks reach them through the smsmode emulator (`chaos_load`). A middleware counts the API's
answers by call and status, and the calls answered after the client's timeout (`CLIENT_TIMEOUT`):
those the server gave up on and RBM carried out anyway.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from agents.rbm import DEFAULT_TIMEOUT
from benchmarks.chaos_load import HOST
from sandbox.google_token import TOKEN_PATH, add_token_endpoint, service_account_key
from sandbox.phonebook import Direction, Network, PhoneBook, SimulatedPhone
from sandbox.rbm import RbmEmulator
from sandbox.webhook_client import WebhookClient

AGENT = "echo_agent"
KEY_ENV, CLIENT_TOKEN_ENV = "CHAOS_RBM_KEY", "CHAOS_RBM_CLIENT_TOKEN"
CLIENT_TOKEN = "jeton-webhook-rbm-chaos"
CLIENT_TIMEOUT = DEFAULT_TIMEOUT.total_seconds()
"""How long the server's RBM client waits for an answer (agents/rbm.py): a call held longer
has an unknown outcome for the server, and is carried out by RBM when released."""
API = "/rbm"


@dataclass(frozen=True)
class RbmOptions:
    """The `rbm-faults` knobs (`add_arguments` documents each)."""

    rcs_share: float = 1.0
    server_errors: float = 0.15
    timeouts: float = 0.10
    dropped_receipts: float = 0.05
    release_every: float = 30.0
    fallback_after: int = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `rbm-faults` options, in their own group of `--help`."""
    group = parser.add_argument_group("rbm-faults")
    default = RbmOptions()
    group.add_argument(
        "--rcs-share",
        type=float,
        default=default.rcs_share,
        help="share of the phones on RCS, the others SMS-only (default: all)",
    )
    group.add_argument(
        "--rbm-5xx",
        type=float,
        default=default.server_errors,
        help="share of RBM calls answered 500 or 503, half each (default 0.15)",
    )
    group.add_argument(
        "--rbm-timeouts",
        type=float,
        default=default.timeouts,
        help="share of RBM calls held until the next release (default 0.10)",
    )
    group.add_argument(
        "--rbm-drop-receipts",
        type=float,
        default=default.dropped_receipts,
        help="share of DELIVERED receipts never posted (default 0.05)",
    )
    group.add_argument(
        "--release-every",
        type=float,
        default=default.release_every,
        help=f"seconds between releases of the held calls (default 30; the server's client"
        f" gives up after {CLIENT_TIMEOUT:g})",
    )
    group.add_argument(
        "--fallback-after",
        type=int,
        default=default.fallback_after,
        help="the bot's rcs.fallback_after in seconds (default 10; Causette's is 60)",
    )


def options_from(args: argparse.Namespace) -> RbmOptions:
    """The knobs, checked (ValueError naming the option)."""
    rates = {
        "--rcs-share": args.rcs_share,
        "--rbm-5xx": args.rbm_5xx,
        "--rbm-timeouts": args.rbm_timeouts,
        "--rbm-drop-receipts": args.rbm_drop_receipts,
    }
    for name, rate in rates.items():
        if not 0 <= rate <= 1:
            raise ValueError(f"{name} is a share between 0 and 1, not {rate}")
    if args.rbm_5xx + args.rbm_timeouts > 1:
        raise ValueError("--rbm-5xx and --rbm-timeouts add up to more than 1")
    if args.release_every <= 0 or args.fallback_after < 1:
        raise ValueError("--release-every is above 0 and --fallback-after at least 1")
    return RbmOptions(
        args.rcs_share,
        args.rbm_5xx,
        args.rbm_timeouts,
        args.rbm_drop_receipts,
        args.release_every,
        args.fallback_after,
    )


class RcsThreads(PhoneBook):
    """Phones that write on their own network: an RCS phone keeps to the agent's thread even
    after an SMS fallback came (the phone book's people answer in the thread of the last
    message, `PhoneBook._reply_channel`, and would stay on SMS for the rest of the run once a
    breaker opened: the load would drift off RBM)."""

    @staticmethod
    def _reply_channel(phone: SimulatedPhone) -> str:
        return phone.network.value


def mixed_phonebook(phones: list[str], rcs_share: float) -> PhoneBook:
    """The first `rcs_share` of the phones on RCS, the others SMS-only."""
    phonebook = RcsThreads()
    rcs = round(len(phones) * rcs_share)
    for index, number in enumerate(phones):
        phonebook.add(number, Network.RCS if index < rcs else Network.SMS)
    return phonebook


class CountedWebhooks(WebhookClient):
    """The emulator's webhook client, counting what it was given to post: user messages
    (`message`) and events by type (a dropped receipt is never given)."""

    def __init__(self, emulator: RbmEmulator) -> None:
        super().__init__(emulator.faults.webhooks, rng=emulator.rng, clock=emulator.clock)
        self.posted: Counter[str] = Counter()

    def post(self, agent_id: str, payload: dict[str, Any]) -> None:
        self.posted[str(payload.get("eventType", "message"))] += 1
        super().post(agent_id, payload)


@dataclass
class Rbm:
    """The RBM emulator on loopback and the counts of its faults."""

    emulator: RbmEmulator
    webhooks: CountedWebhooks
    url: str
    """The API's base URL (`providers.rbm.base_url`)."""
    key: str
    """A service account key whose `token_uri` is this server's `/token`."""
    answers: Counter[str] = field(default_factory=Counter)
    """API answers by call and status: `send 200`, `revoke 404`..."""
    late: Counter[str] = field(default_factory=Counter)
    """The same, for the answers given after `CLIENT_TIMEOUT` (the client had gone)."""
    held: int = 0
    """Calls the `timeout_rate` fault held, counted as they are released."""
    faults_from: int | None = None
    """MOs written when the faults began."""

    @property
    def env(self) -> dict[str, str]:
        return {KEY_ENV: self.key, CLIENT_TOKEN_ENV: CLIENT_TOKEN}

    def pending(self) -> tuple[int, bool]:
        """What RBM still holds back: calls held, webhooks queued."""
        return self.emulator.held, self.webhooks.busy

    def inject(self, options: RbmOptions, written: int) -> None:
        faults = self.emulator.faults
        half = options.server_errors / 2
        faults.error_rates = {500: half, 503: half}
        faults.timeout_rate = options.timeouts
        faults.drop_receipts = options.dropped_receipts
        self.faults_from = written

    async def release_periodically(self, every: float) -> None:
        """Let the held calls go every `every` seconds (each one was held from 0 to `every`
        seconds: past `CLIENT_TIMEOUT`, a timeout for the server, then carried out)."""
        while True:
            await asyncio.sleep(every)  # the fault's own rhythm: wall-clock time
            self.held += self.emulator.held
            self.emulator.release_held()

    def counts(self) -> dict[str, Any]:
        """The faults injected and what RBM saw; `rbm_mos_acknowledged`: user messages the
        webhook took (posted and not given up on)."""
        dropped = Counter(str(p.get("eventType", "message")) for p in self.webhooks.dropped)
        delivered = sum(1 for m in self.emulator.messages.values() if m.state == "delivered")
        statuses = Counter(str(a.status or "no answer") for a in self.webhooks.attempts)
        errors = sum(n for call, n in self.answers.items() if call.split()[1] in ("500", "503"))
        return {
            "mos_before_faults": self.faults_from,
            "rbm_calls": dict(sorted(self.answers.items())),
            "rbm_5xx_answered": errors,
            "rbm_calls_held": self.held,
            "rbm_answered_after_timeout": dict(sorted(self.late.items())),
            "rbm_delivered": delivered,
            "rbm_receipts_dropped": delivered - self.webhooks.posted["DELIVERED"],
            "rbm_webhook_answers": dict(sorted(statuses.items())),
            "rbm_webhooks_dropped": sum(dropped.values()),
            "rbm_mos_acknowledged": self.webhooks.posted["message"] - dropped["message"],
        }


@contextlib.asynccontextmanager
async def running_rbm(phonebook: PhoneBook, webhook_url: str) -> AsyncIterator[Rbm]:
    """The RBM emulator on loopback, the echo agent's webhook at `webhook_url`."""
    emulator = RbmEmulator(phonebook)
    webhooks = emulator.webhooks = CountedWebhooks(emulator)
    emulator.add_agent(AGENT, webhook_url=webhook_url, client_token=CLIENT_TOKEN)
    answers: Counter[str] = Counter()
    late: Counter[str] = Counter()

    @web.middleware
    async def count(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith(API):
            return await handler(request)
        started = time.monotonic()
        # Read before the emulator holds the call, as RBM has the request once it is sent: a
        # client gone by its release must not take the body with it (the held call is carried
        # out, not failed on reading the body of a closed connection).
        await request.read()
        call = f"{_call(request)} cancelled"
        try:
            response = await handler(request)
            call = f"{_call(request)} {response.status}"
            return response
        except Exception as error:
            call = f"{_call(request)} {type(error).__name__}"
            raise
        finally:
            answers[call] += 1
            if time.monotonic() - started >= CLIENT_TIMEOUT:
                late[call] += 1

    # Outside the emulator's own middleware, which turns its faults into error answers.
    app = web.Application(middlewares=[count])
    app.add_subapp(API, emulator.app())
    add_token_endpoint(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    url = f"http://{HOST}:{runner.addresses[0][1]}"
    key = service_account_key(f"{url}{TOKEN_PATH}", "causette-chaos")
    try:
        yield Rbm(emulator, webhooks, f"{url}{API}", key, answers, late)
    finally:
        await runner.cleanup()


def _call(request: web.Request) -> str:
    if request.method == "DELETE":
        return "revoke"
    last = request.path.rsplit("/", 1)[-1]
    return {"agentMessages": "send", "agentEvents": "event"}.get(last, last)


def rcs_config(rbm: Rbm, fallback_after: int) -> tuple[str, str]:
    """The lines of `bots.yaml` for the agent (`chaos_load.write_config`'s `rcs`): the RBM
    provider, and the bot's `rcs:`."""
    provider = (
        f"  rbm:\n    credentials_env: {KEY_ENV}\n    client_token_env: {CLIENT_TOKEN_ENV}\n"
        f"    base_url: {rbm.url}\n"
    )
    return provider, f"    rcs: {{agent: {AGENT}, fallback_after: {fallback_after}s}}\n"


def phone_counts(phonebook: PhoneBook) -> dict[str, Any]:
    """What the phones wrote and got on each channel, and the replies that came by both."""
    mos: Counter[str] = Counter()
    replies: Counter[str] = Counter()
    both = 0
    for phone in phonebook.phones.values():
        texts: dict[str, set[str]] = {"rcs": set(), "sms": set()}
        for message in phone.messages:
            if message.direction is Direction.FROM_PHONE:
                mos[message.channel] += 1
            else:
                replies[message.channel] += 1
                texts[message.channel].add(str(message.body.get("text", "")))
        both += len(texts["rcs"] & texts["sms"])
    return {
        "mos_by_channel": dict(sorted(mos.items())),
        "replies_by_channel": dict(sorted(replies.items())),
        "replies_by_rcs_and_sms": both,
    }
