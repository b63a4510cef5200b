"""`causette demo`: the example bots, both emulators and the phone simulator, offline.

One aiohttp server on loopback holds everything: the bots' runtime and webhooks, the RBM
emulator under `/rbm`, the smsmode emulator under `/smsmode`, and the phone simulator at `/`.
The bots use the real clients and the real webhooks: only the providers are stand-ins.

`build_demo` assembles it, once, for the command and for the end-to-end tests: the tests point
the flows' backends elsewhere (`env`), seed the emulators, start no conversation (`greet=None`)
and add their own routes to `Demo.app` before they start it.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path

import aiohttp
import click
from aiohttp import web

from agents.google_auth import StaticToken
from bots.admin import add_admin_api
from bots.app import create_app
from bots.compliance_settings import QuietHoursSettings
from bots.config import (
    Providers,
    RbmProvider,
    Settings,
    SmsmodeProvider,
    SmsSettings,
    T2cSettings,
    load_settings,
)
from bots.demo_billing import add_billing_panel
from bots.dispatch_settings import RcsSettings
from bots.http import AiohttpCaller
from bots.metrics import Metrics
from bots.runtime import Runtime
from bots.serve import runtime_from_settings
from bots.wiring import RBM_WEBHOOK_PATH, add_webhooks
from sandbox.phonebook import Network, PhoneBook
from sandbox.rbm import RbmEmulator
from sandbox.simulator import add_simulator
from sandbox.smsmode import SmsmodeChannel, SmsmodeEmulator

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "bots.yaml"
DEMO_ENV = {
    "DEMO_RBM_KEY": "{}",
    "DEMO_RBM_CLIENT_TOKEN": "demo-client-token",
    "DEMO_SMSMODE_KEY": "demo-smsmode-key",
    "DEMO_SMSMODE_SECRET": "demo-callback-secret",
}
PHONES = (("+33612345601", Network.RCS, "Ana"), ("+33798765432", Network.SMS, "Bruno"))
FIRST_BOT = "appointment"


def demo_number(index: int) -> str:
    """The demo's Time2Chat numbers, in the `09 39` platform range (sms.md §3.5)."""
    return f"+3393900000{index + 1}"


def demo_settings(base_url: str, database: Path, config: Path = EXAMPLES) -> Settings:
    """The example bots, each with an RCS agent and a SenderID, on the sandbox providers."""
    settings = load_settings(config, {})
    bots = [
        bot.model_copy(
            update={
                "rcs": RcsSettings(agent=f"{bot.id}_agent"),
                # Two-way SMS needs a number to answer to: a Time2Chat 09 number per bot.
                "t2c": T2cSettings(number=demo_number(index)),
                "sms": SmsSettings(sender=bot.id.upper()[:11]),
            }
        )
        for index, bot in enumerate(settings.bots)
    ]
    providers = Providers(
        rbm=RbmProvider(
            credentials_env="DEMO_RBM_KEY",
            client_token_env="DEMO_RBM_CLIENT_TOKEN",
            base_url=f"{base_url}/rbm",
        ),
        smsmode=SmsmodeProvider(
            api_key_env="DEMO_SMSMODE_KEY",
            callback_secret_env="DEMO_SMSMODE_SECRET",
            base_url=f"{base_url}/smsmode",
        ),
    )
    return settings.model_copy(
        update={
            "store": f"sqlite://{database}",
            "bots": bots,
            "providers": providers,
            "public_url": base_url,
        }
    )


@dataclass
class Demo:
    """The demo's application, not started yet, and the pieces inside it."""

    app: web.Application
    """Serve it at `base_url`; routes may still be added until it starts."""
    base_url: str
    database: Path
    settings: Settings
    env: Mapping[str, str]
    """The secrets and URLs the bots read: `DEMO_ENV` and the caller's `env` over it."""
    runtime: Runtime
    phonebook: PhoneBook
    rbm: RbmEmulator
    sms: SmsmodeEmulator


