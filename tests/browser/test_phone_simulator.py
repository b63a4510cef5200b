"""The phone simulator in headless Chromium: tapping a chip shows the bot's next message."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from messaging.encoding import split
from sandbox.phonebook import Network, PhoneBook, SimulatedPhone
from sandbox.simulator import add_simulator

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]

RCS = "+33612345678"
SMS = "+33798765432"
SMS_TEXT = (
    "Causette : votre rendez-vous du 12 décembre à 10 h est confirmé.\n"
    "Pour annuler, répondez ANNULER ; pour déplacer, répondez DEPLACER.\n"
    "STOP au 36180 pour ne plus recevoir nos messages."
)
CROISSANT_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="400" height="200">
<rect width="400" height="200" fill="#f4c27a"/>
<circle cx="200" cy="100" r="60" fill="#d98b2b"/></svg>"""


class FakeBot:
    """The rcs emulator's stand-in: answers a tapped chip with the next message of the flow."""

    def __init__(self, phonebook: PhoneBook) -> None:
        self.phonebook = phonebook
        self.media_url = ""
        self.postbacks: list[str] = []

    async def __call__(self, phone: SimulatedPhone, body: dict[str, Any]) -> None:
        if "postbackData" not in body:
            return
        self.postbacks.append(body["postbackData"])
        self.phonebook.deliver(
            phone.number, "rcs", {"text": "C'est noté : mardi à 10 h. À bientôt !"}
        )
        card = {
            "title": "Boulangerie du Port",
            "description": "12 quai du Port, Marseille",
            "media": {"height": "SHORT", "contentInfo": {"fileUrl": self.media_url}},
            "suggestions": [
                {
                    "action": {
                        "text": "Itinéraire",
                        "postbackData": "route",
                        "openUrlAction": {"url": "https://example.com/itineraire"},
                    }
                }
            ],
        }
        self.phonebook.deliver(
            phone.number,
            "rcs",
            {"richCard": {"standaloneCard": {"cardOrientation": "VERTICAL", "cardContent": card}}},
        )


async def test_tapping_a_chip_shows_the_bots_next_message(
    aiohttp_server: ServerFactory, browser_context: BrowserContext, tmp_path: Path
) -> None:
    phonebook = PhoneBook()
    phonebook.add(RCS, Network.RCS, "Ana")
    phonebook.add(SMS, Network.SMS, "Bruno")
    bot = FakeBot(phonebook)
    phonebook.on_action("rcs", bot)
    first = phonebook.deliver(
        RCS,
        "rcs",
        {
            "text": "Bonjour Ana ! Quel créneau vous convient ?",
            "suggestions": [
                {"reply": {"text": "Mardi 10 h", "postbackData": "slot_tue"}},
                {"reply": {"text": "Jeudi 15 h", "postbackData": "slot_thu"}},
            ],
        },
    )
    parts = split(SMS_TEXT)
    assert parts.count == 2
    sms = {"text": SMS_TEXT, "segments": parts.count, "encoding": "GSM7", "from": "CAUSETTE"}
    phonebook.deliver(SMS, "sms", sms)

    async def croissant(_: web.Request) -> web.Response:
        return web.Response(text=CROISSANT_SVG, content_type="image/svg+xml")

    app = web.Application()
    add_simulator(app, phonebook)
    app.router.add_get("/media/croissant.svg", croissant)
    server = await aiohttp_server(app)
    assert server.host == "127.0.0.1"
    bot.media_url = str(server.make_url("/media/croissant.svg"))

    from playwright.async_api import expect

    page = await browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(str(server.make_url("/")))

    ana = page.locator(f'[data-testid="phone"][data-number="{RCS}"]')
    bruno = page.locator(f'[data-testid="phone"][data-number="{SMS}"]')
    await expect(ana.get_by_test_id("phone-number")).to_have_text("06 12 34 56 78")
    await expect(ana.get_by_test_id("network")).to_have_text("RCS")
    await expect(bruno.get_by_test_id("network")).to_have_text("SMS")
    await expect(bruno.get_by_test_id("message-text")).to_have_text(SMS_TEXT)
    await expect(bruno.get_by_test_id("sms-segments")).to_have_text(f"{parts.count} SMS · GSM7")
    # The first message was displayed, so the page reported it read: ✓✓.
    first_ticks = ana.locator(f'[data-id="{first.id}"]').get_by_test_id("ticks")
    await expect(first_ticks).to_have_text("✓✓")
    assert first.status == "read"

    await ana.get_by_role("button", name="Mardi 10 h").click()

    answer = ana.get_by_test_id("message-text").filter(has_text="C'est noté : mardi à 10 h.")
    await expect(answer).to_be_visible()
    assert bot.postbacks == ["slot_tue"]
    outgoing = ana.locator('[data-direction="from_phone"]')
    await expect(outgoing.get_by_test_id("message-text")).to_have_text("Mardi 10 h")
    await expect(ana.get_by_test_id("card-title")).to_have_text("Boulangerie du Port")
    await expect(ana.get_by_test_id("chip").filter(has_text="Jeudi 15 h")).to_have_count(0)
    await expect(ana.locator("img[alt='Boulangerie du Port']")).to_be_visible()

    await page.screenshot(path=tmp_path / "simulator.png", full_page=True)
    assert errors == []
