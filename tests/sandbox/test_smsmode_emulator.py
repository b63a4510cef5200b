"""The smsmode emulator over real HTTP on loopback, with a tiny bot receiving its callbacks
(reference/sms.md §1.3, §1.4, §1.7, §1.8, §2)."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from messaging.clock import Clock, FakeClock, SystemClock
from sandbox.phonebook import Direction, PhoneBook
from sandbox.smsmode import CONTROL_PREFIX, SmsmodeChannel, SmsmodeEmulator, SmsmodeFaults
from sandbox.smsmode_callbacks import wire_time
from tests.sandbox.conftest import RCS_PHONE, SMS_PHONE, T0, Received, Receiver

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]

KEY = "sms-key-0123456789"
RCS_KEY = "rcs-key-0123456789"
CHANNEL_ID = "7d3c0c9e-4b1a-4c55-9a55-2f0c5b1e8a11"
T2C = "+33937123456"
T2C_DIGITS = "33937123456"
SMS_DIGITS = SMS_PHONE.removeprefix("+")
UNKNOWN_PHONE = "+33611111111"
ERROR_KEYS = {"title", "message", "detail", "errorCode"}
RESOURCE_KEYS = {
    "messageId",
    "campaignId",
    "originMessageId",
    "acceptedAt",
    "sentDate",
    "channel",
    "type",
    "direction",
    "recipient",
    "from",
    "body",
    "price",
    "status",
    "refClient",
    "callbackUrlStatus",
    "callbackUrlMo",
    "href",
}
T0_WIRE = "2026-12-01T09:00:00"


class Bot:
    """The bot's callback endpoint: notes when each POST arrives, fails some when told to."""

    def __init__(self, receiver: Receiver, clock: FakeClock) -> None:
        self.receiver = receiver
        self.clock = clock
        self.failures: list[int] = []
        """Statuses answered to the next callbacks, in order; then 200."""
        self.times: list[datetime] = []
        receiver.answer = self._answer

    def _answer(self, _: Received) -> web.Response:
        self.times.append(self.clock.now())
        if self.failures:
            status = self.failures.pop(0)
            return web.Response(status=status, headers={"Location": "/elsewhere"})
        return web.Response(text="OK")

    def posts(self, path: str) -> list[dict[str, Any]]:
        return [request.json() for request in self.receiver.requests if request.path == path]


@pytest.fixture
def bot(receiver: Receiver, clock: FakeClock) -> Bot:
    return Bot(receiver, clock)


@pytest.fixture
def channel(receiver: Receiver) -> SmsmodeChannel:
    return SmsmodeChannel(
        (KEY,),
        name="causette",
        numbers=(T2C,),
        default_callback_url_status=receiver.url("/default/status"),
        default_callback_url_mo=receiver.url("/default/mo"),
        channel_id=CHANNEL_ID,
    )


def make_emulator(
    phonebook: PhoneBook, clock: Clock, channel: SmsmodeChannel, **options: Any
) -> SmsmodeEmulator:
    rcs = SmsmodeChannel((RCS_KEY,), name="rcs", type="RCS")
    defaults: dict[str, Any] = {"clock": clock, "rng": random.Random(7), "background": False}
    options = defaults | options
    return SmsmodeEmulator(phonebook, [channel, rcs], **options)


@pytest.fixture
async def emulator(
    phonebook: PhoneBook, clock: FakeClock, channel: SmsmodeChannel
) -> AsyncIterator[SmsmodeEmulator]:
    emulator = make_emulator(phonebook, clock, channel)
    yield emulator
    await emulator.close()  # also when no app ran it


@pytest.fixture
async def api(aiohttp_client: ClientFactory, emulator: SmsmodeEmulator, bot: Bot) -> Client:
    return await aiohttp_client(emulator.app())


def sms(text: str = "Bonjour", to: str = SMS_DIGITS, **fields: Any) -> dict[str, Any]:
    return {"recipient": {"to": to}, "body": {"text": text}} | fields


def with_callbacks(receiver: Receiver, **fields: Any) -> dict[str, Any]:
    urls = {"callbackUrlStatus": receiver.url("/dlr"), "callbackUrlMo": receiver.url("/mo")}
    return sms(**fields) | urls


