"""An offline RBM platform (reference/rbm.md): the messaging API, delivery to simulated phones,
and webhooks to the agents, in Google's wire formats.

`RbmEmulator(phonebook).app()` serves `/v1/phones/{E.164}/agentMessages` (send, revoke),
`/capabilities` and `/agentEvents` as RBM does (validation in `sandbox.rbm_validation`), delivers
accepted messages to the phone book and posts signed webhooks (`sandbox.webhook_client`):
DELIVERED, READ, TTL server events, and the user messages of people acting on their phones.
`RbmFaults` holds the knobs; `/sandbox/rbm/...` adjusts them over HTTP (see `_control_routes`).

Time: delivery latency and webhook retry waits go through the injected `sleep`, so tests pass an
instant one and `await emulator.drain()`; ttl/expireTime expiry is checked against the injected
`clock` by a timer, or at once by `expire_due()` after a test moved a `FakeClock`.

Where Google is silent (**[?]**): a reused `messageId`/`eventId` answers 200 with the original
resource (`RbmFaults.reused_id = "already_exists"` answers 409 instead); revoking a message
already revoked or expired answers 200 `{}` again; an unknown `agentId` answers 403.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any, Literal

from aiohttp import web

from messaging.clock import Clock, SystemClock
from messaging.phone import Phone
from sandbox.phonebook import Direction, Network, PhoneBook, PhoneMessage, SimulatedPhone
from sandbox.rbm_validation import (
    E164,
    FEATURES,
    InvalidArgument,
    all_suggestions,
    expiry,
    features_used,
    format_timestamp,
    validate_agent_event,
    validate_agent_message,
)
from sandbox.webhook_client import (
    Sleep,
    WebhookClient,
    WebhookPolicy,
    server_event,
    user_event,
    user_message,
)

SUFFIX = "@rbm.goog"
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


@dataclass
class RbmFaults:
    """Knobs of the emulator, read at each use: change them at any time (or PATCH them)."""

    latency: float = 0.0
    """Seconds between the 200 of a send and the delivery to an online phone."""
    error_rates: dict[int, float] = field(default_factory=dict)
    """Probability of answering an API call with this status instead, e.g. {500: 0.1}."""
    timeout_rate: float = 0.0
    """Probability that an API call is held until `release_held()`, then carried out."""
    drop_receipts: float = 0.0
    """Probability that a DELIVERED or READ user event is never posted."""
    offline: set[str] = field(default_factory=set)
    """Phones that are switched off: messages wait (use `set_offline` to flush on return)."""
    not_launched: set[str] = field(default_factory=set)
    """Phones on a carrier where the agent is not launched: sends answer `not_launched_status`."""
    not_launched_status: int = 404
    features: dict[str, list[str]] = field(default_factory=dict)
    """Capability features by phone; absent phones have all of `FEATURES`."""
    revoke_race: bool = False
    """A revoke answers 200 but the message is still delivered (rbm.md §2 race)."""
    ttl_revoke_fails: bool = False
    """On expiry, post TTL_EXPIRATION_REVOKE_FAILED and keep the message queued."""
    reused_id: Literal["original", "already_exists"] = "original"
    agent_id_suffix: bool = False
    """Write `agentId` in webhook payloads with `@rbm.goog` (third-party code shows it, [3P])."""
    card_suggestions_max: int = 4
    webhooks: WebhookPolicy = field(default_factory=WebhookPolicy)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["offline"], data["not_launched"] = sorted(self.offline), sorted(self.not_launched)
        return data

    def update(self, data: dict[str, Any]) -> None:
        """Apply a JSON patch such as `{"latency": 0.5, "webhooks": {"queue": "agent"}}`."""
        _patch(self, data)


def _patch(target: Any, data: Any) -> None:
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    names = {f.name for f in fields(target)}
    for name, value in data.items():
        if name not in names:
            raise ValueError(f"unknown knob {name!r}")
        current = getattr(target, name)
        if is_dataclass(current):
            _patch(current, value)
            continue
        try:
            setattr(target, name, _convert(name, current, value))
        except (TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"bad value for {name!r}: {error}") from None


def _convert(name: str, current: Any, value: Any) -> Any:
    if name == "retry_waits":
        return None if value is None else [float(wait) for wait in value]
    if name == "error_rates":
        return {int(status): float(rate) for status, rate in value.items()}
    if name == "features":
        return {Phone(phone).e164: [str(f) for f in names] for phone, names in value.items()}
    if isinstance(current, set):
        return {Phone(phone).e164 for phone in value}
    choices = {"reused_id": ("original", "already_exists"), "queue": ("partner", "agent", "none")}
    if name in choices and value not in choices[name]:
        raise ValueError(f"one of {choices[name]}")
    if type(value) is not type(current) and not (isinstance(current, float) and type(value) is int):
        raise TypeError(f"expected {type(current).__name__}")
    return float(value) if isinstance(current, float) else value


@dataclass
class SentMessage:
    """An agent message the emulator accepted, and what became of it."""

    agent_id: str
    phone: str
    message_id: str
    content: dict[str, Any]
    expire_at: datetime | None
    state: Literal["pending", "queued", "delivered", "revoked", "expired"] = "pending"
    """`pending` during the latency, `queued` while its phone is offline."""
    phone_message_id: str | None = None
    read: bool = False
    expiry_reported: bool = False
    armed: bool = False
    """An expiry timer is running."""


class _ApiError(Exception):
    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(message or _MESSAGES.get(code, "Unknown error."))
        self.code = code


class RbmEmulator:
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
        self.phonebook = phonebook
        self.agents: list[str] = [_bare(agent) for agent in agents]
        self.token = token
        self.faults = faults or RbmFaults()
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.webhooks = WebhookClient(
            self.faults.webhooks, rng=self.rng, sleep=sleep, clock=self.clock
        )
        self.messages: dict[tuple[str, str], SentMessage] = {}
        """By (agent id, messageId)."""
        self.agent_events: list[dict[str, Any]] = []
        self._resources: dict[tuple[str, str], dict[str, Any]] = {}  # one id space, §4
        self._by_phone_message: dict[str, SentMessage] = {}
        self._user_messages: dict[str, str] = {}  # user messageId -> phone book message id
        self._thread: dict[str, str] = {}  # phone -> agent that last wrote to it
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.Task[None]] = set()
        self._watch: asyncio.Queue[PhoneMessage] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._release = asyncio.Event()
        self.held = 0
        """API calls currently held by the `timeout_rate` fault."""
        phonebook.on_action(Network.RCS.value, self._on_action)

    def add_agent(
        self, agent_id: str, webhook_url: str | None = None, client_token: str = ""
    ) -> None:
        """Register an agent, optionally with its webhook (verified before its first event)."""
        agent = _bare(agent_id)
        if agent not in self.agents:
            self.agents.append(agent)
        if webhook_url is not None:
            self.webhooks.set_webhook(webhook_url, client_token, agent)

    async def set_webhook(self, agent_id: str, url: str, client_token: str) -> bool:
        """Configure an agent's webhook now, as the console does: True if the handshake passed."""
        self.add_agent(agent_id, url, client_token)
        return await self.webhooks.verify(_bare(agent_id))

    def set_offline(self, phone: str, offline: bool = True) -> None:
        """Switch a phone off or on; on return, its queued messages are delivered (or expire)."""
        number = Phone(phone).e164
        (self.faults.offline.add if offline else self.faults.offline.discard)(number)
        self._flush()

    def release_held(self) -> None:
        """Let every API call held by the `timeout_rate` fault proceed."""
        event, self._release = self._release, asyncio.Event()
        event.set()

    def read(self, agent_id: str, message_id: str) -> None:
        """The person reads a delivered message (as marking it read in the phone book does)."""
        sent = self.messages[(_bare(agent_id), message_id)]
        if sent.phone_message_id is not None:
            self.phonebook.mark(sent.phone_message_id, "read")
            self._on_read(sent)

    def user_activity(self, phone: str, event_type: str, agent_id: str | None = None) -> None:
        """The person is typing (IS_TYPING), or (un)subscribes: a user event without messageId."""
        if event_type not in ("IS_TYPING", "SUBSCRIBE", "UNSUBSCRIBE"):
            raise ValueError(f"{event_type!r} is not IS_TYPING, SUBSCRIBE or UNSUBSCRIBE")
        if phone not in self.phonebook.phones:
            raise KeyError(f"no phone {phone}")
        agent = _bare(agent_id or self._agent_for(phone))
        self._post(agent, user_event(phone, event_type))

    def expire_due(self) -> int:
        """Expire the undelivered messages whose ttl/expireTime passed; how many were."""
        now, count = self.clock.now(), 0
        for sent in list(self.messages.values()):
            due = sent.expire_at is not None and sent.expire_at <= now
            if due and sent.state in ("pending", "queued") and not sent.expiry_reported:
                self._expire(sent)
                count += 1
        return count

    async def drain(self) -> None:
        """Wait until pending deliveries, read receipts and webhook posts have all completed."""
        while True:
            self._flush()
            while self._watch is not None and not self._watch.empty():
                await asyncio.sleep(0)
            if self._tasks:
                await asyncio.gather(*self._tasks)
            elif self.webhooks.busy:
                await self.webhooks.join()
            else:
                return

    async def close(self) -> None:
        self.release_held()
        tasks = [*self._tasks, *self._timers, *([self._watcher] if self._watcher else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._watch is not None:
            self.phonebook.unwatch(self._watch)
        self._watch, self._watcher = None, None
        await self.webhooks.close()

    # --- HTTP --------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024, middlewares=[self._errors])
        phone = "/v1/phones/{phone}"
        app.router.add_post(f"{phone}/agentMessages", self._send)
        app.router.add_delete(f"{phone}/agentMessages/{{message_id}}", self._revoke)
        app.router.add_get(f"{phone}/capabilities", self._capabilities)
        app.router.add_post(f"{phone}/agentEvents", self._agent_event)
        self._control_routes(app.router)
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._shutdown)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _start(self, _: web.Application) -> None:
        self._watch = self.phonebook.watch()
        self._watcher = asyncio.create_task(self._watch_reads(self._watch))

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
            return _error(error.code, str(error))

    async def _guard(self, request: web.Request, *required: str) -> tuple[str, str]:
        """Faults, bearer token, required query parameters, path phone: (agent id, phone)."""
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
        agent = _bare(request.query["agentId"])
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
        sent = SentMessage(agent, phone, message_id, message["contentMessage"], expire_at)
        self.messages[(agent, message_id)] = sent
        self._thread[phone] = agent
        self._spawn(self._deliver_later(sent))
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
        read = self._user_messages.get(event.get("messageId", ""))
        if event["eventType"] == "READ" and read is not None:
            self.phonebook.mark(read, "read")
        return web.json_response(resource)

    # --- Delivery and webhooks -----------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_later(self, sent: SentMessage) -> None:
        if self.faults.latency:
            await self.sleep(self.faults.latency)
        if sent.state == "pending":
            sent.state = "queued"
        self._try_deliver(sent)

    def _try_deliver(self, sent: SentMessage) -> None:
        if sent.state != "queued":
            return
        if sent.phone in self.faults.offline or self.phonebook.phones.get(sent.phone) is None:
            self._arm_expiry(sent)
            return
        due = sent.expire_at is not None and sent.expire_at <= self.clock.now()
        if due and not sent.expiry_reported:
            self._expire(sent)  # TTL_EXPIRATION_REVOKE_FAILED leaves it queued: delivered late
            if sent.state != "queued":
                return
        delivered = self.phonebook.deliver(sent.phone, Network.RCS.value, sent.content)
        sent.state, sent.phone_message_id = "delivered", delivered.id
        self._by_phone_message[delivered.id] = sent
        self._receipt(sent, "DELIVERED")

    def _flush(self) -> None:
        for sent in list(self.messages.values()):
            if sent.state == "queued" and sent.phone not in self.faults.offline:
                self._try_deliver(sent)

    def _arm_expiry(self, sent: SentMessage) -> None:
        if sent.expire_at is None or sent.expiry_reported or sent.armed:
            return
        sent.armed = True

        async def timer(delay: float) -> None:
            await asyncio.sleep(delay)
            self.expire_due()

        task = asyncio.create_task(
            timer(max((sent.expire_at - self.clock.now()).total_seconds(), 0))
        )
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    def _expire(self, sent: SentMessage) -> None:
        sent.expiry_reported = True
        fails = self.faults.ttl_revoke_fails
        if not fails:
            sent.state = "expired"
        kind = "TTL_EXPIRATION_REVOKE_FAILED" if fails else "TTL_EXPIRATION_REVOKED"
        self._post(sent.agent_id, server_event(sent.phone, kind, sent.message_id))

    def _receipt(self, sent: SentMessage, kind: str) -> None:
        if self.faults.drop_receipts and self.rng.random() < self.faults.drop_receipts:
            return
        self._post(sent.agent_id, user_event(sent.phone, kind, sent.message_id))

    def _post(self, agent: str, payload: dict[str, Any]) -> None:
        """Stamp a payload (`sendTime`, `agentId` in the configured form) and queue it."""
        payload["sendTime"] = format_timestamp(self.clock.now())
        payload["agentId"] = agent + SUFFIX if self.faults.agent_id_suffix else agent
        self.webhooks.post(agent, payload)

    def _on_read(self, sent: SentMessage) -> None:
        if not sent.read:
            sent.read = True
            self._receipt(sent, "READ")

    async def _watch_reads(self, queue: asyncio.Queue[PhoneMessage]) -> None:
        while True:
            message = await queue.get()
            sent = self._by_phone_message.get(message.id)
            if sent is not None and message.status == "read":
                self._on_read(sent)

    async def _on_action(self, phone: SimulatedPhone, body: dict[str, Any]) -> None:
        """A person typed, tapped a suggestion, shared a location or sent a file (§5.4)."""
        agent = _bare(body.get("agentId") or self._agent_for(phone.number))
        kind = "REPLY"
        if "postbackData" in body:
            kind = body.get("type") or self._suggestion_type(phone, body["postbackData"])
        payload = user_message(phone.number, body, kind)
        if phone.messages and phone.messages[-1].direction is Direction.FROM_PHONE:
            self._user_messages[payload["messageId"]] = phone.messages[-1].id
        self._post(agent, payload)

    def _agent_for(self, phone: str) -> str:
        """The agent that last wrote to this phone, else the first one."""
        if not self.agents:
            raise LookupError("no RBM agent takes this person's messages")
        return self._thread.get(phone) or self.agents[0]

    def _suggestion_type(self, phone: SimulatedPhone, postback: str) -> str:
        """REPLY or ACTION, from the suggestion with this data in the latest RCS messages."""
        for message in reversed(phone.messages):
            if message.direction is Direction.TO_PHONE and message.channel == Network.RCS.value:
                for _, suggestion in all_suggestions(message.body):
                    for kind in ("reply", "action"):
                        if suggestion.get(kind, {}).get("postbackData") == postback:
                            return kind.upper()
        return "REPLY"

    # --- Control API ---------------------------------------------------------------------------

    def _control_routes(self, router: web.UrlDispatcher) -> None:
        """`GET|PATCH /sandbox/rbm/faults` (RbmFaults as JSON), `POST /sandbox/rbm/release`,
        `POST /sandbox/rbm/drain`, `GET /sandbox/rbm/messages`,
        `POST /sandbox/rbm/messages/{agent}/{messageId}/read`,
        `PUT /sandbox/rbm/agents/{agent}/webhook` `{"url", "clientToken"}` (handshake now),
        `POST /sandbox/rbm/phones/{E.164}/events/{IS_TYPING|SUBSCRIBE|UNSUBSCRIBE}`."""
        root = "/sandbox/rbm"
        router.add_get(f"{root}/faults", self._get_faults)
        router.add_patch(f"{root}/faults", self._patch_faults)
        router.add_post(f"{root}/release", self._control_release)
        router.add_post(f"{root}/drain", self._control_drain)
        router.add_get(f"{root}/messages", self._list_messages)
        router.add_post(f"{root}/messages/{{agent}}/{{message_id}}/read", self._control_read)
        router.add_put(f"{root}/agents/{{agent}}/webhook", self._control_webhook)
        router.add_post(f"{root}/phones/{{phone}}/events/{{event}}", self._control_activity)

    async def _get_faults(self, _: web.Request) -> web.Response:
        return web.json_response(self.faults.to_json())

    async def _patch_faults(self, request: web.Request) -> web.Response:
        try:
            self.faults.update(await request.json())
        except ValueError as error:
            return web.json_response({"error": str(error)}, status=400)
        self._flush()
        return web.json_response(self.faults.to_json())

    async def _control_release(self, _: web.Request) -> web.Response:
        self.release_held()
        return web.json_response({})

    async def _control_drain(self, _: web.Request) -> web.Response:
        await self.drain()
        return web.json_response({})

    async def _list_messages(self, _: web.Request) -> web.Response:
        keys = ("agent_id", "phone", "message_id", "state", "read")
        return web.json_response([{k: getattr(s, k) for k in keys} for s in self.messages.values()])

    async def _control_read(self, request: web.Request) -> web.Response:
        try:
            self.read(request.match_info["agent"], request.match_info["message_id"])
        except KeyError:
            return web.json_response({"error": "no such message"}, status=404)
        return web.json_response({})

    async def _control_webhook(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            url, token = str(body["url"]), str(body["clientToken"])
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": 'expected {"url", "clientToken"}'}, status=400)
        verified = await self.set_webhook(request.match_info["agent"], url, token)
        return web.json_response({"verified": verified})

    async def _control_activity(self, request: web.Request) -> web.Response:
        try:
            self.user_activity(request.match_info["phone"], request.match_info["event"])
        except (KeyError, ValueError) as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response({})


def _bare(agent_id: str) -> str:
    """The agent id without `@rbm.goog`: both forms are accepted everywhere (rbm.md §0)."""
    return agent_id.removesuffix(SUFFIX)


def _error(code: int, message: str) -> web.Response:
    status = _STATUS.get(code, "UNKNOWN")
    body = {"error": {"code": code, "message": message, "status": status}}
    headers = (
        {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'} if code == 401 else None
    )
    return web.json_response(body, status=code, headers=headers)
