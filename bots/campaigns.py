"""Running campaigns (`causette campaigns`, bots/cli_campaigns.py): a campaign due (its
`send_at` passed) starts one conversation of its bot per recipient, through
`Runtime.start_many` under the key `campaign:{id}`, so that running it again (after a crash,
or by two runners at once) starts nobody twice (R5 too: numbers are merged once in E.164).

A campaign's starts are all appended to the inbox at once, paced by `per_minute` through their
`send_at`; it is `done` as soon as they are. So pausing or cancelling means something only
before it runs: a paused or cancelled campaign starts nobody, but once `done` its messages are
queued (quiet hours and the other sending rules still hold them at the send gate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from bots.runtime import Runtime
from compliance.recipients import dedupe
from messaging.phone import InvalidPhoneError, Phone
from store.base import Store
from store.campaigns_records import Campaign, CampaignStatus

_ATTEMPTS = 5
"""Compare-and-set retries when recording a run's outcome."""


def campaign_key(campaign_id: str) -> str:
    """The send's key: a recipient's start is `campaign:{id}:{phone}` in the inbox."""
    return f"campaign:{campaign_id}"


def is_due(campaign: Campaign, now: datetime) -> bool:
    """Running (left so by a crash: it runs again), or scheduled and its time has come."""
    if campaign.status is CampaignStatus.RUNNING:
        return True
    return campaign.status is CampaignStatus.SCHEDULED and campaign.send_at <= now


async def run_due_campaigns(runtime: Runtime, now: datetime) -> int:
    """Run every campaign due at `now`; how many ran."""
    ran = 0
    for campaign in await runtime.store.list_campaigns():
        if is_due(campaign, now) and await run_campaign(runtime, campaign, now):
            ran += 1
    return ran


async def recipients_of(store: Store, campaign: Campaign) -> list[tuple[str, Mapping[str, Any]]]:
    """The numbers as given and each one's variables (the common ones, a row's over them), in
    order: the list's members (by number), or the campaign's own rows."""
    if campaign.list_name is not None:
        members = await store.contacts(campaign.list_name)
        return [(member.phone, dict(campaign.vars)) for member in members]
    return [(row.phone, {**campaign.vars, **row.vars}) for row in campaign.recipients]


async def run_campaign(runtime: Runtime, campaign: Campaign, now: datetime) -> bool:
    """Start a due campaign's recipients and mark it done; False when it changed meanwhile
    (paused, cancelled, or taken by another runner)."""
    store = runtime.store
    if campaign.status is CampaignStatus.SCHEDULED:
        running = _next(campaign, now, status=CampaignStatus.RUNNING)
        if not await store.update_campaign(running):
            return False
        campaign = running
    elif campaign.status is not CampaignStatus.RUNNING:
        return False
    rows = await recipients_of(store, campaign)
    found = dedupe(phone for phone, _ in rows)
    variables: dict[str, Mapping[str, Any]] = {}
    for raw, row_vars in rows:
        try:
            variables.setdefault(Phone(raw).e164, row_vars)  # R5: the first row wins
        except InvalidPhoneError:
            continue
    # One bulk start per run of recipients sharing their variables (a list: one run).
    runs: list[tuple[Mapping[str, Any], list[str]]] = []
    for phone in found.phones:
        if runs and runs[-1][0] == variables[phone]:
            runs[-1][1].append(phone)
        else:
            runs.append((variables[phone], [phone]))
    key = campaign_key(campaign.id)
    for run_vars, phones in runs:
        await runtime.start_many(
            campaign.bot_id, phones, key=key, variables=run_vars, per_minute=campaign.per_minute
        )
    counts = {"started": len(found.phones), "merged": found.merged, "invalid": len(found.invalid)}
    for _ in range(_ATTEMPTS):
        if await store.update_campaign(_next(campaign, now, status=CampaignStatus.DONE, **counts)):
            return True
        latest = await store.get_campaign(campaign.id)
        if latest is None or latest.status is not CampaignStatus.RUNNING:
            return True  # another runner recorded it
        campaign = latest
    return True


def _next(campaign: Campaign, now: datetime, **changes: Any) -> Campaign:
    return replace(campaign, version=campaign.version + 1, updated_at=now, **changes)


async def set_status(store: Store, campaign_id: str, action: str, now: datetime) -> Campaign:
    """`pause` (a scheduled campaign), `resume` (a paused one) or `cancel` (a scheduled or
    paused one); `ValueError` when the campaign is unknown or its status does not allow it."""
    allowed = {
        "pause": ({CampaignStatus.SCHEDULED}, CampaignStatus.PAUSED),
        "resume": ({CampaignStatus.PAUSED}, CampaignStatus.SCHEDULED),
        "cancel": ({CampaignStatus.SCHEDULED, CampaignStatus.PAUSED}, CampaignStatus.CANCELLED),
    }
    before, after = allowed[action]
    for _ in range(_ATTEMPTS):
        campaign = await store.get_campaign(campaign_id)
        if campaign is None:
            raise ValueError(f"no campaign {campaign_id!r}")
        if campaign.status not in before:
            raise ValueError(
                f"campaign {campaign_id!r} is {campaign.status.value}: cannot {action}"
            )
        changed = _next(campaign, now, status=after)
        if await store.update_campaign(changed):
            return changed
    raise ValueError(f"campaign {campaign_id!r} keeps changing; try again")
