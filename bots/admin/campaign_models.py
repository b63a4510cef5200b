"""The admin API's campaign shapes (bots/admin/campaigns.py): what a campaign is created
from, and its progress as `causette campaigns show --json` prints it."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

MAX_ROWS = 1000
"""Recipients a JSON body may list; a larger send is an uploaded CSV or a list."""
MAX_RATE = 10_000.0
CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _campaign_id(value: str) -> str:
    if not CAMPAIGN_ID.match(value):
        raise ValueError(
            "1 to 64 letters, digits, `_`, `.` or `-`, starting with one of the first two"
        )
    return value


CampaignId = Annotated[str, AfterValidator(_campaign_id)]
Rate = Annotated[float, Field(gt=0, le=MAX_RATE, description="Conversations started per second.")]


class RecipientRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(max_length=64, description="E.164 or French national form.")
    vars: dict[str, Any] = Field(
        default_factory=dict, description="This recipient's own variables."
    )


class CreateCampaign(BaseModel):
    """A campaign to a list of the address book, or to the rows given."""

    model_config = ConfigDict(extra="forbid")

    id: CampaignId | None = Field(default=None, description="Default: a new one.")
    list_name: str | None = Field(
        default=None, min_length=1, max_length=200, description="A list of the address book."
    )
    recipients: list[RecipientRow] | None = Field(default=None, max_length=MAX_ROWS)
    vars: dict[str, Any] = Field(
        default_factory=dict, description="Variables of every recipient (a row's own win)."
    )
    send_at: datetime | None = Field(default=None, description="Default: now.")
    rate: Rate | None = None

    @model_validator(mode="after")
    def _one_source(self) -> CreateCampaign:
        if (self.list_name is None) == (self.recipients is None):
            raise ValueError("give either `list_name` or `recipients`")
        if self.send_at is not None and self.send_at.utcoffset() is None:
            raise ValueError("`send_at` needs a time zone offset")
        return self


class UploadQuery(BaseModel):
    """The settings of a campaign whose recipients are the uploaded CSV."""

    model_config = ConfigDict(extra="forbid")

    id: CampaignId | None = None
    send_at: datetime | None = Field(default=None, description="ISO 8601 with an offset.")
    rate: Rate | None = None

    @model_validator(mode="after")
    def _aware(self) -> UploadQuery:
        if self.send_at is not None and self.send_at.utcoffset() is None:
            raise ValueError("`send_at` needs a time zone offset")
        return self


class CampaignView(BaseModel):
    """A campaign and how far it went: `total` recipients (unique valid numbers) are each
    `pending`, `started`, `opted_out` or `red_listed`; `merged` and `invalid` inputs never
    became recipients (`problems` names the first invalid ones)."""

    id: str
    bot_id: str
    list_name: str | None
    vars: dict[str, Any]
    send_at: datetime
    rate: float | None
    status: str = Field(description="importing, scheduled, running, paused, cancelled or done.")
    total: int
    pending: int
    started: int
    opted_out: int
    red_listed: int
    merged: int
    invalid: int
    problems: list[str]
    cursor: int
    runner: str | None
    waiting_until: datetime | None = Field(
        description="While it waits for the marketing hours (quiet hours), until when."
    )
    eta: datetime | None
    created_at: datetime
    updated_at: datetime


class CampaignList(BaseModel):
    campaigns: list[CampaignView]
