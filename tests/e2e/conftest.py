"""The example bots end to end, over loopback HTTP: what `causette demo` runs, driven by people.

`demo` serves `bots.demo.build_demo` on a free port of `127.0.0.1`, as `causette demo` does,
with three differences for tests:

- the flows' backends (`BOOKING_URL`, `CARRIER_URL`, `CRM_URL` and their secrets) point at a
  `FakeBackend` mounted on the same server under `/backend`, which answers like the `http:`
  answers of `examples/tests/*.yaml` and records every call;
- the emulators draw from seeded `Random`s, so a run is repeatable;
- no conversation is started at startup: each test starts the one it drives.

A `Person` drives one phone through the phone simulator's HTTP API (`POST /api/phones/{number}
/act`), as the web page does, and waits for the bot's messages on the phone book's watch queue
(every wait bounded by `WAIT`, so that a bug fails the test instead of hanging it).
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port

import bots.demo
from bots.demo import PHONES
from sandbox.phonebook import Direction, PhoneMessage
from store.records import Conversation

WAIT = 10.0
"""Seconds any single wait may take before the test fails."""
SEED = 20261201

ANA, BRUNO = PHONES[0][0], PHONES[1][0]
"""The demo's phones: Ana's is RCS-capable, Bruno's takes SMS only (`bots.demo.PHONES`)."""
NAMES = {number: name for number, _, name in PHONES}

BACKEND_PREFIX = "/backend"
SECRETS = {
    "BOOKING_TOKEN": "jeton-agenda",
    "CARRIER_KEY": "cle-transporteur",
    "CRM_TOKEN": "jeton-crm",
}


# --- The flows' backends --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackendCall:
    """One request a flow's `call` made."""

    method: str
    path: str
    """Below the backend's prefix, e.g. `/crm/leads`."""
    headers: dict[str, str]
    json: Any


Answer = tuple[int, Any]
"""An HTTP status and a JSON body."""


