"""The RBM webhook against payloads in Google's documented shapes (reference/rbm.md §5)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web

from messaging.clock import FakeClock
from messaging.inbound import Inbound, InboundFile, InboundLocation, InboundPostback, InboundText
from store.base import Store
from store.events import inbound_event
from store.records import InboxSource, NewInbound, OutboxStatus
from store.sqlite import SqliteStore
from tests.store import T0
from tests.webhooks.conftest import (
    RBM_PATH,
    Calls,
    Client,
    ClientFactory,
    drain_inbox,
    outbox_snapshot,
    rbm_app,
)
from tests.webhooks.payloads import (
    AGENT,
    BOT,
    CLIENT_TOKEN,
    OTHER_AGENT,
    OTHER_BOT,
    PHONE,
    envelope,
    hmac_signature,
    sent,
    server_event,
    signed,
    user_event,
    user_file,
    user_location,
    user_postback,
    user_text,
)
from webhooks.common import MAX_BODY
from webhooks.rbm import REVOKED_BY_TTL, TTL_REVOKE_FAILED, add_rbm_webhook, agent_key, sign

DELIVERED, READ, EXPIRED, SENT = (
    OutboxStatus.DELIVERED,
    OutboxStatus.READ,
    OutboxStatus.EXPIRED,
    OutboxStatus.SENT,
)


async def post(client: Client, payload: dict[str, Any] | bytes, token: str = CLIENT_TOKEN) -> Any:
    body, headers = signed(payload, token)
    return await client.post(RBM_PATH, data=body, headers=headers)


async def post_ok(client: Client, payload: dict[str, Any]) -> dict[str, Any]:
    response = await post(client, payload)
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


# --- handshake --------------------------------------------------------------------------------


async def test_handshake_with_our_token_answers_the_bare_secret(rbm: Client, store: Store) -> None:
    response = await rbm.post(RBM_PATH, json={"clientToken": CLIENT_TOKEN, "secret": "s3cr3t-42"})
    assert response.status == 200
    assert response.content_type == "text/plain"
    assert await response.text() == "s3cr3t-42"
    assert await store.inbox_depth() == 0


@pytest.mark.parametrize("token", ["wrong-token", CLIENT_TOKEN + "x", CLIENT_TOKEN[:-1], ""])
async def test_handshake_with_another_token_is_forbidden(rbm: Client, token: str) -> None:
    response = await rbm.post(RBM_PATH, json={"clientToken": token, "secret": "s3cr3t-42"})
    assert response.status == 403
    body = await response.json()
    assert "s3cr3t-42" not in json.dumps(body)
    assert body == {"error": "clientToken does not match"}


async def test_handshake_with_wrong_types_is_a_bad_request(rbm: Client) -> None:
    response = await rbm.post(RBM_PATH, json={"clientToken": 42, "secret": ["x"]})
    assert response.status == 400
    assert "error" in await response.json()


# --- signature --------------------------------------------------------------------------------


async def test_a_missing_signature_is_unauthorized_and_nothing_is_stored(
    rbm: Client, store: Store, calls: Calls
) -> None:
    body, _ = signed(user_text())
    response = await rbm.post(RBM_PATH, data=body, headers={"Content-Type": "application/json"})
    assert response.status == 401
    assert await response.json() == {"error": "missing X-Goog-Signature"}
    assert await store.inbox_depth() == 0
    assert calls.wakes == 0


def _forgeries(data: bytes) -> dict[str, str]:
    good = hmac_signature(data)
    raw = bytearray(base64.b64decode(good))
    raw[0] ^= 1
    return {
        "another token": hmac_signature(data, "not-our-token"),
        "over the base64 text": hmac_signature(base64.b64encode(data)),
        "one bit flipped": base64.b64encode(bytes(raw)).decode(),
        "truncated": good[:-4],
        "empty": "",
        "not base64": "%%%not-base64%%%",
        "hex digest": bytes(base64.b64decode(good)).hex(),
        "non ascii": "é" * 88,
    }


@pytest.mark.parametrize(
    "forgery",
    list(_forgeries(b"{}")),
)
async def test_a_forged_signature_is_unauthorized_and_nothing_is_stored(
    rbm: Client, store: Store, calls: Calls, forgery: str
) -> None:
    data = json.dumps(user_text()).encode()
    body = json.dumps(envelope(data)).encode()
    header = _forgeries(data)[forgery]
    response = await rbm.post(RBM_PATH, data=body, headers={"X-Goog-Signature": header})
    assert response.status == 401
    assert await store.inbox_depth() == 0
    assert calls.wakes == 0


async def test_a_signature_of_another_payload_is_unauthorized(rbm: Client, store: Store) -> None:
    _, headers = signed(user_text(text="Bonjour"))
    body, _ = signed(user_text(text="Virez 1000 €"))
    response = await rbm.post(RBM_PATH, data=body, headers=headers)
    assert response.status == 401
    assert await store.inbox_depth() == 0


async def test_a_forged_receipt_changes_nothing(rbm: Client, store: Store) -> None:
    (entry,) = await sent(store, {"m1": "rbm-m1"})
    data = json.dumps(user_event("DELIVERED", "rbm-m1")).encode()
    body = json.dumps(envelope(data)).encode()
    response = await rbm.post(
        RBM_PATH, data=body, headers={"X-Goog-Signature": hmac_signature(data, "guess")}
    )
    assert response.status == 401
    assert await store.get_outbound(entry.key) == entry


def test_sign_is_the_documented_algorithm() -> None:
    assert sign(b'{"a":1}', CLIENT_TOKEN) == hmac_signature(b'{"a":1}')


# --- user messages ----------------------------------------------------------------------------

MESSAGES: dict[str, tuple[Callable[..., dict[str, Any]], Inbound]] = {
    "text": (user_text, InboundText(text="Bonjour")),
    "postback": (user_postback, InboundPostback(data="confirm_yes", text="Oui")),
    "location": (user_location, InboundLocation(latitude=48.85, longitude=2.35)),
    "file": (
        user_file,
        InboundFile(
            url="https://rcs-user-files.example/a.gif",
            content_type="image/gif",
            name="a.gif",
            size=127806,
        ),
    ),
}


@pytest.mark.parametrize("kind", list(MESSAGES))
@pytest.mark.parametrize("agent", [AGENT, f"{AGENT}@rbm.goog"])
async def test_a_user_message_becomes_one_inbox_entry(
    rbm: Client, store: Store, clock: FakeClock, calls: Calls, kind: str, agent: str
) -> None:
    build, expected = MESSAGES[kind]
    answer = await post_ok(rbm, build(f"Mx-{kind}", agent=agent))
    assert answer["result"] == "stored"
    (entry,) = await drain_inbox(store)
    assert str(entry.seq) == answer["seq"]
    assert (entry.source, entry.provider_id, entry.bot_id, entry.phone) == (
        InboxSource.RBM,
        f"Mx-{kind}",
        BOT,
        PHONE,
    )
    assert entry.event == inbound_event(expected, "rcs")
    assert entry.received_at == clock.now()
    assert calls.wakes == 1


@pytest.mark.parametrize("kind", list(MESSAGES))
async def test_a_duplicate_delivery_is_stored_once_and_still_acknowledged(
    rbm: Client, store: Store, calls: Calls, kind: str
) -> None:
    build, _ = MESSAGES[kind]
    first = await post_ok(rbm, build("Mx-dup"))
    again = await post_ok(rbm, build("Mx-dup"))
    assert (first["result"], again["result"]) == ("stored", "duplicate")
    assert first["seq"] == again["seq"]
    assert len(await drain_inbox(store)) == 1
    assert calls.wakes == 1


async def test_messages_of_each_agent_go_to_its_bot(rbm: Client, store: Store) -> None:
    await post_ok(rbm, user_text("Mx-a", agent=AGENT))
    await post_ok(rbm, user_text("Mx-b", agent=f"{OTHER_AGENT}@rbm.goog", phone="+33698765432"))
    entries = await drain_inbox(store)
    assert {(e.provider_id, e.bot_id) for e in entries} == {("Mx-a", BOT), ("Mx-b", OTHER_BOT)}


async def test_a_phone_in_another_format_is_stored_in_e164(rbm: Client, store: Store) -> None:
    await post_ok(rbm, user_text(phone="+33 6 12 34 56 78"))
    (entry,) = await drain_inbox(store)
    assert entry.phone == PHONE


async def test_a_file_size_in_proto_json_string_form_is_read(rbm: Client, store: Store) -> None:
    payload = user_file()
    payload["userFile"]["payload"]["fileSizeBytes"] = "127806"
    del payload["userFile"]["thumbnail"]
    await post_ok(rbm, payload)
    (entry,) = await drain_inbox(store)
    assert entry.event["message"]["size"] == 127806


async def test_unknown_fields_are_ignored(rbm: Client, store: Store) -> None:
    payload = {**user_text(), "richMessageClassification": "SUGGESTED_ACTION_CLICK", "carrier": "X"}
    await post_ok(rbm, payload)
    assert await store.inbox_depth() == 1


async def test_a_message_for_an_unknown_agent_is_acknowledged_and_dropped(
    rbm: Client, store: Store, calls: Calls
) -> None:
    answer = await post_ok(rbm, user_text(agent="someone_else_agent@rbm.goog"))
    assert answer == {"result": "ignored", "reason": "unknown agent"}
    assert await store.inbox_depth() == 0
    assert calls.wakes == 0


async def test_the_200_waits_for_the_inbox_append(
    aiohttp_client: ClientFactory, clock: FakeClock, calls: Calls
) -> None:
    class SlowStore(SqliteStore):
        def __init__(self) -> None:
            super().__init__(":memory:")
            self.gate = asyncio.Event()
            self.appending = asyncio.Event()

        async def append_inbound(self, inbound: NewInbound) -> Any:
            self.appending.set()
            await self.gate.wait()
            return await super().append_inbound(inbound)

    async with SlowStore() as slow:
        client = await aiohttp_client(rbm_app(slow, clock, calls))
        request = asyncio.create_task(post(client, user_text()))
        await slow.appending.wait()
        await asyncio.sleep(0.05)
        assert not request.done(), "answered before the event was stored"
        slow.gate.set()
        response = await request
        assert response.status == 200
        assert await slow.inbox_depth() == 1


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
        yield await aiohttp_client(rbm_app(store, clock, calls))


@pytest.mark.parametrize(
    "payload", [user_text(), user_event("DELIVERED", "rbm-m1")], ids=["message", "receipt"]
)
async def test_a_store_failure_answers_503_so_that_rbm_retries(
    broken: Client, calls: Calls, payload: dict[str, Any]
) -> None:
    response = await post(broken, payload)
    assert response.status == 503
    assert "error" in await response.json()
    assert calls.wakes == 0


async def test_a_failing_wake_up_does_not_lose_the_message(
    aiohttp_client: ClientFactory, store: Store, clock: FakeClock
) -> None:
    def wake() -> None:
        raise RuntimeError("runtime not started")

    app = web.Application()
    add_rbm_webhook(
        app,
        RBM_PATH,
        store=store,
        clock=clock,
        client_token=CLIENT_TOKEN,
        agents={AGENT: BOT},
        on_inbound=wake,
    )
    client = await aiohttp_client(app)
    assert (await post_ok(client, user_text()))["result"] == "stored"
    assert await store.inbox_depth() == 1


async def test_logs_hold_no_phone_number_nor_secret(
    rbm: Client, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await sent(store, {"m1": "rbm-m1"})
    await rbm.post(RBM_PATH, json={"clientToken": CLIENT_TOKEN, "secret": "s3cr3t-42"})
    await rbm.post(RBM_PATH, json={"clientToken": "guess", "secret": "s3cr3t-43"})
    await post_ok(rbm, user_text())
    await post_ok(rbm, user_text(agent="stranger_agent"))
    await post_ok(rbm, user_event("DELIVERED", "rbm-m1"))
    await post_ok(rbm, user_event("UNSUBSCRIBE"))
    await post(rbm, user_text(phone="+336123"))
    await post(rbm, user_text(), token="forged")
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("webhooks"))
    assert "+33•••••••78" in ours
    for secret in ("612345678", "6123", CLIENT_TOKEN, "s3cr3t-42", "s3cr3t-43", "guess"):
        assert secret not in ours


# --- receipts ---------------------------------------------------------------------------------


async def test_delivered_then_read_move_the_outbox_entry_forward(
    rbm: Client, store: Store, clock: FakeClock
) -> None:
    (entry,) = await sent(store, {"m1": "rbm-m1"})
    assert (await post_ok(rbm, user_event("DELIVERED", "rbm-m1")))["result"] == "updated"
    clock.advance(timedelta(seconds=5))
    assert (await post_ok(rbm, user_event("READ", "rbm-m1", event_id="e2")))["result"] == "updated"
    stored = await store.get_outbound(entry.key)
    assert stored is not None
    assert stored.status is READ
    # After the lines of its queueing and its sending:
    assert [(h["status"], h["detail"]) for h in stored.history[2:]] == [
        ("delivered", None),
        ("read", None),
    ]
    assert await store.inbox_depth() == 0


async def test_a_receipt_never_downgrades_a_final_status(rbm: Client, store: Store) -> None:
    (entry,) = await sent(store, {"m1": "rbm-m1"})
    await post_ok(rbm, user_event("READ", "rbm-m1"))  # READ may overtake DELIVERED
    for late in (
        user_event("DELIVERED", "rbm-m1"),
        user_event("READ", "rbm-m1"),
        server_event("TTL_EXPIRATION_REVOKED", "rbm-m1"),
        server_event("TTL_EXPIRATION_REVOKE_FAILED", "rbm-m1"),
    ):
        assert (await post_ok(rbm, late))["result"] == "unchanged"
    stored = await store.get_outbound(entry.key)
    assert stored is not None
    assert stored.status is READ
    assert len(stored.history) == 3  # queued, sent, read


async def test_a_duplicate_delivered_is_recorded_once(rbm: Client, store: Store) -> None:
    (entry,) = await sent(store, {"m1": "rbm-m1"})
    await post_ok(rbm, user_event("DELIVERED", "rbm-m1"))
    assert (await post_ok(rbm, user_event("DELIVERED", "rbm-m1")))["result"] == "unchanged"
    stored = await store.get_outbound(entry.key)
    assert stored is not None
    assert [h["status"] for h in stored.history] == ["queued", "sent", "delivered"]


async def test_ttl_revoked_makes_the_message_due_for_its_sms(
    rbm: Client, store: Store, clock: FakeClock
) -> None:
    (entry,) = await sent(store, {"m1": "rbm-m1"})
    answer = await post_ok(rbm, server_event("TTL_EXPIRATION_REVOKED", "rbm-m1"))
    assert answer["result"] == "updated"
    stored = await store.get_outbound(entry.key)
    assert stored is not None
    assert stored.status is OutboxStatus.REVOKED
    assert stored.route == "sms"
    assert stored.due_at == clock.now()  # the dispatcher's next claim takes it
    assert stored.history[-1]["detail"] == REVOKED_BY_TTL == "revoked by TTL"


async def test_news_of_an_earlier_copy_is_only_noted(rbm: Client, store: Store) -> None:
    """rbm.md §2: a DELIVERED may follow a revoke answered 200. Once the message went by SMS
    under a new id, the RCS copy's DELIVERED is history, not the message's status."""
    (entry,) = await sent(store, {"m1": "rbm-m1"})
    await store.mark_outbound(entry.key, SENT, FakeClock().now(), provider_id="sms-1")
    assert (await post_ok(rbm, user_event("DELIVERED", "rbm-m1")))["result"] == "noted"
    stored = await store.get_outbound(entry.key)
    assert stored is not None
    assert stored.status is SENT
    assert stored.history[-1]["detail"] == "earlier copy: delivered"


async def test_ttl_revoke_failed_is_noted_once_and_leaves_the_status(
    rbm: Client, store: Store
) -> None:
    (entry,) = await sent(store, {"m1": "rbm-m1"})
    failed = server_event("TTL_EXPIRATION_REVOKE_FAILED", "rbm-m1")
    assert (await post_ok(rbm, failed))["result"] == "noted"
    assert (await post_ok(rbm, failed))["result"] == "unchanged"  # RBM's retry
    stored = await store.get_outbound(entry.key)
    assert stored is not None
    assert stored.status is SENT
    assert [(h["status"], h["detail"]) for h in stored.history] == [
        ("queued", None),
        ("sent", None),
        ("sent", TTL_REVOKE_FAILED),
    ]
    # Not revoked, so it may still arrive: DELIVERED is then authoritative.
    await post_ok(rbm, user_event("DELIVERED", "rbm-m1"))
    stored = await store.get_outbound(entry.key)
    assert stored is not None
    assert stored.status is DELIVERED


async def test_a_receipt_for_an_unknown_message_is_acknowledged_and_dropped(
    rbm: Client, store: Store
) -> None:
    entries = await sent(store, {"m1": "rbm-m1"})
    before = await outbox_snapshot(store, [e.key for e in entries])
    for payload in (
        user_event("DELIVERED", "rbm-unknown"),
        user_event("READ", "rbm-unknown"),
        server_event("TTL_EXPIRATION_REVOKED", "rbm-unknown"),
    ):
        assert (await post_ok(rbm, payload))["result"] == "unknown"
    assert await outbox_snapshot(store, [e.key for e in entries]) == before
    assert await store.inbox_depth() == 0


async def test_a_receipt_from_another_agent_does_not_touch_our_message(
    rbm: Client, store: Store
) -> None:
    (entry,) = await sent(store, {"m1": "rbm-m1"})
    answer = await post_ok(rbm, user_event("DELIVERED", "rbm-m1", agent=OTHER_AGENT))
    assert answer["result"] == "foreign"
    assert await store.get_outbound(entry.key) == entry


async def test_a_receipt_for_an_unknown_agent_is_dropped(rbm: Client, store: Store) -> None:
    (entry,) = await sent(store, {"m1": "rbm-m1"})
    answer = await post_ok(rbm, user_event("DELIVERED", "rbm-m1", agent="stranger_agent"))
    assert answer["result"] == "ignored"
    assert await store.get_outbound(entry.key) == entry


async def test_a_receipt_without_agent_id_is_matched_by_message_id(
    rbm: Client, store: Store
) -> None:
    (entry,) = await sent(store, {"m1": "rbm-m1"})
    await post_ok(rbm, user_event("DELIVERED", "rbm-m1", agent=None))
    stored = await store.get_outbound(entry.key)
    assert stored is not None
    assert stored.status is DELIVERED


# --- user events that store nothing ---------------------------------------------------------


async def test_is_typing_is_accepted_and_dropped(rbm: Client, store: Store, calls: Calls) -> None:
    entries = await sent(store, {"m1": "rbm-m1"})
    before = await outbox_snapshot(store, [e.key for e in entries])
    answer = await post_ok(rbm, user_event("IS_TYPING"))
    assert answer["result"] == "ignored"
    assert await store.inbox_depth() == 0
    assert await outbox_snapshot(store, [e.key for e in entries]) == before
    assert calls.subscriptions == []


@pytest.mark.parametrize(("kind", "subscribed"), [("SUBSCRIBE", True), ("UNSUBSCRIBE", False)])
async def test_subscription_changes_go_to_the_callback(
    rbm: Client, store: Store, calls: Calls, kind: str, subscribed: bool
) -> None:
    answer = await post_ok(rbm, user_event(kind, event_id="ev-unsub"))
    assert answer["result"] == "accepted"
    (change,) = calls.subscriptions
    assert (change.bot_id, change.phone, change.subscribed, change.event_id, change.at) == (
        BOT,
        PHONE,
        subscribed,
        "ev-unsub",
        T0,
    )
    assert await store.inbox_depth() == 0


@pytest.mark.parametrize("kind", ["SUBSCRIBE", "UNSUBSCRIBE"])
async def test_subscription_changes_are_dropped_without_a_callback(
    aiohttp_client: ClientFactory, store: Store, clock: FakeClock, calls: Calls, kind: str
) -> None:
    client = await aiohttp_client(rbm_app(store, clock, calls))
    assert (await post_ok(client, user_event(kind)))["result"] == "ignored"
    assert await store.inbox_depth() == 0


async def test_a_failing_subscription_callback_answers_503(
    aiohttp_client: ClientFactory, store: Store, clock: FakeClock, calls: Calls
) -> None:
    async def failing(_: Any) -> None:
        raise RuntimeError("opt-out list unreachable")

    client = await aiohttp_client(rbm_app(store, clock, calls, on_subscription_change=failing))
    response = await post(client, user_event("UNSUBSCRIBE"))
    assert response.status == 503


@pytest.mark.parametrize(
    "payload",
    [user_event("SOMETHING_NEW", "rbm-m1"), server_event("TTL_SOMETHING_NEW", "rbm-m1")],
    ids=["user event", "server event"],
)
async def test_an_event_type_not_known_yet_is_accepted_and_dropped(
    rbm: Client, store: Store, payload: dict[str, Any]
) -> None:
    entries = await sent(store, {"m1": "rbm-m1"})
    before = await outbox_snapshot(store, [e.key for e in entries])
    assert (await post_ok(rbm, payload))["result"] == "ignored"
    assert await outbox_snapshot(store, [e.key for e in entries]) == before


# --- bad requests -----------------------------------------------------------------------------


def _payload(
    change: Callable[[dict[str, Any]], None], base: dict[str, Any] | None = None
) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(json.dumps(base if base is not None else user_text()))
    change(payload)
    return payload


BAD_PAYLOADS: dict[str, dict[str, Any] | bytes] = {
    "not json": b"hello",
    "json array": b"[1, 2]",
    "json string": b'"text"',
    "NaN constant": b'{"senderPhoneNumber": "+33612345678", "messageId": "m", "agentId": "a",'
    b' "location": {"latitude": NaN, "longitude": 2}}',
    "not utf-8": b'{"text": "\xff"}',
    "neither message nor event": {"hello": "world"},
    "no content": _payload(lambda p: p.pop("text")),
    "two contents": _payload(lambda p: p.update(location={"latitude": 1, "longitude": 2})),
    "text not a string": _payload(lambda p: p.update(text=42)),
    "messageId missing": _payload(lambda p: p.pop("messageId")),
    "messageId empty": _payload(lambda p: p.update(messageId="")),
    "messageId huge": _payload(lambda p: p.update(messageId="m" * 5000)),
    "agentId missing": _payload(lambda p: p.pop("agentId")),
    "agentId a number": _payload(lambda p: p.update(agentId=7)),
    "phone invalid": _payload(lambda p: p.update(senderPhoneNumber="+3361")),
    "phone not a string": _payload(lambda p: p.update(senderPhoneNumber=33612345678)),
    "lone surrogate": b'{"senderPhoneNumber": "+33612345678", "messageId": "m", "agentId": "'
    + AGENT.encode()
    + b'", "text": "\\ud800"}',
    "latitude out of range": _payload(
        lambda p: p.update(location={"latitude": 91.0, "longitude": 2.0}), user_location()
    ),
    "latitude overflow": b'{"senderPhoneNumber": "+33612345678", "messageId": "m", "agentId": "'
    + AGENT.encode()
    + b'", "location": {"latitude": 1e400, "longitude": 2}}',
    "latitude a string": _payload(
        lambda p: p.update(location={"latitude": "48.85", "longitude": 2.35}), user_location()
    ),
    "postbackData missing": _payload(
        lambda p: p["suggestionResponse"].pop("postbackData"), user_postback()
    ),
    "file without uri": _payload(lambda p: p["userFile"]["payload"].pop("fileUri"), user_file()),
    "file size negative": _payload(
        lambda p: p["userFile"]["payload"].update(fileSizeBytes=-1), user_file()
    ),
    "file size beyond 64 bits": _payload(
        lambda p: p["userFile"]["payload"].update(fileSizeBytes=10**30), user_file()
    ),
    "file size a decimal string": _payload(
        lambda p: p["userFile"]["payload"].update(fileSizeBytes="12.5"), user_file()
    ),
    "event type not a string": user_event("DELIVERED", "rbm-m1") | {"eventType": ["DELIVERED"]},
    "receipt phone invalid": user_event("DELIVERED", "rbm-m1") | {"senderPhoneNumber": "+1"},
    "DELIVERED without messageId": user_event("DELIVERED"),
    "server event without messageId": {
        k: v for k, v in server_event("TTL_EXPIRATION_REVOKED", "x").items() if k != "messageId"
    },
    "server event phone invalid": server_event("TTL_EXPIRATION_REVOKED", "rbm-m1")
    | {"phoneNumber": "nope"},
}


@pytest.mark.parametrize("name", list(BAD_PAYLOADS))
async def test_a_signed_but_malformed_payload_is_a_bad_request(
    rbm: Client, store: Store, calls: Calls, name: str
) -> None:
    entries = await sent(store, {"m1": "rbm-m1"})
    before = await outbox_snapshot(store, [e.key for e in entries])
    response = await post(rbm, BAD_PAYLOADS[name])
    assert response.status == 400, await response.text()
    body = await response.json()
    assert set(body) == {"error"}
    assert PHONE not in body["error"]
    assert "33612345678" not in body["error"]
    assert await store.inbox_depth() == 0
    assert await outbox_snapshot(store, [e.key for e in entries]) == before
    assert calls.wakes == 0


BAD_ENVELOPES: dict[str, bytes] = {
    "empty body": b"",
    "not json": b"{not json",
    "json array": b"[]",
    "no message": b'{"subscription": "x"}',
    "message not an object": b'{"message": "data"}',
    "no data": b'{"message": {"messageId": "1"}}',
    "data not a string": b'{"message": {"data": 12}}',
    "data not base64": b'{"message": {"data": "***"}}',
    "data with excess padding": b'{"message": {"data": "e30=="}}',
    "data with padding after a full quantum": b'{"message": {"data": "eyJ9="}}',
    "data with non-zero trailing bits": b'{"message": {"data": "e31="}}',
    "data with inner padding": b'{"message": {"data": "e3=0"}}',
    "data with a newline": b'{"message": {"data": "e30=\\n"}}',
    "data url-safe base64": b'{"message": {"data": "-_-_"}}',
    "deeply nested": b"[" * 100_000 + b"]" * 100_000,
    "huge integer": b'{"message": {"data": "e30="}, "n": ' + b"9" * 10_000 + b"}",
}


@pytest.mark.parametrize("name", list(BAD_ENVELOPES))
async def test_a_malformed_envelope_is_a_bad_request(rbm: Client, store: Store, name: str) -> None:
    response = await rbm.post(
        RBM_PATH, data=BAD_ENVELOPES[name], headers={"X-Goog-Signature": hmac_signature(b"{}")}
    )
    assert response.status == 400, await response.text()
    assert "error" in await response.json()
    assert await store.inbox_depth() == 0


async def test_a_body_over_the_limit_is_refused_unread(rbm: Client, store: Store) -> None:
    text = "a" * MAX_BODY
    body, headers = signed(user_text(text=text))
    response = await rbm.post(RBM_PATH, data=body, headers=headers)
    assert response.status == 413
    assert "error" in await response.json()
    assert await store.inbox_depth() == 0


async def test_a_chunked_body_over_the_limit_is_refused(rbm: Client, store: Store) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY // 4096 + 2):
            yield b" " * 4096

    response = await rbm.post(RBM_PATH, data=chunks())
    assert response.status == 413
    assert await store.inbox_depth() == 0


async def test_a_body_just_under_the_limit_is_read(rbm: Client, store: Store) -> None:
    body, headers = signed(user_text(text="a" * 1000))
    padded = body[:-1] + b" " * (MAX_BODY - len(body)) + b"}"
    assert len(padded) == MAX_BODY
    response = await rbm.post(RBM_PATH, data=padded, headers=headers)
    assert response.status == 200
    assert await store.inbox_depth() == 1


async def test_other_methods_are_not_allowed(rbm: Client) -> None:
    assert (await rbm.get(RBM_PATH)).status == 405


# --- configuration ----------------------------------------------------------------------------


def test_agent_ids_are_normalised() -> None:
    assert agent_key("a_1_agent@rbm.goog") == agent_key("a_1_agent") == "a_1_agent"


def test_one_agent_cannot_serve_two_bots(store: Store, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="mapped to bots"):
        add_rbm_webhook(
            web.Application(),
            RBM_PATH,
            store=store,
            clock=clock,
            client_token=CLIENT_TOKEN,
            agents={AGENT: BOT, f"{AGENT}@rbm.goog": OTHER_BOT},
        )


def test_a_client_token_is_required(store: Store, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="client token"):
        add_rbm_webhook(
            web.Application(), RBM_PATH, store=store, clock=clock, client_token="", agents={}
        )
