"""The aiohttp application of `causette serve`: the runtime's loops, health and metrics.

Later issues add the webhooks and the admin API to the same application.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bots.metrics import Metrics
from bots.runtime import Runtime

log = logging.getLogger(__name__)

RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime", Runtime)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)


def create_app(runtime: Runtime, metrics: Metrics) -> web.Application:
    """The application; the runtime is opened, run and closed with it."""
    app = web.Application()
    app[RUNTIME] = runtime
    app[METRICS] = metrics
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    app.cleanup_ctx.append(_run_runtime)
    return app


async def _run_runtime(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    await runtime.open()
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.run(stop))
    log.info("runtime started")
    try:
        yield
    finally:
        # Graceful: loops finish the turn in hand (its lease is released or committed),
        # then the store closes.
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await runtime.close()
        log.info("runtime stopped")


async def healthz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        depth = await runtime.store.inbox_depth()
    except Exception as error:  # an unreachable store makes the process unhealthy
        return web.json_response({"status": "unavailable", "error": str(error)}, status=503)
    return web.json_response({"status": "ok", "inbox_depth": depth})


async def metrics_page(request: web.Request) -> web.Response:
    body = await request.app[METRICS].render(request.app[RUNTIME])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
