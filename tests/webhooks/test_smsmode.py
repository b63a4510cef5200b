"""smsmode's MO and delivery-report callbacks against bodies in its documented shapes
(reference/sms.md §1.3, §1.4, §4)."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from messaging.clock import FakeClock
from messaging.inbound import Inbound, InboundFile, InboundLocation, InboundPostback, InboundText
from store.base import Store
from store.events import inbound_event
from store.records import InboxSource, NewInbound, OutboxStatus
from store.sqlite import SqliteStore
from store.unconfirmed_sms import reported, unconfirmed_detail
from tests.store import LEASE, T0, conversation, outbound, start
from tests.webhooks.conftest import (
    ROUTES,
    SMS_PREFIX,
    Calls,
    Client,
    ClientFactory,
    drain_inbox,
    outbox_snapshot,
    sms_app,
    sms_url,
)
from tests.webhooks.payloads import (
    BOT,
    OTHER_BOT,
    OTHER_TOKEN,
    PHONE,
    PHONE_DIGITS,
    SHORTCODE,
    SMS_TOKEN,
    T2C_DIGITS,
    T2C_NUMBER,
    T2C_TOKEN,
    dlr,
    mo,
    sent,
)
from webhooks.common import MAX_BODY
from webhooks.smsmode import SmsRoute, add_smsmode_callbacks


async def post(client: Client, body: dict[str, Any] | bytes, token: str = SMS_TOKEN) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(
        sms_url(token), data=data, headers={"Content-Type": "application/json"}
    )


async def post_ok(client: Client, body: dict[str, Any], token: str = SMS_TOKEN) -> dict[str, Any]:
    response = await post(client, body, token)
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


# --- MO ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "to"),
    [
        (PHONE_DIGITS, SHORTCODE),  # as documented: the phone in `from`
        (SHORTCODE, PHONE_DIGITS),  # as seen in production: the other way round
        (PHONE, "MONSHOP"),
        ("0612345678", SHORTCODE),
    ],
    ids=["documented", "reversed", "e164 and a SenderID", "national"],
)
async def test_an_sms_mo_becomes_one_inbox_entry(
    sms: Client, store: Store, clock: FakeClock, calls: Calls, sender: str, to: str
) -> None:
    answer = await post_ok(sms, mo("mo-1", sender=sender, to=to))
    assert answer["result"] == "stored"
    (entry,) = await drain_inbox(store)
    assert str(entry.seq) == answer["seq"]
    assert (entry.source, entry.provider_id, entry.bot_id, entry.phone) == (
        InboxSource.SMSMODE,
        "mo-1",
        BOT,
        PHONE,
    )
    assert entry.event == inbound_event(InboundText(text="Oui merci"), "sms")
    assert entry.received_at == clock.now()
    assert calls.wakes == 1


@pytest.mark.parametrize(
    ("sender", "to"),
    [(PHONE_DIGITS, T2C_DIGITS), (T2C_DIGITS, PHONE_DIGITS), (PHONE, T2C_NUMBER)],
    ids=["documented", "reversed", "e164"],
)
async def test_a_mo_on_a_time2chat_number_comes_from_the_other_side(
    sms: Client, store: Store, sender: str, to: str
) -> None:
    await post_ok(sms, mo("mo-t2c", sender=sender, to=to), T2C_TOKEN)
    (entry,) = await drain_inbox(store)
    assert (entry.bot_id, entry.phone) == (BOT, PHONE)
    assert entry.event == inbound_event(InboundText(text="Oui merci"), "t2c")


RCS_MOS: dict[str, tuple[dict[str, Any], Inbound]] = {
    "TEXT": ({"type": "TEXT", "text": "Bonjour"}, InboundText(text="Bonjour")),
    "SUGGESTION": (
        {"type": "SUGGESTION", "text": "Oui", "postbackData": "confirm_yes"},
        InboundPostback(data="confirm_yes", text="Oui"),
    ),
    "LOCATION": (
        {"type": "LOCATION", "latitude": 43.2965, "longitude": 5.3698},
        InboundLocation(latitude=43.2965, longitude=5.3698),
    ),
    "FILE": (
        {
            "type": "FILE",
            "fileUrl": "https://files.example/photo.jpg",
            "filename": "photo.jpg",
            "contentType": "image/jpeg",
        },
        InboundFile(
            url="https://files.example/photo.jpg", content_type="image/jpeg", name="photo.jpg"
        ),
    ),
}


@pytest.mark.parametrize("kind", list(RCS_MOS))
async def test_rcs_mo_types_become_the_matching_inbound_message(
    sms: Client, store: Store, kind: str
) -> None:
    body, expected = RCS_MOS[kind]
    # RCS callbacks were seen with the agent in `from` and the phone in `recipient.to`.
    payload = mo(f"mo-{kind}", sender="causette_4f2a9c1e_agent", to=PHONE_DIGITS, body=body)
    await post_ok(sms, payload | {"type": "RCS"})
    (entry,) = await drain_inbox(store)
    assert entry.phone == PHONE
    assert entry.event == inbound_event(expected, "sms")


async def test_a_stop_mo_is_an_ordinary_text(sms: Client, store: Store) -> None:
    await post_ok(sms, mo("mo-stop", body={"text": "STOP", "stop": True}))
    await post_ok(sms, mo("mo-stop-2", body={"stop": True}))
    entries = await drain_inbox(store)
    assert [e.event for e in entries] == [inbound_event(InboundText(text="STOP"), "sms")] * 2


async def test_a_duplicate_mo_is_stored_once_and_still_acknowledged(
    sms: Client, store: Store, calls: Calls
) -> None:
    first = await post_ok(sms, mo("mo-dup"))
    again = await post_ok(sms, mo("mo-dup"))
    assert (first["result"], again["result"]) == ("stored", "duplicate")
    assert len(await drain_inbox(store)) == 1
    assert calls.wakes == 1


async def test_each_token_reaches_its_own_bot(sms: Client, store: Store) -> None:
    await post_ok(sms, mo("mo-a"), SMS_TOKEN)
    await post_ok(sms, mo("mo-b", sender="33698765432"), OTHER_TOKEN)
    entries = await drain_inbox(store)
    assert {(e.provider_id, e.bot_id) for e in entries} == {("mo-a", BOT), ("mo-b", OTHER_BOT)}


@pytest.mark.parametrize(
    "token",
    [
        "unknown-token-0123456789",
        SMS_TOKEN[:-1],
        SMS_TOKEN + "0",
        SMS_TOKEN.upper(),
        "%C3%A9t%C3%A9-0123456789abcdef",
        "%ED%A0%80-0123456789abcdef",
    ],
)
async def test_an_unknown_token_is_not_found_and_nothing_is_stored(
    sms: Client, store: Store, token: str
) -> None:
    response = await post(sms, mo("mo-x"), token)
    assert response.status == 404
    assert await response.json() == {"error": "not found"}
    assert await store.inbox_depth() == 0


async def test_the_prefix_alone_is_not_a_callback(sms: Client) -> None:
    assert (await sms.post(f"{SMS_PREFIX}/", data=b"{}")).status == 404
    assert (await sms.post(SMS_PREFIX, data=b"{}")).status == 404


@pytest.fixture
async def broken(
    aiohttp_client: ClientFactory, clock: FakeClock, calls: Calls
) -> AsyncIterator[Client]:
    class BrokenStore(SqliteStore):
        async def append_inbound(self, inbound: NewInbound) -> Any:
            raise ConnectionError("store unreachable")

        async def find_outbound_by_provider_id(self, provider_id: str) -> Any:
            raise ConnectionError("store unreachable")

    async with BrokenStore(":memory:") as store:
        yield await aiohttp_client(sms_app(store, clock, calls))


@pytest.mark.parametrize("body", [mo(), dlr("mt-1", "DELIVERED")], ids=["mo", "report"])
async def test_a_store_failure_answers_503_so_that_smsmode_retries(
    broken: Client, body: dict[str, Any]
) -> None:
    response = await post(broken, body)
    assert response.status == 503


async def test_a_locked_store_answers_503_in_one_line_of_log(
    aiohttp_client: ClientFactory,
    clock: FakeClock,
    calls: Calls,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another process holding SQLite's lock is an outage, not a bug: 503 and its one WARNING
    line per request, no traceback (a 30 s lock under load is hundreds of requests)."""
    async with SqliteStore(tmp_path / "locked.db") as store:
        client = await aiohttp_client(sms_app(store, clock, calls))
        holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with caplog.at_level(logging.WARNING, logger="webhooks"):
                assert (await post(client, mo())).status == 503
        finally:
            holder.close()
        (record,) = [r for r in caplog.records if r.name.startswith("webhooks")]
        assert record.levelno == logging.WARNING
        assert "503" in record.getMessage()
        assert all(r.exc_info is None for r in caplog.records)


