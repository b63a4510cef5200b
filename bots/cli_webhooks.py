"""`causette webhooks ...`: what the businesses' webhooks were told, and a check of one
(docs/business-webhooks.md). `causette serve` does the posting."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
import click
from rich.console import Console
from rich.table import Table

from bots.business_events import ping_event
from bots.business_webhooks import Attempt, endpoints_from, post_event
from bots.cli_runtime import EXIT_FAILED, config_option, settings_or_exit, with_store
from messaging.clock import SystemClock
from messaging.phone import Phone
from store.base import Store
from store.business_events_records import BusinessEvent, EventStatus


@click.group()
def webhooks() -> None:
    """The events posted to each bot's `webhook:` URL (signed, retried)."""


@webhooks.command("events")
@config_option
@click.option("--bot", "bot_id", help="Only this bot's events.")
@click.option(
    "--status",
    type=click.Choice([s.value for s in EventStatus]),
    help="Only events in this status (`pending`: waiting for a first post or a retry).",
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="As JSON (phones masked).")
def events(
    config_path: Path, bot_id: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    """The newest events first: what each is about, how far its delivery went."""
    settings = settings_or_exit(config_path)
    wanted = EventStatus(status) if status is not None else None

    async def read(store: Store) -> list[BusinessEvent]:
        return await store.business_events(bot_id=bot_id, status=wanted, limit=limit)

    found = with_store(settings, read)
    if as_json:
        click.echo(json.dumps([_row(e) for e in found], ensure_ascii=False, indent=2))
        return
    table = Table("created", "bot", "event", "phone", "status", "attempts", "last error")
    for e in found:
        row = _row(e)
        table.add_row(
            e.created_at.isoformat(timespec="seconds"),
            e.bot_id,
            e.id,
            row["phone"],
            e.status.value,
            str(e.attempts),
            e.last_error or "",
        )
    Console(highlight=False).print(table)


@webhooks.command("ping")
@config_option
@click.argument("bot_id", metavar="BOT")
def ping(config_path: Path, bot_id: str) -> None:
    """Post a signed `ping` event to BOT's webhook now and print the answer (exit 1 unless
    2xx): checks the URL and that the business verifies the signature with the same key."""
    settings = settings_or_exit(config_path)
    bot = next((b for b in settings.bots if b.id == bot_id), None)
    if bot is None or bot.webhook is None:
        raise click.BadParameter(f"no bot {bot_id} with a webhook in {config_path}")
    endpoint = endpoints_from({bot_id: bot.webhook}, os.environ)[bot_id]
    clock = SystemClock()

    async def post() -> Attempt:
        async with aiohttp.ClientSession() as session:
            return await post_event(session, endpoint, ping_event(bot_id, clock.now()), clock)

    attempt = asyncio.run(post())
    if attempt.delivered:
        click.echo(f"{endpoint.url}: {attempt.status}")
        return
    click.echo(f"{endpoint.url}: {attempt.status or ''} {attempt.error or ''}", err=True)
    sys.exit(EXIT_FAILED)


def _row(event: BusinessEvent) -> dict[str, Any]:
    e = event
    return {
        "id": e.id,
        "bot": e.bot_id,
        "type": e.kind.value,
        "conversation": e.conversation_id,
        "phone": Phone(e.phone).masked if e.phone else "",
        "status": e.status.value,
        "attempts": e.attempts,
        "created": e.created_at.isoformat(),
        "next_at": e.next_at.isoformat() if e.next_at else None,
        "settled": e.settled_at.isoformat() if e.settled_at else None,
        "last_error": e.last_error,
        "data": dict(e.data),
    }
