"""`causette brands create|list`: the brands RBM agents belong to (reference/rbm.md §7).

Google's brand create is not idempotent, so `create` looks for a brand of the same display
name first and creates one only when there is none. Exit codes: `bots.cli_management`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from agents.agent_spec import BRAND_NAME_MAX
from agents.management import ManagementClient
from agents.registry import ensure_brand
from bots.cli_management import echo_json, json_option, run_remote, usage_exit
from bots.cli_runtime import config_option, settings_or_exit
from store.base import Store


@click.group()
def brands() -> None:
    """RBM brands (Google's management API): the business an agent speaks for."""


@brands.command()
@config_option
@click.argument("name")
def create(config_path: Path, name: str) -> None:
    """Create the brand NAME (its display name, at most 100 characters), unless one of that
    name exists: then print it."""
    name = name.strip()
    if not name or len(name) > BRAND_NAME_MAX:
        usage_exit(
            f"NAME: {len(name)} characters, a brand's display name takes 1 to"
            f" {BRAND_NAME_MAX} (rbm.md §7)"
        )
    settings = settings_or_exit(config_path)

    async def work(client: ManagementClient, _: Store) -> str:
        return (await ensure_brand(client, name))[1]

    click.echo(run_remote(settings, work))


@brands.command("list")
@config_option
@json_option
def list_brands(config_path: Path, as_json: bool) -> None:
    """Every brand the service account sees."""
    settings = settings_or_exit(config_path)

    async def work(client: ManagementClient, _: Store) -> list[dict[str, Any]]:
        found = (await client.list_brands()).get("brands", [])
        return [{"brand": b["name"], "display_name": b.get("displayName", "")} for b in found]

    rows = run_remote(settings, work)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['brand']}  {row['display_name']}")
    if not rows:
        click.echo("no brand")
