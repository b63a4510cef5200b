"""Draining the outbox: claim what is due, hand each entry to the router, at most `in_flight`
at once.

The store gives at most one entry per conversation at a time (the head of its queue), oldest
first: a conversation's messages leave in order, one after the other, while conversations are
served side by side, none waiting behind a busier one. Sends run as their own tasks; a slow
provider fills the in-flight slots, never the webhooks, which run on other tasks.

R4 is checked here, once for every handler: an entry claimed after its 24 h validity ends
`expired` and is never attempted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Literal, Protocol

from compliance.validity import VALIDITY, is_expired
from messaging.clock import Clock
from store.availability import log_failure
from store.base import LeaseLost, Store
from store.records import OutboxEntry, OutboxStatus

log = logging.getLogger(__name__)


class Handler(Protocol):
    async def handle(self, entry: OutboxEntry) -> None:
        """Act on an entry this dispatcher claimed (`sending`, under its lease), and record
        the outcome with `Store.mark_outbound(..., owner=...)`."""
        ...


class Dispatcher:
    def __init__(
        self,
        store: Store,
        handler: Handler,
        clock: Clock,
        *,
        owner: str,
        lease: timedelta,
        in_flight: int = 32,
    ) -> None:
        if in_flight < 1:
            raise ValueError("in_flight must be at least 1")
        self.store = store
        self.handler = handler
        self.clock = clock
        self.owner = owner
        self.lease = lease
        self.in_flight = in_flight

    async def dispatch_due(
        self, wake: asyncio.Event | None = None, poll: timedelta | None = None
    ) -> int:
        """Act on every entry due now, until none is left; returns how many were claimed.

        A slot freed claims again at once, so the next message of a conversation follows the
        previous one as soon as it was handed over. With free slots, `wake` (set when a turn
        queued messages) or `poll` passing also claims again: a send held by a slow provider
        (up to its timeout) must not hold back every message that falls due meanwhile
        (benchmarks/chaos.py --scenario rbm-faults measured 8 s from queue to claim without
        this).
        """
        claimed = 0
        running: set[asyncio.Task[None]] = set()
        # One task waits for `wake` until it is set, however many sends finish meanwhile.
        woken: asyncio.Task[Literal[True]] | None = None
        timeout = None if poll is None else poll.total_seconds()
        try:
            while True:
                if woken is not None and woken.done() and wake is not None:
                    wake.clear()  # seen: the claim below takes what it announced
                    woken = None
                room = self.in_flight - len(running)
                if room > 0:
                    batch = await self.store.claim_outbound(
                        self.owner, self.clock.now(), self.lease, room
                    )
                    claimed += len(batch)
                    running.update(asyncio.create_task(self._handle(entry)) for entry in batch)
                if not running:
                    return claimed
                if len(running) == self.in_flight or (wake is None and poll is None):
                    _, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    continue
                if wake is not None and woken is None:
                    woken = asyncio.ensure_future(wake.wait())
                waiting = running if woken is None else {*running, woken}
                await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                running = {task for task in running if not task.done()}
        finally:
            # Cancelled (shutdown): the claimed entries' leases expire and another takes them.
            if woken is not None:
                woken.cancel()
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _handle(self, entry: OutboxEntry) -> None:
        try:
            if is_expired(entry.valid_since, self.clock.now()):
                hours = VALIDITY.total_seconds() / 3600
                await self.store.mark_outbound(
                    entry.key,
                    OutboxStatus.EXPIRED,
                    self.clock.now(),
                    detail=f"not delivered within {hours:g} h of being queued (R4)",
                    owner=self.owner,
                )
                return
            await self.handler.handle(entry)
        except LeaseLost:
            log.info("outbox %s was settled meanwhile; left as it is", entry.key)
        except Exception:
            # A bug or the store failing: the lease expires and the entry is tried again.
            log.exception("outbox %s: handling failed; it will be tried again", entry.key)

    async def run(self, stop: asyncio.Event, wake: asyncio.Event, poll: timedelta) -> None:
        while not stop.is_set():
            wake.clear()
            try:
                await self.dispatch_due(wake, poll)
            except Exception as error:  # the store may be briefly unreachable: keep the loop alive
                log_failure(log, error, "dispatching the outbox failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), poll.total_seconds())
