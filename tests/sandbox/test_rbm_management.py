"""The RBM management emulator over loopback HTTP: Google's paths, checks, errors (rbm.md §7)."""

from __future__ import annotations

import copy
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from messaging.clock import FakeClock
from sandbox.rbm_management import TESTERS_PER_DAY, Handshake, RbmManagementEmulator
from tests.sandbox.conftest import RCS_PHONE, T0, Received, Receiver

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]

TOKEN = "ya29.management"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONTACT = {
    "partnerName": "Causette",
    "partnerEmailAddress": "ops@causette.fr",
    "brandContactName": "Alice Martin",
    "brandContactEmailAddress": "alice@acme.fr",
    "brandWebsiteUrl": "https://acme.fr",
}
ORANGE, SFR = "/v1/regions/orange-fr", "/v1/regions/sfr-fr"


def agent_body(**changes: Any) -> dict[str, Any]:
    rbm: dict[str, Any] = {
        "description": "Rendez-vous et rappels",
        "logoUri": "https://acme.fr/logo.png",
        "heroUri": "https://acme.fr/hero.png",
        "color": "#0B78D0",
        "phoneNumbers": [{"phoneNumber": {"number": "+33123456789"}, "label": "Support"}],
        "emails": [{"address": "help@acme.fr", "label": "Email"}],
        "websites": [{"uri": "https://acme.fr", "label": "Site"}],
        "privacy": {"uri": "https://acme.fr/privacy", "label": "Privacy"},
        "termsConditions": {"uri": "https://acme.fr/terms", "label": "Terms"},
        "billingConfig": {"billingCategory": "CONVERSATIONAL"},
        "agentUseCase": "TRANSACTIONAL",
        "hostingRegion": "EUROPE",
    }
    for key, value in changes.items():
        if value is None:
            rbm.pop(key, None)
        else:
            rbm[key] = value
    return {"displayName": "Acme Alerts", "rcsBusinessMessagingAgent": rbm}


@pytest.fixture
def emulator() -> RbmManagementEmulator:
    return RbmManagementEmulator(token=TOKEN, clock=FakeClock(T0))


@pytest.fixture
async def api(aiohttp_client: ClientFactory, emulator: RbmManagementEmulator) -> Client:
    return await aiohttp_client(emulator.app())


async def call(
    api: Client, method: str, path: str, body: Any = None, *, status: int = 200, **query: str
) -> Any:
    response = await api.request(method, path, json=body, headers=AUTH, params=query)
    answer = await response.json()
    assert response.status == status, answer
    return answer


async def new_agent(api: Client) -> str:
    brand = await call(api, "POST", "/v1/brands", {"displayName": "Acme"})
    agent = await call(api, "POST", f"/v1/{brand['name']}/agents", agent_body())
    return str(agent["name"])


def google_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


