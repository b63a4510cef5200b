"""The phone simulator's HTTP API: page, phones, actions, read receipts and the event stream."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from sandbox.phonebook import Network, PhoneBook, SimulatedPhone
from sandbox.simulator import add_simulator

ClientFactory = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]
Client = TestClient[web.Request, web.Application]

RCS = "+33612345678"
SMS = "+33798765432"

FIRST = {
    "text": "Bonjour Ana ! Votre rendez-vous ?",
    "suggestions": [
        {"reply": {"text": "Mardi 10 h", "postbackData": "slot_tue"}},
        {"action": {"text": "Appeler", "postbackData": "call", "dialAction": {"phoneNumber": RCS}}},
    ],
}


class Actions:
    """A fake emulator: records what people do on its phones."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, phone: SimulatedPhone, body: dict[str, Any]) -> None:
        self.calls.append((phone.number, body))


@pytest.fixture
def phonebook() -> PhoneBook:
    book = PhoneBook()
    book.add("06 12 34 56 78", Network.RCS, "Ana")
    book.add("07 98 76 54 32", Network.SMS, "Bruno")
    return book


@pytest.fixture
def actions(phonebook: PhoneBook) -> Actions:
    recorder = Actions()
    phonebook.on_action("rcs", recorder)
    phonebook.on_action("sms", recorder)
    return recorder


def simulator_app(phonebook: PhoneBook, prefix: str = "") -> web.Application:
    app = web.Application()
    add_simulator(app, phonebook, prefix=prefix)
    return app


@pytest.fixture
async def client(aiohttp_client: ClientFactory, phonebook: PhoneBook) -> Client:
    return await aiohttp_client(simulator_app(phonebook))


# --- Page ----------------------------------------------------------------------------------------


async def test_page_and_its_files_are_served(client: Client) -> None:
    page = await client.get("/")
    assert page.status == 200
    assert page.content_type == "text/html"
    html = await page.text()
    assert 'lang="fr"' in html
    assert 'src="static/simulator.js"' in html
    for name, kind in (("simulator.js", "javascript"), ("simulator.css", "text/css")):
        response = await client.get(f"/static/{name}")
        assert response.status == 200
        assert kind in response.content_type
    assert (await client.get("/static/../simulator.py")).status in (403, 404)


async def test_page_loads_nothing_external_and_parses_no_data_as_html(client: Client) -> None:
    for path in ("/", "/static/simulator.js", "/static/simulator.css"):
        text = await (await client.get(path)).text()
        text = text.replace("http://www.w3.org/2000/svg", "")  # a namespace, not a resource
        assert not re.search(r"https?://|@import|url\(", text), path
        assert not re.search(r"\.(inner|outer)HTML\b|insertAdjacentHTML|document\.write", text)


async def test_under_a_prefix(aiohttp_client: ClientFactory, phonebook: PhoneBook) -> None:
    client = await aiohttp_client(simulator_app(phonebook, prefix="/simulateur"))
    redirect = await client.get("/simulateur", allow_redirects=False)
    assert redirect.status == 302
    assert redirect.headers["Location"] == "/simulateur/"
    assert (await client.get("/simulateur/")).status == 200
    assert (await client.get("/simulateur/static/simulator.css")).status == 200
    phones = await (await client.get("/simulateur/api/phones")).json()
    assert len(phones["phones"]) == 2


def test_prefix_must_be_a_path(phonebook: PhoneBook) -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        add_simulator(web.Application(), phonebook, prefix="simulateur")


# --- Phones --------------------------------------------------------------------------------------


async def test_phones_list_numbers_networks_and_messages(
    client: Client, phonebook: PhoneBook
) -> None:
    delivered = phonebook.deliver(RCS, "rcs", FIRST)
    sms = {"text": "Code : 1234", "segments": 1, "encoding": "GSM7", "from": "CAUSETTE"}
    phonebook.deliver(SMS, "sms", sms)

    response = await client.get("/api/phones")

    assert response.status == 200
    body = await response.json()
    ana, bruno = body["phones"]
    assert {key: ana[key] for key in ("number", "national", "network", "name")} == {
        "number": RCS,
        "national": "06 12 34 56 78",
        "network": "rcs",
        "name": "Ana",
    }
    assert ana["messages"] == [
        {
            "id": delivered.id,
            "phone": RCS,
            "direction": "to_phone",
            "channel": "rcs",
            "body": FIRST,
            "at": delivered.at.isoformat(),
            "status": "delivered",
        }
    ]
    assert (bruno["number"], bruno["national"], bruno["network"]) == (SMS, "07 98 76 54 32", "sms")
    assert bruno["messages"][0]["body"] == sms


# --- Actions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "action",
    [
        {"text": "Bonjour, je voudrais un rendez-vous"},
        {"postbackData": "slot_tue", "text": "Mardi 10 h"},
        {"location": {"latitude": 43.2965, "longitude": 5.3698}},
    ],
    ids=["text", "postback", "location"],
)
async def test_act_hands_the_action_to_the_emulator(
    client: Client, phonebook: PhoneBook, actions: Actions, action: dict[str, Any]
) -> None:
    response = await client.post(f"/api/phones/{RCS}/act", json=action)

    assert response.status == 200
    assert actions.calls == [(RCS, action)]
    message = await response.json()
    assert (message["direction"], message["channel"], message["body"]) == (
        "from_phone",
        "rcs",
        action,
    )
    assert phonebook.phones[RCS].messages[-1].id == message["id"]


async def test_act_takes_any_spelling_of_the_number(client: Client, actions: Actions) -> None:
    for spelling in ("%2B33612345678", "0612345678"):
        response = await client.post(f"/api/phones/{spelling}/act", json={"text": "Salut"})
        assert response.status == 200
    assert [number for number, _ in actions.calls] == [RCS, RCS]


