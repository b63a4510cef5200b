"""`causette campaigns create|show|list|pause|resume|cancel|run` (docs/compliance.md,
"Campaigns").

A campaign starts one conversation of a bot per recipient (a list of the address book, or a
CSV of its own, whose extra columns are each row's variables), now or at `--send-at`, paced by
`--per-minute`. `causette campaigns run` starts the due ones (bots/campaigns.py): run it from
cron (or by hand) for now; `causette serve` does not run campaigns by itself yet.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn
from uuid import uuid4
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.table import Table

from bots.campaigns import run_due_campaigns, set_status
from bots.cli_contacts import CsvFileError, read_contacts
from bots.cli_runtime import EXIT_FAILED, config_option, settings_or_exit, with_store
from bots.config import Settings
from bots.runtime import Runtime
from messaging.clock import SystemClock
from store.base import Store
from store.campaigns_records import Campaign, CampaignRecipient, CampaignStatus

PARIS = ZoneInfo("Europe/Paris")
"""`--send-at` without an offset is read as Paris time."""


@click.group()
def campaigns() -> None:
    """Campaigns: one conversation of a bot per recipient, now or later (R1, R5)."""


def _fail(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(EXIT_FAILED)


def _variables(pairs: tuple[str, ...]) -> dict[str, str]:
    variables: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            _fail(f"--var {pair!r}: expected NAME=VALUE")
        variables[name.strip()] = value
    return variables


def _send_at(text: str | None, now: datetime) -> datetime:
    if text is None:
        return now
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"--send-at {text!r}: expected an ISO date and time, e.g. 2026-12-01T09:30")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=PARIS)
    return moment.astimezone(now.tzinfo)


def _csv_rows(file: Path) -> list[CampaignRecipient]:
    try:
        read = read_contacts(file.read_bytes().decode("utf-8-sig"), file.name)
    except UnicodeDecodeError:
        _fail(f"{file.name}: not UTF-8 text (save the file as CSV UTF-8)")
    except CsvFileError as error:
        _fail(str(error))
    for problem in read.invalid:
        click.echo(problem, err=True)
    click.echo(
        f"{len(read.fields)} recipients read, {read.merged} duplicates merged, "
        f"{len(read.invalid)} invalid rows skipped",
        err=True,
    )
    return [CampaignRecipient(phone, fields) for phone, fields in read.fields.items()]


@campaigns.command("create")
@config_option
@click.option("--bot", "bot_id", required=True, help="The bot whose flow each recipient starts.")
@click.option("--list", "list_name", help="The address book list to send to.")
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A UTF-8 CSV with a phone column; its other columns are each row's variables.",
)
@click.option("--var", "pairs", multiple=True, help="A variable for every recipient: NAME=VALUE.")
@click.option("--send-at", help="When to send (ISO; without an offset, Paris time). Default: now.")
@click.option("--per-minute", type=click.FloatRange(min=0, min_open=True), help="The pace.")
@click.option("--id", "campaign_id", help="The campaign's id (default: a new one).")
def create(
    config_path: Path,
    bot_id: str,
    list_name: str | None,
    csv_file: Path | None,
    pairs: tuple[str, ...],
    send_at: str | None,
    per_minute: float | None,
    campaign_id: str | None,
) -> None:
    """Create a campaign: BOT's flow started with each member of --list, or each row of
    --csv, once per number (R5), at --send-at or now (by `causette campaigns run`)."""
    settings = settings_or_exit(config_path)
    if bot_id not in {bot.id for bot in settings.bots}:
        _fail(f"no bot {bot_id!r} in the configuration")
    if (list_name is None) == (csv_file is None):
        _fail("give either --list or --csv")
    common = _variables(pairs)
    now = SystemClock().now()
    rows = [] if csv_file is None else _csv_rows(csv_file)
    if csv_file is not None and not rows:
        _fail(f"nothing to send: no valid row in {csv_file.name}")
    if per_minute and len({json.dumps(dict(r.vars), sort_keys=True) for r in rows}) > 1:
        _fail("--per-minute with variables that differ by row is not supported yet")
    campaign = Campaign(
        id=campaign_id or f"c-{uuid4().hex[:12]}",
        bot_id=bot_id,
        list_name=list_name,
        recipients=tuple(rows),
        vars=common,
        send_at=_send_at(send_at, now),
        per_minute=per_minute,
        status=CampaignStatus.SCHEDULED,
        created_at=now,
        updated_at=now,
    )

    async def save(store: Store) -> bool:
        return await store.save_campaign(campaign)

    if not with_store(settings, save):
        _fail(f"campaign {campaign.id!r} exists already")
    click.echo(f"campaign {campaign.id} scheduled for {campaign.send_at.isoformat()}")


def _get(settings: Settings, campaign_id: str) -> Campaign:
    async def read(store: Store) -> Campaign | None:
        return await store.get_campaign(campaign_id)

    campaign = with_store(settings, read)
    if campaign is None:
        _fail(f"no campaign {campaign_id!r}")
    return campaign


def _summary(campaign: Campaign) -> dict[str, Any]:
    c = campaign
    return {
        "id": c.id,
        "bot_id": c.bot_id,
        "list_name": c.list_name,
        "recipients": len(c.recipients),
        "vars": dict(c.vars),
        "send_at": c.send_at.isoformat(),
        "per_minute": c.per_minute,
        "status": c.status.value,
        "started": c.started,
        "merged": c.merged,
        "invalid": c.invalid,
        "created_at": c.created_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
    }


@campaigns.command("show")
@config_option
@click.argument("campaign_id")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def show(config_path: Path, campaign_id: str, as_json: bool) -> None:
    """A campaign's status and counts."""
    summary = _summary(_get(settings_or_exit(config_path), campaign_id))
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    for name, value in summary.items():
        click.echo(f"{name}: {value}")


@campaigns.command("list")
@config_option
def list_campaigns(config_path: Path) -> None:
    """Every campaign, oldest first."""
    settings = settings_or_exit(config_path)

    async def read(store: Store) -> list[Campaign]:
        return await store.list_campaigns()

    table = Table("id", "bot", "to", "send at", "status", "started")
    for c in with_store(settings, read):
        to = f"list {c.list_name}" if c.list_name else f"{len(c.recipients)} rows"
        table.add_row(c.id, c.bot_id, to, c.send_at.isoformat(), c.status.value, str(c.started))
    Console(highlight=False).print(table)


def _status_command(action: str, help_text: str) -> None:
    @campaigns.command(action, help=help_text)
    @config_option
    @click.argument("campaign_id")
    def command(config_path: Path, campaign_id: str) -> None:
        settings = settings_or_exit(config_path)

        async def change(store: Store) -> Campaign:
            return await set_status(store, campaign_id, action, SystemClock().now())

        try:
            campaign = with_store(settings, change)
        except ValueError as error:
            _fail(str(error))
        click.echo(f"campaign {campaign.id}: {campaign.status.value}")


_status_command("pause", "Hold a scheduled campaign (before it runs: see docs/compliance.md).")
_status_command("resume", "Schedule a paused campaign again.")
_status_command("cancel", "Cancel a scheduled or paused campaign: it will send nothing.")


@campaigns.command("run")
@config_option
def run(config_path: Path) -> None:
    """Start the campaigns due now (from cron, for now); their messages leave with
    `causette serve`."""
    settings = settings_or_exit(config_path)
    clock = SystemClock()

    async def start(store: Store) -> int:
        return await run_due_campaigns(Runtime(store, {}, {}, clock=clock), clock.now())

    click.echo(f"{with_store(settings, start)} campaign(s) run")
