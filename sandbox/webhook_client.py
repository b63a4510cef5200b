"""The RBM platform's side of a webhook (reference/rbm.md §5): handshake, envelope, signature,
retries; and the payloads of §5.4.

Before the first event, a webhook is verified: the platform POSTs `{"clientToken", "secret"}` and
wants `200` with the bare secret as the body. Each event is then POSTed as a Pub/Sub push
envelope whose `message.data` is the base64 of the JSON payload, signed in `X-Goog-Signature` =
base64(HMAC-SHA512(key = client token, msg = the decoded payload bytes)). Any answer but 200 (or
no answer within `timeout`, **[?]**) is retried after the next wait of the schedule; when the
schedule runs out the event is dropped, as RBM drops it after 7 days.

Ordering follows `WebhookPolicy.queue`: `partner` is RBM's own single queue for every agent, where
a failing webhook holds back all later events (head-of-line blocking, §5.5); `agent` gives each
agent its own queue; `none` retries every event on its own. A retried or duplicated event keeps
its Pub/Sub `messageId` and `publishTime`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import random
import secrets
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from messaging.clock import Clock, SystemClock
from sandbox.rbm_schema import format_timestamp

Sleep = Callable[[float], Awaitable[None]]
PARTNER = ""
"""The key of the partner webhook, used for agents that have none of their own (§5.1)."""


def new_id() -> str:
    """A fresh id in the style of RBM's (`MxQ7...`), unique across emulator restarts."""
    return "Mx" + uuid.uuid4().hex.upper()


def user_message(
    phone: str, action: dict[str, Any], suggestion_type: str = "REPLY"
) -> dict[str, Any]:
    """The UserMessage payload (§5.4) for what a person did on a phone: `{"text"}`,
    `{"postbackData", "text"}` (a tapped suggestion of `suggestion_type`, REPLY or ACTION),
    `{"location": {"latitude", "longitude"}}` or `{"userFile": {"payload", "thumbnail"?}}`.
    `sendTime` and `agentId` are added when posted."""
    payload: dict[str, Any] = {"senderPhoneNumber": phone, "messageId": new_id()}
    if "postbackData" in action:
        payload["suggestionResponse"] = {
            "postbackData": action["postbackData"],
            "text": action.get("text", ""),
            "type": suggestion_type,
        }
    elif "location" in action:
        point = action["location"]
        payload["location"] = {"latitude": point["latitude"], "longitude": point["longitude"]}
    elif "userFile" in action:
        payload["userFile"] = action["userFile"]
    elif "text" in action:
        payload["text"] = action["text"]
    else:
        raise ValueError(f"an RCS action has text, postbackData, location or userFile: {action}")
    return payload


def user_event(phone: str, event_type: str, message_id: str | None = None) -> dict[str, Any]:
    """A UserEvent payload (§5.4): DELIVERED or READ of the agent's message `message_id`; or
    IS_TYPING, SUBSCRIBE, UNSUBSCRIBE, without one."""
    payload = {"senderPhoneNumber": phone, "eventType": event_type, "eventId": new_id()}
    return payload | ({"messageId": message_id} if message_id is not None else {})


def server_event(phone: str, event_type: str, message_id: str) -> dict[str, Any]:
    """A ServerEvent payload (§5.4, §9): TTL_EXPIRATION_REVOKED or TTL_EXPIRATION_REVOKE_FAILED."""
    return {
        "phoneNumber": phone,
        "messageId": message_id,
        "eventType": event_type,
        "eventId": new_id(),
    }


def sign(client_token: str, payload: bytes) -> str:
    """The `X-Goog-Signature` of a decoded payload."""
    digest = hmac.new(client_token.encode(), payload, hashlib.sha512).digest()
    return base64.b64encode(digest).decode()


def rbm_waits(first: float, cap: float, total: float) -> Iterator[float]:
    """RBM's retry waits: doubling from `first`, capped at `cap`, until `total` is spent."""
    wait, spent = first, 0.0
    while spent + wait <= total:
        yield wait
        spent += wait
        wait = min(wait * 2, cap)


@dataclass
class WebhookPolicy:
    """How events reach webhooks; the emulator's faults hold one, adjustable at run time."""

    retry_waits: list[float] | None = None
    """Seconds before each retry, e.g. `[0, 0, 0]` in tests; None for RBM's schedule below."""
    first_wait: float = 1.0
    max_wait: float = 600.0
    give_up_after: float = 7 * 24 * 3600.0
    timeout: float = 5.0
    """Seconds an attempt may take (no value is documented; third parties use 5 s)."""
    duplicate_rate: float = 0.0
    """Probability that an event is posted twice (at-least-once delivery)."""
    queue: Literal["partner", "agent", "none"] = "partner"
    lenient_handshake: bool = False
    """Also accept a handshake answer that merely contains the secret (Google's Node samples)."""

    def waits(self) -> Iterator[float]:
        if self.retry_waits is not None:
            return iter(self.retry_waits)
        return rbm_waits(self.first_wait, self.max_wait, self.give_up_after)


