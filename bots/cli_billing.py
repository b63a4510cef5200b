"""`causette billing ...`: the usage ledger as a monthly report, why something was billed, and
prepaid credits (seed rules R7-R16, R21-R24; docs/billing.md)."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from bots.cli_runtime import EXIT_FAILED, config_option, settings_or_exit
from bots.config import Settings
from bots.wiring import billing_from_settings
from messaging.clock import SystemClock
from sessions.credits import allocate, expiry
from sessions.explain import explain as explain_lines
from sessions.policy import BillingPolicy
from sessions.report import (
    DELIVERY_LAG,
    Report,
    money,
    month_bounds,
    monthly_report,
    report_csv,
    report_json,
)
from store.billing_records import CreditPurchase, LedgerEntry
from store.url import store_from_url

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@click.group()
def billing() -> None:
    """The usage ledger: monthly report, explanations, prepaid credits."""


@billing.command()
@config_option
@click.option("--month", required=True, metavar="YYYY-MM", help="The calendar month (Paris).")
@click.option("--bot", "bot_id", help="Only this bot.")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
def report(config_path: Path, month: str, bot_id: str | None, output: str) -> None:
    """Totals of a month by bot, channel and class, sessions opened, messages per session.

    RCS messages nobody answered within 24 h are billed first (R22), so that the month is
    complete.
    """
    if not _MONTH.match(month):
        raise click.BadParameter(f"{month!r} is not YYYY-MM", param_hint="--month")
    settings = settings_or_exit(config_path)
    if bot_id is not None:
        try:
            settings.bot(bot_id)
        except KeyError as error:
            raise click.BadParameter(str(error.args[0]), param_hint="--bot") from None
    result = asyncio.run(_report(settings, month, bot_id))
    if output == "json":
        click.echo(json.dumps(report_json(result), ensure_ascii=False, indent=2))
    elif output == "csv":
        click.echo(report_csv(result), nl=False)
    else:
        print_report(result, Console(highlight=False))


async def _report(settings: Settings, month: str, bot_id: str | None) -> Report:
    policy = settings.billing.policy()
    start, end = month_bounds(month, policy)
    async with store_from_url(settings.store) as store:
        await billing_from_settings(settings, store).settle(SystemClock().now())
        entries = await store.ledger(since=start - DELIVERY_LAG, until=end, bot_id=bot_id)
    return monthly_report(entries, month, policy, bot_id=bot_id)


def print_report(result: Report, console: Console) -> None:
    scope = f" · bot {result.bot_id}" if result.bot_id else ""
    table = Table(
        "bot",
        "channel",
        "class",
        "count",
        "quantity",
        f"amount ({result.currency})",
        title=f"Usage {result.month}{scope}",
        title_justify="left",
    )
    for line in result.lines:
        totals = line.totals
        table.add_row(
            line.bot_id,
            line.channel,
            line.billing_class,
            str(totals.count),
            str(totals.quantity),
            money(totals.amount),
        )
    table.add_section()
    table.add_row(
        "total",
        "",
        "",
        str(result.total.count),
        str(result.total.quantity),
        money(result.total.amount),
    )
    console.print(table)
    opened = ", ".join(f"{g.key} {g.totals.count}" for g in result.sessions_opened) or "none"
    console.print(f"sessions opened: {opened}")
    per_session = result.messages_per_session
    console.print(
        f"messages covered by sessions: {result.covered_messages}"
        + (f" ({per_session} per session)" if per_session is not None else "")
    )
    if result.awaiting_delivery:
        console.print(
            f"not counted yet: {result.awaiting_delivery} message(s) billed on delivery, "
            "not delivered"
        )
    for share in result.operator_shares:
        console.print(f"operator share (R9): {share.country} {share.operator} {share.share:.1%}")


@billing.command()
@config_option
@click.argument("reference")
def explain(config_path: Path, reference: str) -> None:
    """Why something was billed: REFERENCE is an outbox key, an MO's provider id, a session
    id or a ledger entry id (exit 1 when nothing in the ledger refers to it)."""
    settings = settings_or_exit(config_path)
    entries = asyncio.run(_entries_for(settings.store, reference))
    if not entries:
        click.echo(f"nothing in the ledger refers to {reference!r}", err=True)
        sys.exit(EXIT_FAILED)
    for line in explain_lines(entries, timezone=settings.billing.policy().timezone):
        click.echo(line)


async def _entries_for(store_url: str, reference: str) -> list[LedgerEntry]:
    async with store_from_url(store_url) as store:
        return await store.ledger_for(reference)


@billing.group()
def credits() -> None:
    """Prepaid credits (R8): valid 12 months from purchase, spent oldest first."""


@credits.command("add")
@config_option
@click.argument("amount")
@click.option("--id", "purchase_id", help="The purchase's reference (default: its date).")
@click.option(
    "--date",
    "purchased",
    type=click.DateTime(["%Y-%m-%d"]),
    help="The purchase date (default: today).",
)
def add_credit(
    config_path: Path, amount: str, purchase_id: str | None, purchased: datetime | None
) -> None:
    """Record a purchase of AMOUNT in the billing currency."""
    settings = settings_or_exit(config_path)
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise click.BadParameter(f"{amount!r} is not an amount", param_hint="AMOUNT") from None
    if not value.is_finite() or value <= 0:
        raise click.BadParameter("the amount must be positive", param_hint="AMOUNT")
    policy = settings.billing.policy()
    at = (
        datetime.combine(purchased.date(), time(), policy.timezone).astimezone(UTC)
        if purchased is not None
        else SystemClock().now()
    )
    purchase = CreditPurchase(
        purchase_id or f"credit-{at.isoformat(timespec='seconds')}",
        value,
        policy.prices.currency,
        at,
        expiry(at),
    )
    added = asyncio.run(_add_credit(settings.store, purchase))
    if not added:
        click.echo(f"a purchase {purchase.id!r} is already recorded", err=True)
        sys.exit(EXIT_FAILED)
    until = purchase.expires_at.astimezone(policy.timezone).date().isoformat()
    click.echo(f"{purchase.id}: {money(value)} {purchase.currency}, valid until {until}")


async def _add_credit(store_url: str, purchase: CreditPurchase) -> bool:
    async with store_from_url(store_url) as store:
        return await store.add_credit(purchase)


@credits.command("show")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the balance as JSON.")
def show_credits(config_path: Path, as_json: bool) -> None:
    """The balance, what each purchase has left, and what no credit paid for."""
    settings = settings_or_exit(config_path)
    policy = settings.billing.policy()
    now = SystemClock().now()

    async def read() -> tuple[list[CreditPurchase], list[LedgerEntry]]:
        async with store_from_url(settings.store) as store:
            return await store.credits(), await store.ledger(until=now)

    purchases, entries = asyncio.run(read())
    allocation = allocate(purchases, entries, now, policy)
    lines = [
        {
            "id": line.purchase.id,
            "purchased_at": line.purchase.purchased_at.isoformat(),
            "expires_at": line.purchase.expires_at.isoformat(),
            "amount": money(line.purchase.amount),
            "spent": money(line.spent),
            "available": money(line.available),
            "lost": money(line.lost),
        }
        for line in allocation.lines
    ]
    summary = {
        "currency": allocation.currency,
        "balance": money(allocation.balance),
        "unpaid": money(allocation.unpaid_total),
        "lost": money(allocation.lost_total),
        "purchases": lines,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    table = Table("purchase", "bought", "expires", "amount", "spent", "available", "lost")
    for line in lines:
        table.add_row(
            line["id"],
            _local_date(line["purchased_at"], policy),
            _local_date(line["expires_at"], policy),
            line["amount"],
            line["spent"],
            line["available"],
            line["lost"],
        )
    console = Console(highlight=False)
    console.print(table)
    console.print(
        f"balance {summary['balance']} {allocation.currency}; "
        f"not covered by credits {summary['unpaid']}; expired unused {summary['lost']}"
    )


def _local_date(instant: str, policy: BillingPolicy) -> str:
    return datetime.fromisoformat(instant).astimezone(policy.timezone).date().isoformat()
