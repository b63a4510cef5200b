"""`causette messages show ID`: where an outgoing message stands, and every step it took.

ID is an outbox key (`000000000042:000`, as the history and logs show it) or any provider id
the message was sent under (an RBM `messageId`, an smsmode message id).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bots.cli_runtime import EXIT_FAILED, config_option, settings_or_exit
from compliance.validity import valid_until
from messaging.phone import InvalidPhoneError, Phone
from store.records import OutboxEntry
from store.url import store_from_url


@click.group()
def messages() -> None:
    """Outgoing messages: status, channel decisions, delivery history."""


@messages.command()
@config_option
@click.argument("message_id")
@click.option("--json", "as_json", is_flag=True, help="Print the message as JSON.")
def show(config_path: Path, message_id: str, as_json: bool) -> None:
    """Show one outgoing message: its status, route and history (exit 1 if unknown).

    Phone numbers are shown masked.
    """
    settings = settings_or_exit(config_path)
    entry = asyncio.run(_find(settings.store, message_id))
    if entry is None:
        click.echo(f"no outgoing message {message_id!r}", err=True)
        sys.exit(EXIT_FAILED)
    if as_json:
        click.echo(json.dumps(describe(entry), ensure_ascii=False, indent=2))
        return
    _print(entry, Console(highlight=False))


async def _find(store_url: str, message_id: str) -> OutboxEntry | None:
    async with store_from_url(store_url) as store:
        entry = await store.get_outbound(message_id)
        return entry or await store.find_outbound_by_provider_id(message_id)


def describe(entry: OutboxEntry) -> dict[str, Any]:
    """The message as JSON: what `--json` prints."""
    return {
        "key": entry.key,
        "bot": entry.bot_id,
        "conversation": entry.conversation_id,
        "phone": _masked(entry.phone),
        "status": entry.status.value,
        "conversation_channel": entry.channel,
        "route": entry.route,
        "attempts": entry.attempts,
        "provider_id": entry.provider_id,
        "provider_ids": list(entry.provider_ids),
        "queued_at": entry.created_at.isoformat(),
        "valid_until": valid_until(entry.valid_since).isoformat(),
        "due_at": entry.due_at.isoformat(),
        "deadline_at": entry.deadline_at.isoformat() if entry.deadline_at else None,
        "content": entry.content,
        "history": entry.history,
    }


def _print(entry: OutboxEntry, console: Console) -> None:
    facts = describe(entry)
    for name in ("key", "bot", "conversation", "phone", "status", "route", "attempts"):
        console.print(f"[bold]{name:>13}[/bold]  {facts[name]}")
    console.print(f"[bold]{'provider ids':>13}[/bold]  {', '.join(entry.provider_ids) or '-'}")
    console.print(f"[bold]{'valid until':>13}[/bold]  {facts['valid_until']}")
    table = Table("at", "status", "channel", "detail", title="history", title_justify="left")
    for line in entry.history:
        table.add_row(
            str(line.get("at", "")),
            str(line.get("status", "")),
            str(line.get("channel") or ""),
            str(line.get("detail") or ""),
        )
    console.print(table)


def _masked(phone: str) -> str:
    try:
        return Phone(phone).masked
    except InvalidPhoneError:
        return "(not a phone number)"
