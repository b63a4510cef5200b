"""How far a campaign went, read from the store (`causette campaigns show`, the admin API)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from store.base import Store
from store.campaigns_records import Campaign, RecipientState


@dataclass(frozen=True, slots=True)
class Progress:
    """A campaign and its counts: `total` recipients (unique valid numbers) are each
    `pending`, `started`, `opted_out` or `red_listed`; `merged` and `invalid` inputs never
    became recipients."""

    campaign: Campaign
    pending: int
    started: int
    opted_out: int
    red_listed: int
    eta: datetime | None
    """When the pending ones should all be started at the campaign's pace (None: no pace,
    or nothing pending); after `waiting_until` when it waits for the marketing hours."""

    @property
    def total(self) -> int:
        return self.pending + self.started + self.opted_out + self.red_listed

    def as_json(self) -> dict[str, Any]:
        """The progress as JSON: the campaign's settings, status and every count."""
        c = self.campaign
        return {
            "id": c.id,
            "bot_id": c.bot_id,
            "list_name": c.list_name,
            "vars": dict(c.vars),
            "send_at": c.send_at.isoformat(),
            "rate": c.pace,
            "status": c.status.value,
            "total": self.total,
            "pending": self.pending,
            "started": self.started,
            "opted_out": self.opted_out,
            "red_listed": self.red_listed,
            "merged": c.merged,
            "invalid": c.invalid,
            "problems": list(c.problems),
            "cursor": c.cursor,
            "runner": c.runner,
            "waiting_until": _iso(c.waiting_until),
            "eta": _iso(self.eta),
            "created_at": c.created_at.isoformat(),
            "updated_at": c.updated_at.isoformat(),
        }


async def progress(store: Store, campaign_id: str, now: datetime) -> Progress | None:
    """Campaign `campaign_id`'s progress at `now`; None when there is no such campaign."""
    campaign = await store.get_campaign(campaign_id)
    if campaign is None:
        return None
    counts = await store.campaign_counts(campaign_id)
    pending = counts[RecipientState.PENDING]
    eta = None
    if pending and campaign.pace:
        start = max(now, campaign.send_at, campaign.waiting_until or now)
        eta = start + timedelta(seconds=pending / campaign.pace)
    return Progress(
        campaign,
        pending=pending,
        # A version 9 campaign that ended has no rows: its own count.
        started=counts[RecipientState.STARTED] or campaign.started,
        opted_out=counts[RecipientState.OPTED_OUT],
        red_listed=counts[RecipientState.RED_LISTED],
        eta=eta,
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
