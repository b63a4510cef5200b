"""Bearer tokens from a service account: caching, one refresh for many, errors without secrets.

Most tests inject fake credentials; two run google-auth's real JWT flow against a token
endpoint on loopback (the key's `token_uri`), with a key generated for the test.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import google.auth.exceptions
import pytest
from aiohttp import web

from agents.errors import Permanent, Transient
from agents.google_auth import (
    RBM_SCOPE,
    REFRESH_MARGIN,
    RefreshableCredentials,
    ServiceAccountTokens,
    StaticToken,
    TokenSource,
    redact,
)
from messaging.clock import FakeClock
from sandbox.google_token import service_account_key
from tests.agents.conftest import ServerFactory

PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvSECRETSECRETSECRET\n-----END PRIVATE KEY-----\n"
KEY_ID = "0123456789abcdef0123456789abcdef01234567"


def key_json(**overrides: Any) -> str:
    info = {
        "type": "service_account",
        "project_id": "causette-test",
        "private_key_id": KEY_ID,
        "private_key": PRIVATE_KEY,
        "client_email": "rbm@causette-test.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    info.update(overrides)
    return json.dumps(info)


def transport_error(text: str) -> Exception:
    error: Exception = google.auth.exceptions.TransportError(text)  # type: ignore[no-untyped-call]
    return error


def refresh_error(*args: object, retryable: bool) -> Exception:
    error: Exception = google.auth.exceptions.RefreshError(  # type: ignore[no-untyped-call]
        *args, retryable=retryable
    )
    return error


class FakeCredentials:
    """Plays `service_account.Credentials`: each refresh hands out the next token."""

    def __init__(self, clock: FakeClock, lifetime: timedelta | None = timedelta(hours=1)) -> None:
        self.token: str | None = None
        self.expiry: datetime | None = None
        self.refreshes = 0
        self.threads: set[int] = set()
        self.failures: list[Exception] = []
        self.gate: threading.Event | None = None
        self.started = threading.Event()
        self._clock = clock
        self._lifetime = lifetime

    def refresh(self, request: Any) -> None:
        self.threads.add(threading.get_ident())
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(10), "the test never opened the gate"
        if self.failures:
            raise self.failures.pop(0)
        self.refreshes += 1
        self.token = f"ya29.token-{self.refreshes}"
        # google-auth keeps a naive UTC expiry
        if self._lifetime is not None:
            self.expiry = (self._clock.now() + self._lifetime).replace(tzinfo=None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def credentials(clock: FakeClock) -> FakeCredentials:
    return FakeCredentials(clock)


def tokens_with(credentials: FakeCredentials, clock: FakeClock, **options: Any) -> TokenSource:
    seen: dict[str, Any] = {}

    def factory(info: Mapping[str, Any], scopes: Sequence[str]) -> RefreshableCredentials:
        seen["info"], seen["scopes"] = info, scopes
        return credentials

    tokens = ServiceAccountTokens(key_json(), clock=clock, credentials_factory=factory, **options)
    assert seen["scopes"] == (RBM_SCOPE,) or "scopes" in options
    assert seen["info"]["client_email"] == "rbm@causette-test.iam.gserviceaccount.com"
    return tokens


async def test_token_is_cached_until_a_minute_before_expiry(
    credentials: FakeCredentials, clock: FakeClock
) -> None:
    tokens = tokens_with(credentials, clock)
    assert await tokens.token() == "ya29.token-1"
    assert await tokens.token() == "ya29.token-1"
    clock.advance(timedelta(hours=1) - REFRESH_MARGIN - timedelta(seconds=1))
    assert await tokens.token() == "ya29.token-1"
    clock.advance(timedelta(seconds=1))
    assert await tokens.token() == "ya29.token-2"
    assert credentials.refreshes == 2


async def test_refresh_runs_off_the_event_loop_thread(
    credentials: FakeCredentials, clock: FakeClock
) -> None:
    await tokens_with(credentials, clock).token()
    assert credentials.threads
    assert threading.get_ident() not in credentials.threads


async def test_many_waiting_senders_share_one_refresh(
    credentials: FakeCredentials, clock: FakeClock
) -> None:
    tokens = tokens_with(credentials, clock)
    credentials.gate = threading.Event()
    senders = [asyncio.create_task(tokens.token()) for _ in range(20)]
    # The first sender is inside the refresh; the 19 others queue on the lock meanwhile.
    assert await asyncio.to_thread(credentials.started.wait, 10)
    assert not any(sender.done() for sender in senders)
    credentials.gate.set()
    assert set(await asyncio.gather(*senders)) == {"ya29.token-1"}
    assert credentials.refreshes == 1


async def test_scopes_are_configurable(credentials: FakeCredentials, clock: FakeClock) -> None:
    scopes: list[Sequence[str]] = []

    def factory(info: Mapping[str, Any], given: Sequence[str]) -> RefreshableCredentials:
        scopes.append(given)
        return credentials

    management = ("https://www.googleapis.com/auth/businesscommunications",)
    ServiceAccountTokens(key_json(), scopes=management, credentials_factory=factory)
    assert scopes == [management]


async def test_invalidate_forces_one_refresh_and_ignores_stale_tokens(
    credentials: FakeCredentials, clock: FakeClock
) -> None:
    tokens = tokens_with(credentials, clock)
    first = await tokens.token()
    tokens.invalidate(first)
    second = await tokens.token()
    assert second == "ya29.token-2"
    # A second sender reports the 401 it got with the first token: the new one stays.
    tokens.invalidate(first)
    assert await tokens.token() == second
    assert credentials.refreshes == 2


async def test_token_without_expiry_is_kept(clock: FakeClock) -> None:
    # google-auth reads "no expiry" as "never expires"
    credentials = FakeCredentials(clock, lifetime=None)
    tokens = tokens_with(credentials, clock)
    assert await tokens.token() == "ya29.token-1"
    clock.advance(timedelta(days=2))
    assert await tokens.token() == "ya29.token-1"
    assert credentials.refreshes == 1


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (transport_error(f"connection reset {PRIVATE_KEY}"), Transient),
        (
            refresh_error(
                "temporarily_unavailable",
                {"assertion": "eyJhbGciOi.eyJpc3Mi.c2lnbmF0dXJl"},
                retryable=True,
            ),
            Transient,
        ),
        (
            refresh_error(
                f"invalid_grant: Invalid JWT Signature. key id {KEY_ID}", retryable=False
            ),
            Permanent,
        ),
    ],
)
async def test_refresh_failures_map_to_provider_errors_without_secrets(
    credentials: FakeCredentials,
    clock: FakeClock,
    failure: Exception,
    expected: type[Exception],
) -> None:
    tokens = tokens_with(credentials, clock)
    credentials.failures.append(failure)
    with pytest.raises(expected) as raised:
        await tokens.token()
    assert type(raised.value) is expected
    text = str(raised.value) + repr(raised.value.args)
    assert "rbm@causette-test.iam.gserviceaccount.com" in text
    for secret in ("MIIEvSECRET", KEY_ID, "eyJhbGciOi"):
        assert secret not in text
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__
    # The next call tries again.
    assert await tokens.token() == "ya29.token-1"


async def test_refresh_error_does_not_leak_the_previous_token(
    credentials: FakeCredentials, clock: FakeClock
) -> None:
    tokens = tokens_with(credentials, clock)
    old = await tokens.token()
    tokens.invalidate("not the cached one")
    clock.advance(timedelta(hours=1))
    credentials.failures.append(transport_error(f"boom after {old}"))
    with pytest.raises(Transient) as raised:
        await tokens.token()
    assert old not in str(raised.value)


@pytest.mark.parametrize(
    ("key", "words"),
    [
        (f"{{not json {PRIVATE_KEY}", "not JSON"),
        (json.dumps([PRIVATE_KEY]), "not a JSON object"),
        (key_json(type="authorized_user"), "not a service account key"),
    ],
)
def test_unreadable_keys_are_permanent_and_not_echoed(key: str, words: str) -> None:
    with pytest.raises(Permanent, match=words) as raised:
        ServiceAccountTokens(key)
    assert "MIIEvSECRET" not in str(raised.value)
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None or raised.value.__suppress_context__


def test_a_key_google_auth_cannot_use_is_permanent_and_redacted() -> None:
    # The real factory: google-auth refuses this private key while parsing it (no network).
    with pytest.raises(Permanent, match="is not usable") as raised:
        ServiceAccountTokens(key_json())
    assert "MIIEvSECRET" not in str(raised.value)
    assert KEY_ID not in str(raised.value)


def test_factory_errors_are_redacted() -> None:
    def factory(info: Mapping[str, Any], scopes: Sequence[str]) -> RefreshableCredentials:
        raise ValueError(f"cannot load {info['private_key']} ({info['private_key_id']})")

    with pytest.raises(Permanent) as raised:
        ServiceAccountTokens(key_json(), credentials_factory=factory)
    assert "MIIEvSECRET" not in str(raised.value)
    assert KEY_ID not in str(raised.value)


def test_repr_shows_the_account_only(credentials: FakeCredentials, clock: FakeClock) -> None:
    tokens = tokens_with(credentials, clock)
    assert repr(tokens) == "ServiceAccountTokens('rbm@causette-test.iam.gserviceaccount.com')"
    assert "sandbox-token" not in repr(StaticToken("sandbox-token"))


async def test_static_token() -> None:
    tokens: TokenSource = StaticToken("sandbox-token")
    assert await tokens.token() == "sandbox-token"
    tokens.invalidate("sandbox-token")
    assert await tokens.token() == "sandbox-token"
    with pytest.raises(ValueError, match="empty"):
        StaticToken("")


def test_redact() -> None:
    text = f"a {PRIVATE_KEY.strip()} b eyJhbGc.eyJzdWIi.sig c ya29.a0AfB_xyz d s3cret e"
    assert redact(text, ["s3cret"]) == "a [key] b [jwt] c [token] d [redacted] e"
    assert redact("x" * 400, limit=10) == "x" * 9 + "…"


# --- google-auth's real flow, against a token endpoint on loopback -----------------------------


async def test_real_google_auth_flow_on_loopback(aiohttp_server: ServerFactory) -> None:
    grants: list[Mapping[str, str]] = []

    async def token_endpoint(request: web.Request) -> web.Response:
        form = await request.post()
        grants.append({key: str(value) for key, value in form.items()})
        return web.json_response(
            {"access_token": "ya29.loopback", "expires_in": 3600, "token_type": "Bearer"}
        )

    app = web.Application()
    app.router.add_post("/token", token_endpoint)
    server = await aiohttp_server(app)
    tokens = ServiceAccountTokens(service_account_key(str(server.make_url("/token"))))
    assert await tokens.token() == "ya29.loopback"
    assert await tokens.token() == "ya29.loopback"
    assert len(grants) == 1
    assert grants[0]["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert grants[0]["assertion"].count(".") == 2


async def test_real_google_auth_refused_grant_is_permanent(aiohttp_server: ServerFactory) -> None:
    async def token_endpoint(request: web.Request) -> web.Response:
        return web.json_response(
            {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, status=400
        )

    app = web.Application()
    app.router.add_post("/token", token_endpoint)
    server = await aiohttp_server(app)
    key = service_account_key(str(server.make_url("/token")))
    with pytest.raises(Permanent, match="invalid_grant") as raised:
        await ServiceAccountTokens(key).token()
    assert "PRIVATE KEY" not in str(raised.value)


async def test_real_google_auth_unreachable_endpoint_is_transient(closed_port_url: str) -> None:
    key = service_account_key(f"{closed_port_url}/token")
    with pytest.raises(Transient, match="could not be reached"):
        await ServiceAccountTokens(key).token()
