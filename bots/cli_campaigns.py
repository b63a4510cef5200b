"""`causette campaigns send|create|show|list|pause|resume|cancel|run` (`causette campaign` is
the same group; docs/campaigns.md).

A campaign starts one conversation of a bot per recipient (a list of the address book, or a
CSV whose extra columns are each row's variables), now or at `--at`, at `--rate` starts per
second. `send` creates it and, when it is due, runs it here under a live progress bar;
`create` only creates it, for `causette serve` (or `campaigns run`) to run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import sys
from collections.abc import AsyncIterable, Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn
from uuid import uuid4
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bots.campaigns import run_due_campaigns, sending_rules, set_status
from bots.campaigns_csv import csv_rows
from bots.campaigns_import import (
    CampaignExists,
    Row,
    create_campaign,
    list_rows,
)
from bots.campaigns_live import counts_line, run_live
from bots.campaigns_progress import Progress as CampaignProgress
from bots.campaigns_progress import progress
from bots.campaigns_runner import CampaignRunner
from bots.cli_runtime import EXIT_FAILED, config_option, settings_or_exit, with_store
from bots.config import Settings
from bots.csv_files import CsvFileError
from bots.runtime import Runtime
from messaging.clock import SystemClock
from store.base import Store
from store.campaigns_records import Campaign, CampaignStatus
from store.url import store_from_url

PARIS = ZoneInfo("Europe/Paris")
"""`--at` without an offset is read as Paris time."""
EXIT_INTERRUPTED = 130
"""Ctrl-C: the campaign is left resumable."""


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


def _moment(text: str | None, now: datetime) -> datetime:
    if text is None:
        return now
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"--at {text!r}: expected an ISO date and time, e.g. 2026-12-01T09:30")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=PARIS)
    return moment.astimezone(now.tzinfo)


def _rate(text: str | None, per_minute: float | None = None) -> float | None:
    """`--rate 500` or `--rate 500/s` (starts per second); `--per-minute` of old scripts."""
    if text is None:
        return None if per_minute is None else per_minute / 60
    number = text.removesuffix("/s").strip()
    try:
        rate = float(number)
    except ValueError:
        _fail(f"--rate {text!r}: expected starts per second, e.g. 500 or 500/s")
    if not rate > 0:
        _fail(f"--rate {text!r}: must be more than 0")
    return rate


Source = Callable[[Store], Iterable[Row] | AsyncIterable[Row]]
"""Where a campaign's rows come from, read once the store is open."""


def _source(list_name: str | None, csv_file: Path | None) -> Source:
    if csv_file is None:
        return lambda store: list_rows(store, list_name or "")
    path = csv_file

    def from_csv(_: Store) -> Iterator[Row]:
        with path.open(encoding="utf-8-sig", newline="") as lines:
            yield from csv_rows(lines, path.name)

    return from_csv


@dataclasses.dataclass(frozen=True, slots=True)
class _Request:
    """What `send` and `create` are asked, in the options they share (`_request_options`)."""

    bot_id: str
    list_name: str | None
    csv_file: Path | None
    pairs: tuple[str, ...]
    at: str | None
    rate_text: str | None
    campaign_id: str | None


