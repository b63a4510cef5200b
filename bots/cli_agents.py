"""`causette agents ...`: register RBM agents with Google from a YAML spec, follow their
verification and launch, and keep the local record the router reads (R18, R19; rbm.md §7).

Every command is safe to run again: `create` finds what exists before creating it, and does
only the steps still missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import aiohttp
import click

from agents.agent_spec import SpecError, load_agent_spec
from agents.errors import ProviderError
from agents.google_auth import BUSINESS_COMMUNICATIONS_SCOPE, ServiceAccountTokens
from agents.management import ManagementClient
from agents.registry import reactivate, register, status, sync
from bots.cli_runtime import EXIT_FAILED, config_option, settings_or_exit, with_store
from bots.config import RbmProvider, Settings
from fallback.agent_status import unusable_reason
from messaging.clock import SystemClock
from store.base import Store
from store.url import store_from_url

T = TypeVar("T")
Work = Callable[[ManagementClient, Store], Awaitable[T]]


@click.group()
def agents() -> None:
    """RBM agents: register, verify, launch, follow (Google's management API)."""


@agents.command()
@config_option
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--webhook", "webhook_url", help="Set the agent's webhook to this URL.")
@click.option("--verify", is_flag=True, help="Also request verification (spec `verification`).")
@click.option("--launch", is_flag=True, help="Also request the launch (spec `launch`).")
def create(
    config_path: Path, spec_path: Path, webhook_url: str | None, verify: bool, launch: bool
) -> None:
    """Register the agent of SPEC (a YAML file): brand, agent, testers, and on request the
    webhook, the verification and the launch. Every field is checked before any call."""
    try:
        spec = load_agent_spec(spec_path)
    except SpecError as error:
        click.echo("\n".join(error.problems), err=True)
        sys.exit(EXIT_FAILED)
    settings = settings_or_exit(config_path)
    webhook = None
    if webhook_url is not None:
        rbm = _rbm(settings)
        webhook = (webhook_url, os.environ[rbm.client_token_env])

    async def work(client: ManagementClient, _: Store) -> list[str]:
        done = await register(client, spec, webhook=webhook, verify=verify, launch=launch)
        return [*done.steps, f"agent id: {done.agent_id}"]

    for line in _run(settings, work):
        click.echo(line)


@agents.command("status")
@config_option
@click.argument("agent_name", metavar="NAME")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def show_status(config_path: Path, agent_name: str, as_json: bool) -> None:
    """Verification, launch per carrier region, last message sent and inactivity (R19) of
    the agent NAME (`brands/…/agents/…`)."""
    settings = settings_or_exit(config_path)

    async def work(client: ManagementClient, store: Store) -> dict[str, object]:
        found = await status(client, store, agent_name)
        record = found.record
        return {
            "agent": found.name,
            "verification": found.verification,
            "launch": found.regions,
            "last_sent_at": record.last_sent_at.isoformat()
            if record and record.last_sent_at
            else None,
            "inactive": unusable_reason(record, SystemClock().now()),
        }

    shown = _run(settings, work)
    if as_json:
        click.echo(json.dumps(shown, indent=2))
        return
    for key, value in shown.items():
        click.echo(f"{key}: {value if value not in (None, {}) else '-'}")


@agents.command("sync")
@config_option
@click.argument("agent_names", metavar="NAME", nargs=-1, required=True)
def sync_agents(config_path: Path, agent_names: tuple[str, ...]) -> None:
    """Mirror the launch state of each agent NAME in its local record (what the router
    reads: launched, unlaunched, suspended)."""
    settings = settings_or_exit(config_path)

    async def work(client: ManagementClient, store: Store) -> list[str]:
        now = SystemClock().now()
        return [f"{name}: {(await sync(client, store, name, now)).value}" for name in agent_names]

    for line in _run(settings, work):
        click.echo(line)


@agents.command("reactivate")
@config_option
@click.argument("agent_id")
def reactivate_agent(config_path: Path, agent_id: str) -> None:
    """Record that the agent was validated again after six months without a message (R19):
    the router sends by RCS again, and counts the inactivity from now."""
    settings = settings_or_exit(config_path)

    async def work(store: Store) -> str:
        record = await reactivate(store, agent_id, SystemClock().now())
        return f"{agent_id}: reactivated at {record.reactivated_at:%Y-%m-%d %H:%M} UTC"

    click.echo(with_store(settings, work))


def _rbm(settings: Settings) -> RbmProvider:
    rbm = settings.providers.rbm
    if rbm is None:
        raise click.UsageError("the configuration has no `providers.rbm`")
    return rbm


def _run(settings: Settings, work: Work[T]) -> T:
    rbm = _rbm(settings)
    tokens = ServiceAccountTokens(
        os.environ[rbm.credentials_env], scopes=(BUSINESS_COMMUNICATIONS_SCOPE,)
    )

    async def run() -> T:
        async with aiohttp.ClientSession() as session, store_from_url(settings.store) as store:
            client = ManagementClient(session, tokens=tokens, base_url=rbm.management_base_url)
            return await work(client, store)

    try:
        return asyncio.run(run())
    except ProviderError as error:
        click.echo(f"Google refused: {error}", err=True)
        sys.exit(EXIT_FAILED)
