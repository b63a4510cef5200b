"""What the store keeps of a campaign (`causette campaigns`, bots/cli_campaigns.py): who to
start a bot's conversation with, when, at what pace, and how far it went (bots/campaigns.py
runs it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class CampaignStatus(StrEnum):
    SCHEDULED = "scheduled"
    """Waiting for its `send_at`."""
    RUNNING = "running"
    """Being started (a campaign left running by a crash is run again: nobody twice)."""
    PAUSED = "paused"
    CANCELLED = "cancelled"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class CampaignRecipient:
    """A row of an uploaded CSV: a number as given and its own variables."""

    phone: str
    vars: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    bot_id: str
    list_name: str | None
    """The address book list whose members receive it, or None for its own `recipients`."""
    recipients: tuple[CampaignRecipient, ...]
    vars: Mapping[str, Any]
    """Variables common to every recipient (a row's own ones win)."""
    send_at: datetime
    per_minute: float | None
    status: CampaignStatus
    created_at: datetime
    updated_at: datetime
    started: int = 0
    """Conversations started (R5: one per recipient once numbers are in E.164)."""
    merged: int = 0
    """Recipients dropped as duplicates of an earlier one."""
    invalid: int = 0
    """Inputs that are not phone numbers."""
    version: int = 1
    """Compare-and-set: `Store.update_campaign` takes the stored version plus one."""