async def send(api: Client, body: Any, *, key: str | None = KEY) -> tuple[int, dict[str, Any]]:
    headers = {"X-Api-Key": key} if key is not None else {}
    response = await api.post("/sms/v1/messages", json=body, headers=headers)
    return response.status, await response.json()


async def accepted(api: Client, body: Any) -> dict[str, Any]:
    status, resource = await send(api, body)
    assert status == 201, resource
    return resource


def smsmode_error(answer: dict[str, Any], title: str, code: str) -> str | None:
    assert set(answer) == ERROR_KEYS
    assert (answer["title"], answer["errorCode"]) == (title, code)
    assert isinstance(answer["message"], str)
    detail: str | None = answer["detail"]
    return detail


# --- The 201 and its resource ------------------------------------------------------------------


async def test_accepted_resource(api: Client, receiver: Receiver) -> None:
    body = with_callbacks(receiver, refClient="conv-42:3") | {"from": "Causette"}
    resource = await accepted(api, body)
    assert set(resource) == RESOURCE_KEYS
    assert uuid.UUID(resource["messageId"]).version == 4
    assert resource["acceptedAt"] == resource["sentDate"] == T0_WIRE
    assert resource["channel"] == {
        "channelId": CHANNEL_ID,
        "name": "causette",
        "type": "SMS",
        "flow": "TRANSACTIONAL",
    }
    assert (resource["type"], resource["direction"]) == ("SMS", "MT")
    assert resource["recipient"] == {"to": SMS_DIGITS}
    assert resource["from"] == "Causette"
    assert resource["body"] == {
        "text": "Bonjour",
        "stop": False,
        "encoding": "GSM7",
        "messagePartCount": 1,
        "length": 7,
    }
    assert resource["price"] == {"amount": "0.0450", "currency": "EUR"}
    assert resource["status"] == {
        "value": "ENROUTE",
        "detail": None,
        "deliveryDate": None,
        "lookup": None,
    }
    assert resource["refClient"] == "conv-42:3"
    assert resource["callbackUrlStatus"] == receiver.url("/dlr")
    assert resource["callbackUrlMo"] == receiver.url("/mo")
    assert resource["href"] == str(api.make_url(f"/sms/v1/messages/{resource['messageId']}"))
    assert (resource["campaignId"], resource["originMessageId"]) == (None, None)


async def test_defaults_sender_and_optional_fields(api: Client) -> None:
    resource = await accepted(api, sms())
    assert resource["from"] == "36034"
    assert resource["refClient"] is None
    assert (resource["callbackUrlStatus"], resource["callbackUrlMo"]) == (None, None)


@pytest.mark.parametrize(
    ("text", "encoding", "parts", "length"),
    [
        ("a" * 160, "GSM7", 1, 160),
        ("a" * 161, "GSM7", 2, 161),
        ("a" * 306, "GSM7", 2, 306),
        ("a" * 307, "GSM7", 3, 307),
        ("Rendez-vous à 10 h, l'été : é è ù É Ç", "GSM7", 1, 37),
        ("Total : 10 € [TTC]", "GSM7", 1, 21),
        ("ça marche", "UNICODE", 1, 9),
        ("Votre commande est prête", "UNICODE", 1, 24),
        ("Merci 😀", "UNICODE", 1, 8),
        ("ê" * 70, "UNICODE", 1, 70),
        ("ê" * 71, "UNICODE", 2, 71),
    ],
)
async def test_encoding_and_parts(
    api: Client, text: str, encoding: str, parts: int, length: int
) -> None:
    resource = await accepted(api, sms(text))
    assert resource["body"] == {
        "text": text,
        "stop": False,
        "encoding": encoding,
        "messagePartCount": parts,
        "length": length,
    }
    assert resource["price"]["amount"] == f"{0.045 * parts:.4f}"


async def test_stop_mention_is_appended_and_counted(api: Client) -> None:
    text = "Soldes ! " + "x" * 141  # 150 characters: 161 with the mention
    resource = await accepted(api, sms(text) | {"body": {"text": text, "stop": True}})
    assert resource["body"]["text"] == text + "\nSTOP 36034"
    assert resource["body"]["stop"] is True
    assert (resource["body"]["messagePartCount"], resource["body"]["length"]) == (2, 161)