async def test_sms_phone_sends_text(client: Client, actions: Actions) -> None:
    response = await client.post(f"/api/phones/{SMS}/act", json={"text": "STOP"})

    assert response.status == 200
    assert (await response.json())["channel"] == "sms"
    assert actions.calls == [(SMS, {"text": "STOP"})]


@pytest.mark.parametrize(
    ("number", "body", "reason"),
    [
        (RCS, "pas du JSON", "not JSON"),
        (RCS, [], "JSON object"),
        (RCS, {}, "expected"),
        (RCS, {"text": ""}, "non-empty"),
        (RCS, {"text": 12}, "non-empty"),
        (RCS, {"text": "a", "extra": 1}, "expected"),
        (RCS, {"postbackData": "", "text": "Oui"}, "postbackData"),
        (RCS, {"postbackData": "yes", "text": None}, "label"),
        (RCS, {"location": {"latitude": 91, "longitude": 5}}, "latitude"),
        (RCS, {"location": {"latitude": 43, "longitude": "5"}}, "longitude"),
        (RCS, {"location": {"latitude": True, "longitude": 5}}, "latitude"),
        (RCS, {"location": {"latitude": 43}}, "latitude and longitude"),
        (SMS, {"postbackData": "yes", "text": "Oui"}, "only send text"),
        (SMS, {"location": {"latitude": 43.3, "longitude": 5.4}}, "only send text"),
    ],
)
async def test_act_refuses_bad_bodies(
    client: Client, phonebook: PhoneBook, actions: Actions, number: str, body: Any, reason: str
) -> None:
    data = body if isinstance(body, str) else json.dumps(body)
    response = await client.post(
        f"/api/phones/{number}/act", data=data, headers={"Content-Type": "application/json"}
    )

    assert response.status == 400
    assert reason in (await response.json())["error"]
    assert actions.calls == []
    assert all(not phone.messages for phone in phonebook.phones.values())


@pytest.mark.parametrize("number", ["+33611111111", "pas-un-numéro"])
async def test_act_on_an_unknown_phone_is_404(
    client: Client, actions: Actions, number: str
) -> None:
    response = await client.post(f"/api/phones/{number}/act", json={"text": "Allô"})

    assert response.status == 404
    assert actions.calls == []


async def test_act_without_an_emulator_for_the_channel_is_503(
    client: Client, phonebook: PhoneBook
) -> None:
    phonebook.on_action("sms", Actions())  # only SMS has an emulator

    response = await client.post(f"/api/phones/{RCS}/act", json={"text": "Allô"})

    assert response.status == 503
    assert "rcs" in (await response.json())["error"]


# --- Read receipts -------------------------------------------------------------------------------


async def test_read_marks_a_message_to_an_rcs_phone(client: Client, phonebook: PhoneBook) -> None:
    message = phonebook.deliver(RCS, "rcs", FIRST)
    queue = phonebook.watch()

    response = await client.post(f"/api/messages/{message.id}/read")

    assert response.status == 200
    assert (await response.json())["status"] == "read"
    assert message.status == "read"
    assert queue.get_nowait() is message
    again = await client.post(f"/api/messages/{message.id}/read")
    assert again.status == 200
    assert queue.empty()  # read once: no second event


async def test_read_refuses_unknown_sms_and_own_messages(
    client: Client, phonebook: PhoneBook, actions: Actions
) -> None:
    sms = phonebook.deliver(SMS, "sms", {"text": "Hi", "segments": 1, "encoding": "GSM7"})
    own = await phonebook.act(RCS, {"text": "Bonjour"})

    assert (await client.post("/api/messages/pm999/read")).status == 404
    assert (await client.post(f"/api/messages/{sms.id}/read")).status == 409
    assert (await client.post(f"/api/messages/{own.id}/read")).status == 409
    assert sms.status == own.status == "delivered"


# --- Event stream --------------------------------------------------------------------------------


async def next_event(response: Any) -> dict[str, Any]:
    """The next `message` event of a Server-Sent Events response, skipping comments."""
    fields: dict[str, str] = {}
    while True:
        line = (await asyncio.wait_for(response.content.readline(), 5)).decode().rstrip("\n")
        if line == "":
            if fields.get("event") == "message":
                data: dict[str, Any] = json.loads(fields["data"])
                return data
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


async def test_events_stream_new_and_changed_messages(client: Client, phonebook: PhoneBook) -> None:
    async with client.get("/api/events") as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"

        message = phonebook.deliver(RCS, "rcs", {"text": "Voici la suite"})
        event = await next_event(response)
        assert (event["id"], event["phone"], event["body"], event["status"]) == (
            message.id,
            RCS,
            {"text": "Voici la suite"},
            "delivered",
        )

        phonebook.mark(message.id, "read")
        changed = await next_event(response)
        assert (changed["id"], changed["status"]) == (message.id, "read")


async def test_events_unwatch_when_the_page_goes_away(
    client: Client, phonebook: PhoneBook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sandbox.simulator.HEARTBEAT_SECONDS", 0.05)
    async with client.get("/api/events") as response:
        await response.content.readline()
        assert len(phonebook._watchers) == 1
    async with asyncio.timeout(5):
        while phonebook._watchers:  # noticed at the next heartbeat
            await asyncio.sleep(0.02)


async def test_shutdown_ends_open_streams(
    aiohttp_client: ClientFactory, phonebook: PhoneBook
) -> None:
    app = simulator_app(phonebook)
    client = await aiohttp_client(app)
    async with client.get("/api/events") as response:
        await response.content.readline()
        async with asyncio.timeout(5):
            await app.shutdown()
            assert b"event:" not in await response.content.read()
    assert not phonebook._watchers
