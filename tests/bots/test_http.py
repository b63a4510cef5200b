"""The aiohttp caller behind flow `call`s, against a real server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bots.http import AiohttpCaller
from flows.conversation import HttpRequest

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


def request(url: str, **fields: Any) -> HttpRequest:
    values: dict[str, Any] = {
        "method": "POST",
        "headers": {},
        "json": None,
        "timeout": timedelta(seconds=5),
    }
    values.update(fields)
    return HttpRequest(url=url, **values)


@pytest.fixture
async def backend(aiohttp_server: ServerFactory) -> TestServer:
    release = asyncio.Event()

    async def slots(incoming: web.Request) -> web.Response:
        body = await incoming.json()
        return web.json_response(
            {"echo": body, "token": incoming.headers.get("X-Token")}, status=201
        )

    async def plain(_: web.Request) -> web.Response:
        return web.Response(text="not json", status=503)

    async def stuck(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response()

    app = web.Application()
    app.router.add_post("/slots", slots)
    app.router.add_get("/plain", plain)
    app.router.add_get("/stuck", stuck)
    return await aiohttp_server(app)


async def test_json_round_trip(backend: TestServer) -> None:
    async with AiohttpCaller() as call:
        response = await call(
            request(
                str(backend.make_url("/slots")),
                json={"date": "2026-12-13"},
                headers={"X-Token": "t"},
            )
        )
    assert response.status == 201
    assert response.json == {"echo": {"date": "2026-12-13"}, "token": "t"}


async def test_a_body_that_is_not_json_comes_back_as_text(backend: TestServer) -> None:
    async with AiohttpCaller() as call:
        response = await call(request(str(backend.make_url("/plain")), method="GET"))
    assert (response.status, response.json) == (503, "not json")


async def test_the_request_timeout_is_enforced(backend: TestServer) -> None:
    async with AiohttpCaller() as call:
        with pytest.raises(TimeoutError):
            await call(
                request(
                    str(backend.make_url("/stuck")),
                    method="GET",
                    timeout=timedelta(milliseconds=50),
                )
            )


async def test_use_outside_its_block_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="outside its `async with`"):
        await AiohttpCaller()(request("http://127.0.0.1:9/"))
