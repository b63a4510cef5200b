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

from agents.agent_spec import load_agent_spec
from agents.google_auth import StaticToken
from agents.management import ManagementClient
from agents.registry import reactivate, register, status, sync
from fallback.agent_status import unusable_reason
from messaging.clock import FakeClock
from sandbox.rbm_management import RbmManagementEmulator
from store.records import AgentState
from store.sqlite import SqliteStore

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]
SPEC = Path(__file__).parents[2] / "examples" / "agents" / "cabinet.yaml"
TOKEN = "ya29.management"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def emulator() -> RbmManagementEmulator:
    return RbmManagementEmulator(token=TOKEN, clock=FakeClock(NOW))


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
    assert "launch requested" in first.steps
    again = await register(client, spec, verify=True, launch=True)
    assert again.agent == first.agent
    assert not any("created" in step for step in again.steps)
    assert not {"verification requested", "launch requested"} & set(again.steps)
    assert any("already" in step for step in again.steps)
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
