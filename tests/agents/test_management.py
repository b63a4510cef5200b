"""The management client against the management emulator over loopback HTTP (rbm.md §6, §7)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from agents.errors import Invalid, OutcomeUnknown, Permanent, RateLimited, Transient
from agents.google_auth import StaticToken
from agents.management import ManagementClient, already_exists
from messaging.clock import FakeClock
from sandbox.rbm_management import RbmManagementEmulator
from tests.agents.conftest import FakeProvider

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]

TOKEN = "ya29.management-token"
PHONE = "+33612345678"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ORANGE, SFR = "/v1/regions/orange-fr", "/v1/regions/sfr-fr"
AGENT = {
    "displayName": "Acme Alerts",
    "rcsBusinessMessagingAgent": {
        "description": "Rendez-vous et rappels",
        "color": "#0B78D0",
        "emails": [{"address": "help@acme.fr", "label": "Email"}],
        "billingConfig": {"billingCategory": "CONVERSATIONAL"},
        "agentUseCase": "TRANSACTIONAL",
        "hostingRegion": "EUROPE",
    },
}
CONTACT = {
    "partnerName": "Causette",
    "partnerEmailAddress": "ops@causette.fr",
    "brandContactName": "Alice Martin",
    "brandContactEmailAddress": "alice@acme.fr",
    "brandWebsiteUrl": "https://acme.fr",
}


class ScriptedTokens:
    """Hands out `tokens` in turn: `invalidate` of the current one moves to the next."""

    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.invalidated: list[str] = []

    async def token(self) -> str:
        return self.tokens[0]

    def invalidate(self, token: str) -> None:
        self.invalidated.append(token)
        if token == self.tokens[0] and len(self.tokens) > 1:
            self.tokens.pop(0)


@pytest.fixture
def emulator() -> RbmManagementEmulator:
    return RbmManagementEmulator(token=TOKEN, clock=FakeClock(NOW), handshake="off")


@pytest.fixture
async def base_url(aiohttp_server: ServerFactory, emulator: RbmManagementEmulator) -> str:
    server = await aiohttp_server(emulator.app())
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
def api(session: aiohttp.ClientSession, base_url: str) -> ManagementClient:
    return ManagementClient(
        session, tokens=StaticToken(TOKEN), base_url=base_url, clock=FakeClock(NOW)
    )


async def test_the_admin_script_from_brand_to_launch(
    api: ManagementClient, emulator: RbmManagementEmulator
) -> None:
    brand = await api.create_brand("Acme")
    assert (await api.list_brands())["brands"] == [brand]
    agent = await api.create_agent(brand["name"], AGENT)
    name = agent["name"]
    assert (await api.get_agent(name)) == agent
    assert (await api.list_agents(brand["name"]))["agents"] == [agent]
    agent_id = name.rsplit("/", 1)[-1]

    integration = await api.create_integration(name, "https://bot.acme.fr/rbm", "hook-secret")
    assert integration["agentWebhookIntegration"]["webhookUri"] == "https://bot.acme.fr/rbm"
    assert (await api.list_integrations(name))["integrations"] == [integration]
    assert await api.delete_integration(integration["name"]) == {}
    assert await api.list_integrations(name) == {}
    with pytest.raises(ValueError, match="integrations/"):
        await api.delete_integration(name)  # an agent's name, not an integration's
    tester = await api.add_tester(f"{agent_id}@rbm.goog", PHONE)
    assert tester["inviteStatus"] == "PENDING"
    assert (await api.list_testers(agent_id))["testers"] == [tester]

    verification = await api.request_verification(name, CONTACT)
    assert verification["verificationState"] == "PENDING"
    regions = [region["name"] for region in (await api.list_regions())["regions"]]
    assert ORANGE in regions
    launch = await api.request_launch(
        name, {"rcsBusinessMessaging": {"questionnaire": {}, "launchDetails": {ORANGE: {}}}}
    )
    assert launch["rcsBusinessMessaging"]["launchDetails"][ORANGE]["launchState"] == "PENDING"

    # Polling: nothing moves until the console operator (the emulator's hooks) acts.
    assert (await api.get_verification(name))["verificationState"] == "PENDING"
    emulator.verify(name)
    emulator.launch(name, [ORANGE])
    assert (await api.get_verification(name))["verificationState"] == "VERIFIED"
    details = (await api.get_launch(name))["rcsBusinessMessaging"]["launchDetails"]
    assert details[ORANGE]["launchState"] == "LAUNCHED"

    updated = await api.update_launch(
        name, {"rcsBusinessMessaging": {"launchDetails": {ORANGE: {}, SFR: {}}}}
    )
    details = updated["rcsBusinessMessaging"]["launchDetails"]
    assert (details[ORANGE]["launchState"], details[SFR]["launchState"]) == (
        "LAUNCHED",
        "PENDING",
    )
    assert await api.remove_tester(agent_id, PHONE) == {}
    assert await api.list_testers(agent_id) == {}


async def test_refusals_map_to_error_types(
    api: ManagementClient, emulator: RbmManagementEmulator
) -> None:
    brand = await api.create_brand("Acme")
    with pytest.raises(Invalid) as invalid:
        await api.create_agent(brand["name"], {**AGENT, "displayName": "x" * 101})
    assert invalid.value.status == 400
    assert "INVALID_ARGUMENT: agent.displayName is longer than 100" in str(invalid.value)

    with pytest.raises(Permanent) as missing:
        await api.get_agent(f"{brand['name']}/agents/none_00000000_agent")
    assert missing.value.status == 404
    assert not already_exists(missing.value)
    assert "NOT_FOUND" in str(missing.value)

    agent = await api.create_agent(brand["name"], AGENT)
    agent_id = agent["name"].rsplit("/", 1)[-1]
    await api.add_tester(agent_id, PHONE)
    with pytest.raises(Permanent) as duplicate:
        await api.add_tester(agent_id, PHONE)
    assert already_exists(duplicate.value)
    assert PHONE not in str(duplicate.value)
    assert PHONE not in duplicate.value.body

    with pytest.raises(Invalid) as frozen:
        await api.update_agent(
            agent["name"],
            {"rcsBusinessMessagingAgent": {"hostingRegion": "ASIA_PACIFIC"}},
            ["rcsBusinessMessagingAgent.hostingRegion"],
        )
    assert "FAILED_PRECONDITION" in str(frozen.value)
    described = await api.update_agent(
        agent["name"],
        {"rcsBusinessMessagingAgent": {"description": "Autre"}},
        ["rcsBusinessMessagingAgent.description"],
    )
    assert described["rcsBusinessMessagingAgent"]["description"] == "Autre"

    emulator.fail_next(503)
    with pytest.raises(Transient) as unavailable:
        await api.list_regions()
    assert unavailable.value.status == 503
    emulator.fail_next(429, retry_after=30)
    with pytest.raises(RateLimited) as limited:
        await api.list_regions()
    assert limited.value.retry_after == timedelta(seconds=30)


async def test_a_401_is_retried_once_with_a_fresh_token(
    session: aiohttp.ClientSession, base_url: str
) -> None:
    tokens = ScriptedTokens("ya29.expired", TOKEN)
    api = ManagementClient(session, tokens=tokens, base_url=base_url)
    assert "regions" in await api.list_regions()
    assert tokens.invalidated == ["ya29.expired"]

    refused = ScriptedTokens("ya29.wrong")
    api = ManagementClient(session, tokens=refused, base_url=base_url)
    with pytest.raises(Permanent) as error:
        await api.list_regions()
    assert error.value.status == 401
    assert "refused a fresh token too" in str(error.value)
    assert refused.invalidated == ["ya29.wrong"]


async def test_secrets_and_phones_never_leave(
    session: aiohttp.ClientSession, provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="agents.management")
    api = ManagementClient(session, tokens=StaticToken(TOKEN), base_url=provider.url)
    provider.reply(
        500,
        {"error": {"code": 500, "message": f"{TOKEN} hook-secret", "status": "INTERNAL"}},
    )
    with pytest.raises(Transient) as error:
        await api.create_integration("brands/1/agents/a_1_agent", "https://b.fr/h", "hook-secret")
    provider.reply(500, {"error": {"code": 500, "message": f"no {PHONE}", "status": "INTERNAL"}})
    with pytest.raises(Transient) as tester_error:
        await api.remove_tester("a_1_agent", PHONE)
    assert provider.last.path == f"/v1/testers/{PHONE}"
    assert provider.last.query == {"agentId": "a_1_agent"}
    for secret in (TOKEN, "hook-secret"):
        assert secret not in str(error.value)
        assert secret not in error.value.body
    for text in (str(tester_error.value), tester_error.value.body, caplog.text):
        assert PHONE not in text
        assert TOKEN not in text


async def test_no_answer_and_bad_names(
    session: aiohttp.ClientSession, closed_port_url: str, provider: FakeProvider
) -> None:
    api = ManagementClient(session, tokens=StaticToken(TOKEN), base_url=closed_port_url)
    with pytest.raises(Transient) as refused:
        await api.list_brands()
    assert not isinstance(refused.value, OutcomeUnknown)
    api = ManagementClient(
        session,
        tokens=StaticToken(TOKEN),
        base_url=provider.url,
        timeout=timedelta(milliseconds=200),
    )
    provider.reply(stuck=True)
    with pytest.raises(OutcomeUnknown):
        await api.create_brand("Acme")
    provider.reply(200, text="not json")
    with pytest.raises(Transient):
        await api.list_regions()
    with pytest.raises(ValueError, match="brands/"):
        await api.get_agent("agents/x")
    with pytest.raises(Invalid):
        await api.add_tester("a_1_agent", "06 12")
