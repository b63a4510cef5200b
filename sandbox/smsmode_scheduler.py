"""The clock of the smsmode emulator: everything it does later (a delivery after its latency, a
report, a callback retry, the end of a message's validity) is a job of the `Scheduler`, due at
an instant of the injected `Clock`.

In the background the scheduler runs each job when it is due; `drain()` runs them at once, in
due order, moving a `FakeClock` to each job's instant, so that tests see the real schedule
without sleeping. Separate from what the jobs do: it knows neither SMS nor callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from messaging.clock import Clock, FakeClock

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class Scheduler:
    """Jobs due at instants of `clock`, run in the background or by `drain()`."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._queue: list[tuple[datetime, int, Job]] = []
        self._order = itertools.count()
        self._wake: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    def at(self, due: datetime, job: Job) -> None:
        heapq.heappush(self._queue, (due, next(self._order), job))
        if self._wake is not None:
            self._wake.set()

    def after(self, delay: timedelta, job: Job) -> None:
        self.at(self.clock.now() + delay, job)

    def start(self) -> None:
        """Run jobs when they are due, in the background, until `stop()`."""
        if self._runner is None:
            self._wake = asyncio.Event()
            self._runner = asyncio.create_task(self._run(self._wake))

    async def stop(self) -> None:
        """Stop the background runner and cancel the jobs it runs; queued jobs stay queued."""
        tasks = [task for task in (self._runner, *self._running) if task is not None]
        self._runner, self._wake = None, None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self, within: timedelta | None = None) -> int:
        """Run the jobs that are due, and those they schedule in turn, in due order, after the
        ones running in the background; returns how many it ran.

        With a `FakeClock`, every job due within `within` from now (every job when None) is
        due: the clock moves to each job's instant before the job runs. With another clock,
        only jobs already due run: nothing runs early.
        """
        fake = isinstance(self.clock, FakeClock)
        horizon = self.clock.now() + within if fake and within is not None else None
        ran = 0
        while True:
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)
                continue
            if not self._queue:
                return ran
            due = self._queue[0][0]
            if due > ((horizon or due) if fake else self.clock.now()):
                return ran
            job = heapq.heappop(self._queue)[2]
            if isinstance(self.clock, FakeClock) and due > self.clock.now():
                self.clock.set(due)
            await _run_job(job)
            ran += 1

    async def _run(self, wake: asyncio.Event) -> None:
        while True:
            wake.clear()
            wait = (self._queue[0][0] - self.clock.now()).total_seconds() if self._queue else None
            if wait is None or wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), wait)
                continue
            task = asyncio.create_task(_run_job(heapq.heappop(self._queue)[2]))
            self._running.add(task)
            task.add_done_callback(self._running.discard)


async def _run_job(job: Job) -> None:
    try:
        await job()
    except Exception:  # one failing job must not stop the others
        log.exception("smsmode emulator: a scheduled job failed")
