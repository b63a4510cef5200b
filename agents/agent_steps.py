"""The steps of an agent's registration after its creation, each idempotent and usable alone
(reference/rbm.md §7): the webhook integration, testers, verification and launch.

Each step looks before it acts and answers what it found or did, one line per thing, phone
numbers masked: a step run twice, or resumed after a failure, does each thing once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agents.agent_spec import AgentSpec, region_id
from agents.errors import Permanent
from agents.management import ManagementClient, already_exists
from messaging.phone import Phone


async def set_webhook(
    client: ManagementClient, agent_name: str, url: str, client_token: str
) -> list[str]:
    """Makes `url` the agent's one webhook: nothing when it already is, otherwise a new
    integration (Google runs the handshake with `client_token`, rbm.md §5.2), then the others
    removed. The new one comes first so that a refused handshake leaves the old one working."""
    hooks = [
        hook
        for hook in (await client.list_integrations(agent_name)).get("integrations", [])
        if isinstance(hook.get("agentWebhookIntegration"), dict)
    ]
    same = [hook for hook in hooks if hook["agentWebhookIntegration"].get("webhookUri") == url]
    done: list[str] = []
    if same:
        kept = str(same[0]["name"])
        done.append(f"webhook already {url}")
    else:
        kept = str((await client.create_integration(agent_name, url, client_token))["name"])
        done.append(f"webhook set to {url}")
    for hook in hooks:
        if hook["name"] != kept:
            await client.delete_integration(str(hook["name"]))
            old = hook["agentWebhookIntegration"].get("webhookUri", "?")
            done.append(f"webhook {old} removed")
    return done


async def add_testers(
    client: ManagementClient, agent_id: str, phones: Iterable[Phone]
) -> list[str]:
    """Invites each phone once: one already invited (listed, or answered 409) is done."""
    wanted = list(dict.fromkeys(phones))
    if not wanted:
        return []
    listed = (await client.list_testers(agent_id)).get("testers", [])
    invited = {str(tester.get("phoneNumber")) for tester in listed}
    done: list[str] = []
    for phone in wanted:
        if phone.e164 in invited:
            done.append(f"tester {phone.masked} already invited")
            continue
        try:
            await client.add_tester(agent_id, phone)
            done.append(f"tester {phone.masked} invited")
        except Permanent as error:
            if not already_exists(error):
                raise
            done.append(f"tester {phone.masked} already invited")
    return done


async def remove_testers(
    client: ManagementClient, agent_id: str, phones: Iterable[Phone]
) -> list[str]:
    """Removes each phone's invite; one that is not there (404) is done."""
    done: list[str] = []
    for phone in dict.fromkeys(phones):
        try:
            await client.remove_tester(agent_id, phone)
            done.append(f"tester {phone.masked} removed")
        except Permanent as error:
            if error.status != 404:
                raise
            done.append(f"tester {phone.masked} was not invited")
    return done


async def testers(client: ManagementClient, agent_id: str) -> list[dict[str, str]]:
    """`[{"phone": masked, "invite": PENDING|ACCEPTED|DECLINED}]` of the agent."""
    found = (await client.list_testers(agent_id)).get("testers", [])
    return [
        {"phone": Phone(str(t["phoneNumber"])).masked, "invite": str(t.get("inviteStatus", ""))}
        for t in found
    ]


async def verify(client: ManagementClient, spec: AgentSpec, agent_name: str) -> list[str]:
    """Requests verification with the spec's contact block, unless already pending or done.
    `ValueError` when the spec has no `verification` (before any call)."""
    contact = spec.verification_body()["agentVerificationContact"]
    state = (await client.get_verification(agent_name)).get("verificationState", "")
    if state in ("PENDING", "VERIFIED"):
        return [f"verification already {state.lower()}"]
    await client.request_verification(agent_name, contact)
    return ["verification requested"]


async def launch(
    client: ManagementClient,
    spec: AgentSpec,
    agent_name: str,
    regions: Iterable[str] | None = None,
) -> list[str]:
    """Requests the launch in `regions` (the spec's `launch.regions` by default) with the
    spec's questionnaire. A region already requested is not requested again; new regions
    join an existing launch by its PATCH, which lists every region (rbm.md §7). `ValueError`
    when the spec has no `launch` or no region (before any call)."""
    wanted = list(dict.fromkeys(_region_ids(spec, regions)))
    spec.launch_body(wanted)  # checks the spec before any call
    current = launch_states(await launch_or_none(client, agent_name))
    done = [f"{r} already {current[r].lower()}" for r in wanted if r in current]
    missing = [r for r in wanted if r not in current]
    if not missing:
        return done
    if not current:
        await client.request_launch(agent_name, spec.launch_body(missing)["agentLaunch"])
        return [*done, f"launch requested in {', '.join(missing)}"]
    every = [*current, *missing]
    await client.update_launch(agent_name, spec.launch_body(every)["agentLaunch"])
    return [*done, f"launch extended to {', '.join(missing)}"]


def _region_ids(spec: AgentSpec, regions: Iterable[str] | None) -> list[str]:
    if regions is not None:
        return [region_id(r) for r in regions]
    return list(spec.launch.regions) if spec.launch is not None else []


async def launch_or_none(client: ManagementClient, agent_name: str) -> dict[str, Any]:
    """The agent's launch, or `{}` when none was requested (Google answers 404)."""
    try:
        return await client.get_launch(agent_name)
    except Permanent as error:
        if error.status == 404:
            return {}
        raise


def launch_states(launch: dict[str, Any]) -> dict[str, str]:
    """`{carrier id: launchState}` of a launch resource (rbm.md §7)."""
    details = launch.get("rcsBusinessMessaging", {}).get("launchDetails", {}) or {}
    return {
        str(region).rsplit("/", 1)[-1]: str(value.get("launchState", ""))
        for region, value in details.items()
        if isinstance(value, dict)
    }
