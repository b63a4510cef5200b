"""Registering RBM agents with Google's management API, idempotently, and mirroring their state
in the store (R18, R19; reference/rbm.md §7).

Every step looks before it acts, so that a script run twice, or resumed after a failure, does
each thing once: a brand or an agent is found by its display name before it is created
(Google's create calls are not idempotent); the later steps are in `agents.agent_steps`. The
local record of an agent (`store.records.AgentRecord`, keyed by agent id) follows the launch
state (`mirror`): LAUNCHED once any carrier region launched it, SUSPENDED when one suspended
it, UNLAUNCHED otherwise; the router reads it (`fallback.agent_status`).

An agent is named on the command line by its resource name (`brands/{b}/agents/{a}`), its id
(`{a}`) or its display name; `resolve_agent` finds the resource name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agents import agent_steps
from agents.agent_spec import AgentSpec
from agents.agent_steps import launch_or_none, launch_states
from agents.management import ManagementClient
from store.base import Store
from store.records import AgentRecord, AgentState


class UnknownAgent(LookupError):
    """No agent (or more than one) answers to the name given."""


@dataclass
class Registration:
    """What `register` found or did, step by step (for the command's output)."""

    brand: str = ""
    agent: str = ""
    """`brands/{b}/agents/{a}`."""
    steps: list[str] = field(default_factory=list)

    @property
    def agent_id(self) -> str:
        return agent_id_of(self.agent)


def agent_id_of(agent_name: str) -> str:
    """`{a}` of `brands/{b}/agents/{a}`."""
    return agent_name.rsplit("/", 1)[-1]


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
    done.brand, step = await ensure_brand(client, spec.brand)
    done.steps.append(step)
    done.agent, step = await ensure_agent(client, spec, done.brand)
    done.steps.append(step)
    if webhook is not None:
        done.steps += await agent_steps.set_webhook(client, done.agent, *webhook)
    done.steps += await agent_steps.add_testers(client, done.agent_id, spec.testers)
    if verify:
        done.steps += await agent_steps.verify(client, spec, done.agent)
    if launch:
        done.steps += await agent_steps.launch(client, spec, done.agent)
    return done


async def find_brand(client: ManagementClient, display_name: str) -> str | None:
    """The name (`brands/{id}`) of the brand called `display_name`, if there is one."""
    for brand in (await client.list_brands()).get("brands", []):
        if brand.get("displayName") == display_name:
            return str(brand["name"])
    return None


async def ensure_brand(client: ManagementClient, display_name: str) -> tuple[str, str]:
    """The brand called `display_name`, created when missing; `(name, what was done)`."""
    found = await find_brand(client, display_name)
    if found is not None:
        return found, f"brand {display_name!r} found: {found}"
    created = str((await client.create_brand(display_name))["name"])
    return created, f"brand {display_name!r} created: {created}"


async def ensure_agent(client: ManagementClient, spec: AgentSpec, brand: str) -> tuple[str, str]:
    """The brand's agent called `spec.display_name`, created when missing."""
    for agent in (await client.list_agents(brand)).get("agents", []):
        if agent.get("displayName") == spec.display_name:
            return str(agent["name"]), f"agent {spec.display_name!r} found: {agent['name']}"
    created = str((await client.create_agent(brand, spec.agent_body()))["name"])
    return created, f"agent {spec.display_name!r} created: {created}"


async def all_agents(client: ManagementClient) -> list[dict[str, Any]]:
    """Every agent of every brand the account sees, each with its brand's `brandName`."""
    found: list[dict[str, Any]] = []
    for brand in (await client.list_brands()).get("brands", []):
        for agent in (await client.list_agents(str(brand["name"]))).get("agents", []):
            found.append(agent | {"brandName": brand.get("displayName", "")})
    return found


async def resolve_agent(client: ManagementClient, ref: str) -> str:
    """The resource name of the agent `ref` names (module doc); `UnknownAgent` otherwise. A
    resource name is taken as it is, without a call."""
    if ref.startswith("brands/") and "/agents/" in ref:
        return ref
    matches = [
        str(agent["name"])
        for agent in await all_agents(client)
        if ref in (agent_id_of(str(agent["name"])), agent.get("displayName"))
    ]
    if len(matches) != 1:
        many = f"{len(matches)} agents are" if matches else "no agent is"
        raise UnknownAgent(f"{many} called {ref!r} (give brands/…/agents/…, or the agent id)")
    return matches[0]


@dataclass(frozen=True, slots=True)
class AgentStatus:
    name: str
    verification: str
    regions: dict[str, str]
    record: AgentRecord | None


async def status(client: ManagementClient, store: Store, agent_name: str) -> AgentStatus:
    """Verification, launch per region, and what Causette knows (last send, R19)."""
    verification = (await client.get_verification(agent_name)).get("verificationState", "")
    regions = launch_states(await launch_or_none(client, agent_name))
    record = await store.get_agent(agent_id_of(agent_name))
    return AgentStatus(agent_name, str(verification), regions, record)


def launch_state(regions: dict[str, str]) -> AgentState:
    """What the router should think of an agent with these launch states per region."""
    states = set(regions.values())
    if "SUSPENDED" in states:
        return AgentState.SUSPENDED
    if "LAUNCHED" in states:
        return AgentState.LAUNCHED
    return AgentState.UNLAUNCHED


async def mirror(
    store: Store, agent_name: str, regions: dict[str, str], now: datetime
) -> AgentRecord:
    """Saves the agent's launch state in its local record, keeping its send history."""
    agent_id = agent_id_of(agent_name)
    record = await store.get_agent(agent_id)
    last, reactivated = (record.last_sent_at, record.reactivated_at) if record else (None, None)
    updated = AgentRecord(agent_id, launch_state(regions), last, reactivated, now)
    await store.save_agent(updated)
    return updated


async def sync(
    client: ManagementClient, store: Store, agent_name: str, now: datetime
) -> AgentState:
    """Mirror the agent's launch state in its local record; the new state."""
    regions = launch_states(await launch_or_none(client, agent_name))
    return (await mirror(store, agent_name, regions, now)).state


async def reactivate(store: Store, agent_id: str, now: datetime) -> AgentRecord:
    """Record the re-validation of an agent deactivated for six months of silence (R19): the
    router counts its inactivity from now."""
    record = await store.get_agent(agent_id)
    state = record.state if record is not None else AgentState.LAUNCHED
    last = record.last_sent_at if record is not None else None
    updated = AgentRecord(agent_id, state, last, now, now)
    await store.save_agent(updated)
    return updated