def _create(
    settings: Settings, request: _Request, *, rate: float | None, resume: bool, bar: bool
) -> Campaign:
    """Create the campaign (streaming its recipients under a progress bar) at `rate` starts
    per second; with `resume`, a campaign of that id whose import finished is taken as it
    is."""
    bot_id, list_name, csv_file = request.bot_id, request.list_name, request.csv_file
    if bot_id not in {bot.id for bot in settings.bots}:
        _fail(f"no bot {bot_id!r} in the configuration")
    if (list_name is None) == (csv_file is None):
        _fail("give either --list or --csv")
    common = _variables(request.pairs)
    now = SystemClock().now()
    send_at = _moment(request.at, now)
    identifier = request.campaign_id or f"c-{uuid4().hex[:12]}"
    source = _source(list_name, csv_file)
    total = csv_file.stat().st_size if csv_file is not None else None

    async def make(store: Store) -> Campaign:
        existing = await store.get_campaign(identifier)
        if resume and existing is not None and existing.status is not CampaignStatus.IMPORTING:
            if existing.bot_id != bot_id:
                _fail(f"campaign {identifier!r} exists for bot {existing.bot_id!r}")
            click.echo(
                f"campaign {identifier} exists ({existing.status.value}): resuming", err=True
            )
            return existing
        console = Console(stderr=True)
        with Progress(
            console=console, disable=not (bar and console.is_terminal), transient=True
        ) as shown:
            task = shown.add_task(f"importing {identifier}", total=total)

            def advance(read: int) -> None:
                shown.update(task, description=f"importing {identifier}: {read} rows")

            return await create_campaign(
                store,
                campaign_id=identifier,
                bot_id=bot_id,
                rows=source(store),
                now=now,
                send_at=send_at,
                rate=rate,
                variables=common,
                list_name=list_name,
                on_batch=advance,
            )

    try:
        campaign = with_store(settings, make)
    except CampaignExists as error:
        _fail(str(error))
    except UnicodeDecodeError:
        _fail(f"{csv_file}: not UTF-8 text (save the file as CSV UTF-8)")
    except CsvFileError as error:
        _fail(str(error))
    _report_import(campaign)
    return campaign


def _report_import(campaign: Campaign) -> None:
    for problem in campaign.problems:
        click.echo(problem, err=True)
    if campaign.invalid > len(campaign.problems):
        click.echo(
            f"... and {campaign.invalid - len(campaign.problems)} more invalid rows", err=True
        )
    click.echo(
        f"{campaign.total} recipients, {campaign.merged} duplicates merged, "
        f"{campaign.invalid} invalid rows skipped",
        err=True,
    )
    if campaign.status is CampaignStatus.CANCELLED and campaign.total == 0:
        _fail(f"nothing to send: campaign {campaign.id} has no valid recipient")


