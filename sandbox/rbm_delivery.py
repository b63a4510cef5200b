"""What the offline RBM platform does with a message once its API took it, and with what people
do on their phones: delivery to the phone book, ttl/expireTime expiry, DELIVERED and READ
receipts, user messages and user events, all posted to the agents as webhooks.

`RbmDelivery` is the platform behind the API: `sandbox.rbm.RbmEmulator` adds the HTTP front
(authentication, validation, idempotent ids, fault injection) and hands each accepted message to
`dispatch`. It is separate because none of this depends on HTTP: it runs on the phone book, the
injected `clock` and `sleep`, and the `WebhookClient`.

Time: delivery latency and webhook retry waits go through the injected `sleep`, so tests pass an
instant one and `await emulator.drain()`; ttl/expireTime expiry is checked against the injected
`clock` by a timer, or at once by `expire_due()` after a test moved a `FakeClock`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from messaging.clock import Clock
from messaging.phone import Phone
from sandbox.phonebook import Direction, Network, PhoneBook, PhoneMessage, SimulatedPhone
from sandbox.rbm_faults import RbmFaults
from sandbox.rbm_schema import format_timestamp
from sandbox.rbm_validation import all_suggestions
from sandbox.webhook_client import Sleep, WebhookClient, server_event, user_event, user_message

SUFFIX = "@rbm.goog"


def bare_agent_id(agent_id: str) -> str:
    """The agent id without `@rbm.goog`: both forms are accepted everywhere (rbm.md §0)."""
    return agent_id.removesuffix(SUFFIX)


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


class RbmDelivery:
    """The RBM platform between the agents' accepted messages and the phones (module doc)."""

    def __init__(
        self,
        phonebook: PhoneBook,
        agents: tuple[str, ...],
        faults: RbmFaults,
        clock: Clock,
        rng: random.Random,
        sleep: Sleep,
    ) -> None:
        """Takes the phone book's `rcs` actions: people's messages go to the agent that last
        wrote to them, else to the first agent."""
        self.phonebook = phonebook
        self.agents: list[str] = [bare_agent_id(agent) for agent in agents]
        self.faults = faults
        self.clock = clock
        self.rng = rng
        self.sleep = sleep
        self.webhooks = WebhookClient(
            self.faults.webhooks, rng=self.rng, sleep=sleep, clock=self.clock
        )
        self.messages: dict[tuple[str, str], SentMessage] = {}
        """By (agent id, messageId)."""
        self._by_phone_message: dict[str, SentMessage] = {}
        self._user_messages: dict[str, str] = {}  # user messageId -> phone book message id
        self._thread: dict[str, str] = {}  # phone -> agent that last wrote to it
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.Task[None]] = set()
        self._watch: asyncio.Queue[PhoneMessage] | None = None
        self._watcher: asyncio.Task[None] | None = None
        phonebook.on_action(Network.RCS.value, self._on_action)

    def add_agent(
        self, agent_id: str, webhook_url: str | None = None, client_token: str = ""
    ) -> None:
        """Register an agent, optionally with its webhook (verified before its first event)."""
        agent = bare_agent_id(agent_id)
        if agent not in self.agents:
            self.agents.append(agent)
        if webhook_url is not None:
            self.webhooks.set_webhook(webhook_url, client_token, agent)

    async def set_webhook(self, agent_id: str, url: str, client_token: str) -> bool:
        """Configure an agent's webhook now, as the console does: True if the handshake passed."""
        self.add_agent(agent_id, url, client_token)
        return await self.webhooks.verify(bare_agent_id(agent_id))

    def set_offline(self, phone: str, offline: bool = True) -> None:
        """Switch a phone off or on; on return, its queued messages are delivered (or expire)."""
        number = Phone(phone).e164
        (self.faults.offline.add if offline else self.faults.offline.discard)(number)
        self.flush()

    def read(self, agent_id: str, message_id: str) -> None:
        """The person reads a delivered message (as marking it read in the phone book does)."""
        sent = self.messages[(bare_agent_id(agent_id), message_id)]
        if sent.phone_message_id is not None:
            self.phonebook.mark(sent.phone_message_id, "read")
            self._on_read(sent)

    def user_activity(self, phone: str, event_type: str, agent_id: str | None = None) -> None:
        """The person is typing (IS_TYPING), or (un)subscribes: a user event without messageId."""
        if event_type not in ("IS_TYPING", "SUBSCRIBE", "UNSUBSCRIBE"):
            raise ValueError(f"{event_type!r} is not IS_TYPING, SUBSCRIBE or UNSUBSCRIBE")
        if phone not in self.phonebook.phones:
            raise KeyError(f"no phone {phone}")
        agent = bare_agent_id(agent_id or self._agent_for(phone))
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
            self.flush()
            while self._watch is not None and not self._watch.empty():
                await asyncio.sleep(0)
            if self._tasks:
                await asyncio.gather(*self._tasks)
            elif self.webhooks.busy:
                await self.webhooks.join()
            else:
                return

    def watch_phonebook(self) -> None:
        """Follow the phone book, so that a message marked read there posts its READ event."""
        self._watch = self.phonebook.watch()
        self._watcher = asyncio.create_task(self._watch_reads(self._watch))

    async def close(self) -> None:
        tasks = [*self._tasks, *self._timers, *([self._watcher] if self._watcher else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._watch is not None:
            self.phonebook.unwatch(self._watch)
        self._watch, self._watcher = None, None
        await self.webhooks.close()

    def dispatch(self, sent: SentMessage) -> None:
        """Take a message the API accepted: its phone's thread is now its agent's, and it is
        delivered after the latency (or queued while the phone is offline)."""
        self.messages[(sent.agent_id, sent.message_id)] = sent
        self._thread[sent.phone] = sent.agent_id
        self._spawn(self._deliver_later(sent))

    def agent_read(self, message_id: str) -> None:
        """An agent's READ event: the person's message with this `messageId` shows as read."""
        read = self._user_messages.get(message_id)
        if read is not None:
            self.phonebook.mark(read, "read")

    def flush(self) -> None:
        """Deliver the queued messages of the phones that are not offline."""
        for sent in list(self.messages.values()):
            if sent.state == "queued" and sent.phone not in self.faults.offline:
                self._try_deliver(sent)

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
        agent = bare_agent_id(body.get("agentId") or self._agent_for(phone.number))
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
