"""`causette agents webhook|testers|verify|launch`: the registration steps one by one, each
idempotent and resumable, against Google's management API or the sandbox's (rbm.md §7).

Every value is checked before the first call (exit 2); a refusal from Google exits 1. Phone
numbers are normalised to E.164 and only ever printed masked.
"""

from __future__ import annotations

from pathlib import Path

import click

from agents import agent_steps
from agents.agent_spec import region_id
from agents.management import ManagementClient
from agents.registry import agent_id_of, resolve_agent, sync
from bots.cli_management import (
    client_token_or_exit,
    echo_json,
    echo_lines,
    json_option,
    phones_or_exit,
    run_remote,
    spec_option,
    spec_or_exit,
    usage_exit,
    webhook_url_or_exit,
)
from bots.cli_runtime import config_option, settings_or_exit
from messaging.clock import SystemClock
from store.base import Store

agent_argument = click.argument("agent", metavar="AGENT")
"""`brands/…/agents/…`, the agent id, or its display name."""


@click.command()
@config_option
@agent_argument
@click.option("--url", required=True, help="The bot's RBM webhook (https://…/webhooks/rbm).")
def webhook(config_path: Path, agent: str, url: str) -> None:
    """Point AGENT's webhook at URL (an agent webhook integration). Google checks it at once
    with the handshake, using the client token of `providers.rbm.client_token_env`. Run again
    with the same URL, nothing changes; with another URL, the new one replaces the old."""
    webhook_url_or_exit(url)
    settings = settings_or_exit(config_path)
    token = client_token_or_exit(settings)

    async def work(client: ManagementClient, _: Store) -> list[str]:
        name = await resolve_agent(client, agent)
        return await agent_steps.set_webhook(client, name, url, token)

    echo_lines(run_remote(settings, work))


@click.group()
def testers() -> None:
    """The phones that may talk to an agent before its launch (Google invites each one)."""


@testers.command("add")
@config_option
@agent_argument
@click.argument("phones", metavar="PHONE…", nargs=-1, required=True)
def testers_add(config_path: Path, agent: str, phones: tuple[str, ...]) -> None:
    """Invite each PHONE (any French or E.164 form) to test AGENT; one already invited is
    left as it is. Google allows 20 invites a day, 200 in all."""
    numbers = phones_or_exit(phones)
    settings = settings_or_exit(config_path)

    async def work(client: ManagementClient, _: Store) -> list[str]:
        name = await resolve_agent(client, agent)
        return await agent_steps.add_testers(client, agent_id_of(name), numbers)

    echo_lines(run_remote(settings, work))


@testers.command("remove")
@config_option
@agent_argument
@click.argument("phones", metavar="PHONE…", nargs=-1, required=True)
def testers_remove(config_path: Path, agent: str, phones: tuple[str, ...]) -> None:
    """Withdraw the invite of each PHONE; one not invited is left as it is."""
    numbers = phones_or_exit(phones)
    settings = settings_or_exit(config_path)

    async def work(client: ManagementClient, _: Store) -> list[str]:
        name = await resolve_agent(client, agent)
        return await agent_steps.remove_testers(client, agent_id_of(name), numbers)

    echo_lines(run_remote(settings, work))


@testers.command("list")
@config_option
@agent_argument
@json_option
def testers_list(config_path: Path, agent: str, as_json: bool) -> None:
    """AGENT's testers (masked) and the state of each invite."""
    settings = settings_or_exit(config_path)

    async def work(client: ManagementClient, _: Store) -> list[dict[str, str]]:
        name = await resolve_agent(client, agent)
        return await agent_steps.testers(client, agent_id_of(name))

    found = run_remote(settings, work)
    if as_json:
        echo_json(found)
        return
    echo_lines([f"{t['phone']}  {t['invite'].lower()}" for t in found] or ["no tester"])


@click.command()
@config_option
@agent_argument
@spec_option
def verify(config_path: Path, agent: str, spec_path: Path) -> None:
    """Request AGENT's verification by Google with the contact block of the spec's
    `verification`; nothing when it is already pending or verified."""
    spec = spec_or_exit(spec_path)
    if spec.verification is None:
        usage_exit(f"{spec_path}: the spec has no `verification` section (the contact block)")
    settings = settings_or_exit(config_path)

    async def work(client: ManagementClient, _: Store) -> list[str]:
        return await agent_steps.verify(client, spec, await resolve_agent(client, agent))

    echo_lines(run_remote(settings, work))


@click.command()
@config_option
@agent_argument
@spec_option
@click.option(
    "--region",
    "regions",
    multiple=True,
    metavar="R",
    help="A carrier region (orange-fr, or /v1/regions/orange-fr); repeat it. Default: the"
    " spec's `launch.regions`.",
)
def launch(config_path: Path, agent: str, spec_path: Path, regions: tuple[str, ...]) -> None:
    """Request AGENT's launch in each carrier region with the spec's questionnaire. A region
    already requested is not requested again; new regions are added to the launch (its
    update, which lists every region). The local record follows the launch state."""
    spec = spec_or_exit(spec_path)
    if spec.launch is None:
        usage_exit(f"{spec_path}: the spec has no `launch` section (the questionnaire)")
    try:
        wanted = [region_id(region) for region in regions] or None
    except ValueError as error:
        usage_exit(f"--region: {error}")
    if wanted is None and not spec.launch.regions:
        usage_exit(f"{spec_path}: no region: give --region or list `launch.regions`")
    settings = settings_or_exit(config_path)

    async def work(client: ManagementClient, store: Store) -> list[str]:
        name = await resolve_agent(client, agent)
        done = await agent_steps.launch(client, spec, name, wanted)
        state = await sync(client, store, name, SystemClock().now())
        return [*done, f"local record: {state.value}"]

    echo_lines(run_remote(settings, work))
