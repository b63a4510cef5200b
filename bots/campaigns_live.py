"""A campaign run in the foreground (`causette campaigns send`): the deployment's runtime (the
providers `causette serve` uses) handles the conversations the runner starts, under a live
progress bar, until the campaign is done and its first messages are sent.

Ctrl-C (or SIGTERM) stops the runner between two recipients and releases its lease: the
campaign stays `running`, and `causette campaigns send --id ID` (or `causette serve`, or
`causette campaigns run`) takes it up where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from datetime import timedelta

import aiohttp
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bots.campaigns import sending_rules
from bots.campaigns_progress import Progress as CampaignProgress
from bots.campaigns_progress import progress
from bots.campaigns_runner import CampaignRunner
from bots.config import Settings
from bots.http import AiohttpCaller
from bots.runtime import Runtime
from bots.serve import runtime_from_settings
from store.campaigns_records import CampaignStatus
from store.records import OutboxStatus

REFRESH = timedelta(seconds=0.5)
DRAIN_STALL = timedelta(seconds=10)
"""After the last start, how long the outbox may stay the same, beyond the dispatcher's lease
(the messages a killed process was sending come back once it expires), before the command
gives the rest to `causette serve` (messages held for later, a provider down)."""
_SENDING = (OutboxStatus.QUEUED, OutboxStatus.SENDING)


def counts_line(p: CampaignProgress) -> str:
    """`started 120 · opted out 2 · red-listed 1 · pending 877`, and the wait if any."""
    line = (
        f"started {p.started} · opted out {p.opted_out} · red-listed {p.red_listed} · "
        f"pending {p.pending}"
    )
    until = p.campaign.waiting_until
    if until is not None:
        line += f" · waiting for the marketing hours until {until.isoformat(timespec='minutes')}"
    return line


async def run_live(
    settings: Settings, campaign_id: str, *, bar: bool, echo: Callable[[str], None]
) -> tuple[CampaignProgress | None, bool]:
    """Run the campaign in this process until it stops; its progress at the end, and whether
    it was interrupted (Ctrl-C, SIGTERM)."""
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, interrupted.set)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as providers:
            caller = AiohttpCaller()
            await caller.__aenter__()
            try:
                runtime = runtime_from_settings(
                    settings, os.environ, providers=providers, http=caller
                )
                await runtime.open()
                try:
                    await _run(runtime, settings, campaign_id, interrupted, bar, echo)
                    return await progress(runtime.store, campaign_id, runtime.clock.now()), (
                        interrupted.is_set()
                    )
                finally:
                    await runtime.close()
            finally:
                await caller.__aexit__(None, None, None)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


async def _run(
    runtime: Runtime,
    settings: Settings,
    campaign_id: str,
    interrupted: asyncio.Event,
    bar: bool,
    echo: Callable[[str], None],
) -> None:
    stop_runtime = asyncio.Event()
    working = asyncio.create_task(runtime.run(stop_runtime))
    runner = CampaignRunner(runtime, sending_rules(settings), stop=interrupted)
    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[counts]}"),
    )
    with Progress(*columns, console=console, disable=not (bar and console.is_terminal)) as shown:
        task = shown.add_task(f"campaign {campaign_id}", total=None, counts="")

        async def refresh() -> None:
            while True:
                p = await progress(runtime.store, campaign_id, runtime.clock.now())
                if p is not None:
                    done = p.total - p.pending
                    shown.update(task, total=p.total, completed=done, counts=counts_line(p))
                await asyncio.sleep(REFRESH.total_seconds())

        # Counting costs a scan of the campaign's rows: only for a bar someone looks at.
        refreshing = asyncio.create_task(refresh() if not shown.disable else asyncio.sleep(0))
        try:
            await _take_when_free(runner, campaign_id, interrupted, echo)
            if not interrupted.is_set():
                await _drain(runtime, interrupted)
        finally:
            refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refreshing
            stop_runtime.set()
            await working


async def _take_when_free(
    runner: CampaignRunner,
    campaign_id: str,
    interrupted: asyncio.Event,
    echo: Callable[[str], None],
) -> None:
    """Run the campaign; while another runner's lease holds it (one that was killed: its lease
    runs out), wait for it."""
    told = False
    while not interrupted.is_set():
        if await runner.run(campaign_id) is not None:
            return
        campaign = await runner.store.get_campaign(campaign_id)
        if campaign is None or campaign.status is not CampaignStatus.RUNNING:
            return  # paused, cancelled, done, or not due: nothing to run
        if not told:
            echo(f"campaign {campaign_id} is held by {campaign.runner}; waiting for its lease")
            told = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(interrupted.wait(), 1.0)


async def _drain(runtime: Runtime, interrupted: asyncio.Event) -> None:
    """Wait until the started conversations are handled and their messages sent, or nothing
    moved for a lease and `DRAIN_STALL` (the rest is `causette serve`'s)."""
    last, still = -1, 0.0
    patience = (runtime.tuning.lease + DRAIN_STALL).total_seconds()
    while not interrupted.is_set():
        depth = await runtime.store.outbox_depth()
        waiting = await runtime.store.inbox_depth() + sum(depth.get(s, 0) for s in _SENDING)
        if waiting == 0:
            return
        still = still + REFRESH.total_seconds() if waiting == last else 0.0
        if still >= patience:
            return
        last = waiting
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(interrupted.wait(), REFRESH.total_seconds())
