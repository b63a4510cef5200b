"""Creating a campaign: its recipients streamed into the store in batches (docs/campaigns.md).

The input is read as it comes, never whole: a CSV file or text stream
(bots/campaigns_csv.py `csv_rows`), or an address book list read a page at a time
(`list_rows`). Each number is read as E.164; a number
the campaign already has is merged into the first one (R5, counted `merged`); an input that is
not a number is counted `invalid`, and the first `MAX_PROBLEMS` are kept with their CSV line.

A campaign is `importing` while its rows are written and sends nothing; it becomes
`scheduled` once they all are. An import that died half-way is started again from scratch by
`create_campaign` with the same id (its rows are deleted first), so nothing of it ever sends
twice nor half.
"""

from __future__ import annotations

from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from messaging.phone import InvalidPhoneError, Phone
from store.base import Store
from store.campaigns_records import Campaign, CampaignRecipient, CampaignStatus

IMPORT_BATCH = 1000
"""Recipients written per store call."""
MAX_PROBLEMS = 100
"""Invalid inputs kept with their reason (all are counted)."""
_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class BadRow:
    """An input that cannot be a recipient."""

    seq: int
    problem: str
    """`FILE:LINE: reason`, shown as it is."""


Row = CampaignRecipient | BadRow
"""What a source yields: a recipient (number in E.164, `seq` its position) or a bad input."""


class CampaignExists(Exception):
    """A campaign of that id exists already (and is not an import to start again)."""


async def list_rows(store: Store, list_name: str, page: int = IMPORT_BATCH) -> AsyncIterator[Row]:
    """An address book list's members, a page at a time, in number order (`seq` from 1)."""
    after, seq = "", 0
    while True:
        phones = await store.list_phones(list_name, after, page)
        for phone in phones:
            seq += 1
            yield CampaignRecipient(phone, {}, seq)
        if len(phones) < page:
            return
        after = phones[-1]


def given_rows(
    rows: Iterable[tuple[str, Mapping[str, Any]]], where: Callable[[int], str]
) -> Iterator[Row]:
    """Rows given as (number as written, variables): each number read as E.164, or a bad row
    located by `where(seq)` (`seq` from 1)."""
    for seq, (phone, variables) in enumerate(rows, start=1):
        try:
            yield CampaignRecipient(Phone(phone).e164, variables, seq)
        except InvalidPhoneError as error:
            yield BadRow(seq, f"{where(seq)}: phone: {error}")


def legacy_rows(campaign: Campaign) -> Iterator[Row]:
    """The recipients a schema version 9 campaign kept in itself, as rows (numbers as given)."""
    return given_rows(((r.phone, r.vars) for r in campaign.recipients), lambda seq: f"row {seq}")


async def create_campaign(
    store: Store,
    *,
    campaign_id: str,
    bot_id: str,
    rows: Iterable[Row] | AsyncIterable[Row],
    now: datetime,
    send_at: datetime | None = None,
    rate: float | None = None,
    variables: Mapping[str, Any] | None = None,
    list_name: str | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> Campaign:
    """Create campaign `campaign_id` of `bot_id` from `rows` (`csv_rows`, `list_rows`), to
    send at `send_at` (default: now) at `rate` starts per second, with `variables` common to
    every recipient. Returns it `scheduled`, its counts set (`cancelled` when no row was
    valid: it has nobody to send to). `on_batch` is told how many rows were read so far.

    An import of the same id that did not finish is started again; `CampaignExists` when the
    id belongs to a campaign whose import finished."""
    campaign = Campaign(
        id=campaign_id,
        bot_id=bot_id,
        list_name=list_name,
        recipients=(),
        vars=dict(variables or {}),
        send_at=send_at or now,
        per_minute=None,
        status=CampaignStatus.IMPORTING,
        created_at=now,
        updated_at=now,
        rate=rate,
    )
    if not await store.save_campaign(campaign):
        existing = await store.get_campaign(campaign_id)
        if existing is None or existing.status is not CampaignStatus.IMPORTING:
            raise CampaignExists(f"campaign {campaign_id!r} exists already")
        await store.delete_campaign_recipients(campaign_id)
        campaign = replace(campaign, version=existing.version + 1)
        if not await store.update_campaign(campaign):
            raise CampaignExists(f"campaign {campaign_id!r} is being imported by someone else")
    return await import_rows(store, campaign, rows, now, on_batch=on_batch)


async def import_rows(
    store: Store,
    campaign: Campaign,
    rows: Iterable[Row] | AsyncIterable[Row],
    now: datetime,
    *,
    on_batch: Callable[[int], None] | None = None,
) -> Campaign:
    """Write `rows` as `campaign`'s recipients, a batch at a time, then record its counts and
    make it `scheduled` (or `cancelled` with nobody to send to); the campaign as stored."""
    counts = _Counts()
    batch: list[CampaignRecipient] = []
    async for row in _aiter(rows):
        if isinstance(row, BadRow):
            counts.bad(row)
            continue
        batch.append(row)
        if len(batch) >= IMPORT_BATCH:
            await counts.write(store, campaign.id, batch)
            if on_batch is not None:
                on_batch(counts.read)
    await counts.write(store, campaign.id, batch)
    if on_batch is not None:
        on_batch(counts.read)
    status = CampaignStatus.SCHEDULED if counts.total else CampaignStatus.CANCELLED
    for _ in range(_ATTEMPTS):
        done = replace(
            campaign,
            status=status,
            total=campaign.total + counts.total,
            merged=campaign.merged + counts.merged,
            invalid=campaign.invalid + counts.invalid,
            problems=(*campaign.problems, *counts.problems)[:MAX_PROBLEMS],
            version=campaign.version + 1,
            updated_at=now,
        )
        if await store.update_campaign(done):
            return done
        latest = await store.get_campaign(campaign.id)
        if latest is None:
            raise CampaignExists(f"campaign {campaign.id!r} was removed during its import")
        if latest.status not in (CampaignStatus.IMPORTING, CampaignStatus.SCHEDULED):
            return latest  # cancelled meanwhile
        campaign = latest
    raise CampaignExists(f"campaign {campaign.id!r} keeps changing; try again")


@dataclass
class _Counts:
    read: int = 0
    total: int = 0
    merged: int = 0
    invalid: int = 0
    problems: list[str] = field(default_factory=list)

    def bad(self, row: BadRow) -> None:
        self.read += 1
        self.invalid += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(row.problem)

    async def write(self, store: Store, campaign_id: str, batch: list[CampaignRecipient]) -> None:
        if not batch:
            return
        new = await store.add_campaign_recipients(campaign_id, batch)
        self.read += len(batch)
        self.total += new
        self.merged += len(batch) - new
        batch.clear()


async def _aiter(rows: Iterable[Row] | AsyncIterable[Row]) -> AsyncIterator[Row]:
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            yield row
    else:
        for row in rows:
            yield row