async def test_an_unexpected_store_error_keeps_its_traceback(
    broken: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="webhooks"):
        assert (await post(broken, mo())).status == 503
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error.exc_info is not None


# --- delivery reports -------------------------------------------------------------------------

REPORTS: dict[str, OutboxStatus | None] = {
    "DELIVERED": OutboxStatus.DELIVERED,
    "READ": OutboxStatus.READ,
    "UNDELIVERABLE": OutboxStatus.UNDELIVERABLE,
    "UNDELIVERED": OutboxStatus.UNDELIVERABLE,
    "EXPIRED": OutboxStatus.EXPIRED,
    "REJECTED": OutboxStatus.REJECTED,
    "ENROUTE": None,
    "SCHEDULED": None,
    "BUFFERED": None,
    "UNKNOWN": None,
    "SOMETHING_NEW": None,
}


@pytest.mark.parametrize("value", list(REPORTS))
async def test_a_delivery_report_sets_the_canonical_status(
    sms: Client, store: Store, value: str
) -> None:
    (entry,) = await sent(store, {"m1": "sms-mt-1"})
    answer = await post_ok(sms, dlr("sms-mt-1", value, "INVALID_PHONE_NUMBER"))
    stored = await store.get_outbound(entry.key)
    assert stored is not None
    expected = REPORTS[value]
    detail = f"smsmode {value}: INVALID_PHONE_NUMBER"
    if expected is None:  # not final news: the status stays, the report is noted
        assert answer["result"] == "noted"
        assert stored.status is OutboxStatus.SENT
    else:
        assert answer["result"] == "updated"
        assert stored.status is expected
    assert stored.history[-1]["detail"] == detail
    assert stored.history[-1]["status"] == stored.status.value
    assert await store.inbox_depth() == 0


