"""The smsmode client against a loopback server playing smsmode REST v1 (reference/sms.md §1.3)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from agents.errors import Invalid, Permanent, ProviderError, RateLimited, Transient
from agents.smsmode import (
    RecipientFormat,
    SmsAccepted,
    SmsmodeClient,
    recipient_number,
    t2c_sender,
)
from messaging.clock import FakeClock
from messaging.phone import Phone
from tests.agents.conftest import FakeProvider, Reply

PHONE = "+33612345678"
API_KEY = "sk_live_SECRETSECRETSECRET"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def resource(**overrides: Any) -> dict[str, Any]:
    """The 201 message resource, shaped as in sms.md §1.3."""
    body: dict[str, Any] = {
        "messageId": "0b6f5a0e-3c1d-4d7e-9a55-2f0c5b1e8a11",
        "acceptedAt": "2026-03-02T10:00:00",
        "type": "SMS",
        "direction": "MT",
        "recipient": {"to": PHONE[1:]},
        "from": "Causette",
        "body": {"text": "Bonjour", "encoding": "GSM7", "messagePartCount": 1, "length": 7},
        "price": {"amount": "0.0450", "currency": "EUR"},
        "status": {"value": "ENROUTE"},
        "refClient": "conv-42:3",
    }
    body.update(overrides)
    return body


def client(
    session: aiohttp.ClientSession,
    provider: FakeProvider,
    *,
    timeout: timedelta = timedelta(seconds=5),
    recipient_format: RecipientFormat = "digits",
) -> SmsmodeClient:
    return SmsmodeClient(
        session,
        api_key=API_KEY,
        base_url=provider.url,
        timeout=timeout,
        recipient_format=recipient_format,
        clock=FakeClock(NOW),
    )


async def send(sms: SmsmodeClient, **fields: Any) -> SmsAccepted:
    values: dict[str, Any] = {
        "sender": "Causette",
        "ref_client": "conv-42:3",
        "status_url": "https://bots.example.fr/smsmode/abc/status",
        "mo_url": "https://bots.example.fr/smsmode/abc/mo",
    }
    values.update(fields)
    to = values.pop("to", PHONE)
    text = values.pop("text", "Bonjour Zoé, à demain 10 h ?")
    return await sms.send_sms(to, text, **values)


async def test_send_request_shape(session: aiohttp.ClientSession, provider: FakeProvider) -> None:
    provider.reply(201, resource())
    accepted = await send(client(session, provider))

    assert accepted == SmsAccepted(
        message_id="0b6f5a0e-3c1d-4d7e-9a55-2f0c5b1e8a11",
        encoding="GSM7",
        part_count=1,
        price=Decimal("0.0450"),
        currency="EUR",
    )
    sent = provider.last
    assert sent.method == "POST"
    assert sent.raw_path == "/sms/v1/messages"
    assert sent.query == {}
    assert sent.headers["X-Api-Key"] == API_KEY
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Accept"] == "application/json"
    assert "Authorization" not in sent.headers
    assert json.loads(sent.body) == {
        "recipient": {"to": "33612345678"},
        "body": {"text": "Bonjour Zoé, à demain 10 h ?"},
        "from": "Causette",
        "refClient": "conv-42:3",
        "callbackUrlStatus": "https://bots.example.fr/smsmode/abc/status",
        "callbackUrlMo": "https://bots.example.fr/smsmode/abc/mo",
    }
    assert "Zoé, à".encode() in sent.body  # UTF-8 JSON, not \u escapes


async def test_unset_fields_are_omitted(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    provider.reply(201, resource())
    await send(client(session, provider), sender=None, status_url=None, mo_url=None)
    assert json.loads(provider.last.body) == {
        "recipient": {"to": "33612345678"},
        "body": {"text": "Bonjour Zoé, à demain 10 h ?"},
        "refClient": "conv-42:3",
    }


@pytest.mark.parametrize(
    ("number_format", "expected"), [("digits", "33612345678"), ("e164", "+33612345678")]
)
async def test_recipient_format_is_configurable(
    session: aiohttp.ClientSession,
    provider: FakeProvider,
    number_format: RecipientFormat,
    expected: str,
) -> None:
    provider.reply(201, resource())
    await send(client(session, provider, recipient_format=number_format), to="06 12 34 56 78")
    assert json.loads(provider.last.body)["recipient"] == {"to": expected}
    assert recipient_number(Phone(PHONE), number_format) == expected


async def test_time2chat_sends_from_the_09_number(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    provider.reply(201, resource())
    await send(client(session, provider), sender=t2c_sender("+33939123456"))
    assert json.loads(provider.last.body)["from"] == "33939123456"


def test_t2c_sender() -> None:
    assert t2c_sender("+33939123456") == "33939123456"
    assert t2c_sender("09 39 12 34 56") == "33939123456"
    with pytest.raises(ValueError, match="not a French 09 number") as raised:
        t2c_sender(PHONE)
    assert PHONE not in str(raised.value)
    with pytest.raises(ValueError, match="not a valid phone number"):
        t2c_sender("09 39")


@pytest.mark.parametrize(
    ("price", "expected", "currency"),
    [
        ({"amount": "0.0450", "currency": "EUR"}, Decimal("0.0450"), "EUR"),
        ({"amount": 0.045, "currency": "EUR"}, Decimal("0.045"), "EUR"),
        ({"amount": 1}, Decimal(1), None),
        ({"amount": "n/a"}, None, None),
        ({"amount": "NaN"}, None, None),
        ({"amount": True}, None, None),
        (None, None, None),
    ],
)
async def test_price_as_string_or_number(
    session: aiohttp.ClientSession,
    provider: FakeProvider,
    price: object,
    expected: Decimal | None,
    currency: str | None,
) -> None:
    provider.reply(201, resource(price=price))
    accepted = await send(client(session, provider))
    assert accepted.price == expected
    assert accepted.currency == currency


async def test_sparse_resource(session: aiohttp.ClientSession, provider: FakeProvider) -> None:
    provider.reply(201, {"messageId": "m-1", "body": {"messagePartCount": "2"}})
    accepted = await send(client(session, provider))
    assert accepted == SmsAccepted("m-1", None, None, None)


@pytest.mark.parametrize("answer", [{"status": {"value": "ENROUTE"}}, None, ["m-1"]])
async def test_accepted_without_message_id_is_permanent(
    session: aiohttp.ClientSession, provider: FakeProvider, answer: object
) -> None:
    # Sent but untrackable: not Transient, whose retry would send it twice (sms.md §1.8).
    provider.reply(201, answer)
    with pytest.raises(Permanent, match="without a messageId"):
        await send(client(session, provider))


async def test_empty_text_is_refused(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    with pytest.raises(ValueError, match="text"):
        await send(client(session, provider), text="")
    assert provider.requests == []


async def test_invalid_recipient_is_invalid_and_not_echoed(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    with pytest.raises(Invalid) as raised:
        await send(client(session, provider), to="06 12")
    assert "06 12" not in str(raised.value)
    assert provider.requests == []


def test_empty_api_key_is_refused(session: aiohttp.ClientSession) -> None:
    with pytest.raises(ValueError, match="API key"):
        SmsmodeClient(session, api_key="")


def test_repr_hides_the_key(session: aiohttp.ClientSession) -> None:
    assert API_KEY not in repr(SmsmodeClient(session, api_key=API_KEY))


# --- Errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, Invalid),
        (422, Invalid),
        (401, Permanent),
        (403, Permanent),
        (404, Permanent),
        (409, Permanent),
        (500, Transient),
        (502, Transient),
        (503, Transient),
    ],
)
async def test_error_statuses(
    session: aiohttp.ClientSession,
    provider: FakeProvider,
    status: int,
    expected: type[ProviderError],
) -> None:
    error_json = {
        "title": "Bad Request",
        "message": "Invalid recipient",
        "detail": "recipient.to",
        "errorCode": 1234,
    }
    provider.reply(status, error_json)
    with pytest.raises(expected) as raised:
        await send(client(session, provider))
    error = raised.value
    assert type(error) is expected
    assert error.status == status
    assert json.loads(error.body) == error_json
    assert str(error) == (
        f"smsmode send to +33•••••••78: HTTP {status}"
        " Bad Request: Invalid recipient (recipient.to) [errorCode 1234]"
    )


async def test_error_without_json(session: aiohttp.ClientSession, provider: FakeProvider) -> None:
    provider.reply(502, text="<html>Bad gateway</html>")
    with pytest.raises(Transient) as raised:
        await send(client(session, provider))
    assert str(raised.value) == "smsmode send to +33•••••••78: HTTP 502"
    assert raised.value.body == "<html>Bad gateway</html>"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("12", timedelta(seconds=12)),
        ("Mon, 02 Mar 2026 09:01:00 GMT", timedelta(minutes=1)),
        (None, None),
    ],
)
async def test_rate_limited(
    session: aiohttp.ClientSession,
    provider: FakeProvider,
    header: str | None,
    expected: timedelta | None,
) -> None:
    headers = {} if header is None else {"Retry-After": header}
    provider.reply(429, {"title": "Too Many Requests"}, headers=headers)
    with pytest.raises(RateLimited) as raised:
        await send(client(session, provider))
    assert raised.value.status == 429
    assert raised.value.retry_after == expected


async def test_timeout_is_transient(session: aiohttp.ClientSession, provider: FakeProvider) -> None:
    provider.reply(stuck=True)
    with pytest.raises(Transient, match="no answer in time") as raised:
        await send(client(session, provider, timeout=timedelta(milliseconds=50)))
    assert PHONE[1:] not in str(raised.value)


async def test_connection_refused_is_transient(
    session: aiohttp.ClientSession, closed_port_url: str
) -> None:
    sms = SmsmodeClient(session, api_key=API_KEY, base_url=closed_port_url)
    with pytest.raises(Transient) as raised:
        await send(sms)
    assert raised.value.__cause__ is None
    assert API_KEY not in str(raised.value)


@pytest.mark.parametrize("status", [400, 401, 403, 429, 500])
async def test_errors_never_show_the_key_or_the_full_phone(
    session: aiohttp.ClientSession,
    provider: FakeProvider,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="agents")
    provider.default = Reply(status, echo_header="X-Api-Key")
    provider.reply(status, {"message": f"unknown key {API_KEY} for {PHONE[1:]} / 0612345678"})
    for _ in range(2):
        with pytest.raises(ProviderError) as raised:
            await send(client(session, provider))
        everything = " ".join(
            [str(raised.value), raised.value.body, repr(raised.value.args), caplog.text]
        )
        assert "SECRETSECRET" not in everything
        for form in (PHONE, PHONE[1:], "0612345678"):
            assert form not in everything
