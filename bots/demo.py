"""`causette demo`: the example bots, both emulators and the phone simulator, offline.

One aiohttp server on loopback holds everything: the bots' runtime and webhooks, the RBM
emulator under `/rbm`, the smsmode emulator under `/smsmode`, and the phone simulator at `/`.
The bots use the real clients and the real webhooks: only the providers are stand-ins.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from agents.google_auth import StaticToken
from bots.app import create_app
from bots.config import (
    Providers,
    RbmProvider,
    RcsSettings,
    Settings,
    SmsmodeProvider,
    SmsSettings,
    T2cSettings,
    load_settings,
)
from bots.http import AiohttpCaller
from bots.metrics import Metrics
from bots.runtime import Runtime
from bots.serve import runtime_from_settings
from bots.wiring import RBM_WEBHOOK_PATH, add_webhooks, channel_sender
from sandbox.phonebook import Network, PhoneBook
from sandbox.rbm import RbmEmulator
from sandbox.simulator import add_simulator
from sandbox.smsmode import SmsmodeEmulator
from sandbox.smsmode_callbacks import SmsmodeChannel

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "bots.yaml"
DEMO_ENV = {
    "DEMO_RBM_KEY": "{}",
    "DEMO_RBM_CLIENT_TOKEN": "demo-client-token",
    "DEMO_SMSMODE_KEY": "demo-smsmode-key",
    "DEMO_SMSMODE_SECRET": "demo-callback-secret",
}
PHONES = (("+33612345601", Network.RCS, "Ana"), ("+33798765432", Network.SMS, "Bruno"))


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


async def demo_app(port: int, database: Path, first_bot: str = "appointment") -> web.Application:
    base_url = f"http://127.0.0.1:{port}"
    settings = demo_settings(base_url, database)
    phonebook = PhoneBook()
    for number, network, name in PHONES:
        phonebook.add(number, network, name)
    rbm = RbmEmulator(phonebook)
    for bot in settings.bots:
        rbm.add_agent(
            f"{bot.id}_agent",
            webhook_url=f"{base_url}{RBM_WEBHOOK_PATH}",
            client_token=DEMO_ENV["DEMO_RBM_CLIENT_TOKEN"],
        )
    numbers = tuple(demo_number(index) for index in range(len(settings.bots)))
    sms = SmsmodeEmulator(
        phonebook,
        [SmsmodeChannel(api_keys=(DEMO_ENV["DEMO_SMSMODE_KEY"],), name="demo", numbers=numbers)],
    )
    providers = aiohttp.ClientSession()
    caller = AiohttpCaller()
    sender = channel_sender(settings, DEMO_ENV, providers, rbm_tokens=StaticToken("sandbox"))
    metrics = Metrics()
    runtime = runtime_from_settings(settings, DEMO_ENV, sender=sender, http=caller, metrics=metrics)
    app = create_app(runtime, metrics)
    add_webhooks(app, settings, DEMO_ENV, runtime)
    add_simulator(app, phonebook)
    app.add_subapp("/rbm", rbm.app())
    app.add_subapp("/smsmode", sms.app())

    await caller.__aenter__()

    async def close_sessions(_: web.Application) -> None:
        # on_cleanup runs after the cleanup contexts: the runtime has stopped sending.
        await caller.__aexit__(None, None, None)
        await providers.close()

    async def greet(_: web.Application) -> AsyncIterator[None]:
        # The business writes first, as a reminder campaign would: one RCS, one SMS phone.
        task = asyncio.create_task(_start_conversations(runtime, first_bot))
        yield
        task.cancel()

    app.cleanup_ctx.append(greet)
    app.on_cleanup.append(close_sessions)
    return app


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


def run_demo(port: int, database: Path | None, first_bot: str) -> None:
    folder = tempfile.mkdtemp(prefix="causette-demo-")
    path = database or Path(folder) / "demo.db"
    print(f"Causette demo: open http://127.0.0.1:{port}/ (SQLite: {path}; Ctrl-C to stop)")
    web.run_app(
        demo_app(port, path, first_bot), host="127.0.0.1", port=port, access_log=None, print=None
    )
