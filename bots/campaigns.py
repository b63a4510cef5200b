"""Campaigns over time (docs/campaigns.md): which are due, pause / resume / cancel, and the loop
`causette serve` runs, one task per campaign being run.

A campaign is created by bots/campaigns_import.py (`create_campaign`), run by
bots/campaigns_runner.py (`CampaignRunner`), and followed by bots/campaigns_progress.py
(`progress`); the admin API and the command line call those same functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import datetime, timedelta

from bots.campaigns_runner import CampaignRunner, SendingRules
from bots.config import Settings
from bots.runtime import Runtime
from store.base import Store
from store.campaigns_records import Campaign, CampaignStatus

log = logging.getLogger(__name__)

LOOK_PERIOD = timedelta(seconds=5)
"""How often `run_campaigns` looks for campaigns that fell due (or whose runner died)."""
_ATTEMPTS = 5

_ACTIONS: dict[str, tuple[frozenset[CampaignStatus], CampaignStatus]] = {
    "pause": (
        frozenset({CampaignStatus.SCHEDULED, CampaignStatus.RUNNING}),
        CampaignStatus.PAUSED,
    ),
    "resume": (frozenset({CampaignStatus.PAUSED}), CampaignStatus.SCHEDULED),
    "cancel": (
        frozenset(
            {
                CampaignStatus.IMPORTING,
                CampaignStatus.SCHEDULED,
                CampaignStatus.RUNNING,
                CampaignStatus.PAUSED,
            }
        ),
        CampaignStatus.CANCELLED,
    ),
}
"""Each action: the statuses it applies to, and the status it gives. An import is not paused
(it would resume half-written): cancel it, or start it again with the same id."""


def sending_rules(settings: Settings) -> dict[str, SendingRules]:
    """Each bot's business and the deployment's gate (its quiet hours), by bot id."""
    policy = settings.compliance.gate()
    return {bot.id: SendingRules(bot.business(settings), policy) for bot in settings.bots}


def is_due(campaign: Campaign, now: datetime) -> bool:
    """Scheduled and its time came, or running (possibly left so by a runner that died)."""
    if campaign.status is CampaignStatus.RUNNING:
        return True
    return campaign.status is CampaignStatus.SCHEDULED and campaign.send_at <= now


async def run_due_campaigns(runner: CampaignRunner) -> int:
    """Run every campaign due now, one after the other, each until it stops; how many ran."""
    ran = 0
    for campaign in await runner.store.list_campaigns():
        if is_due(campaign, runner.clock.now()) and await runner.run(campaign.id) is not None:
            ran += 1
    return ran


async def run_campaigns(
    runtime: Runtime,
    rules: dict[str, SendingRules],
    stop: asyncio.Event,
    period: timedelta = LOOK_PERIOD,
) -> None:
    """Until `stop`: every `period`, start a task for each campaign due and not already run
    here (`causette serve`). At `stop`, each runner leaves its campaign resumable."""
    runner = CampaignRunner(runtime, rules, stop=stop)
    tasks: dict[str, asyncio.Task[Campaign | None]] = {}
    try:
        while not stop.is_set():
            try:
                for campaign in await runtime.store.list_campaigns():
                    busy = campaign.id in tasks and not tasks[campaign.id].done()
                    if not busy and runner.may_take(campaign, runtime.clock.now()):
                        tasks[campaign.id] = asyncio.create_task(runner.run(campaign.id))
            except Exception:  # the store may be briefly unreachable: next round
                log.exception("looking for due campaigns failed; trying again")
            for campaign_id, task in list(tasks.items()):
                if task.done():
                    del tasks[campaign_id]
                    if not task.cancelled() and task.exception() is not None:
                        log.error("campaign %s stopped", campaign_id, exc_info=task.exception())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period.total_seconds())
    finally:
        await asyncio.gather(*tasks.values(), return_exceptions=True)


async def set_status(store: Store, campaign_id: str, action: str, now: datetime) -> Campaign:
    """`pause` (a scheduled or running campaign: a running one stops between two
    batches), `resume` (a paused one: it goes on from its pending recipients) or `cancel`
    (any not finished, an import too: it starts nobody more). `ValueError` when the campaign
    is unknown or its status does not allow it."""
    before, after = _ACTIONS[action]
    for _ in range(_ATTEMPTS):
        campaign = await store.get_campaign(campaign_id)
        if campaign is None:
            raise ValueError(f"no campaign {campaign_id!r}")
        if campaign.status not in before:
            raise ValueError(
                f"campaign {campaign_id!r} is {campaign.status.value}: cannot {action}"
            )
        changed = replace(
            campaign,
            status=after,
            runner=None,
            lease_until=None,
            waiting_until=None,
            version=campaign.version + 1,
            updated_at=now,
        )
        if await store.update_campaign(changed):
            return changed
    raise ValueError(f"campaign {campaign_id!r} keeps changing; try again")
