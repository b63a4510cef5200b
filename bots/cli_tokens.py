"""`causette tokens ...`: the admin API's bearer tokens (docs/admin-api.md).

A new token is printed once, at creation; the store keeps only its SHA-256.
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bots.admin.auth import hash_token, new_token
from bots.cli_runtime import EXIT_FAILED, config_option, settings_or_exit, with_store
from messaging.clock import SystemClock
from store.base import Store
from store.tokens_records import ALL_BOTS, ApiToken


@click.group()
def tokens() -> None:
    """Bearer tokens of the admin REST API (/v1/)."""


@tokens.command("create")
@config_option
@click.option("--bot", "bots", multiple=True, help="A bot the token may act on (repeatable).")
@click.option("--all-bots", is_flag=True, help="The token may act on every bot.")
@click.option("--name", default="", help="What the token is for (shown by `tokens list`).")
@click.option("--json", "as_json", is_flag=True, help="Print the token and its record as JSON.")
def tokens_create(
    config_path: Path, bots: tuple[str, ...], all_bots: bool, name: str, as_json: bool
) -> None:
    """Make a token and print it, once: only its hash is kept."""
    if bool(bots) == all_bots:
        raise click.UsageError("give --bot (one or more) or --all-bots")
    settings = settings_or_exit(config_path)
    known = {bot.id for bot in settings.bots}
    unknown = sorted(set(bots) - known)
    if unknown:
        raise click.BadParameter(
            f"no bot {', '.join(unknown)} in {config_path}", param_hint="--bot"
        )
    secret = new_token()
    scopes = (ALL_BOTS,) if all_bots else tuple(dict.fromkeys(bots))
    record = ApiToken(uuid.uuid4().hex[:12], name, hash_token(secret), scopes, SystemClock().now())

    async def save(store: Store) -> None:
        await store.save_token(record)

    with_store(settings, save)
    if as_json:
        click.echo(json.dumps({**_row(record), "token": secret}, ensure_ascii=False, indent=2))
        return
    click.echo(secret)
    click.echo(f"token {record.id} for {', '.join(scopes)}: shown once, keep it now", err=True)


@tokens.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the tokens as JSON.")
def tokens_list(config_path: Path, as_json: bool) -> None:
    """Every token, oldest first (never the secrets: they are not kept)."""
    settings = settings_or_exit(config_path)

    async def read(store: Store) -> list[ApiToken]:
        return await store.list_tokens()

    records = with_store(settings, read)
    if as_json:
        click.echo(json.dumps([_row(r) for r in records], ensure_ascii=False, indent=2))
        return
    table = Table("id", "name", "bots", "created", "revoked")
    for r in records:
        revoked = _minutes(r.revoked_at) if r.revoked_at else ""
        table.add_row(r.id, r.name, ", ".join(r.scopes), _minutes(r.created_at), revoked)
    Console(highlight=False).print(table)


@tokens.command("revoke")
@config_option
@click.argument("token_id", metavar="ID")
def tokens_revoke(config_path: Path, token_id: str) -> None:
    """Refuse token ID from now on (exit 1 when unknown or already revoked)."""
    settings = settings_or_exit(config_path)
    now = SystemClock().now()

    async def revoke(store: Store) -> bool:
        return await store.revoke_token(token_id, now)

    if not with_store(settings, revoke):
        click.echo(f"no live token {token_id}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"token {token_id} revoked")


def _row(record: ApiToken) -> dict[str, Any]:
    r = record
    revoked = None if r.revoked_at is None else r.revoked_at.isoformat()
    created = r.created_at.isoformat()
    return {
        "id": r.id,
        "name": r.name,
        "bots": list(r.scopes),
        "created": created,
        "revoked": revoked,
    }


def _minutes(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")
