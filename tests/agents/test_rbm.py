"""The RBM client against a loopback server playing Google (reference/rbm.md §0-§4, §6)."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from agents.errors import (
    Invalid,
    NotReachable,
    Permanent,
    ProviderError,
    RateLimited,
    Transient,
)
from agents.google_auth import StaticToken
from agents.message_ids import CAUSETTE_RBM_NAMESPACE, rbm_event_id, rbm_message_id
from agents.rbm import RbmAccepted, RbmClient, normalise_agent_id, parse_retry_after
from messaging.clock import FakeClock
from messaging.content import Text
from messaging.phone import Phone
from messaging.renderers.rbm import agent_message_bytes, render_rbm
from tests.agents.conftest import FakeProvider, Reply

PHONE = "+33612345678"
AGENT = "causette_demo_1a2b3c4d_agent"
TOKEN = "ya29.secret-bearer-token"
MESSAGE_ID = "5f0c2b4e-9d3a-4c1e-8f7a-2b6d1e0c9a11"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class ScriptedTokens:
    """Hands out `tokens` in turn: `invalidate` of the current one moves to the next."""

    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.invalidated: list[str] = []

    async def token(self) -> str:
        return self.tokens[0]

    def invalidate(self, token: str) -> None:
        self.invalidated.append(token)
        if token == self.tokens[0] and len(self.tokens) > 1:
            self.tokens.pop(0)


def client(
    session: aiohttp.ClientSession,
    provider: FakeProvider,
    *,
    tokens: ScriptedTokens | StaticToken | None = None,
    timeout: timedelta = timedelta(seconds=5),
    agent_id: str = f"{AGENT}@rbm.goog",
) -> RbmClient:
    return RbmClient(
        session,
        agent_id=agent_id,
        tokens=tokens or StaticToken(TOKEN),
        base_url=provider.url,
        timeout=timeout,
        clock=FakeClock(NOW),
    )


def client_logs(caplog: pytest.LogCaptureFixture) -> str:
    """What the client side logged: the fake Google's own access log is not ours."""
    server_side = ("aiohttp.access", "aiohttp.server", "aiohttp.web")
    return "\n".join(
        record.getMessage() for record in caplog.records if not record.name.startswith(server_side)
    )


def greeting() -> dict[str, object]:
    return render_rbm(Text(text="Bonjour Zoé, votre rendez-vous est confirmé ✅"))


# --- Request shapes ----------------------------------------------------------------------------