async def test_a_report_without_detail_and_in_lower_case(sms: Client, store: Store) -> None:
    (entry,) = await sent(store, {"m1": "sms-mt-1"})
    await post_ok(sms, dlr("sms-mt-1", "delivered"))
    stored = await store.get_outbound(entry.key)
    assert stored is not None
    assert stored.status is OutboxStatus.DELIVERED
    assert stored.history[-1]["detail"] == "smsmode DELIVERED"


async def test_repeated_progress_reports_are_noted_once(sms: Client, store: Store) -> None:
    (entry,) = await sent(store, {"m1": "sms-mt-1"})
    results = [(await post_ok(sms, dlr("sms-mt-1", "ENROUTE")))["result"] for _ in range(3)]
    assert results == ["noted", "unchanged", "unchanged"]
    await post_ok(sms, dlr("sms-mt-1", "DELIVERED"))
    stored = await store.get_outbound(entry.key)
    assert stored is not None
    assert [(h["status"], h["detail"]) for h in stored.history] == [
        ("queued", None),
        ("sent", None),
        ("sent", "smsmode ENROUTE"),
        ("delivered", "smsmode DELIVERED"),
    ]


@pytest.mark.parametrize("late", ["UNDELIVERED", "ENROUTE", "DELIVERED", "EXPIRED"])
async def test_a_report_never_changes_a_settled_message(
    sms: Client, store: Store, late: str
) -> None:
    (entry,) = await sent(store, {"m1": "sms-mt-1"})
    await post_ok(sms, dlr("sms-mt-1", "DELIVERED"))
    settled = await store.get_outbound(entry.key)
    assert (await post_ok(sms, dlr("sms-mt-1", late)))["result"] == "unchanged"
    assert await store.get_outbound(entry.key) == settled


async def test_read_after_delivered_is_news(sms: Client, store: Store) -> None:
    (entry,) = await sent(store, {"m1": "sms-mt-1"})
    await post_ok(sms, dlr("sms-mt-1", "DELIVERED"))
    assert (await post_ok(sms, dlr("sms-mt-1", "READ")))["result"] == "updated"
    stored = await store.get_outbound(entry.key)
    assert stored is not None
    assert stored.status is OutboxStatus.READ


async def test_a_report_for_an_unknown_message_is_acknowledged_and_dropped(
    sms: Client, store: Store
) -> None:
    entries = await sent(store, {"m1": "sms-mt-1"})
    before = await outbox_snapshot(store, [e.key for e in entries])
    assert (await post_ok(sms, dlr("sms-unknown", "DELIVERED")))["result"] == "unknown"
    assert await outbox_snapshot(store, [e.key for e in entries]) == before


