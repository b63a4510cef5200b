"""Draining the outbox: each queued message handed to a sender, its status recorded.

Until the channels land (RBM and smsmode clients, fallback router), the sender is pluggable:
tests record what would be sent, `causette serve` logs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from messaging.clock import Clock
from messaging.phone import Phone
from store.base import Store
from store.records import OutboxEntry, OutboxStatus

log = logging.getLogger(__name__)


class Sender(Protocol):
    async def send(self, entry: OutboxEntry) -> str:
        """Send one message; returns the provider's message id. Raises on failure."""
        ...

    def expected_provider_id(self, entry: OutboxEntry) -> str | None:
        """The provider id `send` will return, when it is known before sending (RBM ids
        derive from the outbox key): recorded first, so that a receipt racing the send's
        answer finds its message."""
        ...


@dataclass
class RecordingSender:
    """Keeps what it was asked to send, in order: the in-process sender of tests."""

    sent: list[OutboxEntry] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    """Set at each message, for tests that wait for the running loops' outcome."""

    async def send(self, entry: OutboxEntry) -> str:
        self.sent.append(entry)
        self.arrived.set()
        return f"recorded-{len(self.sent)}"

    def expected_provider_id(self, entry: OutboxEntry) -> str | None:
        return None


class LoggingSender:
    """Logs each message (phone masked) instead of sending it: `causette serve` before the
    channels exist."""

    async def send(self, entry: OutboxEntry) -> str:
        log.info("to %s on %s: %s", Phone(entry.phone).masked, entry.channel, entry.content)
        return f"log-{entry.key}"

    def expected_provider_id(self, entry: OutboxEntry) -> str | None:
        return None


class Dispatcher:
    def __init__(
        self, store: Store, sender: Sender, clock: Clock, *, owner: str, lease: timedelta
    ) -> None:
        self.store = store
        self.sender = sender
        self.clock = clock
        self.owner = owner
        self.lease = lease

    async def dispatch_due(self, limit: int = 100) -> int:
        """Send every due entry; returns how many were handed to the sender."""
        handled = 0
        while batch := await self.store.claim_outbound(
            self.owner, self.clock.now(), self.lease, limit
        ):
            for entry in batch:
                await self._send(entry)
            handled += len(batch)
        return handled

    async def _send(self, entry: OutboxEntry) -> None:
        expected = self.sender.expected_provider_id(entry)
        if expected is not None:
            await self.store.mark_outbound(
                entry.key, OutboxStatus.SENDING, self.clock.now(), provider_id=expected
            )
        try:
            provider_id = await self.sender.send(entry)
        except Exception as error:  # any sender failure is recorded on the entry
            log.warning("outbox %s failed: %s", entry.key, error)
            await self.store.mark_outbound(
                entry.key, OutboxStatus.FAILED, self.clock.now(), detail=str(error)
            )
            return
        stored = await self.store.get_outbound(entry.key)
        if stored is not None and stored.status.final:
            return  # a receipt (DELIVERED, READ) already arrived: `sent` would step back
        await self.store.mark_outbound(
            entry.key, OutboxStatus.SENT, self.clock.now(), provider_id=provider_id
        )

    async def run(self, stop: asyncio.Event, wake: asyncio.Event, poll: timedelta) -> None:
        while not stop.is_set():
            wake.clear()
            try:
                await self.dispatch_due()
            except Exception:  # the store may be briefly unreachable: keep the loop alive
                log.exception("dispatching the outbox failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), poll.total_seconds())
