"""OAuth2 bearer tokens for the RBM API, from a Google service account key (reference/rbm.md §0).

RBM calls carry `Authorization: Bearer <token>`; the token comes from the service account's
JSON key through Google's JWT flow, scope `.../auth/rcsbusinessmessaging` (rbm.md §0).
google-auth does that flow with blocking `requests` calls, so a refresh runs in a worker
thread: the event loop keeps serving webhooks while Google answers.

A token is cached until `margin` (60 s) before it expires, and one `asyncio.Lock` serialises
refreshes, so a burst of senders that all find the token stale makes one call to Google, not
one each. `invalidate` is how a client reports a 401: the next `token()` refreshes, unless a
newer token is already cached (then the many senders that saw the same 401 share one refresh).

Secrets: no message, `repr` or chained exception of this module carries the private key, the
JWT assertion or the access token; refresh failures are re-raised `from None` with a redacted,
shortened description.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import google.auth.exceptions
import google.auth.transport.requests
from google.oauth2 import service_account

from agents.errors import Permanent, Transient
from messaging.clock import Clock, SystemClock

RBM_SCOPE = "https://www.googleapis.com/auth/rcsbusinessmessaging"
"""The messaging API's scope (rbm.md §0)."""

BUSINESS_COMMUNICATIONS_SCOPE = "https://www.googleapis.com/auth/businesscommunications"
"""The management API's scope (rbm.md §0, §7), for the agent admin scripts."""

REFRESH_MARGIN = timedelta(seconds=60)
"""A token is refreshed this long before it expires, so that none expires in flight."""

REFRESH_TIMEOUT = timedelta(seconds=10)
"""How long one call to Google's token endpoint may take (google-auth would wait 120 s)."""


class TokenSource(Protocol):
    """Where an API client gets its bearer token."""

    async def token(self) -> str:
        """A token valid now (cached when possible).

        Raises `Transient` when it could not be had for now, `Permanent` when it never will.
        """
        ...

    def invalidate(self, token: str) -> None:
        """The API refused `token` (401): the next `token()` must not return it."""
        ...


class StaticToken:
    """A fixed token: the sandbox and tests, which have no Google to ask."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("a static token must not be empty")
        self._token = token

    async def token(self) -> str:
        return self._token

    def invalidate(self, token: str) -> None:
        # Nothing to refresh: a refused static token stays refused, and the client's single
        # retry then fails as Permanent.
        pass

    def __repr__(self) -> str:
        return "StaticToken(<hidden>)"


class RefreshableCredentials(Protocol):
    """The part of `google.oauth2.service_account.Credentials` that this module uses."""

    token: str | None
    expiry: datetime | None
    """Naive UTC, as google-auth keeps it (an aware value is accepted too)."""

    def refresh(self, request: Any) -> None: ...


CredentialsFactory = Callable[[Mapping[str, Any], Sequence[str]], RefreshableCredentials]
"""Builds credentials from the parsed key and scopes; tests inject a fake one."""


def google_credentials(info: Mapping[str, Any], scopes: Sequence[str]) -> RefreshableCredentials:
    """Google's own service account credentials (the default factory)."""
    credentials: RefreshableCredentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        info, scopes=list(scopes)
    )
    return credentials