async def test_brand_and_agent_resources(api: Client) -> None:
    assert await call(api, "GET", "/v1/brands") == {}
    brand = await call(api, "POST", "/v1/brands", {"displayName": "Acme"})
    assert brand["name"].startswith("brands/")
    assert brand["displayName"] == "Acme"
    assert await call(api, "GET", f"/v1/{brand['name']}") == brand
    assert await call(api, "GET", "/v1/brands") == {"brands": [brand]}
    agent = await call(api, "POST", f"/v1/{brand['name']}/agents", agent_body())
    assert agent["name"].startswith(f"{brand['name']}/agents/acme_alerts_")
    assert agent["name"].endswith("_agent")
    assert agent["rcsBusinessMessagingAgent"]["hostingRegion"] == "EUROPE"
    assert await call(api, "GET", f"/v1/{agent['name']}") == agent
    assert await call(api, "GET", f"/v1/{brand['name']}/agents") == {"agents": [agent]}
    verification = await call(api, "GET", f"/v1/{agent['name']}/verification")
    assert verification == {
        "name": f"{agent['name']}/verification",
        "verificationState": "UNVERIFIED",
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"description": "x" * 101}, "description is longer than 100 characters"),
        ({"description": None}, "description is required"),
        ({"color": "blue"}, "color must be a #RRGGBB colour"),
        ({"websites": [{"uri": f"https://acme.fr/{i}"} for i in range(4)]}, "more than 3"),
        ({"websites": [{"uri": "ftp://acme.fr"}]}, "websites[0].uri must be an https URL"),
        ({"phoneNumbers": None, "emails": None, "websites": None}, "at least one of"),
        ({"phoneNumbers": [{"phoneNumber": {"number": "0123"}}]}, "number is not E.164"),
        ({"emails": [{"address": "nobody"}]}, "emails[0].address is not an email address"),
        ({"billingConfig": {"billingCategory": "FREE"}}, "billingConfig.billingCategory must"),
        ({"agentUseCase": "SPAM"}, "agentUseCase must be one of"),
        ({"hostingRegion": "MARS"}, "hostingRegion must be one of"),
        ({"hostingRegion": None}, "hostingRegion must be one of"),
        ({"colour": "#000000"}, 'Unknown name "colour"'),
    ],
)
async def test_agent_validation_errors(api: Client, changes: dict[str, Any], message: str) -> None:
    brand = await call(api, "POST", "/v1/brands", {"displayName": "Acme"})
    answer = await call(
        api, "POST", f"/v1/{brand['name']}/agents", agent_body(**changes), status=400
    )
    assert answer["error"]["code"] == 400
    assert answer["error"]["status"] == "INVALID_ARGUMENT"
    assert "agent.rcsBusinessMessagingAgent" in answer["error"]["message"]
    assert message in answer["error"]["message"]
    assert await call(api, "GET", f"/v1/{brand['name']}/agents") == {}


async def test_display_name_limits(api: Client) -> None:
    answer = await call(api, "POST", "/v1/brands", {"displayName": "x" * 101}, status=400)
    assert answer == google_error(
        400, "INVALID_ARGUMENT", "brand.displayName is longer than 100 characters"
    )
    brand = await call(api, "POST", "/v1/brands", {"displayName": "Acme"})
    body = agent_body()
    body["displayName"] = ""
    answer = await call(api, "POST", f"/v1/{brand['name']}/agents", body, status=400)
    assert answer == google_error(400, "INVALID_ARGUMENT", "agent.displayName is required")


async def test_bearer_token_is_checked(api: Client) -> None:
    response = await api.get("/v1/regions")
    assert response.status == 401
    body = await response.json()
    assert body["error"]["status"] == "UNAUTHENTICATED"
    assert "missing required authentication credential" in body["error"]["message"]
    assert "WWW-Authenticate" in response.headers
    response = await api.get("/v1/regions", headers={"Authorization": "Bearer other"})
    assert response.status == 401
    assert "invalid authentication credentials" in (await response.json())["error"]["message"]


async def test_unknown_names_are_404(api: Client) -> None:
    not_found = google_error(404, "NOT_FOUND", "Requested entity was not found.")
    assert await call(api, "GET", "/v1/brands/42", status=404) == not_found
    assert await call(api, "GET", "/v1/brands/42/agents/x_1_agent", status=404) == not_found
    name = await new_agent(api)
    assert await call(api, "GET", f"/v1/{name}/launch", status=404) == not_found
    assert await call(api, "GET", "/v1/testers", status=404, agentId="nope") == not_found
    assert await call(api, "GET", "/v1/nothing/here", status=404) == not_found


async def test_regions_are_french_carriers(api: Client) -> None:
    regions = (await call(api, "GET", "/v1/regions"))["regions"]
    assert {r["name"] for r in regions} == {
        "/v1/regions/orange-fr",
        "/v1/regions/sfr-fr",
        "/v1/regions/bouygues-fr",
        "/v1/regions/free-fr",
    }
    assert {r["managementType"] for r in regions} == {"CARRIER_MANAGED"}


async def test_integration_keeps_the_secret_but_does_not_echo_it(
    api: Client, emulator: RbmManagementEmulator
) -> None:
    emulator.handshake = "off"  # nothing listens at bot.acme.fr
    name = await new_agent(api)
    hook = {"webhookUri": "https://bot.acme.fr/rbm", "verificationToken": "s3cret"}
    answer = await call(api, "POST", f"/v1/{name}/integrations", {"agentWebhookIntegration": hook})
    assert answer["status"] == "ENABLED"
    assert answer["agentWebhookIntegration"] == {"webhookUri": "https://bot.acme.fr/rbm"}
    assert emulator.integrations[name][0]["verificationToken"] == "s3cret"
    bad = {"agentWebhookIntegration": {"webhookUri": "http://bot.acme.fr/rbm"}}
    answer = await call(api, "POST", f"/v1/{name}/integrations", bad, status=400)
    assert "webhookUri must be an https URL" in answer["error"]["message"]


