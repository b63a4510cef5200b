"""`causette redlist ...`, `causette retention run`: the sending rules' records, managed by hand
(R6, R32; docs/compliance.md). `causette contacts ...` is in bots/cli_contacts.py."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from bots.cli_runtime import EXIT_FAILED, config_option, settings_or_exit, with_store
from bots.config import Settings
from bots.retention import run_retention
from messaging.clock import SystemClock
from messaging.phone import InvalidPhoneError, Phone
from store.base import Store
from store.compliance_records import RedListed


def phone_argument(raw: str) -> Phone:
    try:
        return Phone(raw)
    except InvalidPhoneError as error:
        raise click.BadParameter(str(error), param_hint="PHONE") from None


def business_of(settings: Settings, business: str | None) -> str:
    return business or settings.compliance.business


business_option = click.option(
    "--business", help="The business whose list it is (default: compliance.business)."
)


@click.group()
def redlist() -> None:
    """Numbers that want no message at all from the business (R6)."""


@redlist.command("add")
@config_option
@business_option
@click.argument("phone")
@click.option("--reason", default="", help="Why (kept with the entry).")
def redlist_add(config_path: Path, business: str | None, phone: str, reason: str) -> None:
    """Put PHONE on the red list: nothing is sent to it any more, whatever the traffic."""
    settings = settings_or_exit(config_path)
    number = phone_argument(phone)
    entry = RedListed(business_of(settings, business), number.e164, SystemClock().now(), reason)

    async def add(store: Store) -> bool:
        return await store.red_list_add(entry)

    added = with_store(settings, add)
    click.echo(f"{number.masked}: {'added to' if added else 'already on'} the red list")


@redlist.command("remove")
@config_option
@business_option
@click.argument("phone")
def redlist_remove(config_path: Path, business: str | None, phone: str) -> None:
    """Take PHONE off the red list (exit 1 when it was not on it)."""
    settings = settings_or_exit(config_path)
    number = phone_argument(phone)

    async def remove(store: Store) -> bool:
        return await store.red_list_remove(business_of(settings, business), number.e164)

    if not with_store(settings, remove):
        click.echo(f"{number.masked} is not on the red list", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"{number.masked}: removed from the red list")


@redlist.command("list")
@config_option
@business_option
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def redlist_list(config_path: Path, business: str | None, as_json: bool) -> None:
    """The red list, oldest first (numbers in full: it is the list itself)."""
    settings = settings_or_exit(config_path)

    async def read(store: Store) -> list[RedListed]:
        return await store.red_list(business_of(settings, business))

    entries = with_store(settings, read)
    if as_json:
        rows = [{"phone": e.phone, "at": e.at.isoformat(), "reason": e.reason} for e in entries]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("phone", "since", "reason")
    for entry in entries:
        table.add_row(entry.phone, entry.at.isoformat(timespec="minutes"), entry.reason)
    Console(highlight=False).print(table)


@click.group()
def retention() -> None:
    """Message history: six months active, twelve archived, then deleted (R32)."""


@retention.command("run")
@config_option
@click.option("--dry-run", is_flag=True, help="Say what would be done; change nothing.")
def retention_run(config_path: Path, dry_run: bool) -> None:
    """Archive the history older than the active period, delete the archive older than its
    period. `causette serve` runs it daily by itself."""
    settings = settings_or_exit(config_path)
    policy = settings.compliance.retention.policy()
    now = SystemClock().now()
    archive_cut, purge_cut = policy.archive_cutoff(now), policy.purge_cutoff(now)
    click.echo(f"archive: records older than {_day(archive_cut)}")
    click.echo(f"delete: archived records older than {_day(purge_cut)}")
    if dry_run:
        click.echo("dry run: nothing changed")
        return

    async def run(store: Store) -> tuple[int, int]:
        return await run_retention(store, archive_cut, purge_cut)

    moved, purged = with_store(settings, run)
    click.echo(f"archived {moved} record(s), deleted {purged} archived record(s)")


def _day(instant: datetime) -> str:
    return instant.astimezone(UTC).date().isoformat()