async def test_a_report_ahead_of_our_record_of_the_send_is_asked_again(
    sms: Client, store: Store
) -> None:
    """smsmode may post the report before the router has written the message id it got:
    the report names our outbox key (`refClient`), still `sending`, so it is refused (409,
    nothing stored) and smsmode posts it again later, when the id is known."""
    conv = conversation("conv-early", bot=BOT)
    await start(store, conv, outbound=[outbound("early")])
    await store.claim_outbound("dispatcher", T0, LEASE)
    await store.mark_outbound("early", OutboxStatus.SENDING, T0, route="sms", owner="dispatcher")
    report = dlr("sms-mt-9", "DELIVERED") | {"refClient": "early"}
    before = await store.get_outbound("early")
    response = await post(sms, report)
    assert response.status == 409
    assert await store.get_outbound("early") == before
    await store.mark_outbound("early", OutboxStatus.SENT, T0, provider_id="sms-mt-9")
    assert (await post_ok(sms, report))["result"] == "updated"
    stored = await store.get_outbound("early")
    assert stored is not None
    assert stored.status is OutboxStatus.DELIVERED


async def test_a_report_proves_an_unconfirmed_send_and_is_asked_again(
    sms: Client, store: Store
) -> None:
    """An SMS whose send has an unknown outcome waits `queued` for smsmode's report
    (store/unconfirmed_sms.py): the report records smsmode's id and makes the entry due for
    the router (409: posted again, as is any copy, until the router recorded the send)."""
    conv = conversation("conv-unsure", bot=BOT)
    await start(store, conv, outbound=[outbound("unsure")])
    await store.claim_outbound("dispatcher", T0, LEASE)
    await store.mark_outbound("unsure", OutboxStatus.SENDING, T0, route="sms", owner="dispatcher")
    later = T0 + timedelta(minutes=5)
    detail = unconfirmed_detail("timed out", later.isoformat())
    await store.mark_outbound(
        "unsure", OutboxStatus.QUEUED, T0, due_at=later, detail=detail, owner="dispatcher"
    )
    report = dlr("sms-mt-7", "DELIVERED") | {"refClient": "unsure"}
    assert (await post(sms, report)).status == 409
    stored = await store.get_outbound("unsure")
    assert stored is not None
    assert reported(stored)
    assert (stored.status, stored.provider_id, stored.due_at) == (
        OutboxStatus.QUEUED,
        "sms-mt-7",
        T0,
    )
    assert (await post(sms, report)).status == 409  # a copy: the router has not acted yet
    assert await store.get_outbound("unsure") == stored
    await store.mark_outbound("unsure", OutboxStatus.SENT, T0, provider_id="sms-mt-7")
    assert (await post_ok(sms, report))["result"] == "updated"


async def test_a_token_cannot_touch_another_bots_messages(sms: Client, store: Store) -> None:
    (entry,) = await sent(store, {"m1": "sms-mt-1"}, bot=BOT)
    answer = await post_ok(sms, dlr("sms-mt-1", "UNDELIVERABLE"), OTHER_TOKEN)
    assert answer["result"] == "foreign"
    assert await store.get_outbound(entry.key) == entry


async def test_status_decides_over_direction(sms: Client, store: Store) -> None:
    (entry,) = await sent(store, {"m1": "sms-mt-1"})
    await post_ok(sms, dlr("sms-mt-1", "DELIVERED") | {"direction": "MO"})
    stored = await store.get_outbound(entry.key)
    assert stored is not None
    assert stored.status is OutboxStatus.DELIVERED
    assert await store.inbox_depth() == 0


async def test_a_null_status_is_no_status(sms: Client, store: Store) -> None:
    await post_ok(sms, mo("mo-null") | {"status": None})
    assert await store.inbox_depth() == 1


async def test_logs_hold_no_phone_number_nor_token(
    sms: Client, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await sent(store, {"m1": "sms-mt-1"})
    await post_ok(sms, mo())
    await post_ok(sms, mo("mo-t2c", to=T2C_DIGITS), T2C_TOKEN)
    await post_ok(sms, dlr("sms-mt-1", "ENROUTE"))
    await post_ok(sms, dlr("sms-mt-1", "UNDELIVERABLE", "SPAM"), OTHER_TOKEN)
    await post(sms, mo("mo-bad", sender="33698765432", to=PHONE_DIGITS))
    await post(sms, mo(), "guessed-token-0123456789")
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("webhooks"))
    assert "+33•••••••78" in ours
    for secret in ("612345678", "698765432", "939123456", SMS_TOKEN, T2C_TOKEN, OTHER_TOKEN):
        assert secret not in ours
    assert "guessed-token" not in ours