async def test_testers_invite_list_duplicate_remove(
    api: Client, emulator: RbmManagementEmulator
) -> None:
    agent_id = (await new_agent(api)).rsplit("/", 1)[-1]
    invite = {"agentId": agent_id, "phoneNumber": RCS_PHONE}
    tester = await call(api, "POST", "/v1/testers", invite)
    assert tester == {
        "name": f"testers/{RCS_PHONE}",
        "agentId": agent_id,
        "phoneNumber": RCS_PHONE,
        "inviteStatus": "PENDING",
    }
    assert await call(api, "POST", "/v1/testers", invite, status=409) == google_error(
        409, "ALREADY_EXISTS", "Requested entity already exists"
    )
    listed = await call(api, "GET", "/v1/testers", agentId=agent_id)
    assert listed == {"testers": [tester]}
    response = await api.post(
        f"/sandbox/management/testers/{RCS_PHONE}/accept", params={"agentId": agent_id}
    )
    assert (await response.json())["inviteStatus"] == "ACCEPTED"
    got = await call(api, "GET", f"/v1/testers/{RCS_PHONE}", agentId=agent_id)
    assert got["inviteStatus"] == "ACCEPTED"
    assert await call(api, "DELETE", f"/v1/testers/{RCS_PHONE}", agentId=agent_id) == {}
    await call(api, "GET", f"/v1/testers/{RCS_PHONE}", status=404, agentId=agent_id)
    bad = await call(api, "POST", "/v1/testers", invite | {"phoneNumber": "0612"}, status=400)
    assert "tester.phoneNumber is not an E.164 number" in bad["error"]["message"]


async def test_tester_invites_are_limited_per_day(api: Client) -> None:
    agent_id = (await new_agent(api)).rsplit("/", 1)[-1]
    for index in range(TESTERS_PER_DAY):
        await call(
            api,
            "POST",
            "/v1/testers",
            {"agentId": agent_id, "phoneNumber": f"+336000000{index:02d}"},
        )
    answer = await call(
        api, "POST", "/v1/testers", {"agentId": agent_id, "phoneNumber": RCS_PHONE}, status=429
    )
    assert answer["error"]["status"] == "RESOURCE_EXHAUSTED"


async def test_verification_and_launch_state_machine(api: Client) -> None:
    name = await new_agent(api)
    launch: dict[str, Any] = {"rcsBusinessMessaging": {"launchDetails": {ORANGE: {}}}}
    early = await call(
        api, "POST", f"/v1/{name}:requestLaunch", {"agentLaunch": launch}, status=400
    )
    assert early["error"]["status"] == "FAILED_PRECONDITION"
    bad = await call(
        api, "POST", f"/v1/{name}:requestVerification", {"agentVerificationContact": {}}, status=400
    )
    assert "agentVerificationContact.partnerName is required" in bad["error"]["message"]
    pending = await call(
        api, "POST", f"/v1/{name}:requestVerification", {"agentVerificationContact": CONTACT}
    )
    assert pending["verificationState"] == "PENDING"
    assert pending["agentVerificationContact"] == CONTACT
    nowhere = "/v1/regions/nowhere"
    unknown: dict[str, Any] = {"rcsBusinessMessaging": {"launchDetails": {nowhere: {}}}}
    answer = await call(
        api, "POST", f"/v1/{name}:requestLaunch", {"agentLaunch": unknown}, status=400
    )
    assert "unknown region '/v1/regions/nowhere'" in answer["error"]["message"]
    requested = await call(api, "POST", f"/v1/{name}:requestLaunch", {"agentLaunch": launch})
    assert requested["rcsBusinessMessaging"]["launchDetails"][ORANGE]["launchState"] == "PENDING"
    again = await call(
        api, "POST", f"/v1/{name}:requestLaunch", {"agentLaunch": launch}, status=400
    )
    assert again["error"]["status"] == "FAILED_PRECONDITION"
    # Launching before verification is refused by the operator route too.
    response = await api.post(f"/sandbox/management/{name}/launch", json={})
    assert response.status == 400
    assert (await response.json())["error"]["status"] == "FAILED_PRECONDITION"
    response = await api.post(f"/sandbox/management/{name}/verify")
    assert (await response.json())["verificationState"] == "VERIFIED"
    response = await api.post(f"/sandbox/management/{name}/launch", json={"regions": [ORANGE]})
    details = (await response.json())["rcsBusinessMessaging"]["launchDetails"]
    assert details[ORANGE]["launchState"] == "LAUNCHED"
    # A PATCH must keep every region it had, and adds the new ones as PENDING.
    dropped: dict[str, Any] = {"rcsBusinessMessaging": {"launchDetails": {SFR: {}}}}
    answer = await call(api, "PATCH", f"/v1/{name}/launch", dropped, status=400)
    assert "must keep region '/v1/regions/orange-fr'" in answer["error"]["message"]
    both: dict[str, Any] = {"rcsBusinessMessaging": {"launchDetails": {ORANGE: {}, SFR: {}}}}
    details = (await call(api, "PATCH", f"/v1/{name}/launch", both))["rcsBusinessMessaging"][
        "launchDetails"
    ]
    assert details[ORANGE]["launchState"] == "LAUNCHED"
    assert details[SFR]["launchState"] == "PENDING"


