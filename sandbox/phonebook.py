"""The simulated phones the emulators deliver to, and what their owners do.

The RBM and smsmode emulators write each message they deliver into the phone book; the web
phone simulator shows it and, when a person types, taps a chip or shares a location, hands
the action back to the emulator of that phone's channel, which sends the bot a real webhook.
Everything stays in memory: the sandbox is for demos, tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from messaging.phone import Phone


class Network(StrEnum):
    RCS = "rcs"  # RCS-capable: RBM messages arrive as rich content
    SMS = "sms"  # SMS only: RBM answers 404 for it, as for a phone without RCS


class Direction(StrEnum):
    TO_PHONE = "to_phone"  # from a bot
    FROM_PHONE = "from_phone"  # typed, tapped or shared by the person


@dataclass
class PhoneMessage:
    id: str
    phone: str
    direction: Direction
    channel: str
    """`rcs` or `sms`."""
    body: dict[str, Any]
    """RCS: the RBM `contentMessage`; SMS: `{"text", "segments", "encoding", "from"}`;
    from the phone: `{"text"}`, `{"text", "postbackData"}`, `{"location": {...}}`."""
    at: datetime
    status: str = "delivered"
    """For messages to the phone: `delivered`, then `read` once the person looked."""


@dataclass
class SimulatedPhone:
    number: str
    """E.164."""
    network: Network
    name: str = ""
    messages: list[PhoneMessage] = field(default_factory=list)


UserAction = Callable[[SimulatedPhone, dict[str, Any]], Awaitable[None]]
"""What an emulator does when a person acts on one of its phones: send the bot a webhook."""


class PhoneBook:
    def __init__(self) -> None:
        self.phones: dict[str, SimulatedPhone] = {}
        self._ids = itertools.count(1)
        self._actions: dict[str, UserAction] = {}
        self._watchers: set[asyncio.Queue[PhoneMessage]] = set()

    def add(self, number: str, network: Network, name: str = "") -> SimulatedPhone:
        phone = SimulatedPhone(Phone(number).e164, network, name)
        self.phones[phone.number] = phone
        return phone

    def get(self, number: str) -> SimulatedPhone | None:
        return self.phones.get(Phone(number).e164)

    def on_action(self, channel: str, action: UserAction) -> None:
        """The emulator of `channel` (`rcs` or `sms`) takes the actions of people."""
        self._actions[channel] = action

    def deliver(self, number: str, channel: str, body: dict[str, Any]) -> PhoneMessage:
        """A message reaches a phone (the emulator decided it is delivered)."""
        return self._record(number, Direction.TO_PHONE, channel, body)

    def mark(self, message_id: str, status: str) -> None:
        for phone in self.phones.values():
            for message in phone.messages:
                if message.id == message_id:
                    message.status = status
                    self._publish(message)
                    return

    async def act(self, number: str, body: dict[str, Any]) -> PhoneMessage:
        """A person types, taps a chip or shares a location on a phone."""
        phone = self.phones[Phone(number).e164]
        channel = self._reply_channel(phone)
        action = self._actions.get(channel)
        if action is None:  # checked first: a refused action leaves nothing on the phone
            raise LookupError(f"no emulator takes {channel} actions")
        message = self._record(phone.number, Direction.FROM_PHONE, channel, body)
        await action(phone, body)
        return message

    @staticmethod
    def _reply_channel(phone: SimulatedPhone) -> str:
        """A person answers in the thread the last message came in: an RCS phone that got an
        SMS (a fallback) answers by SMS; an SMS-only phone always does."""
        if phone.network is Network.SMS:
            return Network.SMS.value
        for message in reversed(phone.messages):
            if message.direction is Direction.TO_PHONE:
                return message.channel
        return Network.RCS.value

    def watch(self) -> asyncio.Queue[PhoneMessage]:
        """A queue of every new or changed message (for the simulator's live page)."""
        queue: asyncio.Queue[PhoneMessage] = asyncio.Queue()
        self._watchers.add(queue)
        return queue

    def unwatch(self, queue: asyncio.Queue[PhoneMessage]) -> None:
        self._watchers.discard(queue)

    def _record(
        self, number: str, direction: Direction, channel: str, body: dict[str, Any]
    ) -> PhoneMessage:
        phone = self.phones[Phone(number).e164]
        message = PhoneMessage(
            f"pm{next(self._ids)}", phone.number, direction, channel, body, datetime.now(UTC)
        )
        phone.messages.append(message)
        self._publish(message)
        return message

    def _publish(self, message: PhoneMessage) -> None:
        for queue in self._watchers:
            queue.put_nowait(message)
