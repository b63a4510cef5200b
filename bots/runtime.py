"""One process's runtime: the store, the flow versions, the worker, the timers, the outbox.

`causette serve` runs it in an aiohttp app; tests drive it step by step with a fake clock
(`run_until_idle`), so that no test sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bots.flow_versions import FlowVersions
from bots.handoff import ConversationChanges
from bots.outbox import LoggingSender, Sender, SenderHandler
from bots.retention import retention_loop
from bots.timers import TimerFirer
from bots.worker import BotProfile, Worker
from compliance.recipients import Invalid, dedupe
from compliance.retention import Retention
from fallback.dispatcher import Dispatcher, Handler
from flows.conversation import HttpCaller
from messaging.clock import Clock
from messaging.inbound import Inbound
from messaging.phone import Phone
from sessions.billing import Billing
from store.availability import log_failure
from store.base import Store
from store.events import inbound_event, start_event
from store.records import InboxEntry, InboxSource, NewInbound

log = logging.getLogger(__name__)

BILLING_SETTLE_PERIOD = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class StartReport:
    """What a bulk start did: conversations started, duplicates merged (R5), refused inputs."""

    started: int
    merged: int
    invalid: tuple[Invalid, ...]


@dataclass(frozen=True, slots=True)
class Tuning:
    concurrency: int = 16
    """Conversations handled at once by this process."""
    lease: timedelta = timedelta(seconds=30)
    poll: timedelta = timedelta(seconds=1)
    in_flight: int = 32
    """Outgoing messages handed to providers at once."""


def process_owner() -> str:
    """A name for this process in leases: host and pid, unique among live workers."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Runtime:
    def __init__(
        self,
        store: Store,
        bots: Mapping[str, BotProfile],
        flow_files: Mapping[str, Path],
        *,
        clock: Clock,
        sender: Sender | None = None,
        handler: Handler | None = None,
        http: HttpCaller | None = None,
        tuning: Tuning | None = None,
        owner: str | None = None,
        on_turn: Callable[[float], None] | None = None,
        billing: Billing | None = None,
        retention: Retention | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.tuning = tuning or Tuning()
        owner = owner or process_owner()
        self.flows = FlowVersions(store, clock)
        self.flow_files = dict(flow_files)
        self.worker = Worker(
            store,
            self.flows,
            bots,
            clock=clock,
            owner=owner,
            lease=self.tuning.lease,
            http=http,
            on_turn=on_turn,
            billing=billing,
        )
        self.billing = billing
        self.retention = retention
        self.timers = TimerFirer(store, clock)
        self.owner = owner
        if handler is None:
            # Without a router (tests, no providers configured): each message as it is.
            handler = SenderHandler(store, sender or LoggingSender(), clock, owner=owner)
        self.dispatcher = Dispatcher(
            store,
            handler,
            clock,
            owner=owner,
            lease=self.tuning.lease,
            in_flight=self.tuning.in_flight,
        )
        self._inbox_wake = asyncio.Event()
        told = {bot_id: profile.events for bot_id, profile in bots.items()}
        self.changes = ConversationChanges(store, clock, told)
        """Changes from outside the turns: a person's answers, releases, ends (the admin API)."""

    async def open(self) -> None:
        """Open the store and compile every bot's flow (`FlowError` lists every problem)."""
        await self.store.open()
        try:
            await self.flows.load(self.flow_files)
        except BaseException:
            await self.store.close()
            raise

    async def close(self) -> None:
        await self.store.close()

    def wake(self) -> None:
        """An event was appended by someone else (a webhook): look at the inbox now."""
        self._inbox_wake.set()

    async def start_conversation(
        self,
        bot_id: str,
        phone: str,
        *,
        key: str,
        contact: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        channel: str | None = None,
    ) -> tuple[InboxEntry, bool]:
        """Ask for a conversation to start; the same `key` twice starts it once."""
        event = start_event(dict(contact or {}), dict(variables or {}), channel or "")
        return await self._append(InboxSource.START, key, bot_id, phone, event)

    async def start_many(
        self,
        bot_id: str,
        recipients: Iterable[str],
        *,
        key: str,
        variables: Mapping[str, Any] | None = None,
        channel: str | None = None,
        per_minute: float | None = None,
    ) -> StartReport:
        """Start one conversation per recipient (a bulk send, a campaign): numbers are read as
        E.164 first and duplicates merged (R5: one message per recipient per send); `key`
        names the send, so running it again starts nobody twice. With `per_minute`, the
        first messages leave at that pace from now."""
        unique = dedupe(recipients)
        started = 0
        now = self.clock.now()
        for index, phone in enumerate(unique.phones):
            send_at = None
            if per_minute:
                send_at = now + timedelta(minutes=index / per_minute)
            event = start_event({}, dict(variables or {}), channel or "", send_at)
            _, new = await self._append(InboxSource.START, f"{key}:{phone}", bot_id, phone, event)
            started += new
        return StartReport(started, unique.merged, tuple(unique.invalid))

    async def receive(
        self, bot_id: str, phone: str, message: Inbound, *, source: InboxSource, provider_id: str
    ) -> tuple[InboxEntry, bool]:
        """Store an inbound message durably; a provider's retry (same id) is stored once."""
        return await self._append(source, provider_id, bot_id, phone, inbound_event(message))

    async def _append(
        self, source: InboxSource, provider_id: str, bot_id: str, phone: str, event: dict[str, Any]
    ) -> tuple[InboxEntry, bool]:
        inbound = NewInbound(
            source, provider_id, bot_id, Phone(phone).e164, event, self.clock.now()
        )
        entry, new = await self.store.append_inbound(inbound)
        self._inbox_wake.set()
        return entry, new

    async def run_until_idle(self) -> None:
        """Fire due timers, handle every pending event and send every queued message, until
        nothing is left to do at the clock's current time (tests, batch runs)."""
        while True:
            fired = await self.timers.fire_due()
            handled = await self.worker.drain()
            sent = await self.dispatcher.dispatch_due()
            if not (fired or handled or sent):
                if self.billing is not None:
                    await self.billing.settle(self.clock.now())
                return

    async def _wake_all_on(self, stop: asyncio.Event) -> None:
        """Idle loops wait on their wake events: wake them all at stop, so shutdown is quick."""
        await stop.wait()
        self._inbox_wake.set()
        self.worker.committed.set()

    async def _settle_billing(self, stop: asyncio.Event) -> None:
        """Bill the RCS messages nobody answered within 24 h (R22), once a minute."""
        assert self.billing is not None
        while not stop.is_set():
            try:
                await self.billing.settle(self.clock.now())
            except Exception as error:  # the store may be briefly unreachable
                log_failure(log, error, "settling RCS billing failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), BILLING_SETTLE_PERIOD.total_seconds())

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set: timers, `concurrency` workers, the dispatcher."""
        poll = self.tuning.poll
        # One loop polls the store for events other processes appended; the others wait to
        # be woken (by it, a webhook, a timer), so idle polling does not grow with them.
        tasks = [
            asyncio.create_task(self.worker.run(stop, self._inbox_wake, poll if i == 0 else None))
            for i in range(self.tuning.concurrency)
        ]
        tasks.append(asyncio.create_task(self.timers.run(stop, self._inbox_wake, poll)))
        tasks.append(asyncio.create_task(self.dispatcher.run(stop, self.worker.committed, poll)))
        tasks.append(asyncio.create_task(self._wake_all_on(stop)))
        if self.billing is not None:
            tasks.append(asyncio.create_task(self._settle_billing(stop)))
        if self.retention is not None:
            tasks.append(
                asyncio.create_task(retention_loop(self.store, self.retention, self.clock, stop))
            )
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