# --- bad requests -----------------------------------------------------------------------------


def _without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(body))
    node = copy
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return copy


def _with(body: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(body))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


BAD_BODIES: dict[str, dict[str, Any] | bytes] = {
    "empty": b"",
    "not json": b"messageId=1&status=DELIVERED",
    "json array": b"[]",
    "not utf-8": b'{"messageId": "\xff"}',
    "NaN": b'{"messageId": "m", "body": {"type": "LOCATION", "latitude": NaN, "longitude": 1}}',
    "deeply nested": b"[" * 100_000 + b"]" * 100_000,
    "messageId missing": _without(mo(), "messageId"),
    "messageId a number": _with(mo(), 12, "messageId"),
    "messageId huge": _with(mo(), "m" * 5000, "messageId"),
    "status a string": _with(dlr("sms-mt-1", "DELIVERED"), "DELIVERED", "status"),
    "status value missing": _without(dlr("sms-mt-1", "DELIVERED"), "status", "value"),
    "status value empty": _with(dlr("sms-mt-1", "DELIVERED"), "", "status", "value"),
    "status detail a number": _with(dlr("sms-mt-1", "DELIVERED"), 3524, "status", "detail"),
    "MT without status": _without(dlr("sms-mt-1", "DELIVERED"), "status"),
    "MO without body": _without(mo(), "body"),
    "MO body text missing": _with(mo(), {"encoding": "GSM7"}, "body"),
    "MO text not a string": _with(mo(), 42, "body", "text"),
    "MO stop not a bool": _with(mo(), "yes", "body", "stop"),
    "MO lone surrogate": json.dumps(mo(body={"text": "\ud800"})).encode(),
    "MO sender not a phone": _with(_with(mo(), "MONSHOP", "from"), SHORTCODE, "recipient", "to"),
    "MO no sides": _without(_without(mo(), "from"), "recipient"),
    "MO both sides phones": _with(mo(), "33698765432", "recipient", "to"),
    "MO from a number": _with(mo(), 33612345678, "from"),
    "MO unknown type": _with(mo(), {"type": "AUDIO", "text": "x"}, "body"),
    "SUGGESTION without postbackData": _with(mo(), {"type": "SUGGESTION", "text": "x"}, "body"),
    "LOCATION out of range": _with(
        mo(), {"type": "LOCATION", "latitude": 123.0, "longitude": 2.0}, "body"
    ),
    "LOCATION as strings": _with(
        mo(), {"type": "LOCATION", "latitude": "43.1", "longitude": "5.3"}, "body"
    ),
    "FILE without url": _with(mo(), {"type": "FILE", "filename": "a.jpg"}, "body"),
    "recipient a string": _with(mo(), PHONE_DIGITS, "recipient"),
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
async def test_a_malformed_body_is_a_bad_request(
    sms: Client, store: Store, calls: Calls, name: str
) -> None:
    entries = await sent(store, {"m1": "sms-mt-1"})
    before = await outbox_snapshot(store, [e.key for e in entries])
    response = await post(sms, BAD_BODIES[name])
    assert response.status == 400, await response.text()
    body = await response.json()
    assert set(body) == {"error"}
    assert PHONE_DIGITS not in body["error"]
    assert await store.inbox_depth() == 0
    assert await outbox_snapshot(store, [e.key for e in entries]) == before
    assert calls.wakes == 0


async def test_a_body_over_the_limit_is_refused(sms: Client, store: Store) -> None:
    response = await post(sms, mo(body={"text": "a" * MAX_BODY}))
    assert response.status == 413
    assert await store.inbox_depth() == 0


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token", ["short", "a" * 15, "has space in it 0123", "slash/in/it/0123456", "é" * 20]
)
def test_a_token_must_be_long_and_url_safe(store: Store, clock: FakeClock, token: str) -> None:
    with pytest.raises(ValueError, match="URL-safe"):
        add_smsmode_callbacks(
            web.Application(),
            SMS_PREFIX,
            store=store,
            clock=clock,
            routes={token: ROUTES[SMS_TOKEN]},
        )


def test_a_time2chat_route_needs_its_number(store: Store, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="09 number"):
        add_smsmode_callbacks(
            web.Application(),
            SMS_PREFIX,
            store=store,
            clock=clock,
            routes={T2C_TOKEN: SmsRoute(BOT, "t2c")},
        )
