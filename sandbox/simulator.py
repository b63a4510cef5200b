"""The web phone simulator: a page showing the phones of the phone book, and its JSON API.

`add_simulator` mounts, under `prefix`:

- `GET /`: the page (`sandbox/static/index.html`), and `GET /static/...`: its script and style;
- `GET /api/phones`: every phone with its messages;
- `POST /api/phones/{number}/act`: a person types (`{"text"}`), taps a suggestion
  (`{"postbackData", "text"}`) or shares a location (`{"location": {"latitude", "longitude"}}`);
  the phone book hands the action to the emulator of the phone's channel, which sends the bot a
  real webhook;
- `POST /api/messages/{id}/read`: the person has seen a message sent to an RCS phone;
- `GET /api/events`: Server-Sent Events, one `message` event per new or changed message.

The page opens the event stream first and loads `/api/phones` once the stream is open, so that
nothing delivered in between is missed; it does so again whenever the stream reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from messaging.phone import InvalidPhoneError, Phone
from sandbox.phonebook import Direction, Network, PhoneBook, PhoneMessage, SimulatedPhone

STATIC_DIR: Final = Path(__file__).with_name("static")
"""The page's files, shipped as package data (`sandbox/static/*`)."""

HEARTBEAT_SECONDS: Final = 15.0
"""An SSE comment is sent this often on an idle stream, so a closed page is noticed."""


def add_simulator(app: web.Application, phonebook: PhoneBook, *, prefix: str = "") -> None:
    """Mount the phone simulator for `phonebook` on `app` under `prefix` (`""` or `/simulator`).

    The page uses relative URLs, so it works under any prefix; `{prefix}` redirects to
    `{prefix}/`. Open event streams end when the application shuts down.
    """
    prefix = prefix.rstrip("/")
    if prefix and not prefix.startswith("/"):
        raise ValueError(f"prefix {prefix!r} must start with '/'")
    simulator = _Simulator(phonebook)
    router = app.router
    if prefix:
        router.add_get(prefix, simulator.redirect_to_page)
    router.add_get(prefix + "/", simulator.page)
    router.add_static(prefix + "/static", STATIC_DIR)
    router.add_get(prefix + "/api/phones", simulator.phones)
    router.add_post(prefix + "/api/phones/{number}/act", simulator.act)
    router.add_post(prefix + "/api/messages/{id}/read", simulator.read)
    router.add_get(prefix + "/api/events", simulator.events)
    app.on_shutdown.append(simulator.shutdown)


def message_json(message: PhoneMessage) -> dict[str, Any]:
    """A message as the page receives it."""
    return {
        "id": message.id,
        "phone": message.phone,
        "direction": message.direction.value,
        "channel": message.channel,
        "body": message.body,
        "at": message.at.isoformat(),
        "status": message.status,
    }


def phone_json(phone: SimulatedPhone) -> dict[str, Any]:
    """A phone with its messages, oldest first, as the page receives it."""
    return {
        "number": phone.number,
        "national": Phone(phone.number).national,
        "network": phone.network.value,
        "name": phone.name,
        "messages": [message_json(message) for message in phone.messages],
    }


def parse_action(body: Any, network: Network) -> dict[str, Any]:
    """The action a person did, checked; ValueError names what is wrong.

    One of `{"text"}`, `{"postbackData", "text"}` (a tapped suggestion, `text` being its label)
    or `{"location": {"latitude", "longitude"}}`. An SMS-only phone can only send text.
    """
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    keys = set(body)
    if keys == {"text"}:
        text = body["text"]
        if not isinstance(text, str) or not text.strip():
            raise ValueError("text must be a non-empty string")
        return {"text": text}
    if network is Network.SMS and keys in ({"postbackData", "text"}, {"location"}):
        raise ValueError("an SMS-only phone can only send text")
    if keys == {"postbackData", "text"}:
        postback, label = body["postbackData"], body["text"]
        if not isinstance(postback, str) or not postback:
            raise ValueError("postbackData must be a non-empty string")
        if not isinstance(label, str):
            raise ValueError("text (the suggestion's label) must be a string")
        return {"postbackData": postback, "text": label}
    if keys == {"location"}:
        location = body["location"]
        if not isinstance(location, dict) or set(location) != {"latitude", "longitude"}:
            raise ValueError("location must be an object with latitude and longitude only")
        latitude = _coordinate(location["latitude"], "latitude", 90)
        longitude = _coordinate(location["longitude"], "longitude", 180)
        return {"location": {"latitude": latitude, "longitude": longitude}}
    raise ValueError(
        'expected {"text"}, {"postbackData", "text"} or {"location": {"latitude", "longitude"}}'
    )


def _coordinate(value: Any, name: str, bound: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number")
    if not -bound <= value <= bound:
        raise ValueError(f"{name} must be between -{bound:g} and {bound:g}")
    return float(value)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class _Simulator:
    def __init__(self, phonebook: PhoneBook) -> None:
        self.phonebook = phonebook
        self.closing = asyncio.Event()

    async def redirect_to_page(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(request.path + "/")

    async def page(self, _: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    async def phones(self, _: web.Request) -> web.Response:
        phones = [phone_json(phone) for phone in self.phonebook.phones.values()]
        return web.json_response({"phones": phones})

    async def act(self, request: web.Request) -> web.Response:
        phone = self._phone(request.match_info["number"])
        if phone is None:
            return _error(404, "no such phone")
        try:
            action = parse_action(await request.json(), phone.network)
        except json.JSONDecodeError:
            return _error(400, "the body is not JSON")
        except ValueError as error:
            return _error(400, str(error))
        try:
            message = await self.phonebook.act(phone.number, action)
        except LookupError as error:
            return _error(503, str(error))
        return web.json_response(message_json(message))

    async def read(self, request: web.Request) -> web.Response:
        message = self._message(request.match_info["id"])
        if message is None:
            return _error(404, "no such message")
        if message.direction is not Direction.TO_PHONE:
            return _error(409, "only a message sent to the phone can be read")
        if message.channel != Network.RCS.value:
            return _error(409, "SMS has no read receipts")
        if message.status != "read":
            self.phonebook.mark(message.id, "read")
        return web.json_response(message_json(message))

    async def events(self, request: web.Request) -> web.StreamResponse:
        queue = self.phonebook.watch()
        closer = asyncio.ensure_future(self.closing.wait())
        getter: asyncio.Future[PhoneMessage] = asyncio.ensure_future(queue.get())
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        try:
            await response.prepare(request)
            await response.write(b"retry: 1000\n\n")
            while True:
                waiting: set[asyncio.Future[Any]] = {getter, closer}
                done, _ = await asyncio.wait(
                    waiting,
                    timeout=HEARTBEAT_SECONDS,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if closer in done:
                    break
                if getter in done:
                    data = json.dumps(message_json(getter.result()), ensure_ascii=False)
                    getter = asyncio.ensure_future(queue.get())
                    await response.write(f"event: message\ndata: {data}\n\n".encode())
                else:
                    await response.write(b": keep-alive\n\n")
        except ConnectionResetError:  # the page went away
            pass
        finally:
            self.phonebook.unwatch(queue)
            getter.cancel()
            closer.cancel()
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response

    async def shutdown(self, _: web.Application) -> None:
        self.closing.set()

    def _phone(self, number: str) -> SimulatedPhone | None:
        try:
            return self.phonebook.get(number)
        except InvalidPhoneError:
            return None

    def _message(self, message_id: str) -> PhoneMessage | None:
        for phone in self.phonebook.phones.values():
            for message in phone.messages:
                if message.id == message_id:
                    return message
        return None