@pytest.mark.parametrize("to", ["+33698765432", "33698765432", "0698765432"])
async def test_recipient_formats(api: Client, to: str) -> None:
    resource = await accepted(api, sms(to=to))
    assert resource["recipient"] == {"to": SMS_DIGITS}


async def test_no_idempotency_on_ref_client(
    api: Client, emulator: SmsmodeEmulator, phonebook: PhoneBook
) -> None:
    first = await accepted(api, sms(refClient="same"))
    second = await accepted(api, sms(refClient="same"))
    assert first["messageId"] != second["messageId"]
    await emulator.drain()
    assert len(phonebook.phones[SMS_PHONE].messages) == 2


# --- Refusals ----------------------------------------------------------------------------------

LONG = "a" * (153 * 10 + 1)
INVALID: list[tuple[Any, str, str]] = [
    ([sms()], "INVALID_FIELD", "request"),
    ({"body": {"text": "x"}}, "MISSING_FIELD", "recipient"),
    (sms() | {"recipient": "33698765432"}, "INVALID_FIELD", "recipient"),
    (sms() | {"recipient": {}}, "MISSING_FIELD", "recipient.to"),
    (sms(to=""), "MISSING_FIELD", "recipient.to"),
    (sms() | {"recipient": {"to": 33698765432}}, "INVALID_FIELD", "recipient.to"),
    (sms(to="06 98 76 54 32"), "INVALID_FIELD", "recipient.to"),
    (sms(to="+33-698765432"), "INVALID_FIELD", "recipient.to"),
    (sms(to="123"), "INVALID_FIELD", "recipient.to"),
    (sms(to="36034"), "INVALID_FIELD", "recipient.to"),
    ({"recipient": {"to": SMS_DIGITS}}, "MISSING_FIELD", "body"),
    (sms() | {"body": {}}, "MISSING_FIELD", "body.text"),
    (sms(""), "MISSING_FIELD", "body.text"),
    (sms() | {"body": {"text": 42}}, "INVALID_FIELD", "body.text"),
    (sms() | {"body": {"text": "x", "stop": "yes"}}, "INVALID_FIELD", "body.stop"),
    (sms(LONG), "INVALID_FIELD", "body.text"),
    (sms() | {"from": "Ma Boutique"}, "INVALID_FIELD", "from"),
    (sms() | {"from": "Boutique2024"}, "INVALID_FIELD", "from"),
    (sms() | {"from": "Café"}, "INVALID_FIELD", "from"),
    (sms() | {"from": ""}, "INVALID_FIELD", "from"),
    (sms() | {"from": "0937123456"}, "INVALID_FIELD", "from"),
    (sms() | {"from": T2C}, "INVALID_FIELD", "from"),
    (sms() | {"from": "33939999999"}, "INVALID_FIELD", "from"),
    (sms() | {"from": "38000"}, "INVALID_FIELD", "from"),
    (sms() | {"from": 36034}, "INVALID_FIELD", "from"),
    (sms(sentDate="demain 10h"), "INVALID_FIELD", "sentDate"),
    (sms(sentDate="2026-12-02"), "INVALID_FIELD", "sentDate"),
    (sms(refClient="r" * 141), "INVALID_FIELD", "refClient"),
    (sms(refClient=42), "INVALID_FIELD", "refClient"),
    (sms(callbackUrlStatus="ftp://bot.example/dlr"), "INVALID_FIELD", "callbackUrlStatus"),
    (sms(callbackUrlMo="/relative/mo"), "INVALID_FIELD", "callbackUrlMo"),
    (sms(callbackUrlStatuts="https://bot.example/dlr"), "UNKNOWN_FIELD", "callbackUrlStatuts"),
    (sms() | {"recipient": {"to": SMS_DIGITS, "cc": "x"}}, "UNKNOWN_FIELD", "recipient.cc"),
    (sms() | {"body": {"text": "x", "encoding": "GSM7"}}, "UNKNOWN_FIELD", "body.encoding"),
]


@pytest.mark.parametrize(("body", "code", "field"), INVALID)
async def test_invalid_requests(
    api: Client, emulator: SmsmodeEmulator, body: Any, code: str, field: str
) -> None:
    status, answer = await send(api, body)
    assert status == 400
    assert smsmode_error(answer, "Bad Request", code) == field
    assert field in answer["message"]
    assert not emulator.messages