class FakeBackend:
    """The dental practice's agenda, the carrier's API and the solar installer's CRM.

    By default each answers as the happy paths of `examples/tests/*.yaml` do (a free slot, an
    accepted date, a created lead); `script(route, answers...)` queues other answers for the
    next calls of one route (`"booking"`, `"carrier"` or `"crm"`).
    """

    def __init__(self) -> None:
        self.calls: list[BackendCall] = []
        self._scripts: dict[str, list[Answer]] = {}
        self._leads = itertools.count(20931)

    def env(self, base_url: str) -> dict[str, str]:
        root = f"{base_url}{BACKEND_PREFIX}"
        urls = {
            "BOOKING_URL": f"{root}/booking",
            "CARRIER_URL": f"{root}/carrier",
            "CRM_URL": f"{root}/crm",
        }
        return urls | SECRETS

    def script(self, route: str, *answers: Answer) -> None:
        self._scripts.setdefault(route, []).extend(answers)

    def add_routes(self, app: web.Application) -> None:
        routes: list[tuple[str, str, str, Callable[[Any], Answer]]] = [
            ("POST", "/booking/appointments/{id}/move", "booking", _free_slot),
            ("PUT", "/carrier/parcels/{tracking}/delivery-date", "carrier", _accepted_date),
            ("POST", "/crm/leads", "crm", self._created_lead),
        ]
        for method, path, name, default in routes:
            app.router.add_route(
                method, BACKEND_PREFIX + path, self._handler(name, default), name=f"backend-{name}"
            )

    def _handler(
        self, name: str, default: Callable[[Any], Answer]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            body = await request.json()
            path = request.path.removeprefix(BACKEND_PREFIX)
            self.calls.append(BackendCall(request.method, path, dict(request.headers), body))
            queued = self._scripts.get(name)
            status, answer = queued.pop(0) if queued else default(body)
            return web.json_response(answer, status=status)

        return handle

    def _created_lead(self, _: Any) -> Answer:
        return 201, {"id": f"L-{next(self._leads)}", "status": "new"}


def _free_slot(body: Any) -> Answer:
    date, time = body["date"], body["time"]
    return 200, {
        "available": True,
        "label": f"{date} à {time}",
        "start": f"{date}T{time}:00+01:00",
        "end": f"{date}T{time}:00+01:00",
    }


def _accepted_date(body: Any) -> Answer:
    return 200, {"accepted": True, "label": f"{body['date']}, entre 8h et 12h"}


# --- What a phone shows -----------------------------------------------------------------------


def shown(message: PhoneMessage) -> str:
    """A message as its phone shows it, one line per part: an SMS's text; an RCS message's
    text, card titles and descriptions, media URLs, and `[label]` for each suggestion (the
    notation of the conversation tests)."""
    body = message.body
    if message.channel == "sms":
        return str(body.get("text", ""))
    lines: list[str] = []
    if "text" in body:
        lines.append(str(body["text"]))
    if "contentInfo" in body:
        lines.append(str(body["contentInfo"]["fileUrl"]))
    for content in _cards(body):
        lines += [str(content[key]) for key in ("title", "description") if key in content]
        if "media" in content:
            lines.append(str(content["media"]["contentInfo"]["fileUrl"]))
        lines += [f"[{_label(s)}]" for s in content.get("suggestions", [])]
    lines += [f"[{_label(s)}]" for s in body.get("suggestions", [])]
    return "\n".join(lines)


def suggestions(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The `reply` or `action` of every chip and card suggestion of an RBM contentMessage."""
    holders = [body, *_cards(body)]
    found = [s for holder in holders for s in holder.get("suggestions", [])]
    return [s.get("reply") or s.get("action") or {} for s in found]


def _cards(body: dict[str, Any]) -> list[dict[str, Any]]:
    card = body.get("richCard", {})
    contents: list[dict[str, Any]] = []
    if "standaloneCard" in card:
        contents.append(card["standaloneCard"]["cardContent"])
    contents += card.get("carouselCard", {}).get("cardContents", [])
    return contents


def _label(suggestion: dict[str, Any]) -> str:
    kind = suggestion.get("reply") or suggestion.get("action") or {}
    return str(kind.get("text", ""))


# --- The server -------------------------------------------------------------------------------


@dataclass
class Demo(bots.demo.Demo):
    """What `causette demo` serves, running, and what the tests drive it with."""

    backend: FakeBackend
    http: aiohttp.ClientSession
    """The people's side: the phone simulator's API."""
    watch: asyncio.Queue[PhoneMessage]
    """Every new or changed message of the phone book since the server started."""
    _backlog: list[PhoneMessage] = field(default_factory=list)
    """Bots' messages taken from `watch` for another phone than the one waited for."""

    def person(self, number: str) -> Person:
        return Person(self, number)

    async def start(self, bot: str, number: str, channel: str, **contact: str) -> None:
        """The business writes first, as `causette demo` does at startup."""
        await self.runtime.start_conversation(
            bot,
            number,
            key=f"e2e:{bot}:{number}",
            contact={"first_name": NAMES[number], **contact},
            channel=channel,
        )

    async def conversation(self, bot: str, number: str) -> Conversation | None:
        """The bot's conversation with this phone, None once it has ended."""
        return await self.runtime.store.get_conversation(bot, number)

    async def next_message(self, number: str) -> PhoneMessage:
        """The next new message from a bot to `number`, waiting for it at most `WAIT`."""
        for index, message in enumerate(self._backlog):
            if message.phone == number:
                return self._backlog.pop(index)
        while True:
            message = await asyncio.wait_for(self.watch.get(), WAIT)
            if message.direction is not Direction.TO_PHONE or message.status != "delivered":
                continue  # what people do, and read receipts (a changed message)
            if message.phone == number:
                return message
            self._backlog.append(message)

    def inbox_rows(self, number: str) -> list[tuple[str, str, str]]:
        """`(source, provider id, bot)` of every inbox entry from `number`, read from the
        SQLite file itself (the store has no listing of its inbox)."""
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as db:
            rows = db.execute(
                "SELECT source, provider_id, bot_id FROM inbox WHERE phone = ? ORDER BY seq",
                (number,),
            ).fetchall()
        return [(str(a), str(b), str(c)) for a, b, c in rows]


class Person:
    """Someone holding one of the simulated phones."""

    def __init__(self, demo: Demo, number: str) -> None:
        self.demo = demo
        self.number = number
        self.received: list[str] = []
        """What the bots' messages showed on this phone, as `shown` writes them."""

    async def expect(self, *fragments: str) -> str:
        """The bots' next message on this phone, which must show every fragment; returns it
        as `shown` writes it. Exactly one message is read: none is skipped."""
        text = shown(await self.demo.next_message(self.number))
        self.received.append(text)
        missing = [fragment for fragment in fragments if fragment not in text]
        assert not missing, f"{self.number} got {text!r}, without {missing}"
        return text

    async def say(self, text: str) -> None:
        """Type a message (on an SMS phone: a number picks a numbered choice)."""
        await self._act({"text": text})

    async def tap(self, label: str) -> None:
        """Tap the suggestion labelled `label` in the latest RCS message that offers it."""
        await self._act({"postbackData": self.postback(label), "text": label})

    async def share_location(self, latitude: float, longitude: float) -> None:
        await self._act({"location": {"latitude": latitude, "longitude": longitude}})

    def postback(self, label: str) -> str:
        phone = self.demo.phonebook.get(self.number)
        assert phone is not None
        for message in reversed(phone.messages):
            if message.direction is not Direction.TO_PHONE or message.channel != "rcs":
                continue
            for suggestion in suggestions(message.body):
                if suggestion.get("text") == label:
                    return str(suggestion["postbackData"])
        raise AssertionError(f"no suggestion {label!r} on {self.number}: {self.received}")

    async def _act(self, action: dict[str, Any]) -> None:
        url = f"{self.demo.base_url}/api/phones/{self.number}/act"
        async with self.demo.http.post(url, json=action) as response:
            assert response.status == 200, await response.text()


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    """What `causette demo` serves, on a free loopback port, stopped after the test."""
    port = unused_port()
    base_url = f"http://127.0.0.1:{port}"
    backend = FakeBackend()
    served = await bots.demo.build_demo(
        base_url,
        tmp_path / "e2e.db",
        env=backend.env(base_url),
        seed=SEED,
        greet=None,
        quiet_hours=False,
    )
    backend.add_routes(served.app)
    async with AsyncExitStack() as stack:  # unwound last in, first out
        watch = served.phonebook.watch()
        stack.callback(served.phonebook.unwatch, watch)
        # Closing the server stops the runtime, then closes the sessions the bots use.
        server = TestServer(served.app, host="127.0.0.1", port=port)
        stack.push_async_callback(server.close)
        await server.start_server()
        people = await stack.enter_async_context(aiohttp.ClientSession())
        parts = {part.name: getattr(served, part.name) for part in fields(served)}
        yield Demo(**parts, backend=backend, http=people, watch=watch)
