"""`causette agents ...`: register RBM agents with Google from a YAML spec, follow their
verification and launch, and keep the local record the router reads (R18, R19; rbm.md §7).

Every command is safe to run again: `create` (the whole script in one go) finds what exists
before creating it and does only the steps still missing; the steps one by one are in
`bots.cli_agents_steps`. Exit codes and credentials: `bots.cli_management`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from agents.management import ManagementClient
from agents.registry import (
    AgentStatus,
    agent_id_of,
    all_agents,
    reactivate,
    register,
    resolve_agent,
    status,
    sync,
)
from bots.cli_agents_steps import launch, testers, verify, webhook
from bots.cli_management import (
    client_token_or_exit,
    echo_json,
    echo_lines,
    json_option,
    run_remote,
    spec_or_exit,
    webhook_url_or_exit,
)
from bots.cli_runtime import config_option, settings_or_exit, with_store
from fallback.agent_status import unusable_reason
from messaging.clock import SystemClock
from messaging.phone import Phone
from store.base import Store
from store.records import AgentRecord


@click.group()
def agents() -> None:
    """RBM agents: register, verify, launch, follow (Google's management API).

    AGENT is `brands/…/agents/…`, the agent id, or its display name."""


agents.add_command(webhook)
agents.add_command(testers)
agents.add_command(verify)
agents.add_command(launch)


@agents.command()
@config_option
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--webhook", "webhook_url", help="Set the agent's webhook to this URL.")
@click.option("--verify", "with_verify", is_flag=True, help="Also request verification.")
@click.option("--launch", "with_launch", is_flag=True, help="Also request the launch.")
def create(
    config_path: Path,
    spec_path: Path,
    webhook_url: str | None,
    with_verify: bool,
    with_launch: bool,
) -> None:
    """Register the agent of SPEC (a YAML file): brand, agent, testers, and on request the
    webhook, the verification (spec `verification`) and the launch (spec `launch`). Every
    field is checked before any call (exit 2 naming the field and its limit)."""
    spec = spec_or_exit(spec_path)
    settings = settings_or_exit(config_path)
    hook = None
    if webhook_url is not None:
        hook = (webhook_url_or_exit(webhook_url), client_token_or_exit(settings))

    async def work(client: ManagementClient, store: Store) -> list[str]:
        done = await register(client, spec, webhook=hook, verify=with_verify, launch=with_launch)
        state = await sync(client, store, done.agent, SystemClock().now())
        return [*done.steps, f"agent id: {done.agent_id}", f"local record: {state.value}"]

    echo_lines(run_remote(settings, work))


@agents.command("list")
@config_option
@json_option
def list_agents(config_path: Path, as_json: bool) -> None:
    """Every agent of every brand at Google, with what the local record says of it."""
    settings = settings_or_exit(config_path)

    async def work(client: ManagementClient, store: Store) -> list[dict[str, Any]]:
        now = SystemClock().now()
        rows = []
        for agent in await all_agents(client):
            name = str(agent["name"])
            record = await store.get_agent(agent_id_of(name))
            rows.append(
                {"agent": name, "display_name": agent.get("displayName", "")}
                | {"brand": agent["brandName"]}
                | _local(record, now)
            )
        return rows

    rows = run_remote(settings, work)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        local = row["local_state"] or "no local record"
        click.echo(f"{row['agent']}  {row['display_name']!r} ({row['brand']})  {local}")
    if not rows:
        click.echo("no agent")


@agents.command()
@config_option
@click.argument("agent", metavar="AGENT")
@json_option
def show(config_path: Path, agent: str, as_json: bool) -> None:
    """AGENT at Google (profile, verification, launch per region, webhooks, testers) and in
    the local record (state, last message sent, inactivity: R19)."""
    settings = settings_or_exit(config_path)

    async def work(client: ManagementClient, store: Store) -> dict[str, Any]:
        name = await resolve_agent(client, agent)
        resource = await client.get_agent(name)
        rbm = resource.get("rcsBusinessMessagingAgent", {})
        found = await status(client, store, name)
        hooks = (await client.list_integrations(name)).get("integrations", [])
        invited = (await client.list_testers(agent_id_of(name))).get("testers", [])
        return {
            "agent": name,
            "display_name": resource.get("displayName", ""),
            "description": rbm.get("description", ""),
            "use_case": rbm.get("agentUseCase", ""),
            "hosting_region": rbm.get("hostingRegion", ""),
            "webhooks": [
                h["agentWebhookIntegration"].get("webhookUri", "")
                for h in hooks
                if isinstance(h.get("agentWebhookIntegration"), dict)
            ],
            "testers": {
                Phone(str(t["phoneNumber"])).masked: t.get("inviteStatus", "") for t in invited
            },
        } | _status_json(found)

    _print(run_remote(settings, work), as_json)


@agents.command("status")
@config_option
@click.argument("agent", metavar="AGENT")
@json_option
def show_status(config_path: Path, agent: str, as_json: bool) -> None:
    """Verification, launch per carrier region, last message sent and inactivity (R19) of
    AGENT."""
    settings = settings_or_exit(config_path)

    async def work(client: ManagementClient, store: Store) -> dict[str, Any]:
        return _status_json(await status(client, store, await resolve_agent(client, agent)))

    _print(run_remote(settings, work), as_json)


@agents.command("sync")
@config_option
@click.argument("agent_refs", metavar="AGENT…", nargs=-1, required=True)
def sync_agents(config_path: Path, agent_refs: tuple[str, ...]) -> None:
    """Mirror the launch state of each AGENT in its local record (what the router reads:
    launched, unlaunched, suspended)."""
    settings = settings_or_exit(config_path)

    async def work(client: ManagementClient, store: Store) -> list[str]:
        now = SystemClock().now()
        lines = []
        for ref in agent_refs:
            name = await resolve_agent(client, ref)
            lines.append(f"{name}: {(await sync(client, store, name, now)).value}")
        return lines

    echo_lines(run_remote(settings, work))


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


def _local(record: AgentRecord | None, now: datetime) -> dict[str, Any]:
    return {
        "local_state": record.state.value if record else None,
        "last_sent_at": _iso(record.last_sent_at if record else None),
        "reactivated_at": _iso(record.reactivated_at if record else None),
        "inactive": unusable_reason(record, now),
    }


def _status_json(found: AgentStatus) -> dict[str, Any]:
    return {
        "agent": found.name,
        "verification": found.verification,
        "launch": found.regions,
    } | _local(found.record, SystemClock().now())


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _print(shown: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(shown)
        return
    for key, value in shown.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {str(v).lower()}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        click.echo(f"{key}: {value or '-'}")