async def test_limits_just_inside_are_accepted(api: Client) -> None:
    body = sms("a" * 153 * 10, refClient="r" * 140, sentDate="2026-12-01T08:00:00")
    resource = await accepted(api, body | {"from": "Boutique123"})
    assert resource["body"]["messagePartCount"] == 10
    assert resource["sentDate"] == T0_WIRE  # a past date sends at once
    assert (await accepted(api, sms() | {"from": "A"}))["from"] == "A"
    assert (await accepted(api, sms() | {"from": None}))["from"] == "36034"


async def test_malformed_json_and_media_type(api: Client) -> None:
    headers = {"X-Api-Key": KEY, "Content-Type": "application/json"}
    response = await api.post("/sms/v1/messages", data=b"{not json", headers=headers)
    assert response.status == 400
    assert smsmode_error(await response.json(), "Bad Request", "MALFORMED_JSON") is None
    headers["Content-Type"] = "text/plain"
    response = await api.post("/sms/v1/messages", data=json.dumps(sms()), headers=headers)
    assert response.status == 415
    smsmode_error(await response.json(), "Unsupported Media Type", "UNSUPPORTED_MEDIA_TYPE")


async def test_unknown_fields_may_be_ignored(
    aiohttp_client: ClientFactory, phonebook: PhoneBook, clock: FakeClock, channel: SmsmodeChannel
) -> None:
    emulator = make_emulator(phonebook, clock, channel, unknown_fields="ignore")
    api = await aiohttp_client(emulator.app())
    resource = await accepted(api, sms(campaignName="soldes"))
    assert "campaignName" not in resource


@pytest.mark.parametrize("key", [None, "", "not-a-key"])
async def test_missing_or_unknown_key_is_401(api: Client, key: str | None) -> None:
    status, answer = await send(api, sms(), key=key)
    assert status == 401
    smsmode_error(answer, "Unauthorized", "UNAUTHORIZED")


async def test_key_of_another_channel_type_is_403(api: Client) -> None:
    status, answer = await send(api, sms(), key=RCS_KEY)
    assert status == 403
    smsmode_error(answer, "Forbidden", "CHANNEL_TYPE_MISMATCH")
    assert answer["message"] == "Channel type mismatch"


# --- Delivery and reports ----------------------------------------------------------------------


async def test_delivered_to_the_phone_then_reported(
    api: Client, emulator: SmsmodeEmulator, phonebook: PhoneBook, bot: Bot, receiver: Receiver
) -> None:
    sent = await accepted(api, with_callbacks(receiver, text="ça marche", refClient="c:1"))
    assert not bot.posts("/dlr")  # nothing happens before the latency is over
    await emulator.drain()
    [message] = phonebook.phones[SMS_PHONE].messages
    assert message.direction is Direction.TO_PHONE
    assert (message.channel, message.status) == ("sms", "delivered")
    assert message.body == {
        "text": "ça marche",
        "segments": 1,
        "encoding": "UNICODE",
        "from": "36034",
    }
    [report] = bot.posts("/dlr")
    status = report.pop("status")
    assert report == {key: value for key, value in sent.items() if key != "status"}
    assert (status["value"], status["detail"], status["deliveryDate"]) == (
        "DELIVERED",
        None,
        T0_WIRE,
    )
    assert status["lookup"]["country"] == "France"
    assert (status["lookup"]["mccMnc"], status["lookup"]["network"]) in {
        ("20801", "ORANGE"),
        ("20810", "SFR"),
        ("20815", "FREE"),
        ("20820", "BOUYGUES"),
    }
    assert "X-Goog-Signature" not in receiver.requests[0].headers  # smsmode does not sign


async def test_sms_reaches_an_rcs_phone_and_the_channel_default_url(
    api: Client, emulator: SmsmodeEmulator, phonebook: PhoneBook, bot: Bot
) -> None:
    await accepted(api, sms(to=RCS_PHONE))
    await emulator.drain()
    assert [m.channel for m in phonebook.phones[RCS_PHONE].messages] == ["sms"]
    [report] = bot.posts("/default/status")
    assert report["status"]["value"] == "DELIVERED"


