"""The aiohttp application of `causette serve`: the runtime's loops, health and metrics.

The webhooks and the admin API (`bots/admin/`) are added to the same application.
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
    loops = _Loops(runtime)
    app.cleanup_ctx.append(loops.context)
    # The loops stop when the server starts shutting down, before it waits for the requests
    # in hand: nothing new is sent while connections close; webhooks still store until then.
    app.on_shutdown.append(loops.stop)
    return app


class _Loops:
    """The runtime's loops for the life of the application."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def context(self, _: web.Application) -> AsyncIterator[None]:
        await self.runtime.open()
        self._task = asyncio.create_task(self.runtime.run(self._stop))
        log.info("runtime started")
        try:
            yield
        finally:
            await self.stop()
            await self.runtime.close()
            log.info("runtime stopped")

    async def stop(self, _: web.Application | None = None) -> None:
        """Graceful: loops finish the turn in hand (its lease is released or committed)."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


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
