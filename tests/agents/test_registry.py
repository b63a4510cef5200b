"""Registering an agent from its spec through the management API, idempotently, and mirroring
its launch state for the router (R18, R19; rbm.md §7), against the sandbox's emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from agents import agent_steps
from agents.agent_spec import load_agent_spec
from agents.google_auth import StaticToken
from agents.management import ManagementClient
from agents.registry import UnknownAgent, reactivate, register, resolve_agent, status, sync
from fallback.agent_status import unusable_reason
from messaging.clock import FakeClock
from messaging.phone import Phone
from sandbox.rbm_management import RbmManagementEmulator
from store.records import AgentState
from store.sqlite import SqliteStore

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]
SPEC = Path(__file__).parents[2] / "examples" / "agents" / "cabinet.yaml"
TOKEN = "ya29.management"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def emulator() -> RbmManagementEmulator:
    return RbmManagementEmulator(token=TOKEN, clock=FakeClock(NOW), handshake="off")


@pytest.fixture
async def client(
    aiohttp_server: ServerFactory, emulator: RbmManagementEmulator
) -> AsyncIterator[ManagementClient]:
    server = await aiohttp_server(emulator.app())
    async with aiohttp.ClientSession() as session:
        base = str(server.make_url("")).rstrip("/")
        yield ManagementClient(session, tokens=StaticToken(TOKEN), base_url=base)


async def test_registering_twice_does_everything_once(
    client: ManagementClient, emulator: RbmManagementEmulator, tmp_path: Path
) -> None:
    spec = load_agent_spec(SPEC)
    webhook = ("https://bots.example.fr/webhooks/rbm", "jeton")
    first = await register(client, spec, webhook=webhook, verify=True, launch=True)
    assert any("created" in step for step in first.steps)
    assert "verification requested" in first.steps
    assert "launch requested in orange-fr, sfr-fr, bouygues-fr, free-fr" in first.steps
    writes = [call for call in emulator.calls if not call.startswith("GET")]
    again = await register(client, spec, webhook=webhook, verify=True, launch=True)
    assert again.agent == first.agent
    assert [call for call in emulator.calls if not call.startswith("GET")] == writes
    assert not any("created" in step for step in again.steps)
    assert "webhook already https://bots.example.fr/webhooks/rbm" in again.steps
    assert "verification already pending" in again.steps
    assert "orange-fr already pending" in again.steps
    agents = await client.list_agents(first.brand)
    assert len(agents["agents"]) == 1

    async with SqliteStore(str(tmp_path / "s.db")) as store:
        assert await sync(client, store, first.agent, NOW) is AgentState.UNLAUNCHED
        emulator.verify(first.agent)
        emulator.launch(first.agent, ["/v1/regions/orange-fr"])
        assert await sync(client, store, first.agent, NOW) is AgentState.LAUNCHED
        shown = await status(client, store, first.agent)
        assert shown.verification == "VERIFIED"
        assert shown.regions["orange-fr"] == "LAUNCHED"
        # R19: six months of silence make it unusable until an admin records its re-validation.
        await store.record_agent_send(first.agent_id, NOW)
        later = NOW + timedelta(days=200)
        assert unusable_reason(await store.get_agent(first.agent_id), later) is not None
        await reactivate(store, first.agent_id, later)
        assert unusable_reason(await store.get_agent(first.agent_id), later) is None


async def test_launching_more_regions_updates_the_launch(
    client: ManagementClient, emulator: RbmManagementEmulator
) -> None:
    spec = load_agent_spec(SPEC)
    done = await register(client, spec, verify=True)
    assert await agent_steps.launch(client, spec, done.agent, ["orange-fr"]) == [
        "launch requested in orange-fr"
    ]
    emulator.verify(done.agent)
    emulator.launch(done.agent, ["/v1/regions/orange-fr"])
    steps = await agent_steps.launch(client, spec, done.agent, ["/v1/regions/orange-fr", "free-fr"])
    assert steps == ["orange-fr already launched", "launch extended to free-fr"]
    launch = await client.get_launch(done.agent)
    states = {
        r: d["launchState"] for r, d in launch["rcsBusinessMessaging"]["launchDetails"].items()
    }
    assert states == {"/v1/regions/orange-fr": "LAUNCHED", "/v1/regions/free-fr": "PENDING"}
    assert emulator.calls.count(f"PATCH /v1/{done.agent}/launch") == 1
    assert emulator.calls.count(f"POST /v1/{done.agent}:requestLaunch") == 1


async def test_a_spec_without_launch_or_verification_fails_before_any_call(
    client: ManagementClient, emulator: RbmManagementEmulator
) -> None:
    bare = load_agent_spec(SPEC).model_copy(update={"launch": None, "verification": None})
    with pytest.raises(ValueError, match="no `launch` section"):
        await agent_steps.launch(client, bare, "brands/1/agents/a_agent")
    with pytest.raises(ValueError, match="no `verification` section"):
        await agent_steps.verify(client, bare, "brands/1/agents/a_agent")
    assert emulator.calls == []


async def test_webhook_same_url_is_kept_another_replaces_it(
    client: ManagementClient, emulator: RbmManagementEmulator
) -> None:
    done = await register(client, load_agent_spec(SPEC))
    first, second = "https://a.example.fr/rbm", "https://b.example.fr/rbm"
    assert await agent_steps.set_webhook(client, done.agent, first, "jeton") == [
        f"webhook set to {first}"
    ]
    assert await agent_steps.set_webhook(client, done.agent, first, "jeton") == [
        f"webhook already {first}"
    ]
    assert await agent_steps.set_webhook(client, done.agent, second, "jeton") == [
        f"webhook set to {second}",
        f"webhook {first} removed",
    ]
    hooks = (await client.list_integrations(done.agent))["integrations"]
    assert [h["agentWebhookIntegration"]["webhookUri"] for h in hooks] == [second]


async def test_agents_are_found_by_name_id_or_display_name(client: ManagementClient) -> None:
    done = await register(client, load_agent_spec(SPEC))
    assert await resolve_agent(client, done.agent) == done.agent
    assert await resolve_agent(client, done.agent_id) == done.agent
    assert await resolve_agent(client, "Dentiste des Tilleuls") == done.agent
    with pytest.raises(UnknownAgent, match="no agent is called 'Autre'"):
        await resolve_agent(client, "Autre")


async def test_testers_added_and_removed_once(
    client: ManagementClient, emulator: RbmManagementEmulator
) -> None:
    done = await register(client, load_agent_spec(SPEC))
    phones = [Phone("06 12 34 56 78"), Phone("+33612345678")]  # one number, twice
    assert await agent_steps.add_testers(client, done.agent_id, phones) == [
        "tester +33•••••••78 invited"
    ]
    assert await agent_steps.testers(client, done.agent_id) == [
        {"phone": "+33•••••••35", "invite": "PENDING"},
        {"phone": "+33•••••••78", "invite": "PENDING"},
    ]
    assert await agent_steps.remove_testers(client, done.agent_id, phones) == [
        "tester +33•••••••78 removed"
    ]
    assert await agent_steps.remove_testers(client, done.agent_id, phones) == [
        "tester +33•••••••78 was not invited"
    ]