async def test_latency_delays_delivery(api: Client, emulator: SmsmodeEmulator, bot: Bot) -> None:
    emulator.faults.latency = timedelta(seconds=5)
    await accepted(api, sms())
    assert await emulator.drain(within=timedelta(seconds=4)) == 0
    await emulator.drain()
    assert bot.posts("/default/status")[0]["status"]["deliveryDate"] == "2026-12-01T09:00:05"
    assert bot.times == [T0 + timedelta(seconds=5)]


async def test_report_retried_on_the_smsmode_schedule(
    api: Client, emulator: SmsmodeEmulator, bot: Bot, receiver: Receiver
) -> None:
    bot.failures = [500, 503, 404, 302]  # a redirect is not followed: it is a failure
    await accepted(api, with_callbacks(receiver))
    await emulator.drain()
    offsets = [time - T0 for time in bot.times]
    minutes = timedelta(minutes=1)
    assert offsets == [
        timedelta(0),
        timedelta(seconds=30),
        2.5 * minutes,
        12.5 * minutes,
        72.5 * minutes,
    ]
    reports = bot.posts("/dlr")
    assert len(reports) == 5
    assert all(report == reports[0] for report in reports)
    assert [a.attempt for a in emulator.callbacks.attempts] == [0, 1, 2, 3, 4]


async def test_report_abandoned_after_the_last_retry(
    aiohttp_client: ClientFactory,
    phonebook: PhoneBook,
    clock: FakeClock,
    channel: SmsmodeChannel,
    bot: Bot,
) -> None:
    delays = [timedelta(seconds=1), timedelta(seconds=2)]
    emulator = make_emulator(phonebook, clock, channel, retry_delays=delays)
    api = await aiohttp_client(emulator.app())
    bot.failures = [500] * 10
    await accepted(api, sms())
    await emulator.drain()
    assert [time - T0 for time in bot.times] == [
        timedelta(0),
        timedelta(seconds=1),
        timedelta(seconds=3),
    ]
    assert [a.status for a in emulator.callbacks.attempts] == [500, 500, 500]


async def test_unanswered_callback_is_retried(api: Client, emulator: SmsmodeEmulator) -> None:
    await accepted(api, sms(callbackUrlStatus="http://127.0.0.1:1/refused"))
    await emulator.drain()
    attempts = emulator.callbacks.attempts
    assert len(attempts) == 7  # the first POST and six retries
    assert all(a.status is None and a.error for a in attempts)
    assert attempts[-1].at - T0 == timedelta(hours=30, minutes=12, seconds=30)


async def test_unknown_phone_is_undeliverable(
    api: Client, emulator: SmsmodeEmulator, bot: Bot
) -> None:
    await accepted(api, sms(to=UNKNOWN_PHONE))
    await emulator.drain()
    [report] = bot.posts("/default/status")
    assert report["status"] == {
        "value": "UNDELIVERABLE",
        "detail": "INVALID_PHONE_NUMBER",
        "deliveryDate": None,
        "lookup": None,
    }


async def test_unreachable_phone_expires_undelivered(
    api: Client, emulator: SmsmodeEmulator, phonebook: PhoneBook, bot: Bot
) -> None:
    emulator.faults.unreachable = frozenset({"06 98 76 54 32"})
    assert emulator.faults.unreachable == {SMS_PHONE}
    await accepted(api, sms())
    await emulator.drain(within=timedelta(hours=23, minutes=59))
    assert not bot.posts("/default/status")
    await emulator.drain()
    [report] = bot.posts("/default/status")
    assert (report["status"]["value"], report["status"]["detail"]) == ("UNDELIVERED", None)
    assert bot.times == [T0 + timedelta(hours=24)]
    assert not phonebook.phones[SMS_PHONE].messages


async def test_unreachable_phone_gets_its_sms_once_back(
    api: Client, emulator: SmsmodeEmulator, phonebook: PhoneBook, bot: Bot
) -> None:
    emulator.faults.unreachable = frozenset({SMS_PHONE})
    await accepted(api, sms())
    await emulator.drain(within=timedelta(hours=1))
    emulator.faults.unreachable = frozenset()
    await emulator.drain()
    [report] = bot.posts("/default/status")
    assert report["status"]["deliveryDate"] == "2026-12-01T10:10:00"  # the next 10-minute retry
    assert len(phonebook.phones[SMS_PHONE].messages) == 1


