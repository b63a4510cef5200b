"""Durable timers: due timers become inbox events, once.

`after:` transitions, reminders and deadlines are rows in the store, not tasks in memory
(Rasa's reminders die with a deploy: DESIGN.md "Mistakes our peers made"). A due timer is
appended to its conversation's inbox (idempotent by the timer's id) and removed in one unit,
so it fires once even when several processes poll, and fires after a restart that happened
between arming and firing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from messaging.clock import Clock
from store.availability import log_failure
from store.base import Store
from store.events import timer_event
from store.records import InboxSource, NewInbound

log = logging.getLogger(__name__)


class TimerFirer:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.fired = 0

    async def fire_due(self, limit: int = 100) -> int:
        """Turn every timer due now into an inbox event; returns how many this call fired."""
        fired = 0
        while True:
            now = self.clock.now()
            due = await self.store.due_timers(now, limit)
            for timer in due:
                event = NewInbound(
                    source=InboxSource.TIMER,
                    provider_id=timer.id,
                    bot_id=timer.bot_id,
                    phone=timer.phone,
                    event=timer_event(timer.conversation_id, timer.key),
                    received_at=now,
                )
                fired += await self.store.fire_timer(timer, event)
            if len(due) < limit:
                break
        self.fired += fired
        return fired

    async def lag(self) -> timedelta:
        """How late the most overdue timer is (zero when none is due)."""
        due = await self.store.next_timer_due()
        late = self.clock.now() - due if due is not None else timedelta(0)
        return max(late, timedelta(0))

    async def run(self, stop: asyncio.Event, wake: asyncio.Event, poll: timedelta) -> None:
        """Fire due timers until `stop`; `wake` is set whenever one fired, for the worker."""
        while not stop.is_set():
            try:
                if await self.fire_due():
                    wake.set()
            except Exception as error:  # the store may be briefly unreachable: keep the loop alive
                log_failure(log, error, "firing due timers failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll.total_seconds())
