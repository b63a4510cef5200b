"""The HTTP caller behind a flow's `call`, on aiohttp."""

from __future__ import annotations

import json
from types import TracebackType
from typing import Self

import aiohttp

from flows.conversation import HttpRequest, HttpResponse

USER_AGENT = "causette"


class AiohttpCaller:
    """Makes flow calls on one shared `ClientSession` (a session per call loses keep-alive and
    is 3x slower, reference/libs.md §2). Use it as an async context manager."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._session is None:
            raise RuntimeError("AiohttpCaller is used outside its `async with` block")
        timeout = aiohttp.ClientTimeout(total=request.timeout.total_seconds())
        async with self._session.request(
            request.method,
            request.url,
            headers=dict(request.headers),
            json=request.json,
            timeout=timeout,
        ) as response:
            body = await response.read()
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = body.decode("utf-8", "replace")
        return HttpResponse(response.status, payload)