async def build_demo(
    base_url: str,
    database: Path,
    *,
    env: Mapping[str, str] | None = None,
    seed: int | None = None,
    greet: str | None = FIRST_BOT,
    quiet_hours: bool = True,
) -> Demo:
    """The demo to be served at `base_url` (known before it starts: the bots' webhooks and
    the providers' URLs hold it), on the SQLite file `database`.

    `env` goes over `DEMO_ENV` (the flows' backends: `BOOKING_URL`, ...); `seed` makes the
    emulators' draws repeatable; `greet` is the bot that writes to both phones once the app
    has started, None for none; `quiet_hours` False lets marketing out at any hour (tests run at
    any hour). The app's cleanup stops the runtime, then closes the sessions.
    """
    settings = demo_settings(base_url, database)
    if not quiet_hours:
        # Tests run at any hour: marketing is not held (the rule has its own tests).
        always = QuietHoursSettings(
            days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            start=time(0, 0),
            end=time(23, 59, 59, 999999),
            public_holidays=False,
        )
        compliance = settings.compliance.model_copy(update={"quiet_hours": always})
        settings = settings.model_copy(update={"compliance": compliance})
    if greet is not None and greet not in {bot.id for bot in settings.bots}:
        raise ValueError(f"{greet!r} is not an example bot")
    environ = {**DEMO_ENV, **(env or {})}
    phonebook = PhoneBook()
    for number, network, name in PHONES:
        phonebook.add(number, network, name)
    rbm = RbmEmulator(phonebook, rng=_rng(seed, 0))
    for bot in settings.bots:
        if bot.rcs is not None:
            rbm.add_agent(
                bot.rcs.agent,
                webhook_url=f"{base_url}{RBM_WEBHOOK_PATH}",
                client_token=environ["DEMO_RBM_CLIENT_TOKEN"],
            )
    numbers = tuple(demo_number(index) for index in range(len(settings.bots)))
    channel = SmsmodeChannel(api_keys=(environ["DEMO_SMSMODE_KEY"],), name="demo", numbers=numbers)
    sms = SmsmodeEmulator(phonebook, [channel], rng=_rng(seed, 1))

    providers = aiohttp.ClientSession()
    caller = await AiohttpCaller().__aenter__()
    metrics = Metrics()
    runtime = runtime_from_settings(
        settings,
        environ,
        providers=providers,
        rbm_tokens=StaticToken("sandbox"),
        http=caller,
        metrics=metrics,
        rng=_rng(seed, 2),
    )
    app = create_app(runtime, metrics)
    add_webhooks(app, settings, environ, runtime)
    add_admin_api(app, runtime, erasure_salt=settings.compliance.erasure_salt(environ))
    add_simulator(app, phonebook)
    if runtime.billing is not None:
        numbers = tuple(number for number, _, _ in PHONES)
        add_billing_panel(app, runtime.store, runtime.billing, runtime.clock, numbers)
    app.add_subapp("/rbm", rbm.app())
    app.add_subapp("/smsmode", sms.app())

    async def close_sessions(_: web.Application) -> None:
        # on_cleanup runs after the cleanup contexts: the runtime has stopped sending.
        await caller.__aexit__(None, None, None)
        await providers.close()

    if greet is not None:
        app.cleanup_ctx.append(_greeting(runtime, greet))
    app.on_cleanup.append(close_sessions)
    return Demo(app, base_url, database, settings, environ, runtime, phonebook, rbm, sms)


def _rng(seed: int | None, stream: int) -> random.Random:
    """Unseeded, or the `stream`-th of the draws `seed` fixes (one per emulator)."""
    return random.Random(None if seed is None else seed + stream)


def _greeting(runtime: Runtime, bot_id: str) -> Callable[[web.Application], AsyncIterator[None]]:
    async def greet(_: web.Application) -> AsyncIterator[None]:
        # The business writes first, as a reminder campaign would: one RCS, one SMS phone.
        task = asyncio.create_task(_start_conversations(runtime, bot_id))
        yield
        task.cancel()

    return greet


async def _start_conversations(runtime: Runtime, bot_id: str) -> None:
    for number, network, name in PHONES:
        channel = "rcs" if network is Network.RCS else "t2c"
        await runtime.start_conversation(
            bot_id,
            number,
            key=f"demo:{bot_id}:{number}",
            contact={"first_name": name},
            channel=channel,
        )


async def demo_app(port: int, database: Path, first_bot: str = FIRST_BOT) -> web.Application:
    """What `causette demo` serves on `127.0.0.1:port`."""
    demo = await build_demo(f"http://127.0.0.1:{port}", database, greet=first_bot)
    return demo.app


def run_demo(port: int, database: Path | None, first_bot: str, host: str = "127.0.0.1") -> None:
    """Serve the demo until interrupted; an unknown `first_bot` is a usage error of `--bot`."""
    bots = [bot.id for bot in load_settings(EXAMPLES, {}).bots]
    if first_bot not in bots:
        raise click.BadParameter(
            f"{first_bot!r} is not one of {', '.join(bots)}.",
            ctx=click.get_current_context(silent=True),
            param_hint="'--bot'",
        )
    path = database or Path(tempfile.mkdtemp(prefix="causette-demo-")) / "demo.db"
    print(f"Causette demo: open http://127.0.0.1:{port}/ (SQLite: {path}; Ctrl-C to stop)")
    web.run_app(demo_app(port, path, first_bot), host=host, port=port, access_log=None, print=None)
