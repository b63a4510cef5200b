"""The RBM emulator over real HTTP on loopback, with a tiny bot receiving its webhooks."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from messaging.clock import FakeClock, SystemClock
from messaging.content import CONTENT
from messaging.renderers.rbm import agent_message_bytes, render_rbm
from sandbox.phonebook import Direction, PhoneBook
from sandbox.rbm import RbmEmulator, RbmFaults
from sandbox.rbm_validation import format_timestamp, parse_timestamp, validate_agent_message
from sandbox.webhook_client import WebhookPolicy, rbm_waits
from tests.sandbox.conftest import (
    OTHER_RCS_PHONE,
    RCS_PHONE,
    SMS_PHONE,
    T0,
    InstantSleep,
    Received,
    Receiver,
)

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]

AGENT = "causette_1a2b3c4d_agent"
OTHER_AGENT = "other_5e6f7a8b_agent"
CLIENT_TOKEN = "bot-client-token"
TOKEN = "ya29.sandbox"
WAITS = [1.0, 2.0, 4.0]


class Bot:
    """The bot side of the webhook: answers the handshake, fails events when told to."""

    def __init__(self, receiver: Receiver, token: str = CLIENT_TOKEN) -> None:
        self.receiver = receiver
        self.token = token
        self.failures: list[int] = []
        """Statuses answered to the next events, in order; then 200."""
        self.fail_path: str | None = None
        """When set, only events posted to this path fail."""
        self.handshake_answer: Callable[[str], str] = lambda secret: secret
        receiver.answer = self._answer

    def _answer(self, request: Received) -> web.Response:
        body = request.json()
        if "clientToken" in body:
            assert body["clientToken"] == self.token
            return web.Response(text=self.handshake_answer(body["secret"]))
        if self.failures and self.fail_path in (None, request.path):
            return web.Response(status=self.failures.pop(0))
        return web.Response(text="OK")

    @property
    def handshakes(self) -> list[Received]:
        return [r for r in self.receiver.requests if "clientToken" in r.json()]

    def envelopes(self, path: str | None = None) -> list[Received]:
        return [
            r
            for r in self.receiver.requests
            if "message" in r.json() and (path is None or r.path == path)
        ]

    def payloads(self, path: str | None = None) -> list[dict[str, Any]]:
        """Decoded payloads of the events received, each checked against its signature."""
        decoded = []
        for request in self.envelopes(path):
            data = base64.b64decode(request.json()["message"]["data"])
            expected = hmac.new(self.token.encode(), data, hashlib.sha512).digest()
            signature = base64.b64decode(request.headers["X-Goog-Signature"])
            assert hmac.compare_digest(signature, expected)
            decoded.append(json.loads(data))
        return decoded


@pytest.fixture
def faults() -> RbmFaults:
    return RbmFaults(webhooks=WebhookPolicy(retry_waits=list(WAITS)))


@pytest.fixture
def emulator(
    phonebook: PhoneBook,
    clock: FakeClock,
    sleeps: InstantSleep,
    receiver: Receiver,
    faults: RbmFaults,
) -> RbmEmulator:
    rbm = RbmEmulator(phonebook, faults=faults, clock=clock, rng=random.Random(7), sleep=sleeps)
    rbm.add_agent(AGENT, receiver.url("/rbm"), CLIENT_TOKEN)
    return rbm


@pytest.fixture
def bot(receiver: Receiver) -> Bot:
    return Bot(receiver)


@pytest.fixture
async def api(
    aiohttp_client: ClientFactory, emulator: RbmEmulator, bot: Bot
) -> AsyncIterator[Client]:
    yield await aiohttp_client(emulator.app())
    await emulator.close()  # before the bot's server goes: no webhook left in flight


def message(content: Any = "Bonjour", **fields: Any) -> dict[str, Any]:
    return render_rbm(CONTENT.validate_python(content), **fields)


async def send(
    api: Client,
    body: Any,
    *,
    phone: str = RCS_PHONE,
    message_id: str = "m1",
    agent: str | None = AGENT,
    token: str | None = TOKEN,
) -> tuple[int, dict[str, Any]]:
    query = {"messageId": message_id} | ({"agentId": agent} if agent is not None else {})
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await api.post(
        f"/v1/phones/{phone}/agentMessages", params=query, data=raw, headers=headers
    )
    return response.status, await response.json()


async def call(
    api: Client, method: str, path: str, body: Any = None, **query: str
) -> tuple[int, dict[str, Any]]:
    response = await api.request(
        method,
        path,
        params={"agentId": AGENT} | query,
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    return response.status, await response.json()


def google_error(answer: dict[str, Any], code: int, status: str) -> str:
    assert set(answer) == {"error"}
    assert set(answer["error"]) == {"code", "message", "status"}
    assert (answer["error"]["code"], answer["error"]["status"]) == (code, status)
    text: str = answer["error"]["message"]
    return text


# --- Accepted messages -------------------------------------------------------------------------

CONTENTS: list[Any] = [
    "Bonjour !",
    {
        "text": "Votre rendez-vous du 12 ?",
        "suggestions": [
            {"reply": "Je confirme", "data": "confirm"},
            {"url": "https://example.fr/rdv", "label": "Voir en ligne", "data": "site"},
            {"dial": "01 23 45 67 89", "label": "Appeler"},
            {"location": {"lat": 48.85, "lng": 2.35}, "label": "Y aller"},
            {"location": {"query": "1 rue de Rivoli, Paris"}, "label": "Adresse"},
            {"share_location": "Partager ma position"},
            {
                "calendar": {
                    "title": "RDV",
                    "start": "2026-12-12T10:00:00",
                    "end": "2026-12-12T11:00:00",
                },
                "label": "Agenda",
            },
        ],
    },
    {
        "card": {
            "title": "Commande 42",
            "description": "Expédiée aujourd'hui",
            "image": "https://example.fr/p.png",
            "height": "tall",
            "suggestions": [{"reply": "Suivre"}],
        }
    },
    {
        "card": {
            "title": "Horizontale",
            "image": "https://example.fr/p.png",
            "orientation": "horizontal",
        }
    },
    {
        "carousel": {
            "width": "small",
            "cards": [
                {"title": "A", "image": "https://example.fr/a.png", "height": "short"},
                {"title": "B", "description": "deux", "suggestions": [{"reply": "B"}]},
            ],
        }
    },
    {"image": "https://example.fr/photo.jpg"},
    {"video": "https://example.fr/film.mp4"},
    {"file": "https://example.fr/doc.pdf"},
]


@pytest.mark.parametrize("content", CONTENTS, ids=lambda c: str(c)[:24])
async def test_rendered_contents_are_accepted_and_echoed(
    api: Client, emulator: RbmEmulator, phonebook: PhoneBook, content: Any
) -> None:
    body = message(content)
    status, answer = await send(api, agent_message_bytes(body))
    assert status == 200
    assert answer == body | {
        "name": f"phones/{RCS_PHONE}/agentMessages/m1",
        "sendTime": format_timestamp(T0),
    }
    await emulator.drain()
    phone = phonebook.get(RCS_PHONE)
    assert phone is not None
    assert [m.body for m in phone.messages] == [body["contentMessage"]]


async def test_ttl_comes_back_as_expire_time(api: Client) -> None:
    status, answer = await send(api, message(ttl=timedelta(hours=1)))
    assert status == 200
    assert "ttl" not in answer
    assert answer["expireTime"] == format_timestamp(T0 + timedelta(hours=1))
    expire = T0 + timedelta(days=2)
    status, answer = await send(api, message(expire_time=expire), message_id="m2")
    assert (status, answer["expireTime"]) == (200, format_timestamp(expire))


def test_reads_proto_json_as_google_does() -> None:
    body = {
        "content_message": {"text": "Salut", "suggestions": None},
        "messageTrafficType": "PROMOTION",
        "name": "ignored",
        "sendTime": "2020-01-01T00:00:00.123456789Z",
    }
    read = validate_agent_message(body, now=T0)
    assert read["contentMessage"] == {"text": "Salut"}
    stamp = parse_timestamp("2026-12-01T10:00:00.123456789+01:00")
    assert stamp == T0 + timedelta(microseconds=123456)


# --- Refused messages --------------------------------------------------------------------------


def _text(**fields: Any) -> dict[str, Any]:
    return {"contentMessage": {"text": "Bonjour"} | fields}


def _reply(text: str = "Oui", data: str = "yes") -> dict[str, Any]:
    return {"reply": {"text": text, "postbackData": data}}


def _action(**action: Any) -> dict[str, Any]:
    return {"action": {"text": "Go", "postbackData": "go"} | action}


def _card(**fields: Any) -> dict[str, Any]:
    content = {"title": "T", "description": "D"} | fields
    card = {"cardOrientation": "VERTICAL", "cardContent": content}
    return {"contentMessage": {"richCard": {"standaloneCard": card}}}


def _carousel(cards: list[dict[str, Any]], width: str = "MEDIUM") -> dict[str, Any]:
    carousel = {"cardWidth": width, "cardContents": cards}
    return {"contentMessage": {"richCard": {"carouselCard": carousel}}}


_MEDIA = {"height": "TALL", "contentInfo": {"fileUrl": "https://example.fr/a.png"}}
LONG_URL = "https://example.fr/" + "a" * 2040

REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("text over 3072", {"contentMessage": {"text": "a" * 3073}}, "contentMessage.text"),
    ("empty text", {"contentMessage": {"text": ""}}, "contentMessage.text"),
    ("12 chips", _text(suggestions=[_reply(f"R{i}", f"r{i}") for i in range(12)]), "suggestions"),
    ("label over 25", _text(suggestions=[_reply("a" * 26)]), "suggestions[0].reply.text"),
    ("no label", _text(suggestions=[{"reply": {"postbackData": "x"}}]), "reply.text"),
    ("data over 2048", _text(suggestions=[_reply(data="d" * 2049)]), "reply.postbackData"),
    ("url over 2048", _text(suggestions=[_action(openUrlAction={"url": LONG_URL})]), ".url"),
    (
        "fallbackUrl over 2048",
        _text(suggestions=[_action(fallbackUrl=LONG_URL, shareLocationAction={})]),
        "fallbackUrl",
    ),
    ("action without kind", _text(suggestions=[_action()]), "suggestions[0].action"),
    (
        "dial not E.164",
        _text(suggestions=[_action(dialAction={"phoneNumber": "01 23 45 67 89"})]),
        "dialAction.phoneNumber",
    ),
    (
        "calendar title over 100",
        _text(
            suggestions=[
                _action(
                    createCalendarEventAction={
                        "startTime": "2026-12-12T10:00:00Z",
                        "endTime": "2026-12-12T11:00:00Z",
                        "title": "t" * 101,
                    }
                )
            ]
        ),
        "createCalendarEventAction.title",
    ),
    ("card title over 200", _card(title="t" * 201), "cardContent.title"),
    ("card description over 2000", _card(description="d" * 2001), "cardContent.description"),
    (
        "5 card suggestions",
        _card(suggestions=[_reply(f"R{i}", f"r{i}") for i in range(5)]),
        "cardContent.suggestions",
    ),
    ("empty card", _card(title=None, description=None), "cardContent"),
    ("media height missing", _card(media={"contentInfo": _MEDIA["contentInfo"]}), "media.height"),
    ("bad media height", _card(media=_MEDIA | {"height": "HUGE"}), "media.height"),
    ("file url not http", {"contentMessage": {"contentInfo": {"fileUrl": "ftp://x/y"}}}, "fileUrl"),
    ("carousel of 1", _carousel([{"title": "A"}]), "cardContents"),
    ("carousel of 11", _carousel([{"title": str(i)} for i in range(11)]), "cardContents"),
    (
        "TALL in SMALL carousel",
        _carousel([{"title": "A", "media": _MEDIA}, {"title": "B"}], "SMALL"),
        "cardContents[0].media.height",
    ),
    (
        "ttl and expireTime",
        _text() | {"ttl": "10s", "expireTime": "2026-12-02T00:00:00Z"},
        "'expiration'",
    ),
    ("ttl without unit", _text() | {"ttl": "10"}, "agent_message.ttl"),
    ("ttl with 10 decimals", _text() | {"ttl": "1.0123456789s"}, "agent_message.ttl"),
    ("ttl over 15 days", _text() | {"ttl": f"{15 * 86400 + 1}s"}, "ttl"),
    ("expireTime over 15 days", _text() | {"expireTime": "2026-12-16T09:00:01Z"}, "expireTime"),
    ("expireTime past", _text() | {"expireTime": "2026-11-30T09:00:00Z"}, "expireTime"),
    (
        "two kinds",
        {"contentMessage": {"text": "a", "contentInfo": {"fileUrl": "https://e.fr/a"}}},
        "'contentInfo'",
    ),
    ("no kind", {"contentMessage": {"suggestions": [_reply()]}}, "contentMessage"),
    ("no contentMessage", {"messageTrafficType": "TRANSACTION"}, "contentMessage"),
    (
        "unknown field",
        _text(colour="red"),
        "Unknown name \"colour\" at 'agent_message.content_message'",
    ),
    ("wrong type", {"contentMessage": {"text": 42}}, "agent_message.content_message.text"),
    ("bad traffic type", _text() | {"messageTrafficType": "SPAM"}, "message_traffic_type"),
]


@pytest.mark.parametrize(("case", "body", "named"), REFUSED, ids=[c[0] for c in REFUSED])
async def test_each_violation_is_400_naming_the_field(
    api: Client, emulator: RbmEmulator, case: str, body: dict[str, Any], named: str
) -> None:
    status, answer = await send(api, body)
    assert status == 400, case
    assert named in google_error(answer, 400, "INVALID_ARGUMENT")
    assert emulator.messages == {}


async def test_a_message_over_250_kb_is_refused(api: Client) -> None:
    big = {"contentMessage": {"text": "é" * 3072}}
    status, _ = await send(api, big)
    assert status == 200
    huge = b'{"contentMessage": {"text": "a"}, "name": "' + b"n" * 250_000 + b'"}'
    status, answer = await send(api, huge, message_id="m2")
    assert status == 400
    assert "250 KB" in google_error(answer, 400, "INVALID_ARGUMENT")


async def test_query_path_and_agent_are_checked(api: Client) -> None:
    status, answer = await send(api, message(), agent=None)
    assert status == 400
    assert "agentId" in google_error(answer, 400, "INVALID_ARGUMENT")
    status, answer = await send(api, message(), phone="0612345678")
    assert status == 400
    assert "phone" in google_error(answer, 400, "INVALID_ARGUMENT")
    status, answer = await send(api, b"{not json")
    assert status == 400
    assert "Invalid JSON payload" in google_error(answer, 400, "INVALID_ARGUMENT")
    status, answer = await send(api, message(), agent="unknown_agent")
    assert status == 403
    google_error(answer, 403, "PERMISSION_DENIED")
    status, _ = await send(api, message(), agent=AGENT + "@rbm.goog")
    assert status == 200


async def test_bearer_token_is_required(
    aiohttp_client: ClientFactory, phonebook: PhoneBook, api: Client
) -> None:
    status, answer = await send(api, message(), token=None)
    assert status == 401
    google_error(answer, 401, "UNAUTHENTICATED")
    status, answer = await send(api, message(), token="")
    assert status == 401
    strict = RbmEmulator(phonebook, agents=(AGENT,), token=TOKEN)
    client = await aiohttp_client(strict.app())
    status, answer = await send(client, message(), token="other")
    assert status == 401
    assert "invalid authentication" in google_error(answer, 401, "UNAUTHENTICATED")
    assert (await send(client, message()))[0] == 200


# --- Reachability and capabilities -------------------------------------------------------------


async def test_sms_only_unknown_and_not_launched_phones_are_404(
    api: Client, emulator: RbmEmulator
) -> None:
    for phone in (SMS_PHONE, "+33700000000"):
        status, answer = await send(api, message(), phone=phone)
        assert status == 404
        google_error(answer, 404, "NOT_FOUND")
        status, _ = await call(api, "GET", f"/v1/phones/{phone}/capabilities", requestId="r1")
        assert status == 404
    emulator.faults.not_launched.add(RCS_PHONE)
    assert (await send(api, message()))[0] == 404
    emulator.faults.not_launched_status = 403
    status, answer = await send(api, message())
    assert status == 403
    google_error(answer, 403, "PERMISSION_DENIED")
    assert emulator.messages == {}


async def test_capabilities_and_missing_features(api: Client, emulator: RbmEmulator) -> None:
    status, answer = await call(api, "GET", f"/v1/phones/{RCS_PHONE}/capabilities", requestId="1")
    assert status == 200
    assert "RICHCARD_CAROUSEL" in answer["features"]
    assert "REVOCATION" in answer["features"]
    status, answer = await call(api, "GET", f"/v1/phones/{RCS_PHONE}/capabilities")
    assert status == 400
    assert "requestId" in google_error(answer, 400, "INVALID_ARGUMENT")
    emulator.faults.features[RCS_PHONE] = ["REVOCATION", "RICHCARD_STANDALONE"]
    status, answer = await call(api, "GET", f"/v1/phones/{RCS_PHONE}/capabilities", requestId="2")
    assert answer == {"features": ["REVOCATION", "RICHCARD_STANDALONE"]}
    status, answer = await send(api, message(CONTENTS[4]))
    assert status == 400
    assert "RICHCARD_CAROUSEL" in google_error(answer, 400, "INVALID_ARGUMENT")


# --- Ids, revocation ---------------------------------------------------------------------------


async def test_reused_message_id_answers_the_original(
    api: Client, emulator: RbmEmulator, phonebook: PhoneBook
) -> None:
    status, first = await send(api, message("Premier"))
    status, again = await send(api, message("Autre chose"))
    assert (status, again) == (200, first)
    status, _ = await send(api, message("Premier"), phone=OTHER_RCS_PHONE)
    assert status == 200  # the id is the agent's, whatever the phone: still ignored
    await emulator.drain()
    assert [m.body["text"] for p in phonebook.phones.values() for m in p.messages] == ["Premier"]
    emulator.faults.reused_id = "already_exists"
    status, answer = await send(api, message("Premier"))
    assert status == 409
    google_error(answer, 409, "ALREADY_EXISTS")


async def test_revoke_before_delivery_never_delivers(
    api: Client, emulator: RbmEmulator, bot: Bot, phonebook: PhoneBook
) -> None:
    emulator.set_offline(RCS_PHONE)
    assert (await send(api, message()))[0] == 200
    await emulator.drain()
    status, answer = await call(api, "DELETE", f"/v1/phones/{RCS_PHONE}/agentMessages/m1")
    assert (status, answer) == (200, {})
    emulator.set_offline(RCS_PHONE, False)
    await emulator.drain()
    assert phonebook.phones[RCS_PHONE].messages == []
    assert bot.payloads() == []
    assert emulator.messages[(AGENT, "m1")].state == "revoked"


async def test_revoke_after_delivery_is_404(api: Client, emulator: RbmEmulator) -> None:
    assert (await send(api, message()))[0] == 200
    await emulator.drain()
    status, answer = await call(api, "DELETE", f"/v1/phones/{RCS_PHONE}/agentMessages/m1")
    assert status == 404
    google_error(answer, 404, "NOT_FOUND")
    status, _ = await call(api, "DELETE", f"/v1/phones/{RCS_PHONE}/agentMessages/nope")
    assert status == 404


async def test_revoke_during_latency(
    api: Client, emulator: RbmEmulator, sleeps: InstantSleep, phonebook: PhoneBook
) -> None:
    emulator.faults.latency = 2.5
    sleeps.gate = gate = asyncio.Event()
    assert (await send(api, message()))[0] == 200
    status, _ = await call(api, "DELETE", f"/v1/phones/{RCS_PHONE}/agentMessages/m1")
    assert status == 200
    gate.set()
    await emulator.drain()
    assert sleeps.waits == [2.5]
    assert phonebook.phones[RCS_PHONE].messages == []


async def test_revoke_race_knob_delivers_after_200(
    api: Client, emulator: RbmEmulator, bot: Bot, phonebook: PhoneBook
) -> None:
    emulator.faults.revoke_race = True
    emulator.set_offline(RCS_PHONE)
    await send(api, message())
    await emulator.drain()
    status, _ = await call(api, "DELETE", f"/v1/phones/{RCS_PHONE}/agentMessages/m1")
    assert status == 200
    emulator.set_offline(RCS_PHONE, False)
    await emulator.drain()
    assert len(phonebook.phones[RCS_PHONE].messages) == 1
    assert [p["eventType"] for p in bot.payloads()] == ["DELIVERED"]


# --- Webhooks: receipts, handshake, retries ----------------------------------------------------


async def test_delivered_then_read_signed_after_a_handshake(
    api: Client, emulator: RbmEmulator, bot: Bot, phonebook: PhoneBook
) -> None:
    assert (await send(api, message(), message_id="abc-1"))[0] == 200
    await emulator.drain()
    assert len(bot.handshakes) == 1
    assert bot.receiver.requests[0] is bot.handshakes[0]  # before any event
    delivered = phonebook.phones[RCS_PHONE].messages[0]
    phonebook.mark(delivered.id, "read")
    await emulator.drain()
    emulator.read(AGENT, "abc-1")  # a second read changes nothing
    await emulator.drain()
    payloads = bot.payloads("/rbm")
    assert [(p["eventType"], p["messageId"]) for p in payloads] == [
        ("DELIVERED", "abc-1"),
        ("READ", "abc-1"),
    ]
    for payload in payloads:
        assert set(payload) == {
            "senderPhoneNumber",
            "eventType",
            "eventId",
            "messageId",
            "sendTime",
            "agentId",
        }
        assert (payload["senderPhoneNumber"], payload["agentId"]) == (RCS_PHONE, AGENT)
    envelope = bot.envelopes()[0].json()
    assert set(envelope) == {"message", "subscription"}
    assert set(envelope["message"]) == {"data", "messageId", "publishTime", "attributes"}
    assert len(bot.handshakes) == 1


async def test_refused_handshake_sends_nothing(
    api: Client, emulator: RbmEmulator, bot: Bot, sleeps: InstantSleep
) -> None:
    bot.handshake_answer = lambda secret: f"secret: {secret}"  # Google's Node sample
    assert not await emulator.set_webhook(AGENT, bot.receiver.url("/rbm"), CLIENT_TOKEN)
    await send(api, message())
    await emulator.drain()
    assert bot.envelopes() == []
    assert len(bot.handshakes) == 1 + 1 + len(WAITS)
    assert [p["eventType"] for p in emulator.webhooks.dropped] == ["DELIVERED"]
    emulator.faults.webhooks.lenient_handshake = True
    assert await emulator.set_webhook(AGENT, bot.receiver.url("/rbm"), CLIENT_TOKEN)


async def test_non_200_is_retried_on_the_schedule(
    api: Client, emulator: RbmEmulator, bot: Bot, sleeps: InstantSleep
) -> None:
    bot.failures = [500, 503]
    await send(api, message())
    await emulator.drain()
    events = [a for a in emulator.webhooks.attempts if a.kind == "event"]
    assert [(a.status, a.waited) for a in events] == [(500, 0.0), (503, 1.0), (200, 2.0)]
    assert sleeps.waits == [1.0, 2.0]
    assert len({a.pubsub_id for a in events}) == 1
    assert [p["eventType"] for p in bot.payloads()] == ["DELIVERED"] * 3


async def test_retries_give_up_when_the_schedule_ends(
    api: Client, emulator: RbmEmulator, bot: Bot, sleeps: InstantSleep
) -> None:
    bot.failures = [500] * 10
    await send(api, message())
    await emulator.drain()
    assert sleeps.waits == WAITS
    assert [p["eventType"] for p in emulator.webhooks.dropped] == ["DELIVERED"]


def test_default_schedule_grows_to_600_s_for_7_days() -> None:
    waits = list(rbm_waits(1.0, 600.0, 7 * 86400.0))
    assert waits[:4] == [1.0, 2.0, 4.0, 8.0]
    assert max(waits) == 600.0
    assert 7 * 86400 - 600 < sum(waits) <= 7 * 86400
    assert list(WebhookPolicy().waits())[:3] == [1.0, 2.0, 4.0]


async def _two_agents_one_failing(
    api: Client, emulator: RbmEmulator, bot: Bot, sleeps: InstantSleep
) -> None:
    emulator.add_agent(OTHER_AGENT, bot.receiver.url("/other"), CLIENT_TOKEN)
    await send(api, message())
    await emulator.drain()
    bot.receiver.requests.clear()
    bot.failures, bot.fail_path = [500], "/rbm"
    emulator.read(AGENT, "m1")  # READ for AGENT fails once, then waits for its retry
    sleeps.gate = asyncio.Event()
    status, _ = await send(
        api, message(), message_id="m2", agent=OTHER_AGENT, phone=OTHER_RCS_PHONE
    )
    assert status == 200


async def test_partner_queue_blocks_other_agents_behind_a_failing_webhook(
    api: Client, emulator: RbmEmulator, bot: Bot, sleeps: InstantSleep
) -> None:
    await _two_agents_one_failing(api, emulator, bot, sleeps)
    await bot.receiver.wait_for(1)
    assert sleeps.gate is not None
    sleeps.gate.set()
    await emulator.drain()
    order = [(r.path, r.json().get("message") is not None) for r in bot.receiver.requests]
    paths = [path for path, is_event in order if is_event]
    assert paths == ["/rbm", "/rbm", "/other"]  # READ failed, READ retried, then the other


async def test_agent_queues_do_not_block_each_other(
    api: Client, emulator: RbmEmulator, bot: Bot, sleeps: InstantSleep
) -> None:
    emulator.faults.webhooks.queue = "agent"
    await _two_agents_one_failing(api, emulator, bot, sleeps)
    await bot.receiver.wait_for(3)  # READ failed; handshake and DELIVERED for the other agent
    assert [p["agentId"] for p in bot.payloads("/other")] == [OTHER_AGENT]
    assert sleeps.gate is not None
    sleeps.gate.set()
    await emulator.drain()
    assert [p["eventType"] for p in bot.payloads("/rbm")] == ["READ", "READ"]


async def test_duplicate_webhooks_knob(api: Client, emulator: RbmEmulator, bot: Bot) -> None:
    emulator.faults.webhooks.duplicate_rate = 1.0
    await send(api, message())
    await emulator.drain()
    payloads = bot.payloads()
    assert len(payloads) == 2
    assert payloads[0] == payloads[1]
    pubsub_ids = {r.json()["message"]["messageId"] for r in bot.envelopes()}
    assert len(pubsub_ids) == 1


async def test_dropped_receipts_knob(
    api: Client, emulator: RbmEmulator, bot: Bot, phonebook: PhoneBook
) -> None:
    emulator.faults.drop_receipts = 1.0
    await send(api, message())
    await emulator.drain()
    assert len(phonebook.phones[RCS_PHONE].messages) == 1
    assert bot.payloads() == []


async def test_agent_id_suffix_knob(api: Client, emulator: RbmEmulator, bot: Bot) -> None:
    emulator.faults.agent_id_suffix = True
    await send(api, message())
    await emulator.drain()
    assert bot.payloads()[0]["agentId"] == AGENT + "@rbm.goog"


# --- Offline phones and TTL --------------------------------------------------------------------


async def test_offline_phone_gets_its_messages_when_back(
    api: Client, emulator: RbmEmulator, bot: Bot, phonebook: PhoneBook
) -> None:
    emulator.set_offline(RCS_PHONE)
    await send(api, message("Un"))
    await send(api, message("Deux"), message_id="m2")
    await emulator.drain()
    assert phonebook.phones[RCS_PHONE].messages == []
    emulator.set_offline(RCS_PHONE, False)
    await emulator.drain()
    assert [m.body["text"] for m in phonebook.phones[RCS_PHONE].messages] == ["Un", "Deux"]
    assert [p["messageId"] for p in bot.payloads()] == ["m1", "m2"]


async def test_ttl_expiry_while_offline_posts_a_server_event(
    api: Client, emulator: RbmEmulator, bot: Bot, phonebook: PhoneBook, clock: FakeClock
) -> None:
    emulator.set_offline(RCS_PHONE)
    await send(api, message(ttl=timedelta(seconds=10)))
    await send(api, message("Sans ttl"), message_id="m2")
    await emulator.drain()
    clock.advance(timedelta(seconds=9))
    assert emulator.expire_due() == 0
    clock.advance(timedelta(seconds=1))
    assert emulator.expire_due() == 1
    await emulator.drain()
    [event] = bot.payloads()
    assert event == {
        "phoneNumber": RCS_PHONE,
        "messageId": "m1",
        "eventType": "TTL_EXPIRATION_REVOKED",
        "eventId": event["eventId"],
        "sendTime": format_timestamp(T0 + timedelta(seconds=10)),
        "agentId": AGENT,
    }
    emulator.set_offline(RCS_PHONE, False)
    await emulator.drain()
    assert [m.body["text"] for m in phonebook.phones[RCS_PHONE].messages] == ["Sans ttl"]
    status, _ = await call(api, "DELETE", f"/v1/phones/{RCS_PHONE}/agentMessages/m1")
    assert status == 200  # revoked by its TTL: never delivered


async def test_expire_time_passed_when_the_phone_returns(
    api: Client, emulator: RbmEmulator, bot: Bot, phonebook: PhoneBook, clock: FakeClock
) -> None:
    emulator.set_offline(RCS_PHONE)
    await send(api, message(expire_time=T0 + timedelta(minutes=5)))
    await emulator.drain()
    clock.advance(timedelta(minutes=6))
    emulator.set_offline(RCS_PHONE, False)
    await emulator.drain()
    assert phonebook.phones[RCS_PHONE].messages == []
    assert [p["eventType"] for p in bot.payloads()] == ["TTL_EXPIRATION_REVOKED"]


async def test_ttl_revoke_failed_knob_delivers_later(
    api: Client, emulator: RbmEmulator, bot: Bot, phonebook: PhoneBook, clock: FakeClock
) -> None:
    emulator.faults.ttl_revoke_fails = True
    emulator.set_offline(RCS_PHONE)
    await send(api, message(ttl=timedelta(seconds=10)))
    await emulator.drain()
    clock.advance(timedelta(seconds=11))
    emulator.expire_due()
    emulator.set_offline(RCS_PHONE, False)
    await emulator.drain()
    assert [p["eventType"] for p in bot.payloads()] == [
        "TTL_EXPIRATION_REVOKE_FAILED",
        "DELIVERED",
    ]
    assert len(phonebook.phones[RCS_PHONE].messages) == 1


async def test_expiry_timer_fires_on_the_real_clock(
    aiohttp_client: ClientFactory, phonebook: PhoneBook, receiver: Receiver, bot: Bot
) -> None:
    rbm = RbmEmulator(phonebook, agents=(AGENT,), clock=SystemClock())
    rbm.add_agent(AGENT, receiver.url("/rbm"), CLIENT_TOKEN)
    client = await aiohttp_client(rbm.app())
    rbm.set_offline(RCS_PHONE)
    await send(client, {"contentMessage": {"text": "OTP 1234"}, "ttl": "0.001s"})
    await receiver.wait_for(2)  # the handshake, then the server event
    await rbm.drain()
    assert [p["eventType"] for p in bot.payloads()] == ["TTL_EXPIRATION_REVOKED"]


# --- Agent events ------------------------------------------------------------------------------


async def test_agent_events(api: Client, emulator: RbmEmulator, phonebook: PhoneBook) -> None:
    path = f"/v1/phones/{RCS_PHONE}/agentEvents"
    status, answer = await call(api, "POST", path, {"eventType": "IS_TYPING"}, eventId="e1")
    assert (status, answer) == (
        200,
        {
            "eventType": "IS_TYPING",
            "name": f"phones/{RCS_PHONE}/agentEvents/e1",
            "sendTime": format_timestamp(T0),
        },
    )
    status, again = await call(
        api, "POST", path, {"eventType": "READ", "messageId": "x"}, eventId="e1"
    )
    assert (status, again) == (200, answer)
    status, error = await call(api, "POST", path, {"eventType": "READ"}, eventId="e2")
    assert status == 400
    assert "messageId" in google_error(error, 400, "INVALID_ARGUMENT")
    status, error = await call(api, "POST", path, {"eventType": "WAVE"}, eventId="e3")
    assert "event_type" in google_error(error, 400, "INVALID_ARGUMENT")
    status, _ = await call(
        api, "POST", f"/v1/phones/{SMS_PHONE}/agentEvents", {"eventType": "IS_TYPING"}, eventId="e4"
    )
    assert status == 404
    assert (await send(api, message(), message_id="e1"))[1] == answer  # one id space


async def test_read_event_marks_the_persons_message_read(
    api: Client, emulator: RbmEmulator, bot: Bot, phonebook: PhoneBook
) -> None:
    await phonebook.act(RCS_PHONE, {"text": "Bonjour"})
    await emulator.drain()
    [payload] = bot.payloads()
    body = {"eventType": "READ", "messageId": payload["messageId"]}
    path = f"/v1/phones/{RCS_PHONE}/agentEvents"
    assert (await call(api, "POST", path, body, eventId="e1"))[0] == 200
    assert phonebook.phones[RCS_PHONE].messages[0].status == "read"


# --- People's actions --------------------------------------------------------------------------

_COMMON = {"senderPhoneNumber", "messageId", "sendTime", "agentId"}


async def test_people_actions_become_user_messages(
    api: Client, emulator: RbmEmulator, bot: Bot, phonebook: PhoneBook
) -> None:
    await send(api, message(CONTENTS[1]))
    await emulator.drain()
    file = {"payload": {"mimeType": "image/jpeg", "fileSizeBytes": 1280, "fileName": "a.jpg"}}
    file["payload"]["fileUri"] = "https://example.fr/a.jpg"
    actions: list[dict[str, Any]] = [
        {"text": "Bonjour"},
        {"postbackData": "confirm", "text": "Je confirme"},
        {"postbackData": "site", "text": "Voir en ligne"},
        {"location": {"latitude": 48.85, "longitude": 2.35}},
        {"userFile": file},
    ]
    for action in actions:
        await phonebook.act(RCS_PHONE, action)
    await emulator.drain()
    messages = [p for p in bot.payloads() if "eventType" not in p]
    for payload in messages:
        assert payload["senderPhoneNumber"] == RCS_PHONE
        assert payload["agentId"] == AGENT
        assert parse_timestamp(payload["sendTime"]) == T0
    assert len({p["messageId"] for p in messages}) == 5
    kinds = [{k: v for k, v in p.items() if k not in _COMMON} for p in messages]
    assert kinds == [
        {"text": "Bonjour"},
        {
            "suggestionResponse": {
                "postbackData": "confirm",
                "text": "Je confirme",
                "type": "REPLY",
            }
        },
        {
            "suggestionResponse": {
                "postbackData": "site",
                "text": "Voir en ligne",
                "type": "ACTION",
            }
        },
        {"location": {"latitude": 48.85, "longitude": 2.35}},
        {"userFile": file},
    ]
    froms = [m for m in phonebook.phones[RCS_PHONE].messages if m.direction is Direction.FROM_PHONE]
    assert len(froms) == 5


async def test_people_write_to_the_agent_that_last_wrote_to_them(
    api: Client, emulator: RbmEmulator, bot: Bot, phonebook: PhoneBook
) -> None:
    emulator.add_agent(OTHER_AGENT, bot.receiver.url("/other"), CLIENT_TOKEN)
    await phonebook.act(OTHER_RCS_PHONE, {"text": "à qui ?"})
    await send(api, message(), agent=OTHER_AGENT, phone=OTHER_RCS_PHONE)
    await emulator.drain()
    await phonebook.act(OTHER_RCS_PHONE, {"text": "à toi"})
    await emulator.drain()
    assert [p.get("text") for p in bot.payloads("/rbm")] == ["à qui ?"]
    assert [p.get("text") for p in bot.payloads("/other")] == [None, "à toi"]


# --- Faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "name"), [(500, "INTERNAL"), (503, "UNAVAILABLE"), (429, "RESOURCE_EXHAUSTED")]
)
async def test_error_rate_knob(api: Client, emulator: RbmEmulator, status: int, name: str) -> None:
    emulator.faults.error_rates = {status: 1.0}
    answer_status, answer = await send(api, message())
    assert answer_status == status
    google_error(answer, status, name)
    assert emulator.messages == {}


async def test_error_rates_are_deterministic_with_a_seed(
    aiohttp_client: ClientFactory, phonebook: PhoneBook
) -> None:
    outcomes = []
    for _ in range(2):
        faults = RbmFaults(error_rates={500: 0.3, 503: 0.2})
        rbm = RbmEmulator(phonebook, agents=(AGENT,), faults=faults, rng=random.Random(42))
        client = await aiohttp_client(rbm.app())
        outcomes.append([(await send(client, message(), message_id=f"m{i}"))[0] for i in range(20)])
    assert outcomes[0] == outcomes[1]
    assert {200, 500, 503} <= set(outcomes[0])


async def test_timeout_knob_holds_requests_until_released(
    api: Client, emulator: RbmEmulator
) -> None:
    emulator.faults.timeout_rate = 1.0
    pending = asyncio.create_task(send(api, message()))
    while emulator.held == 0:
        await asyncio.sleep(0)
    assert not pending.done()
    emulator.release_held()
    status, _ = await pending
    assert status == 200  # the held call went through: a client that gave up must retry
    assert emulator.held == 0


# --- Control API -------------------------------------------------------------------------------


async def test_control_api(api: Client, emulator: RbmEmulator, bot: Bot) -> None:
    patch = {
        "latency": 0,
        "error_rates": {"500": 0.0},
        "offline": [RCS_PHONE],
        "webhooks": {"queue": "agent", "retry_waits": [0.5]},
    }
    response = await api.patch("/sandbox/rbm/faults", json=patch)
    assert response.status == 200
    knobs = await response.json()
    assert knobs["error_rates"] == {"500": 0.0}
    assert knobs["offline"] == [RCS_PHONE]
    assert emulator.faults.webhooks.queue == "agent"
    assert emulator.faults.webhooks.retry_waits == [0.5]
    for bad in ({"nope": 1}, {"latency": "fast"}, {"webhooks": {"queue": "lifo"}}):
        response = await api.patch("/sandbox/rbm/faults", json=bad)
        assert response.status == 400
    await send(api, message())
    await api.post("/sandbox/rbm/drain")
    listed = await (await api.get("/sandbox/rbm/messages")).json()
    assert [(m["message_id"], m["state"]) for m in listed] == [("m1", "queued")]
    await api.patch("/sandbox/rbm/faults", json={"offline": []})
    assert (await api.post("/sandbox/rbm/drain")).status == 200
    response = await api.post(f"/sandbox/rbm/messages/{AGENT}/m1/read")
    assert response.status == 200
    assert (await api.post(f"/sandbox/rbm/messages/{AGENT}/zz/read")).status == 404
    await api.post("/sandbox/rbm/drain")
    assert [p["eventType"] for p in bot.payloads()] == ["DELIVERED", "READ"]
    response = await api.put(
        f"/sandbox/rbm/agents/{AGENT}/webhook",
        json={"url": bot.receiver.url("/rbm"), "clientToken": CLIENT_TOKEN},
    )
    assert await response.json() == {"verified": True}
    assert (await api.post("/sandbox/rbm/release")).status == 200
    assert (await (await api.get("/sandbox/rbm/faults")).json())["offline"] == []


def test_faults_update_keeps_the_policy_object() -> None:
    faults = RbmFaults()
    policy = faults.webhooks
    faults.update({"webhooks": {"duplicate_rate": 0.5}, "not_launched": ["+33612345678"]})
    assert faults.webhooks is policy
    assert policy.duplicate_rate == 0.5
    assert faults.not_launched == {"+33612345678"}
    with pytest.raises(ValueError, match="reused_id"):
        faults.update({"reused_id": "maybe"})
    assert copy.deepcopy(faults).to_json() == faults.to_json()


async def test_typing_and_subscription_user_events(
    api: Client, emulator: RbmEmulator, bot: Bot
) -> None:
    emulator.user_activity(RCS_PHONE, "IS_TYPING")
    response = await api.post(f"/sandbox/rbm/phones/{RCS_PHONE}/events/UNSUBSCRIBE")
    assert response.status == 200
    assert (await api.post(f"/sandbox/rbm/phones/{RCS_PHONE}/events/WAVE")).status == 400
    assert (await api.post(f"/sandbox/rbm/phones/{SMS_PHONE}0/events/IS_TYPING")).status == 400
    await emulator.drain()
    payloads = bot.payloads()
    assert [p["eventType"] for p in payloads] == ["IS_TYPING", "UNSUBSCRIBE"]
    assert set(payloads[0]) == {"senderPhoneNumber", "eventType", "eventId", "sendTime", "agentId"}
