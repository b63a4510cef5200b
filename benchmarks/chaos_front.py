"""The front of `benchmarks/chaos.py`'s `duplicates` scenario: between the providers and the
server, it delivers every webhook several times."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

HOST = "127.0.0.1"
COPIES = 3
"""How many times the `duplicates` front delivers each webhook."""


@dataclass
class Front:
    """Between the providers and the server: passes each webhook on, or `copies` times (the
    first, then the others at once, so that the copies both follow and race each other), and
    answers with the first copy's answer. Counts the answers by status."""

    target: str
    copies: int = 1
    statuses: Counter[str] = field(default_factory=Counter)
    injected: int = 0
    """Copies sent beyond the first."""
    _session: aiohttp.ClientSession | None = None

    async def forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
        url = f"{self.target}{request.path_qs}"
        first = await self._post(url, body, headers)
        if self.copies > 1:
            self.injected += self.copies - 1
            await asyncio.gather(*(self._post(url, body, headers) for _ in range(self.copies - 1)))
        if first is None:
            return web.Response(status=502, text="the server did not answer")
        status, payload = first
        return web.Response(status=status, body=payload, content_type="application/json")

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes] | None:
        assert self._session is not None
        try:
            async with self._session.post(url, data=body, headers=headers) as answer:
                payload = await answer.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            self.statuses[type(error).__name__] += 1
            return None
        self.statuses[str(answer.status)] += 1
        return answer.status, payload

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self.forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, HOST, 0)
        await site.start()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        try:
            yield f"http://{HOST}:{runner.addresses[0][1]}"
        finally:
            await self._session.close()
            await runner.cleanup()
