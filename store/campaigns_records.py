"""What the store keeps of a campaign (`causette campaigns`, bots/cli_campaigns.py, and
docs/campaigns.md): who to start a bot's conversation with, when, at what pace, and how far it
went.

A campaign is one record (its settings, its import counts, its runner's lease and cursor);
its recipients are rows of their own, one per E.164 number, each with its input position
(`seq`: the CSV line, or the order in the list), its own variables and its state. The rows are
what makes a campaign of 100,000 recipients streamable (never all in memory) and resumable
(the pending rows are the durable cursor). bots/campaigns_import.py writes them,
bots/campaigns_runner.py runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class CampaignStatus(StrEnum):
    IMPORTING = "importing"
    """Its recipients are being written: it sends nothing until they all are."""
    SCHEDULED = "scheduled"
    """Waiting for its `send_at`."""
    RUNNING = "running"
    """Being started by the runner holding its lease (one left running by a crash is taken
    again once the lease expires: nobody twice)."""
    PAUSED = "paused"
    """Stopped between two batches; `resume` takes it up from its cursor."""
    CANCELLED = "cancelled"
    DONE = "done"


class RecipientState(StrEnum):
    PENDING = "pending"
    STARTED = "started"
    """Their conversation was appended to the inbox (under `campaign:{id}:{phone}`)."""
    OPTED_OUT = "opted_out"
    """Skipped: they opted out of the business's marketing (R25)."""
    RED_LISTED = "red_listed"
    """Skipped: the number is on the business's red list (R6)."""


@dataclass(frozen=True, slots=True)
class CampaignRecipient:
    """One recipient: a number and its own variables (a CSV row's other columns).

    As a row of the store (`Store.add_campaign_recipients`), `phone` is E.164 and unique in
    its campaign, `seq` its input position. In `Campaign.recipients` (written by schema
    version 9, before the rows existed) `phone` is as the CSV gave it."""

    phone: str
    vars: Mapping[str, Any] = field(default_factory=dict)
    seq: int = 0
    state: RecipientState = RecipientState.PENDING


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    bot_id: str
    list_name: str | None
    """The address book list whose members receive it (copied into rows at import), or None
    for a CSV's rows."""
    recipients: tuple[CampaignRecipient, ...]
    """Only in campaigns written before the recipient rows (schema version 9): the runner
    imports them into rows first. New campaigns keep this empty."""
    vars: Mapping[str, Any]
    """Variables common to every recipient (a row's own ones win)."""
    send_at: datetime
    per_minute: float | None
    """The pace of version 9 campaigns; new ones give `rate` (see `pace`)."""
    status: CampaignStatus
    created_at: datetime
    updated_at: datetime
    started: int = 0
    """Conversations started, as counted when the campaign ended (`Store.campaign_counts`
    counts them live)."""
    merged: int = 0
    """Inputs dropped as duplicates of an earlier one (R5: the first one's variables win)."""
    invalid: int = 0
    """Inputs that are not phone numbers (or rows of the wrong width)."""
    version: int = 1
    """Compare-and-set: `Store.update_campaign` takes the stored version plus one."""
    rate: float | None = None
    """Conversations started per second; None: as fast as the store takes them."""
    total: int = 0
    """Recipient rows written by the import (unique valid numbers)."""
    problems: tuple[str, ...] = ()
    """The first invalid inputs, each `FILE:LINE: reason` (`invalid` counts them all)."""
    runner: str | None = None
    """The process running it (`process_owner()`), under a lease until `lease_until`."""
    lease_until: datetime | None = None
    cursor: int = 0
    """The `seq` of the last recipient the runner handled."""
    waiting_until: datetime | None = None
    """When it waits for the marketing hours to open (sms.md §3.3), until when."""

    @property
    def pace(self) -> float | None:
        """Starts per second: `rate`, or a version 9 campaign's `per_minute` / 60."""
        if self.rate is not None:
            return self.rate
        return None if self.per_minute is None else self.per_minute / 60
