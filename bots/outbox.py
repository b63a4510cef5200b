"""Senders that stand in for the providers: tests record what would be sent, `causette serve`
without providers logs it. With providers, `fallback.router.Router` routes and sends instead.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
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


class LoggingSender:
    """Logs each message (phone masked) instead of sending it: `causette serve` before the
    channels exist."""

    async def send(self, entry: OutboxEntry) -> str:
        log.info("to %s on %s: %s", Phone(entry.phone).masked, entry.channel, entry.content)
        return f"log-{entry.key}"


class SenderHandler:
    """Hands each claimed entry to a `Sender` as it is, with no routing nor retry: the
    dispatcher's handler for tests and for `causette serve` without providers."""

    def __init__(self, store: Store, sender: Sender, clock: Clock, *, owner: str) -> None:
        self.store = store
        self.sender = sender
        self.clock = clock
        self.owner = owner

    async def handle(self, entry: OutboxEntry) -> None:
        try:
            provider_id = await self.sender.send(entry)
        except Exception as error:  # any sender failure is recorded on the entry
            log.warning("outbox %s failed: %s", entry.key, error)
            await self._mark(entry, OutboxStatus.FAILED, detail=str(error))
            return
        await self._mark(entry, OutboxStatus.SENT, provider_id=provider_id, route=entry.channel)

    async def _mark(
        self,
        entry: OutboxEntry,
        status: OutboxStatus,
        *,
        detail: str | None = None,
        provider_id: str | None = None,
        route: str | None = None,
    ) -> None:
        await self.store.mark_outbound(
            entry.key,
            status,
            self.clock.now(),
            detail=detail,
            provider_id=provider_id,
            route=route,
            owner=self.owner,
        )
