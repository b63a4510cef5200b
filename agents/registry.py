"""Registering RBM agents with Google's management API, idempotently, and mirroring their state
in the store (R18, R19; reference/rbm.md §7).

Every step looks before it acts, so that a script run twice, or resumed after a failure, does
each thing once: a brand or an agent is found by its display name before it is created
(Google's create calls are not idempotent), a tester already invited (409) is done, a
verification or launch already requested is left as it is. The local record of an agent
(`store.records.AgentRecord`) follows the launch state (`sync`): LAUNCHED once any carrier
region launched it, SUSPENDED when one suspended it, UNLAUNCHED otherwise; the router reads it
(`fallback.agent_status`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agents.agent_spec import AgentSpec
from agents.errors import Permanent
from agents.management import ManagementClient, already_exists
from store.base import Store
from store.records import AgentRecord, AgentState


@dataclass
class Registration:
    """What `register` found or did, step by step (for the command's output)."""

    brand: str = ""
    agent: str = ""
    """`brands/{b}/agents/{a}`."""
    steps: list[str] = field(default_factory=list)

    @property
    def agent_id(self) -> str:
        return self.agent.rsplit("/", 1)[-1]


async def register(
    client: ManagementClient,
    spec: AgentSpec,
    *,
    webhook: tuple[str, str] | None = None,
    verify: bool = False,
    launch: bool = False,
) -> Registration:
    """Brand, agent, webhook integration (`(url, client token)`), testers, then on request the
    verification and the launch: each done once however often this runs."""
    done = Registration()
    done.brand = await _brand(client, spec, done)
    done.agent = await _agent(client, spec, done)
    if webhook is not None:
        url, token = webhook
        await client.create_integration(done.agent, url, token)
        done.steps.append(f"webhook set to {url}")
    for phone in spec.testers:
        try:
            await client.add_tester(done.agent_id, phone.e164)
            done.steps.append(f"tester {phone.masked} invited")
        except Permanent as error:
            if not already_exists(error):
                raise
            done.steps.append(f"tester {phone.masked} already invited")
    if verify:
        await _verify(client, spec, done)
    if launch:
        await _launch(client, spec, done)
    return done


async def _brand(client: ManagementClient, spec: AgentSpec, done: Registration) -> str:
    for brand in (await client.list_brands()).get("brands", []):
        if brand.get("displayName") == spec.brand:
            done.steps.append(f"brand {spec.brand!r} found: {brand['name']}")
            return str(brand["name"])
    created = await client.create_brand(spec.brand)
    done.steps.append(f"brand {spec.brand!r} created: {created['name']}")
    return str(created["name"])


async def _agent(client: ManagementClient, spec: AgentSpec, done: Registration) -> str:
    for agent in (await client.list_agents(done.brand)).get("agents", []):
        if agent.get("displayName") == spec.display_name:
            done.steps.append(f"agent {spec.display_name!r} found: {agent['name']}")
            return str(agent["name"])
    created = await client.create_agent(done.brand, spec.agent_body())
    done.steps.append(f"agent {spec.display_name!r} created: {created['name']}")
    return str(created["name"])


async def _verify(client: ManagementClient, spec: AgentSpec, done: Registration) -> None:
    state = (await client.get_verification(done.agent)).get("verificationState", "")
    if state in ("PENDING", "VERIFIED"):
        done.steps.append(f"verification already {state.lower()}")
        return
    await client.request_verification(
        done.agent, spec.verification_body()["agentVerificationContact"]
    )
    done.steps.append("verification requested")


async def _launch(client: ManagementClient, spec: AgentSpec, done: Registration) -> None:
    regions = _launch_states(await _launch_or_none(client, done.agent))
    if regions:
        done.steps.append(f"launch already requested ({_describe(regions)})")
        return
    await client.request_launch(done.agent, spec.launch_body()["agentLaunch"])
    done.steps.append("launch requested")


async def _launch_or_none(client: ManagementClient, agent_name: str) -> dict[str, Any]:
    """The agent's launch, or `{}` when none was requested (Google answers 404)."""
    try:
        return await client.get_launch(agent_name)
    except Permanent as error:
        if error.status == 404:
            return {}
        raise


def _launch_states(launch: dict[str, Any]) -> dict[str, str]:
    """`{region: launchState}` of a launch resource (rbm.md §7)."""
    details = launch.get("rcsBusinessMessaging", {}).get("launchDetails", {}) or {}
    return {
        str(region).rsplit("/", 1)[-1]: str(value.get("launchState", ""))
        for region, value in details.items()
        if isinstance(value, dict)
    }


def _describe(regions: dict[str, str]) -> str:
    return ", ".join(f"{region} {state.lower()}" for region, state in sorted(regions.items()))


@dataclass(frozen=True, slots=True)
class AgentStatus:
    name: str
    verification: str
    regions: dict[str, str]
    record: AgentRecord | None


async def status(client: ManagementClient, store: Store, agent_name: str) -> AgentStatus:
    """Verification, launch per region, and what Causette knows (last send, R19)."""
    verification = (await client.get_verification(agent_name)).get("verificationState", "")
    regions = _launch_states(await _launch_or_none(client, agent_name))
    record = await store.get_agent(agent_name.rsplit("/", 1)[-1])
    return AgentStatus(agent_name, str(verification), regions, record)


async def sync(
    client: ManagementClient, store: Store, agent_name: str, now: datetime
) -> AgentState:
    """Mirror the agent's launch state in its local record; the new state."""
    regions = _launch_states(await client.get_launch(agent_name))
    states = set(regions.values())
    if "SUSPENDED" in states:
        state = AgentState.SUSPENDED
    elif "LAUNCHED" in states:
        state = AgentState.LAUNCHED
    else:
        state = AgentState.UNLAUNCHED
    agent_id = agent_name.rsplit("/", 1)[-1]
    record = await store.get_agent(agent_id)
    last, reactivated = (record.last_sent_at, record.reactivated_at) if record else (None, None)
    await store.save_agent(AgentRecord(agent_id, state, last, reactivated, now))
    return state


async def reactivate(store: Store, agent_id: str, now: datetime) -> AgentRecord:
    """Record the re-validation of an agent deactivated for six months of silence (R19): the
    router counts its inactivity from now."""
    record = await store.get_agent(agent_id)
    state = record.state if record is not None else AgentState.LAUNCHED
    last = record.last_sent_at if record is not None else None
    updated = AgentRecord(agent_id, state, last, now, now)
    await store.save_agent(updated)
    return updated