async def test_patch_rules(api: Client, emulator: RbmManagementEmulator) -> None:
    name = await new_agent(api)
    path = f"/v1/{name}"
    renamed = agent_body()
    renamed["displayName"] = "Acme Rappels"
    renamed["rcsBusinessMessagingAgent"]["description"] = "Nouvelle description"
    changed = await call(api, "PATCH", path, renamed, updateMask="displayName")
    assert changed["displayName"] == "Acme Rappels"
    assert changed["rcsBusinessMessagingAgent"]["description"] == "Rendez-vous et rappels"
    region = agent_body(hostingRegion="NORTH_AMERICA")
    answer = await call(
        api, "PATCH", path, region, status=400, updateMask="rcsBusinessMessagingAgent.hostingRegion"
    )
    assert answer == google_error(
        400, "FAILED_PRECONDITION", "hostingRegion cannot be changed after the agent is created"
    )
    too_long = agent_body(description="y" * 101)
    answer = await call(
        api, "PATCH", path, too_long, status=400, updateMask="rcsBusinessMessagingAgent.description"
    )
    assert answer["error"]["status"] == "INVALID_ARGUMENT"
    await call(api, "PATCH", path, renamed, status=400)  # no updateMask
    await call(api, "POST", f"{path}:requestVerification", {"agentVerificationContact": CONTACT})
    emulator.verify(name)
    for field, value in (
        ("logoUri", "https://acme.fr/new.png"),
        ("heroUri", "https://acme.fr/h2.png"),
    ):
        answer = await call(
            api,
            "PATCH",
            path,
            agent_body(**{field: value}),
            status=400,
            updateMask=f"rcsBusinessMessagingAgent.{field}",
        )
        assert answer["error"]["status"] == "FAILED_PRECONDITION"
        assert (
            f"{field} cannot be changed after the agent is verified" in answer["error"]["message"]
        )
    renamed_again = copy.deepcopy(renamed)
    renamed_again["displayName"] = "Autre"
    answer = await call(api, "PATCH", path, renamed_again, status=400, updateMask="displayName")
    assert answer["error"]["status"] == "FAILED_PRECONDITION"
    # Still modifiable after verification: the description.
    described = await call(
        api, "PATCH", path, renamed, updateMask="rcsBusinessMessagingAgent.description"
    )
    assert described["rcsBusinessMessagingAgent"]["description"] == "Nouvelle description"
    launch: dict[str, Any] = {"rcsBusinessMessaging": {"launchDetails": {ORANGE: {}}}}
    await call(api, "POST", f"{path}:requestLaunch", {"agentLaunch": launch})
    emulator.launch(name)
    answer = await call(
        api,
        "PATCH",
        path,
        agent_body(agentUseCase="OTP"),
        status=400,
        updateMask="rcsBusinessMessagingAgent.agentUseCase",
    )
    assert (
        "agentUseCase cannot be changed after the agent is launched" in answer["error"]["message"]
    )


