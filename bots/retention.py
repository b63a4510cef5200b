"""The retention job (R32): message history leaves the active store after its active period,
and the archive is deleted after its own; `causette serve` runs it daily, `causette retention
run` on demand."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from compliance.retention import Retention
from messaging.clock import Clock
from store.base import Store

log = logging.getLogger(__name__)

BATCH = 1000
PERIOD = timedelta(days=1)


async def run_retention(
    store: Store, archive_cut: datetime, purge_cut: datetime
) -> tuple[int, int]:
    """Archive then purge, batch by batch, until nothing is left; (archived, deleted). The
    business events told by webhook go with the active period: they repeat what the history
    keeps, so nothing of them is archived."""
    moved = purged = 0
    while count := await store.archive_before(archive_cut, BATCH):
        moved += count
    while count := await store.purge_archive_before(purge_cut, BATCH):
        purged += count
    purged += await store.purge_business_events(archive_cut)
    return moved, purged


async def retention_loop(
    store: Store, policy: Retention, clock: Clock, stop: asyncio.Event
) -> None:
    """Once a day until `stop`; a failure is logged and tried again the next day."""
    while not stop.is_set():
        now = clock.now()
        try:
            moved, purged = await run_retention(
                store, policy.archive_cutoff(now), policy.purge_cutoff(now)
            )
            log.info("retention: %d record(s) archived, %d deleted", moved, purged)
        except Exception:
            log.exception("retention run failed; trying again tomorrow")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PERIOD.total_seconds())
