"""`causette serve`: a runtime built from `bots.yaml`, in an aiohttp server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import timedelta
from functools import partial
from pathlib import Path

import aiohttp
from aiohttp import web

from agents.google_auth import TokenSource
from bots.admin import add_admin_api
from bots.app import RUNTIME, create_app
from bots.business_webhooks import BusinessWebhooks, Endpoint, endpoints_from
from bots.campaigns import run_campaigns, sending_rules
from bots.campaigns_runner import SendingRules
from bots.config import Settings
from bots.http import AiohttpCaller
from bots.metrics import Metrics
from bots.outbox import Sender
from bots.runtime import Runtime, Tuning, process_owner
from bots.wiring import add_webhooks, billing_from_settings, build_router, default_channel
from bots.worker import BotProfile
from flows.conversation import HttpCaller
from messaging.clock import Clock, SystemClock
from store.url import store_from_url

log = logging.getLogger(__name__)

FLOW_WATCH_PERIOD = timedelta(seconds=2)


def runtime_from_settings(
    settings: Settings,
    environ: Mapping[str, str],
    *,
    clock: Clock | None = None,
    sender: Sender | None = None,
    providers: aiohttp.ClientSession | None = None,
    rbm_tokens: TokenSource | None = None,
    http: HttpCaller | None = None,
    metrics: Metrics | None = None,
    rng: random.Random | None = None,
) -> Runtime:
    """The runtime of `bots.yaml`. With a `providers` session and providers configured, the
    outbox goes through the fallback router; otherwise to `sender` (default: the log)."""
    store = store_from_url(settings.store)
    clock = clock or SystemClock()
    owner = process_owner()
    billing = billing_from_settings(settings, store)
    handler = None
    if providers is not None and (settings.providers.rbm or settings.providers.smsmode):
        handler = build_router(
            settings,
            environ,
            providers,
            store=store,
            clock=clock,
            owner=owner,
            rbm_tokens=rbm_tokens,
            rng=rng,
            billing=billing,
        )
    profiles = {
        bot.id: BotProfile(
            bot.id,
            env=bot.env(environ),
            channel=default_channel(bot),
            timezone=settings.timezone,
            business=bot.business(settings),
            keywords=bot.compliance.keywords(),
            opt_out_confirmation=bot.compliance.confirmation(),
            opt_in_confirmation=bot.compliance.opt_in_confirmation,
            events=bot.webhook.kinds() if bot.webhook is not None else frozenset(),
        )
        for bot in settings.bots
    }
    return Runtime(
        store,
        profiles,
        {bot.id: bot.flow for bot in settings.bots},
        clock=clock,
        sender=sender,
        handler=handler,
        http=http,
        tuning=Tuning(
            concurrency=settings.worker.concurrency,
            lease=settings.worker.lease,
            poll=settings.worker.poll,
            in_flight=settings.dispatch.in_flight,
        ),
        owner=owner,
        on_turn=metrics.observe_turn if metrics else None,
        billing=billing,
        retention=settings.compliance.retention.policy(),
    )


def serve(
    settings: Settings,
    environ: Mapping[str, str],
    host: str,
    port: int,
    *,
    reuse_port: bool = False,
) -> None:
    """Run until SIGINT/SIGTERM; SIGHUP (or a changed flow file) reloads the flows.
    `reuse_port`: share the port with the other worker processes (`causette serve
    --workers`, bots/workers.py)."""

    async def application() -> web.Application:
        metrics = Metrics()
        caller = AiohttpCaller()
        await caller.__aenter__()
        providers = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        # Without providers nothing can be sent: messages are logged (phones masked).
        runtime = runtime_from_settings(
            settings, environ, http=caller, metrics=metrics, providers=providers
        )
        app = create_app(runtime, metrics)
        add_webhooks(app, settings, environ, runtime)
        add_admin_api(app, runtime, erasure_salt=settings.compliance.erasure_salt(environ))
        app.cleanup_ctx.append(_watch_flows)
        app.cleanup_ctx.append(_campaigns_of(sending_rules(settings)))
        webhooks = {bot.id: bot.webhook for bot in settings.bots if bot.webhook is not None}
        if webhooks:
            endpoints = endpoints_from(webhooks, environ)
            app.cleanup_ctx.append(partial(_tell_businesses, endpoints=endpoints))

        async def close_sessions(_: web.Application) -> None:
            await caller.__aexit__(None, None, None)
            await providers.close()

        app.on_cleanup.append(close_sessions)
        return app

    web.run_app(
        application(), host=host, port=port, access_log=None, print=None, reuse_port=reuse_port
    )


def _campaigns_of(
    rules: dict[str, SendingRules],
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Run the campaigns that fall due (R1: sends now or scheduled), one task each
    (bots/campaigns.py); at shutdown each leaves its campaign resumable."""

    async def campaigns(app: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(run_campaigns(app[RUNTIME], rules, stop))
        try:
            yield
        finally:
            stop.set()
            await task

    return campaigns


async def _tell_businesses(
    app: web.Application, *, endpoints: Mapping[str, Endpoint]
) -> AsyncIterator[None]:
    """Post the business events of the bots that have a `webhook:` (signed, retried)."""
    runtime = app[RUNTIME]
    async with aiohttp.ClientSession() as session:
        webhooks = BusinessWebhooks(runtime.store, endpoints, session, clock=runtime.clock)
        stop = asyncio.Event()
        task = asyncio.create_task(webhooks.run(stop))
        try:
            yield
        finally:
            stop.set()
            await task


async def _watch_flows(app: web.Application) -> AsyncIterator[None]:
    """Reload flows on SIGHUP and when a flow file's modification time changes."""
    runtime = app[RUNTIME]
    reload = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGHUP, reload.set)
    task = asyncio.create_task(_reload_loop(runtime, reload))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGHUP)


async def _reload_loop(runtime: Runtime, reload: asyncio.Event) -> None:
    seen = _mtimes(runtime.flow_files.values())
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reload.wait(), FLOW_WATCH_PERIOD.total_seconds())
        now = _mtimes(runtime.flow_files.values())
        if reload.is_set() or now != seen:
            reload.clear()
            seen = now
            for change in await runtime.flows.reload():
                log.info("bot %s: flow version %s", change.bot_id, change.new_hash[:12])


def _mtimes(paths: Iterable[Path]) -> dict[Path, float]:
    result = {}
    for path in paths:
        with contextlib.suppress(OSError):
            result[path] = path.stat().st_mtime
    return result