def _request_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options `send` and `create` share, handed to `command` as one `request`."""

    @functools.wraps(command)
    def with_request(**given: Any) -> None:
        shared = [field.name for field in dataclasses.fields(_Request)]
        command(request=_Request(**{name: given.pop(name) for name in shared}), **given)

    options = (
        click.option("--bot", "bot_id", required=True, help="The bot whose flow each starts."),
        click.option("--list", "list_name", help="The address book list to send to."),
        click.option(
            "--csv",
            "csv_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="A UTF-8 CSV with a phone column; its other columns are each row's variables.",
        ),
        click.option("--var", "pairs", multiple=True, help="A variable for all: NAME=VALUE."),
        click.option(
            "--at", help="When to send (ISO; without an offset, Paris time). Default: now."
        ),
        click.option(
            "--rate", "rate_text", help="Starts per second (500 or 500/s). Default: no limit."
        ),
        click.option("--id", "campaign_id", help="The campaign's id (default: a new one)."),
    )
    for option in reversed(options):
        with_request = option(with_request)
    return config_option(with_request)


@campaigns.command("send")
@_request_options
@click.option("--json", "as_json", is_flag=True, help="Print the final progress as JSON.")
def send(config_path: Path, request: _Request, as_json: bool) -> None:
    """Create a campaign (BOT's flow with each member of --list or each row of --csv, once
    per number, R5) and, when it is due, run it here with the deployment's providers under a
    live progress bar. With --at in the future it is only scheduled (`causette serve` runs it).
    Ctrl-C leaves it resumable: send again with the same --id, or let `causette serve` go on."""
    settings = settings_or_exit(config_path)
    bar = not as_json
    campaign = _create(settings, request, rate=_rate(request.rate_text), resume=True, bar=bar)
    if campaign.status is CampaignStatus.SCHEDULED and campaign.send_at > SystemClock().now():
        _print(settings, campaign.id, as_json)
        if not as_json:
            click.echo(f"campaign {campaign.id} scheduled for {campaign.send_at.isoformat()}")
        return
    result, interrupted = asyncio.run(
        run_live(settings, campaign.id, bar=bar, echo=lambda text: click.echo(text, err=True))
    )
    if result is not None:
        _show(result, as_json)
    if interrupted:
        click.echo(f"interrupted: campaign {campaign.id} resumes with the same --id", err=True)
        sys.exit(EXIT_INTERRUPTED)


@campaigns.command("create")
@_request_options
@click.option("--per-minute", type=click.FloatRange(min=0, min_open=True), hidden=True)
@click.option("--send-at", hidden=True)
def create(
    config_path: Path, request: _Request, per_minute: float | None, send_at: str | None
) -> None:
    """Create a campaign: BOT's flow started with each member of --list, or each row of
    --csv, once per number (R5), at --at or now, by `causette serve` or `campaigns run`."""
    settings = settings_or_exit(config_path)
    # --send-at and --per-minute: what old scripts give for --at and --rate.
    request = dataclasses.replace(request, at=request.at or send_at)
    rate = _rate(request.rate_text, per_minute)
    campaign = _create(settings, request, rate=rate, resume=False, bar=True)
    click.echo(f"campaign {campaign.id} scheduled for {campaign.send_at.isoformat()}")


def _show(p: CampaignProgress, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(p.as_json(), ensure_ascii=False, indent=2))
        return
    for name, value in p.as_json().items():
        if name != "problems":
            click.echo(f"{name}: {value}")
    for problem in p.campaign.problems:
        click.echo(f"problem: {problem}")


def _print(settings: Settings, campaign_id: str, as_json: bool) -> None:
    async def read(store: Store) -> CampaignProgress | None:
        return await progress(store, campaign_id, SystemClock().now())

    found = with_store(settings, read)
    if found is None:
        _fail(f"no campaign {campaign_id!r}")
    _show(found, as_json)


@campaigns.command("show")
@config_option
@click.argument("campaign_id")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def show(config_path: Path, campaign_id: str, as_json: bool) -> None:
    """A campaign's status, progress and counts (total, pending, started, opted_out,
    red_listed, merged, invalid), its pace, ETA and marketing-hours wait."""
    _print(settings_or_exit(config_path), campaign_id, as_json)


@campaigns.command("list")
@config_option
def list_campaigns(config_path: Path) -> None:
    """Every campaign, oldest first."""
    settings = settings_or_exit(config_path)

    async def read(store: Store) -> list[CampaignProgress]:
        now = SystemClock().now()
        found = [await progress(store, c.id, now) for c in await store.list_campaigns()]
        return [p for p in found if p is not None]

    table = Table("id", "bot", "to", "send at", "status", "progress")
    for p in with_store(settings, read):
        c = p.campaign
        to = f"list {c.list_name}" if c.list_name else f"{p.total} rows"
        table.add_row(c.id, c.bot_id, to, c.send_at.isoformat(), c.status.value, counts_line(p))
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


_status_command("pause", "Hold a campaign; a running one stops between two batches.")
_status_command("resume", "Go on with a paused campaign, from where it stopped.")
_status_command("cancel", "Cancel a campaign for good: it starts nobody more.")


@campaigns.command("run")
@config_option
def run(config_path: Path) -> None:
    """Start the campaigns due now, each until it is done (from cron, when `causette serve`
    does not run); their messages leave with `causette serve`."""
    settings = settings_or_exit(config_path)
    clock = SystemClock()

    async def start() -> int:
        store = store_from_url(settings.store)
        runtime = Runtime(store, {}, {bot.id: bot.flow for bot in settings.bots}, clock=clock)
        await runtime.open()
        try:
            return await run_due_campaigns(CampaignRunner(runtime, sending_rules(settings)))
        finally:
            await runtime.close()

    click.echo(f"{asyncio.run(start())} campaign(s) run")


campaign = click.Group(
    "campaign",
    commands=campaigns.commands,
    help="The same as `causette campaigns`.",
    hidden=True,
)
"""`causette campaign send ...`, as the issue writes it."""