async def test_scheduled_send(
    api: Client, emulator: SmsmodeEmulator, phonebook: PhoneBook, bot: Bot
) -> None:
    resource = await accepted(api, sms(sentDate="2026-12-01T13:30:00+01:00"))
    assert resource["status"]["value"] == "SCHEDULED"
    assert (resource["acceptedAt"], resource["sentDate"]) == (T0_WIRE, "2026-12-01T12:30:00")
    await emulator.drain(within=timedelta(hours=3))
    assert not phonebook.phones[SMS_PHONE].messages
    await emulator.drain()
    [report] = bot.posts("/default/status")
    assert (report["status"]["value"], report["status"]["deliveryDate"]) == (
        "DELIVERED",
        "2026-12-01T12:30:00",
    )


async def test_scheduled_send_without_offset(api: Client) -> None:
    resource = await accepted(api, sms(sentDate="2026-12-01T09:00:01"))
    assert resource["status"]["value"] == "SCHEDULED"
    assert resource["sentDate"] == wire_time(T0 + timedelta(seconds=1))


# --- Replies (MO), Time2Chat and STOP ----------------------------------------------------------


async def test_time2chat_reply_goes_to_the_last_sms_callback(
    api: Client, emulator: SmsmodeEmulator, phonebook: PhoneBook, bot: Bot, receiver: Receiver
) -> None:
    await accepted(api, sms() | {"from": T2C_DIGITS})
    last = await accepted(
        api, with_callbacks(receiver, refClient="conv-42:3") | {"from": T2C_DIGITS}
    )
    await emulator.drain()
    assert phonebook.phones[SMS_PHONE].messages[-1].body["from"] == T2C_DIGITS
    await phonebook.act(SMS_PHONE, {"text": "Oui, mardi"})
    await emulator.drain()
    [mo] = bot.posts("/mo")
    assert "status" not in mo
    assert uuid.UUID(mo["messageId"]).version == 4
    assert mo["messageId"] != last["messageId"]
    assert mo == {
        "messageId": mo["messageId"],
        "originMessageId": last["messageId"],
        "sentDate": T0_WIRE,
        "channel": last["channel"],
        "type": "SMS",
        "direction": "MO",
        "recipient": {"to": T2C_DIGITS},
        "from": SMS_DIGITS,
        "body": {"text": "Oui, mardi", "stop": False},
        "refClient": "conv-42:3",
    }
    assert emulator.replies == [mo]


async def test_reply_follows_the_sender_it_answers(
    api: Client, emulator: SmsmodeEmulator, phonebook: PhoneBook, bot: Bot, receiver: Receiver
) -> None:
    shortcode = await accepted(api, with_callbacks(receiver, refClient="promo"))
    await accepted(api, sms(refClient="t2c") | {"from": T2C_DIGITS})
    await emulator.drain()
    await phonebook.act(SMS_PHONE, {"text": "Info", "to": "36034"})
    await phonebook.act(SMS_PHONE, {"text": "Bonjour"})  # the latest thread: the 09 number
    await emulator.drain()
    [to_shortcode] = bot.posts("/mo")
    assert (to_shortcode["originMessageId"], to_shortcode["refClient"]) == (
        shortcode["messageId"],
        "promo",
    )
    [to_t2c] = bot.posts("/default/mo")  # that SMS had no callbackUrlMo: the channel's
    assert (to_t2c["recipient"], to_t2c["refClient"]) == ({"to": T2C_DIGITS}, "t2c")


async def test_person_opens_a_time2chat_conversation(
    emulator: SmsmodeEmulator, phonebook: PhoneBook, bot: Bot
) -> None:
    await phonebook.act(SMS_PHONE, {"text": "Bonjour", "to": "09 37 12 34 56"})
    await emulator.drain()
    [mo] = bot.posts("/default/mo")
    assert (mo["originMessageId"], mo["refClient"], mo["recipient"]) == (
        None,
        None,
        {"to": T2C_DIGITS},
    )


async def test_no_reply_to_a_sender_id(
    api: Client, emulator: SmsmodeEmulator, phonebook: PhoneBook, receiver: Receiver
) -> None:
    await accepted(api, with_callbacks(receiver) | {"from": "Causette"})
    await emulator.drain()
    await phonebook.act(SMS_PHONE, {"text": "Allô ?"})
    await phonebook.act(SMS_PHONE, {"text": "Allô ?", "to": "0611111111"})
    await emulator.drain()
    assert emulator.replies == []
    assert [r.path for r in receiver.requests] == ["/dlr"]