class ServiceAccountTokens:
    """Tokens of one service account, refreshed off the event loop and shared by all senders."""

    def __init__(
        self,
        key_json: str,
        *,
        scopes: Sequence[str] = (RBM_SCOPE,),
        clock: Clock | None = None,
        margin: timedelta = REFRESH_MARGIN,
        refresh_timeout: timedelta = REFRESH_TIMEOUT,
        credentials_factory: CredentialsFactory = google_credentials,
    ) -> None:
        """Reads the key at once, so that a bad key stops the start-up, not the first send.

        Raises `Permanent` for a key that is not a usable service account key; the message
        names the problem, never the key's content.
        """
        info = _parse_key(key_json)
        self._secrets = tuple(
            value
            for name in ("private_key", "private_key_id")
            if isinstance(value := info.get(name), str) and value
        )
        self.account: str = str(info.get("client_email") or "unnamed service account")
        """The service account's email, for messages and logs."""
        self._token: str | None = None
        self._expires_at: datetime | None = None
        try:
            self._credentials = credentials_factory(info, scopes)
        except (ValueError, TypeError, KeyError, google.auth.exceptions.GoogleAuthError) as error:
            raise Permanent(
                f"the key of {self.account} is not usable: {self._describe(error)}"
            ) from None
        self._clock: Clock = clock or SystemClock()
        self._margin = margin
        self._refresh_timeout = refresh_timeout
        self._lock = asyncio.Lock()
        self._transport: Callable[..., Any] | None = None

    async def token(self) -> str:
        cached = self._cached()
        if cached is not None:
            return cached
        async with self._lock:
            # Whoever held the lock before us may have refreshed already: check again, so that
            # many waiting senders cause one refresh.
            cached = self._cached()
            if cached is not None:
                return cached
            return await self._refresh()

    def invalidate(self, token: str) -> None:
        # Only the refused token is dropped: a newer one, fetched by a sender that saw the same
        # 401 first, stays cached and serves everyone.
        if token == self._token:
            self._token = None
            self._expires_at = None

    def __repr__(self) -> str:
        return f"ServiceAccountTokens({self.account!r})"

    def _cached(self) -> str | None:
        if self._token is None:
            return None
        if self._expires_at is not None and self._clock.now() >= self._expires_at - self._margin:
            return None
        return self._token

    async def _refresh(self) -> str:
        transport = self._transport_for_refresh()
        try:
            await asyncio.to_thread(self._credentials.refresh, transport)
        except google.auth.exceptions.TransportError as error:
            raise Transient(
                f"Google's token endpoint could not be reached for {self.account}:"
                f" {self._describe(error)}"
            ) from None
        except google.auth.exceptions.RefreshError as error:
            # google-auth flags 5xx/429 and "temporarily_unavailable" answers as retryable;
            # anything else (invalid_grant: revoked key, wrong clock, deleted account) is final.
            kind = Transient if error.retryable else Permanent
            raise kind(
                f"Google refused a token to {self.account}: {self._describe(error)}"
            ) from None
        token = self._credentials.token
        if not token:
            raise Permanent(f"Google gave {self.account} no token")
        expiry = self._credentials.expiry
        if expiry is not None and expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=UTC)  # google-auth keeps naive UTC
        self._token = token
        self._expires_at = expiry
        return token

    def _transport_for_refresh(self) -> Callable[..., Any]:
        # One `requests` session for every refresh (its connection pool survives); refreshes
        # are serialised by the lock, so the session is never used by two threads at once.
        if self._transport is None:
            request = google.auth.transport.requests.Request()
            self._transport = functools.partial(
                request, timeout=self._refresh_timeout.total_seconds()
            )
        return self._transport

    def _describe(self, error: BaseException) -> str:
        return redact(str(error) or type(error).__name__, (*self._secrets, self._token or ""))


_PEM = re.compile(r"-----BEGIN[^-]*-----.*?(-----END[^-]*-----|$)", re.DOTALL)
_JWT = re.compile(r"eyJ[\w-]*\.[\w-]+\.[\w-]*")
_GOOGLE_TOKEN = re.compile(r"ya29\.[\w.-]+")


def redact(text: str, secrets: Sequence[str] = (), *, limit: int = 300) -> str:
    """`text` without `secrets`, PEM blocks, JWTs or Google access tokens, cut to `limit`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = _PEM.sub("[key]", text)
    text = _JWT.sub("[jwt]", text)
    text = _GOOGLE_TOKEN.sub("[token]", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse_key(key_json: str) -> dict[str, Any]:
    try:
        info = json.loads(key_json)
    except ValueError:
        # The decoder's error keeps the whole document (`.doc`): never chain it.
        raise Permanent("the service account key is not JSON") from None
    if not isinstance(info, dict):
        raise Permanent("the service account key is not a JSON object")
    if info.get("type") != "service_account":
        raise Permanent('the key is not a service account key ("type" is not "service_account")')
    return info