async def test_injected_failures_use_the_google_envelope(
    api: Client, emulator: RbmManagementEmulator
) -> None:
    emulator.fail_next(503)
    emulator.fail_next(429, retry_after=7)
    assert await call(api, "GET", "/v1/regions", status=503) == google_error(
        503, "UNAVAILABLE", "The service is currently unavailable."
    )
    response = await api.get("/v1/regions", headers=AUTH)
    assert response.status == 429
    assert response.headers["Retry-After"] == "7"
    assert (await call(api, "GET", "/v1/regions"))["regions"]


# --- Webhook integrations: the handshake (rbm.md §5.2) -----------------------------------------


def echo_secret(prefix: str = "") -> Callable[[Received], web.Response]:
    def answer(received: Received) -> web.Response:
        return web.Response(text=prefix + json.loads(received.body)["secret"])

    return answer


async def test_a_new_webhook_is_verified_by_the_handshake(
    api: Client, emulator: RbmManagementEmulator, receiver: Receiver
) -> None:
    receiver.answer = echo_secret()
    name = await new_agent(api)
    hook = {"webhookUri": receiver.url("/webhooks/rbm"), "verificationToken": "s3cret"}
    answer = await call(api, "POST", f"/v1/{name}/integrations", {"agentWebhookIntegration": hook})
    assert answer["agentWebhookIntegration"] == {"webhookUri": receiver.url("/webhooks/rbm")}
    (handshake,) = receiver.requests
    assert handshake.path == "/webhooks/rbm"
    assert json.loads(handshake.body)["clientToken"] == "s3cret"
    assert [(a.kind, a.status) for a in emulator.webhooks.attempts] == [("handshake", 200)]
    listed = await call(api, "GET", f"/v1/{name}/integrations")
    assert listed == {"integrations": [answer]}  # the token is never given back


@pytest.mark.parametrize("handshake", ["strict", "lenient"])
async def test_a_webhook_that_does_not_echo_the_secret_is_refused(
    api: Client, emulator: RbmManagementEmulator, receiver: Receiver, handshake: Handshake
) -> None:
    emulator.handshake = handshake
    receiver.answer = echo_secret("secret: ")  # Google's Node sample
    name = await new_agent(api)
    hook = {"webhookUri": receiver.url("/rbm"), "verificationToken": "s3cret"}
    body = {"agentWebhookIntegration": hook}
    if handshake == "lenient":
        await call(api, "POST", f"/v1/{name}/integrations", body)
        assert len(emulator.integrations[name]) == 1
        return
    answer = await call(api, "POST", f"/v1/{name}/integrations", body, status=400)
    assert answer["error"]["status"] == "FAILED_PRECONDITION"
    assert "did not answer the verification handshake" in answer["error"]["message"]
    assert "s3cret" not in answer["error"]["message"]
    assert emulator.integrations.get(name, []) == []
    assert await call(api, "GET", f"/v1/{name}/integrations") == {}


async def test_integrations_are_deleted_by_name(
    api: Client, emulator: RbmManagementEmulator
) -> None:
    emulator.handshake = "off"
    name = await new_agent(api)
    hook = {"webhookUri": "https://bot.acme.fr/rbm", "verificationToken": "s3cret"}
    created = await call(api, "POST", f"/v1/{name}/integrations", {"agentWebhookIntegration": hook})
    assert await call(api, "DELETE", f"/v1/{created['name']}") == {}
    assert await call(api, "GET", f"/v1/{name}/integrations") == {}
    await call(api, "DELETE", f"/v1/{created['name']}", status=404)


async def test_every_api_call_is_noted_refused_ones_too(
    api: Client, emulator: RbmManagementEmulator
) -> None:
    await api.get("/v1/regions")  # no bearer: 401
    await call(api, "GET", "/v1/brands")
    await api.post("/sandbox/management/testers/+33612345678/accept")  # a control route
    assert emulator.calls == ["GET /v1/regions", "GET /v1/brands"]