async def test_stop_opts_the_phone_out_of_marketing(
    aiohttp_client: ClientFactory,
    phonebook: PhoneBook,
    clock: FakeClock,
    channel: SmsmodeChannel,
    bot: Bot,
    receiver: Receiver,
) -> None:
    marketing = replace(channel, flow="MARKETING")
    emulator = make_emulator(phonebook, clock, marketing)
    api = await aiohttp_client(emulator.app())
    await accepted(api, with_callbacks(receiver) | {"from": T2C_DIGITS})
    await emulator.drain()
    await phonebook.act(SMS_PHONE, {"text": " Stop."})
    await emulator.drain()
    [mo] = bot.posts("/mo")
    assert mo["body"] == {"text": " Stop.", "stop": True}
    assert emulator.opted_out == {SMS_PHONE}
    await accepted(api, with_callbacks(receiver, text="Encore nous"))
    await emulator.drain()
    report = bot.posts("/dlr")[-1]
    assert (report["status"]["value"], report["status"]["detail"]) == (
        "UNDELIVERABLE",
        "BLACKLISTED",
    )
    assert len(phonebook.phones[SMS_PHONE].messages) == 2  # the first SMS and the STOP


async def test_an_opted_out_phone_still_gets_transactional_messages(
    api: Client, emulator: SmsmodeEmulator, phonebook: PhoneBook, bot: Bot, receiver: Receiver
) -> None:
    await phonebook.act(SMS_PHONE, {"text": "STOP", "to": T2C_DIGITS})
    await emulator.drain()
    assert emulator.opted_out == {SMS_PHONE}
    await accepted(api, with_callbacks(receiver, text="Votre rendez-vous est confirmé"))
    await emulator.drain()
    assert bot.posts("/dlr")[-1]["status"]["value"] == "DELIVERED"


@pytest.mark.parametrize("text", ["Stoppez tout", "Je dis stop", "STOPPER"])
async def test_only_the_word_stop_opts_out(
    api: Client, emulator: SmsmodeEmulator, phonebook: PhoneBook, text: str
) -> None:
    await accepted(api, sms() | {"from": T2C_DIGITS})
    await emulator.drain()
    await phonebook.act(SMS_PHONE, {"text": text})
    assert emulator.replies[0]["body"]["stop"] is False
    assert not emulator.opted_out


# --- Fault knobs -------------------------------------------------------------------------------


async def test_duplicated_callbacks(
    api: Client, emulator: SmsmodeEmulator, phonebook: PhoneBook, bot: Bot, receiver: Receiver
) -> None:
    emulator.faults.duplicate_callback_rate = 1.0
    await accepted(api, with_callbacks(receiver) | {"from": T2C_DIGITS})
    await emulator.drain()
    await phonebook.act(SMS_PHONE, {"text": "Oui"})
    await emulator.drain()
    first, second = bot.posts("/dlr")
    assert first == second
    first, second = bot.posts("/mo")
    assert first == second


async def test_dropped_reports(
    api: Client, emulator: SmsmodeEmulator, phonebook: PhoneBook, receiver: Receiver
) -> None:
    emulator.faults.drop_dlr_rate = 1.0
    await accepted(api, with_callbacks(receiver))
    await emulator.drain()
    assert len(phonebook.phones[SMS_PHONE].messages) == 1
    assert not receiver.requests


FAULT_ERRORS = {
    429: ("Too Many Requests", "RATE_LIMITED"),
    500: ("Internal Server Error", "INTERNAL_ERROR"),
    503: ("Service Unavailable", "SERVICE_UNAVAILABLE"),
}


async def test_error_rates_are_deterministic_with_a_seed(
    aiohttp_client: ClientFactory, phonebook: PhoneBook, clock: FakeClock, channel: SmsmodeChannel
) -> None:
    faults = SmsmodeFaults(error_rates={429: 0.2, 500: 0.1, 503: 0.1})
    runs: list[list[int]] = []
    for _ in range(2):
        emulator = make_emulator(phonebook, clock, channel, rng=random.Random(42), faults=faults)
        api = await aiohttp_client(emulator.app())
        answers = [await send(api, sms()) for _ in range(40)]
        runs.append([status for status, _ in answers])
        for status, answer in answers:
            if status != 201:
                smsmode_error(answer, *FAULT_ERRORS[status])
        assert len(emulator.messages) == runs[-1].count(201)  # a refused request sends nothing
    assert runs[0] == runs[1]
    assert set(runs[0]) == {201, 429, 500, 503}
    assert 16 <= runs[0].count(201) <= 32


