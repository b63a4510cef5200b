"""Bearer tokens of the admin API: making them, and the middleware that checks them.

A token is `cst_` and 32 random bytes (URL-safe base64). The store keeps only its SHA-256 (hex):
a request's token is hashed and looked up by that hash, and the hash read back is compared in
constant time. A token is scoped to bots (`*` for all of them). Tokens never reach a log.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from bots.admin.errors import ApiError
from store.base import Store
from store.tokens_records import ApiToken

TOKEN_PREFIX = "cst_"
PUBLIC_PATHS = frozenset({"/v1/openapi.json"})
"""What is served without a token."""
TOKEN: web.RequestKey[ApiToken] = web.RequestKey("api_token", ApiToken)
"""The request's checked token, for the handlers."""

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="causette"'}


def new_token() -> str:
    """A fresh secret, shown once to whoever creates it."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(secret: str) -> str:
    """What the store keeps of a token: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers=_CHALLENGE)


async def authenticate(store: Store, header: str | None) -> ApiToken:
    """The live token an `Authorization` header carries, or a 401 `ApiError`."""
    scheme, _, secret = (header or "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise _unauthorized("an `Authorization: Bearer <token>` header is required")
    presented = hash_token(secret)
    token = await store.token_by_hash(presented)
    if token is None or not hmac.compare_digest(token.token_hash, presented):
        raise _unauthorized("the token is not valid")
    if token.revoked_at is not None:
        raise _unauthorized("the token was revoked")
    return token


def auth_middleware(store: Store) -> Middleware:
    """Checks the token of every request but `PUBLIC_PATHS`, and its scope on the path's bot
    (`{bot}`): 401 without a valid live token, 403 for a bot it is not scoped to."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS:
            return await handler(request)
        token = await authenticate(store, request.headers.get("Authorization"))
        bot = request.match_info.get("bot")
        if bot is not None and not token.allows(bot):
            raise ApiError(403, "forbidden", "this token may not act on this bot")
        request[TOKEN] = token
        return await handler(request)

    return middleware
