"""A loopback HTTP server that plays Google or smsmode: it records requests, answers as told.

Every test gets a fresh `FakeProvider` on its own port (pytest-aiohttp's `aiohttp_server`)
and a fresh client session. A `stuck` answer waits on an event that no test sets: the
client's own timeout ends the exchange; the fixture releases the handler at teardown, so the
server closes at once instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDictProxy

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    raw_path: str
    """Path as written on the wire, before any decoding."""
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stuck: bool = False
    """Never answer (until teardown)."""
    echo_header: str | None = None
    """Answer with this request header's value inside the body (to prove it gets scrubbed)."""


class FakeProvider:
    """Answers queued `Reply`s in order, then `default`; records every request."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: list[Reply] = []
        self.default = Reply(200, json={})
        self.release = asyncio.Event()
        self.server: TestServer | None = None

    def reply(self, status: int = 200, json: Any = None, **fields: Any) -> None:
        self.replies.append(Reply(status, json, **fields))

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            Recorded(
                method=request.method,
                raw_path=request.raw_path.split("?", 1)[0],
                path=request.path,
                query=dict(request.query),
                headers=request.headers,
                body=await request.read(),
            )
        )
        reply = self.replies.pop(0) if self.replies else self.default
        if reply.stuck:
            await self.release.wait()
        headers = dict(reply.headers)
        if reply.echo_header is not None:
            echoed = request.headers.get(reply.echo_header, "")
            return web.json_response(
                {"error": {"code": reply.status, "message": f"bad {echoed}", "status": "X"}},
                status=reply.status,
                headers=headers,
            )
        if reply.text is not None:
            return web.Response(status=reply.status, text=reply.text, headers=headers)
        if reply.json is None:
            return web.Response(status=reply.status, headers=headers)
        return web.json_response(reply.json, status=reply.status, headers=headers)


@pytest.fixture
async def provider(aiohttp_server: ServerFactory) -> AsyncIterator[FakeProvider]:
    fake = FakeProvider()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    fake.server = await aiohttp_server(app)
    yield fake
    fake.release.set()  # stuck handlers finish before the server closes


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