async def test_no_faults_without_rates(api: Client) -> None:
    assert {(await send(api, sms()))[0] for _ in range(20)} == {201}


async def test_message_ids_are_deterministic_with_a_seed(
    aiohttp_client: ClientFactory, phonebook: PhoneBook, clock: FakeClock, channel: SmsmodeChannel
) -> None:
    ids = []
    for _ in range(2):
        emulator = make_emulator(phonebook, clock, channel, rng=random.Random(3))
        api = await aiohttp_client(emulator.app())
        ids.append([(await accepted(api, sms()))["messageId"] for _ in range(3)])
    assert ids[0] == ids[1]


async def test_hung_request_answers_504_when_released(
    api: Client, emulator: SmsmodeEmulator
) -> None:
    emulator.faults.hang_rate = 1.0
    request = asyncio.ensure_future(send(api, sms()))
    for _ in range(1000):  # yield until the request is in (no wall-clock wait)
        if emulator.hung:
            break
        await asyncio.sleep(0)
    assert emulator.hung == 1
    assert not request.done()
    emulator.release_hung()
    status, answer = await request
    assert status == 504
    smsmode_error(answer, "Gateway Timeout", "TIMEOUT")
    assert not emulator.messages


async def test_drain_runs_nothing_early_on_a_real_clock(
    aiohttp_client: ClientFactory, phonebook: PhoneBook, channel: SmsmodeChannel
) -> None:
    emulator = make_emulator(phonebook, SystemClock(), channel)
    api = await aiohttp_client(emulator.app())
    emulator.faults.unreachable = frozenset({SMS_PHONE})
    resource = await accepted(api, sms())
    assert await emulator.drain() == 1  # the first attempt; the retry waits its 10 minutes
    assert emulator.messages[resource["messageId"]].status == "ENROUTE"


async def test_background_delivery_without_drain(
    aiohttp_client: ClientFactory, phonebook: PhoneBook, channel: SmsmodeChannel, receiver: Receiver
) -> None:
    emulator = SmsmodeEmulator(phonebook, [channel], clock=SystemClock(), rng=random.Random(1))
    api = await aiohttp_client(emulator.app())
    await accepted(api, with_callbacks(receiver))
    [report] = await receiver.wait_for(1)
    assert report.json()["status"]["value"] == "DELIVERED"


# --- Control API -------------------------------------------------------------------------------


async def test_control_api(api: Client, emulator: SmsmodeEmulator, phonebook: PhoneBook) -> None:
    response = await api.get(CONTROL_PREFIX + "/faults")
    assert await response.json() == SmsmodeFaults().model_dump(mode="json")
    patch = {"latency": 2.5, "error_rates": {"503": 0.25}, "unreachable": ["0698765432"]}
    response = await api.patch(CONTROL_PREFIX + "/faults", json=patch)
    assert response.status == 200
    knobs = await response.json()
    assert (knobs["latency"], knobs["error_rates"], knobs["unreachable"]) == (
        2.5,
        {"503": 0.25},
        [SMS_PHONE],
    )
    assert emulator.faults.latency == timedelta(seconds=2.5)
    for bad in ({"hang_rate": 2}, {"error_rates": {"404": 0.1}}, {"speed": 1}, [1]):
        response = await api.patch(CONTROL_PREFIX + "/faults", json=bad)
        assert response.status == 400
        assert "error" in await response.json()
    await api.patch(CONTROL_PREFIX + "/faults", json={"error_rates": {}, "unreachable": []})
    await accepted(api, sms())
    response = await api.post(CONTROL_PREFIX + "/drain")
    assert (await response.json())["ran"] >= 1
    state = await (await api.get(CONTROL_PREFIX + "/state")).json()
    assert [m["status"]["value"] for m in state["messages"]] == ["DELIVERED"]
    assert (state["replies"], state["optedOut"]) == ([], [])
    assert [c["status"] for c in state["callbacks"]] == [200]
