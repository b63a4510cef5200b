"""The phone simulator's billing panel in headless Chromium: the sessions open and the running
cost the demo serves at `/api/billing`, beside each phone; hidden where nothing serves it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.test_utils import TestServer

from sandbox.phonebook import Network, PhoneBook
from sandbox.simulator import add_simulator

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]

RCS, SMS = "+33612345678", "+33798765432"


def phones() -> PhoneBook:
    phonebook = PhoneBook()
    phonebook.add(RCS, Network.RCS, "Ana")
    phonebook.add(SMS, Network.SMS, "Bruno")
    phonebook.deliver(SMS, "sms", {"text": "Bonjour", "segments": 1, "encoding": "GSM7"})
    return phonebook


async def test_the_panel_shows_sessions_and_cost(
    aiohttp_server: ServerFactory, browser_context: BrowserContext
) -> None:
    until = "2026-11-26T23:00:00+00:00"
    panel = {
        "phones": {
            SMS: {
                "sessions": [{"label": "Time2Chat", "until": until}],
                "cost": "0.140",
                "currency": "EUR",
            },
            RCS: {"sessions": [], "cost": "0.045", "currency": "EUR"},
        }
    }

    async def billing(_: web.Request) -> web.Response:
        return web.json_response(panel)

    app = web.Application()
    add_simulator(app, phones())
    app.router.add_get("/api/billing", billing)
    server = await aiohttp_server(app)

    from playwright.async_api import expect

    page = await browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(str(server.make_url("/")))
    bruno = page.locator(f'[data-testid="phone"][data-number="{SMS}"]')
    ana = page.locator(f'[data-testid="phone"][data-number="{RCS}"]')
    await expect(bruno.get_by_test_id("billing")).to_contain_text("Session Time2Chat ouverte")
    await expect(bruno.get_by_test_id("billing")).to_contain_text("Coût : 0.140 EUR")
    await expect(ana.get_by_test_id("billing")).to_have_text("Coût : 0.045 EUR")
    assert errors == []


async def test_without_a_billing_api_the_panel_stays_hidden(
    aiohttp_server: ServerFactory, browser_context: BrowserContext
) -> None:
    app = web.Application()
    add_simulator(app, phones())
    server = await aiohttp_server(app)

    from playwright.async_api import expect

    page = await browser_context.new_page()
    await page.goto(str(server.make_url("/")))
    bruno = page.locator(f'[data-testid="phone"][data-number="{SMS}"]')
    await expect(bruno.get_by_test_id("message-text")).to_have_text("Bonjour")
    await expect(bruno.get_by_test_id("billing")).to_be_hidden()