async def test_send_posts_the_agent_message_bytes(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    provider.reply(
        200,
        {
            "name": f"phones/{PHONE}/agentMessages/{MESSAGE_ID}",
            "sendTime": "2026-03-02T09:00:01.123456789Z",
        },
    )
    message = greeting()
    accepted = await client(session, provider).send(PHONE, message, message_id=MESSAGE_ID)

    assert accepted == RbmAccepted(MESSAGE_ID, datetime(2026, 3, 2, 9, 0, 1, 123456, tzinfo=UTC))
    sent = provider.last
    assert sent.method == "POST"
    assert sent.raw_path == f"/v1/phones/{PHONE}/agentMessages"
    assert sent.query == {"messageId": MESSAGE_ID, "agentId": AGENT}
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.body == agent_message_bytes(message)
    assert "Zoé".encode() in sent.body  # compact UTF-8, not \u00e9 escapes
    assert not session.closed


async def test_send_accepts_a_phone_in_any_french_form(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    rbm = client(session, provider)
    await rbm.send("06 12 34 56 78", greeting(), message_id=MESSAGE_ID)
    await rbm.send(Phone("0033612345678"), greeting(), message_id=MESSAGE_ID)
    assert [r.raw_path for r in provider.requests] == [f"/v1/phones/{PHONE}/agentMessages"] * 2


async def test_send_tolerates_an_answer_without_send_time(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    provider.reply(200, text="not json")
    accepted = await client(session, provider).send(PHONE, greeting(), message_id=MESSAGE_ID)
    assert accepted == RbmAccepted(MESSAGE_ID, None)


async def test_base_url_may_carry_a_path(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    rbm = RbmClient(
        session, agent_id=AGENT, tokens=StaticToken(TOKEN), base_url=f"{provider.url}/rbm/"
    )
    await rbm.send(PHONE, greeting(), message_id=MESSAGE_ID)
    assert provider.last.raw_path == f"/rbm/v1/phones/{PHONE}/agentMessages"


@pytest.mark.parametrize(("status", "revoked"), [(200, True), (404, False)])
async def test_revoke(
    session: aiohttp.ClientSession, provider: FakeProvider, status: int, revoked: bool
) -> None:
    provider.reply(status, {} if status == 200 else {"error": {"code": 404}})
    assert await client(session, provider).revoke(PHONE, MESSAGE_ID) is revoked
    sent = provider.last
    assert sent.method == "DELETE"
    assert sent.raw_path == f"/v1/phones/{PHONE}/agentMessages/{MESSAGE_ID}"
    assert sent.query == {"agentId": AGENT}
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.body == b""
    assert "Content-Type" not in sent.headers


async def test_revoke_maps_other_errors(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    provider.reply(503, text="unavailable")
    with pytest.raises(Transient):
        await client(session, provider).revoke(PHONE, MESSAGE_ID)


async def test_capabilities(session: aiohttp.ClientSession, provider: FakeProvider) -> None:
    provider.reply(200, {"features": ["REVOCATION", "RICHCARD_CAROUSEL", "ACTION_DIAL", 7]})
    request_id = str(uuid.uuid4())
    features = await client(session, provider).capabilities(PHONE, request_id=request_id)
    assert features == frozenset({"REVOCATION", "RICHCARD_CAROUSEL", "ACTION_DIAL"})
    sent = provider.last
    assert sent.method == "GET"
    assert sent.raw_path == f"/v1/phones/{PHONE}/capabilities"
    assert sent.query == {"requestId": request_id, "agentId": AGENT}
    assert sent.body == b""


async def test_capabilities_without_features(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    provider.reply(200, {})
    assert await client(session, provider).capabilities(PHONE, request_id="r") == frozenset()
    provider.reply(200, {"features": "REVOCATION"})
    with pytest.raises(Transient, match="unreadable"):
        await client(session, provider).capabilities(PHONE, request_id="r")


@pytest.mark.parametrize("status", [403, 404])
async def test_capabilities_of_an_unreachable_user(
    session: aiohttp.ClientSession, provider: FakeProvider, status: int
) -> None:
    provider.reply(status, {"error": {"code": status, "message": "nope", "status": "NOT_FOUND"}})
    with pytest.raises(NotReachable):
        await client(session, provider).capabilities(PHONE, request_id="r")


async def test_read_event(session: aiohttp.ClientSession, provider: FakeProvider) -> None:
    event_id = rbm_event_id("inbound-1:read")
    await client(session, provider).send_event(
        PHONE, "READ", event_id=event_id, message_id="user-msg-1"
    )
    sent = provider.last
    assert sent.method == "POST"
    assert sent.raw_path == f"/v1/phones/{PHONE}/agentEvents"
    assert sent.query == {"eventId": event_id, "agentId": AGENT}
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.body == b'{"eventType":"READ","messageId":"user-msg-1"}'


async def test_is_typing_event(session: aiohttp.ClientSession, provider: FakeProvider) -> None:
    await client(session, provider).send_event(PHONE, "IS_TYPING", event_id="e-1")
    assert provider.last.body == b'{"eventType":"IS_TYPING"}'


async def test_event_arguments_are_checked(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    rbm = client(session, provider)
    with pytest.raises(ValueError, match="READ event needs"):
        await rbm.send_event(PHONE, "READ", event_id="e-1")
    with pytest.raises(ValueError, match="no message_id"):
        await rbm.send_event(PHONE, "IS_TYPING", event_id="e-1", message_id="m")
    with pytest.raises(ValueError, match="event_id"):
        await rbm.send_event(PHONE, "IS_TYPING", event_id="")
    assert provider.requests == []


@pytest.mark.parametrize("agent_id", [AGENT, f"{AGENT}@rbm.goog", f" {AGENT}@rbm.goog "])
def test_agent_id_is_sent_without_suffix(agent_id: str) -> None:
    assert normalise_agent_id(agent_id) == AGENT


def test_empty_agent_id_is_refused() -> None:
    with pytest.raises(ValueError, match="agent id"):
        normalise_agent_id("@rbm.goog")


async def test_invalid_phone_is_invalid_and_not_echoed(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    with pytest.raises(Invalid) as raised:
        await client(session, provider).send("06 12 34", greeting(), message_id=MESSAGE_ID)
    assert "06 12 34" not in str(raised.value)
    assert provider.requests == []


# --- Error mapping (rbm.md §6) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, Invalid),
        (403, NotReachable),
        (404, NotReachable),
        (409, Permanent),
        (413, Permanent),
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
    google = {"error": {"code": status, "message": "Something went wrong.", "status": "SOME"}}
    provider.reply(status, google)
    with pytest.raises(expected) as raised:
        await client(session, provider).send(PHONE, greeting(), message_id=MESSAGE_ID)
    error = raised.value
    assert type(error) is expected
    assert error.status == status
    assert json.loads(error.body) == google
    assert str(error) == (f"RBM send for +33•••••••78: HTTP {status} SOME: Something went wrong.")


async def test_error_body_is_shortened(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    provider.reply(500, text="x" * 5000)
    with pytest.raises(Transient) as raised:
        await client(session, provider).send(PHONE, greeting(), message_id=MESSAGE_ID)
    assert len(raised.value.body) == 500
    assert str(raised.value) == "RBM send for +33•••••••78: HTTP 500"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("30", timedelta(seconds=30)),
        ("Mon, 02 Mar 2026 09:02:00 GMT", timedelta(minutes=2)),
        ("Mon, 02 Mar 2026 08:00:00 GMT", timedelta(0)),
        ("soon", None),
        (None, None),
    ],
)
async def test_rate_limited_with_retry_after(
    session: aiohttp.ClientSession,
    provider: FakeProvider,
    header: str | None,
    expected: timedelta | None,
) -> None:
    headers = {} if header is None else {"Retry-After": header}
    provider.reply(429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}, headers=headers)
    with pytest.raises(RateLimited) as raised:
        await client(session, provider).send(PHONE, greeting(), message_id=MESSAGE_ID)
    assert raised.value.status == 429
    assert raised.value.retry_after == expected


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after(" 120 ", NOW) == timedelta(minutes=2)
    assert parse_retry_after("Monday, 02-Mar-26 09:00:10 GMT", NOW) == timedelta(seconds=10)
    assert parse_retry_after("Mon, 02 Mar 2026 09:00:05 -0000", NOW) == timedelta(seconds=5)
    assert parse_retry_after("-5", NOW) is None
    assert parse_retry_after("", NOW) is None


async def test_401_refreshes_the_token_once_and_retries(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    tokens = ScriptedTokens("ya29.expired", "ya29.fresh")
    provider.reply(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
    provider.reply(200, {"sendTime": "2026-03-02T09:00:00Z"})
    rbm = client(session, provider, tokens=tokens)
    accepted = await rbm.send(PHONE, greeting(), message_id=MESSAGE_ID)
    assert accepted.message_id == MESSAGE_ID
    assert tokens.invalidated == ["ya29.expired"]
    assert [r.headers["Authorization"] for r in provider.requests] == [
        "Bearer ya29.expired",
        "Bearer ya29.fresh",
    ]
    # The retry is the same request: same messageId, same bytes (RBM ignores a duplicate).
    first, second = provider.requests
    assert (first.raw_path, first.query, first.body) == (second.raw_path, second.query, second.body)


async def test_401_twice_is_permanent(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    tokens = ScriptedTokens("ya29.expired", "ya29.also-refused")
    unauthenticated = {"error": {"code": 401, "status": "UNAUTHENTICATED"}}
    provider.reply(401, unauthenticated)
    provider.reply(401, unauthenticated)
    with pytest.raises(Permanent) as raised:
        await client(session, provider, tokens=tokens).revoke(PHONE, MESSAGE_ID)
    assert raised.value.status == 401
    assert len(provider.requests) == 2
    assert "ya29" not in str(raised.value)


async def test_401_then_another_error_maps_that_error(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    provider.reply(401, {})
    provider.reply(404, {})
    with pytest.raises(NotReachable):
        await client(session, provider).capabilities(PHONE, request_id="r")


async def test_timeout_is_transient(session: aiohttp.ClientSession, provider: FakeProvider) -> None:
    provider.reply(stuck=True)
    rbm = client(session, provider, timeout=timedelta(milliseconds=50))
    with pytest.raises(Transient, match="no answer in time") as raised:
        await rbm.send(PHONE, greeting(), message_id=MESSAGE_ID)
    assert raised.value.status is None
    assert PHONE not in str(raised.value)


async def test_connection_refused_is_transient(
    session: aiohttp.ClientSession, closed_port_url: str
) -> None:
    rbm = RbmClient(session, agent_id=AGENT, tokens=StaticToken(TOKEN), base_url=closed_port_url)
    with pytest.raises(Transient) as raised:
        await rbm.send(PHONE, greeting(), message_id=MESSAGE_ID)
    assert raised.value.__cause__ is None
    assert PHONE not in str(raised.value)


async def test_a_redirect_is_not_followed(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    provider.reply(302, headers={"Location": "http://127.0.0.1:9/elsewhere"})
    with pytest.raises(Permanent):
        await client(session, provider).send(PHONE, greeting(), message_id=MESSAGE_ID)
    assert len(provider.requests) == 1


# --- Secrets and phone numbers stay out of errors and logs -------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500])
async def test_errors_never_show_the_token_or_the_full_phone(
    session: aiohttp.ClientSession,
    provider: FakeProvider,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # A hostile answer quoting the bearer token, and Google quoting the phone in its message.
    provider.default = Reply(status, echo_header="Authorization")
    with pytest.raises(ProviderError) as raised:
        await client(session, provider).send(PHONE, greeting(), message_id=MESSAGE_ID)
    everything = " ".join(
        [str(raised.value), raised.value.body, repr(raised.value.args), client_logs(caplog)]
    )
    assert TOKEN not in everything
    assert "secret-bearer-token" not in everything
    for form in (PHONE, PHONE[1:], "0612345678"):
        assert form not in everything
    assert "+33•••••••78" in everything


async def test_google_message_quoting_the_phone_is_masked(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    message = f"phones/{PHONE} (0612345678, {PHONE[1:]}) not found"
    provider.reply(404, {"error": {"code": 404, "message": message, "status": "NOT_FOUND"}})
    with pytest.raises(NotReachable) as raised:
        await client(session, provider).send(PHONE, greeting(), message_id=MESSAGE_ID)
    assert str(raised.value) == (
        "RBM send for +33•••••••78: HTTP 404 NOT_FOUND: phones/+33•••••••78"
        " (+33•••••••78, +33•••••••78) not found"
    )
    assert PHONE[1:] not in raised.value.body


async def test_success_logs_are_masked(
    session: aiohttp.ClientSession, provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="agents.rbm")
    await client(session, provider).send(PHONE, greeting(), message_id=MESSAGE_ID)
    assert "RBM send for +33•••••••78: HTTP 200" in client_logs(caplog)
    assert PHONE not in client_logs(caplog)


# --- Deterministic ids (rbm.md §0) -------------------------------------------------------------


def test_message_ids_are_stable_uuids() -> None:
    first = rbm_message_id("inbound-42:0")
    assert first == rbm_message_id("inbound-42:0")
    assert first != rbm_message_id("inbound-42:1")
    parsed = uuid.UUID(first)
    assert parsed.version == 5
    assert parsed.variant == uuid.RFC_4122
    assert str(parsed) == first


def test_ids_are_pinned_across_releases() -> None:
    # Changing the namespace or the derivation would resend every replayed entry.
    assert str(CAUSETTE_RBM_NAMESPACE) == "c267554e-cb1a-55ec-b132-a35d5d3d0735"
    assert rbm_message_id("k") == str(uuid.uuid5(CAUSETTE_RBM_NAMESPACE, "message:k"))
    assert rbm_event_id("k") == str(uuid.uuid5(CAUSETTE_RBM_NAMESPACE, "event:k"))


def test_event_and_message_ids_of_one_key_differ() -> None:
    # They share Google's id space (rbm.md §4): a collision would silently drop one.
    assert rbm_event_id("inbound-42:0") != rbm_message_id("inbound-42:0")
    assert uuid.UUID(rbm_event_id("inbound-42:0")).version == 5


def test_ids_need_a_key() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        rbm_message_id("")
    with pytest.raises(ValueError, match="non-empty"):
        rbm_event_id("")


async def test_a_replayed_send_carries_the_same_message_id(
    session: aiohttp.ClientSession, provider: FakeProvider
) -> None:
    rbm = client(session, provider)
    for _ in range(2):
        await rbm.send(PHONE, greeting(), message_id=rbm_message_id("inbound-7:0"))
    ids = {request.query["messageId"] for request in provider.requests}
    assert ids == {rbm_message_id("inbound-7:0")}
