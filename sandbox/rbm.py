"""An offline RBM platform (reference/rbm.md): the messaging API, delivery to simulated phones,
and webhooks to the agents, in Google's wire formats.

`RbmEmulator(phonebook).app()` serves `/v1/phones/{E.164}/agentMessages` (send, revoke),
`/capabilities` and `/agentEvents` as RBM does. This module is that HTTP front: bearer token,
required parameters, validation (`sandbox.rbm_validation`), reused ids, the `timeout_rate` and
`error_rates` faults, and Google's error envelope. What follows an accepted call is
`sandbox.rbm_delivery`: delivery to the phone book and signed webhooks (`sandbox.webhook_client`):
DELIVERED, READ, TTL server events, and the user messages of people acting on their phones.
`RbmFaults` (`sandbox.rbm_faults`) holds the knobs; `/sandbox/rbm/...` adjusts them over HTTP
(`sandbox.rbm_control`).

Where Google is silent (**[?]**): a reused `messageId`/`eventId` answers 200 with the original
resource (`RbmFaults.reused_id = "already_exists"` answers 409 instead); revoking a message
already revoked or expired answers 200 `{}` again; an unknown `agentId` answers 403.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from messaging.clock import Clock, SystemClock
from sandbox.phonebook import Network, PhoneBook
from sandbox.rbm_control import RbmControl
from sandbox.rbm_delivery import RbmDelivery, SentMessage, bare_agent_id
from sandbox.rbm_faults import RbmFaults
from sandbox.rbm_schema import InvalidArgument, format_timestamp
from sandbox.rbm_validation import (
    E164,
    FEATURES,
    expiry,
    features_used,
    validate_agent_event,
    validate_agent_message,
)
from sandbox.webhook_client import Sleep

__all__ = ["RbmEmulator", "RbmFaults", "SentMessage"]

# Output only, or (ttl) given back as expireTime:
_NOT_ECHOED = (
    "ttl",
    "name",
    "sendTime",
    "carrier",
    "richMessageClassification",
    "totalPayloadSizeBytes",
)
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}
_STATUS |= {404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}
_STATUS |= {503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_MESSAGES = {
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    409: "Requested entity already exists",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "Deadline expired before operation could complete.",
}
_NO_CREDENTIALS = (
    "Request is missing required authentication credential. Expected OAuth 2 access token,"
    " login cookie or other valid authentication credential."
)
_BAD_CREDENTIALS = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token,"
    " login cookie or other valid authentication credential."
)


class _ApiError(Exception):
    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(message or _MESSAGES.get(code, "Unknown error."))
        self.code = code


class RbmEmulator(RbmDelivery):
    """RBM's messaging API in front of the platform of `RbmDelivery` (see the module doc)."""

    def __init__(
        self,
        phonebook: PhoneBook,
        *,
        agents: tuple[str, ...] = (),
        token: str | None = None,
        faults: RbmFaults | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """`token`: the one bearer token accepted (None: any non-empty one). The emulator takes
        the phone book's `rcs` actions: people's messages go to the agent that last wrote to
        them, else to the first agent."""
        faults, clock = faults or RbmFaults(), clock or SystemClock()
        super().__init__(phonebook, agents, faults, clock, rng or random.Random(), sleep)
        self.token = token
        self.agent_events: list[dict[str, Any]] = []
        self._resources: dict[tuple[str, str], dict[str, Any]] = {}  # one id space, §4
        self._release = asyncio.Event()
        self.held = 0
        """API calls currently held by the `timeout_rate` fault."""

    def release_held(self) -> None:
        """Let every API call held by the `timeout_rate` fault proceed."""
        event, self._release = self._release, asyncio.Event()
        event.set()

    async def close(self) -> None:
        self.release_held()
        await super().close()

    # --- HTTP --------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024, middlewares=[self._errors])
        phone = "/v1/phones/{phone}"
        app.router.add_post(f"{phone}/agentMessages", self._send)
        app.router.add_delete(f"{phone}/agentMessages/{{message_id}}", self._revoke)
        app.router.add_get(f"{phone}/capabilities", self._capabilities)
        app.router.add_post(f"{phone}/agentEvents", self._agent_event)
        RbmControl(self).add_routes(app.router)
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._shutdown)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _start(self, _: web.Application) -> None:
        self.watch_phonebook()

    async def _shutdown(self, _: web.Application) -> None:
        self.release_held()

    async def _cleanup(self, _: web.Application) -> None:
        await self.close()

    @web.middleware
    async def _errors(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except InvalidArgument as error:
            return _error(400, str(error))
        except _ApiError as error:
            response = _error(error.code, str(error))
            if error.code == 429 and self.faults.retry_after is not None:
                response.headers["Retry-After"] = str(self.faults.retry_after)
            return response

    async def _guard(self, request: web.Request, *required: str) -> tuple[str, str]:
        """Faults, bearer token, required query parameters, path phone: (agent id, phone)."""
        # The body is read (and kept by aiohttp) first: a call held past the client's timeout
        # is still carried out when released, as `RbmFaults.timeout_rate` promises; read after,
        # the client's closed connection would make it fail.
        await request.read()
        await self._inject_faults()
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise _ApiError(401, _NO_CREDENTIALS)
        if self.token is not None and credential.strip() != self.token:
            raise _ApiError(401, _BAD_CREDENTIALS)
        for name in ("agentId", *required):
            if not request.query.get(name):
                raise InvalidArgument(f"{name} is required")
        phone = request.match_info["phone"]
        if not E164.fullmatch(phone):
            raise InvalidArgument(f"phone {phone!r} is not an E.164 number (phones/+33612345678)")
        agent = bare_agent_id(request.query["agentId"])
        if agent not in self.agents:
            raise _ApiError(403)
        return agent, phone

    async def _inject_faults(self) -> None:
        faults = self.faults
        if not faults.timeout_rate and not any(faults.error_rates.values()):
            return
        roll = self.rng.random()
        if roll < faults.timeout_rate:
            self.held += 1
            try:
                await self._release.wait()
            finally:
                self.held -= 1
            return
        threshold = faults.timeout_rate
        for status, rate in sorted(faults.error_rates.items()):
            threshold += rate
            if roll < threshold:
                raise _ApiError(status)

    def _reachable(self, phone: str) -> None:
        known = self.phonebook.phones.get(phone)
        if known is None or known.network is not Network.RCS:
            raise _ApiError(404)
        if phone in self.faults.not_launched:
            raise _ApiError(self.faults.not_launched_status)

    def _reused(self, agent: str, resource_id: str) -> web.Response | None:
        original = self._resources.get((agent, resource_id))
        if original is None:
            return None
        if self.faults.reused_id == "already_exists":
            raise _ApiError(409)
        return web.json_response(original)

    async def _body(self, request: web.Request) -> Any:
        try:
            return json.loads(await request.read() or b"{}")
        except ValueError:
            raise InvalidArgument("Invalid JSON payload received.") from None

    async def _send(self, request: web.Request) -> web.Response:
        agent, phone = await self._guard(request, "messageId")
        message_id = request.query["messageId"]
        now = self.clock.now()
        message = validate_agent_message(
            await self._body(request),
            now=now,
            card_suggestions_max=self.faults.card_suggestions_max,
        )
        reused = self._reused(agent, message_id)
        if reused is not None:
            return reused
        self._reachable(phone)
        lacking = features_used(message) - set(self.faults.features.get(phone, FEATURES))
        if lacking:
            raise InvalidArgument(f"the user's device lacks {', '.join(sorted(lacking))}")
        expire_at = expiry(message, now)
        resource = {k: v for k, v in message.items() if k not in _NOT_ECHOED}
        resource |= {"name": f"phones/{phone}/agentMessages/{message_id}"}
        resource |= {"sendTime": format_timestamp(now)}
        if expire_at is not None:
            resource["expireTime"] = format_timestamp(expire_at)
        self._resources[(agent, message_id)] = resource
        self.dispatch(SentMessage(agent, phone, message_id, message["contentMessage"], expire_at))
        return web.json_response(resource)

    async def _revoke(self, request: web.Request) -> web.Response:
        agent, phone = await self._guard(request)
        sent = self.messages.get((agent, request.match_info["message_id"]))
        if sent is None or sent.phone != phone or sent.state == "delivered":
            raise _ApiError(404)
        if sent.state in ("pending", "queued") and not self.faults.revoke_race:
            sent.state = "revoked"
        return web.json_response({})

    async def _capabilities(self, request: web.Request) -> web.Response:
        _, phone = await self._guard(request, "requestId")
        self._reachable(phone)
        return web.json_response({"features": list(self.faults.features.get(phone, FEATURES))})

    async def _agent_event(self, request: web.Request) -> web.Response:
        agent, phone = await self._guard(request, "eventId")
        event_id = request.query["eventId"]
        event = validate_agent_event(await self._body(request))
        reused = self._reused(agent, event_id)
        if reused is not None:
            return reused
        self._reachable(phone)
        resource = event | {"name": f"phones/{phone}/agentEvents/{event_id}"}
        resource["sendTime"] = format_timestamp(self.clock.now())
        self._resources[(agent, event_id)] = resource
        self.agent_events.append(resource)
        if event["eventType"] == "READ":
            self.agent_read(event.get("messageId", ""))
        return web.json_response(resource)


def _error(code: int, message: str) -> web.Response:
    status = _STATUS.get(code, "UNKNOWN")
    body = {"error": {"code": code, "message": message, "status": status}}
    headers = (
        {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'} if code == 401 else None
    )
    return web.json_response(body, status=code, headers=headers)