@dataclass
class Webhook:
    url: str
    client_token: str
    verified: bool = False


@dataclass
class Attempt:
    """One POST to a webhook, for tests and the sandbox's own pages."""

    agent_id: str
    kind: Literal["handshake", "event"]
    pubsub_id: str
    status: int | None
    """The HTTP status, None when nothing came back in time."""
    waited: float
    """Seconds waited before this attempt (0 for a first attempt)."""


@dataclass
class _Delivery:
    agent_id: str
    payload: dict[str, Any]
    pubsub_id: str
    publish_time: str


class WebhookClient:
    """Posts events to the webhooks of RBM agents, as the platform does."""

    def __init__(
        self,
        policy: WebhookPolicy | None = None,
        *,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock | None = None,
    ) -> None:
        self.policy = policy or WebhookPolicy()
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.clock = clock or SystemClock()
        self.webhooks: dict[str, Webhook] = {}
        """By agent id; `PARTNER` for the partner webhook."""
        self.attempts: list[Attempt] = []
        self.dropped: list[dict[str, Any]] = []
        """Payloads given up on: retries exhausted, or no webhook configured."""
        self._lanes: dict[str, deque[_Delivery]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None

    def set_webhook(self, url: str, client_token: str, agent_id: str = PARTNER) -> None:
        """Configure (or replace) a webhook; it is verified before its next event."""
        self.webhooks[agent_id] = Webhook(url, client_token)

    def webhook_for(self, agent_id: str) -> Webhook | None:
        return self.webhooks.get(agent_id) or self.webhooks.get(PARTNER)

    async def verify(self, agent_id: str = PARTNER, waited: float = 0.0) -> bool:
        """The verification handshake (§5.2); True when the webhook answered the secret."""
        webhook = self.webhook_for(agent_id)
        if webhook is None:
            return False
        secret = secrets.token_urlsafe(24)
        body = {"clientToken": webhook.client_token, "secret": secret}
        status, text = await self._post(webhook.url, body, {})
        self.attempts.append(Attempt(agent_id, "handshake", "", status, waited))
        answered = text == secret or (self.policy.lenient_handshake and secret in text)
        webhook.verified = status == 200 and answered
        return webhook.verified

    def post(self, agent_id: str, payload: dict[str, Any]) -> None:
        """Queue an event for the agent's webhook; returns at once."""
        delivery = _Delivery(
            agent_id, payload, str(next(self._ids)), format_timestamp(self.clock.now())
        )
        copies = 2 if self.rng.random() < self.policy.duplicate_rate else 1
        queue = self.policy.queue
        lane = (
            PARTNER if queue == "partner" else agent_id if queue == "agent" else delivery.pubsub_id
        )
        self._lanes.setdefault(lane, deque()).extend([delivery] * copies)
        if lane not in self._workers:
            self._workers[lane] = asyncio.create_task(self._run(lane))

    @property
    def busy(self) -> bool:
        return bool(self._workers)

    async def join(self) -> None:
        """Wait until every queued event was delivered or dropped."""
        while self._workers:
            await asyncio.gather(*self._workers.values())

    async def close(self) -> None:
        workers = list(self._workers.values())
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._workers.clear()
        self._lanes.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self, lane: str) -> None:
        queue = self._lanes[lane]
        try:
            while queue:
                await self._deliver(queue[0])  # the head blocks the lane until done
                queue.popleft()
        finally:
            if not queue:
                self._lanes.pop(lane, None)
            self._workers.pop(lane, None)

    async def _deliver(self, delivery: _Delivery) -> None:
        data = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
        for waited in itertools.chain([0.0], self.policy.waits()):
            if waited:
                await self.sleep(waited)
            webhook = self.webhook_for(delivery.agent_id)
            if webhook is None:
                break
            if not webhook.verified and not await self.verify(delivery.agent_id, waited):
                continue
            envelope = {
                "message": {
                    "data": base64.b64encode(data).decode(),
                    "messageId": delivery.pubsub_id,
                    "publishTime": delivery.publish_time,
                    "attributes": {},
                },
                "subscription": f"projects/rbm-{delivery.agent_id}/subscriptions/rbm-webhook",
            }
            headers = {"X-Goog-Signature": sign(webhook.client_token, data)}
            status, _ = await self._post(webhook.url, envelope, headers)
            self.attempts.append(
                Attempt(delivery.agent_id, "event", delivery.pubsub_id, status, waited)
            )
            if status == 200:
                return
        self.dropped.append(delivery.payload)

    async def _post(
        self, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int | None, str]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        timeout = aiohttp.ClientTimeout(total=self.policy.timeout)
        try:
            async with self._session.post(
                url, json=body, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError):
            return None, ""
