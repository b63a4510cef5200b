"""An offline RBM management API ("Business Communications", reference/rbm.md §7).

`RbmManagementEmulator().app()` serves, under `/v1`, brands, agents, verification, launch,
regions, webhook integrations and testers, with Google's bearer check and error envelope
(rbm.md §6). Bodies are checked by `sandbox.rbm_management_validation`, states move as
`sandbox.rbm_management_state` says; every `/v1` call is noted in `calls`.

What a console operator does at Google, a test does here: `verify(agent)` moves a PENDING
verification to VERIFIED, `launch(agent, regions)` moves PENDING regions to LAUNCHED (or
REJECTED), `accept_tester(agent_id, phone)` plays the user accepting the invite. The same moves
are served over HTTP under `/sandbox/management/...`. `fail_next(status)` queues an error for
the next API call (503, 429 with `Retry-After`...).

Creating a webhook integration runs the verification handshake of rbm.md §5.2 at once: the
emulator POSTs `{"clientToken", "secret"}` to the URI and wants 200 with the bare secret
(`handshake="lenient"` also takes an answer containing it, as Google's Node samples write it;
`"off"` skips it). Google's guide ("Manage webhooks") has the endpoint pass the validation
before `createWebhookIntegration` succeeds; the error it answers otherwise is not documented
(**[?]**): here a 400 FAILED_PRECONDITION, and nothing is kept.

Where Google is silent (**[?]**): ids are derived from a counter (brand `brands/<13 digits>`,
agent `brands/{b}/agents/<slug>_<8 hex>_agent`, integration `.../integrations/<8 digits>`
where Google uses a UUID).
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from aiohttp import web

from messaging.clock import Clock, SystemClock
from sandbox.rbm_management_http import (
    BAD_CREDENTIALS,
    MESSAGES,
    NO_CREDENTIALS,
    ApiError,
    apply_path,
    e164,
    error_response,
    page,
    read_body,
)
from sandbox.rbm_management_state import EmulatedAgent
from sandbox.rbm_management_testers import TESTERS_PER_DAY, TesterBook
from sandbox.rbm_management_validation import (
    FailedPrecondition,
    display_name,
    launch_regions,
    obj,
    text,
    uri,
    validate_agent,
    validate_contact,
)
from sandbox.rbm_schema import InvalidArgument
from sandbox.webhook_client import WebhookClient, WebhookPolicy

__all__ = ["REGIONS", "TESTERS_PER_DAY", "FailedPrecondition", "Handshake", "RbmManagementEmulator"]

REGIONS: tuple[dict[str, str], ...] = tuple(
    {"name": f"/v1/regions/{rid}", "displayName": label, "managementType": "CARRIER_MANAGED"}
    for rid, label in (
        ("orange-fr", "Orange France"),
        ("sfr-fr", "SFR"),
        ("bouygues-fr", "Bouygues Telecom"),
        ("free-fr", "Free Mobile"),
    )
)
Handshake = Literal["strict", "lenient", "off"]
_ID = "[^/:]+"
_AGENT_PATH = f"/brands/{{brand:{_ID}}}/agents/{{agent:{_ID}}}"


class RbmManagementEmulator:
    """Google's management API in memory (see the module doc)."""

    def __init__(
        self,
        *,
        token: str | None = None,
        clock: Clock | None = None,
        handshake: Handshake = "strict",
        handshake_timeout: float = 5.0,
    ) -> None:
        """`token`: the one bearer token accepted (None: any non-empty one). `handshake`: how
        a new webhook integration is verified (module doc)."""
        self.token = token
        self.clock: Clock = clock or SystemClock()
        self.handshake = handshake
        self.brands: dict[str, dict[str, Any]] = {}
        self.agents: dict[str, EmulatedAgent] = {}
        self.integrations: dict[str, list[dict[str, Any]]] = {}
        """Per agent name; each keeps its `verificationToken` (the bot's handshake secret)."""
        self.testers = TesterBook()
        self.calls: list[str] = []
        """`METHOD /v1/path` of every API call received, refused ones too."""
        self.webhooks = WebhookClient(WebhookPolicy(timeout=handshake_timeout), clock=self.clock)
        """Runs the handshakes; its `attempts` list them."""
        self._failures: list[ApiError] = []
        self._sequence = 0

    # --- The operator's moves ------------------------------------------------------------------

    def fail_next(self, status: int, *, retry_after: int | None = None) -> None:
        """The next API call answers `status` in Google's envelope (after the bearer check)."""
        self._failures.append(ApiError(status, retry_after=retry_after))

    def verify(self, agent_name: str) -> dict[str, Any]:
        """Google approves the pending verification: PENDING → VERIFIED."""
        agent = self._agent(agent_name)
        agent.approve_verification()
        return agent.verification

    def launch(
        self, agent_name: str, regions: list[str] | None = None, *, state: str = "LAUNCHED"
    ) -> dict[str, Any]:
        """The carriers decide: PENDING `regions` (all pending ones by default) → `state`."""
        agent = self._agent(agent_name)
        agent.decide_launch(regions, state, self.clock.now())
        assert agent.launch is not None  # decide_launch refuses an agent without one
        return agent.launch

    def accept_tester(self, agent_id: str, phone: str) -> dict[str, Any]:
        """The tester accepts the invite on the phone: PENDING → ACCEPTED."""
        return self.testers.accept(agent_id, phone)

    # --- HTTP ----------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors])
        add = app.router.add_route
        add("POST", "/v1/brands", self._create_brand)
        add("GET", "/v1/brands", self._list_brands)
        add("GET", f"/v1/brands/{{brand:{_ID}}}", self._get_brand)
        add("POST", f"/v1/brands/{{brand:{_ID}}}/agents", self._create_agent)
        add("GET", f"/v1/brands/{{brand:{_ID}}}/agents", self._list_agents)
        add("GET", f"/v1{_AGENT_PATH}", self._get_agent)
        add("PATCH", f"/v1{_AGENT_PATH}", self._patch_agent)
        add("POST", f"/v1{_AGENT_PATH}:requestVerification", self._request_verification)
        add("GET", f"/v1{_AGENT_PATH}/verification", self._get_verification)
        add("POST", f"/v1{_AGENT_PATH}:requestLaunch", self._request_launch)
        add("GET", f"/v1{_AGENT_PATH}/launch", self._get_launch)
        add("PATCH", f"/v1{_AGENT_PATH}/launch", self._patch_launch)
        add("POST", f"/v1{_AGENT_PATH}/integrations", self._create_integration)
        add("GET", f"/v1{_AGENT_PATH}/integrations", self._list_integrations)
        add("DELETE", f"/v1{_AGENT_PATH}/integrations/{{id:{_ID}}}", self._delete_integration)
        add("GET", "/v1/regions", self._list_regions)
        add("POST", "/v1/testers", self._add_tester)
        add("GET", "/v1/testers", self._list_testers)
        add("GET", "/v1/testers/{phone}", self._get_tester)
        add("DELETE", "/v1/testers/{phone}", self._remove_tester)
        control = "/sandbox/management"
        add("POST", f"{control}{_AGENT_PATH}/verify", self._control_verify)
        add("POST", f"{control}{_AGENT_PATH}/launch", self._control_launch)
        add("POST", f"{control}/testers/{{phone}}/accept", self._control_accept)
        app.on_cleanup.append(lambda _: self.webhooks.close())  # the handshakes' session
        return app

    @web.middleware
    async def _errors(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            if request.path.startswith("/v1/"):
                self.calls.append(f"{request.method} {request.path}")
                self._guard(request)
            return await handler(request)
        except InvalidArgument as error:
            return error_response(400, str(error))
        except FailedPrecondition as error:
            return error_response(400, str(error), status="FAILED_PRECONDITION")
        except web.HTTPNotFound:
            return error_response(404, MESSAGES[404])
        except ApiError as error:
            response = error_response(error.code, str(error))
            if error.retry_after is not None:
                response.headers["Retry-After"] = str(error.retry_after)
            return response

    def _guard(self, request: web.Request) -> None:
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise ApiError(401, NO_CREDENTIALS)
        if self.token is not None and credential.strip() != self.token:
            raise ApiError(401, BAD_CREDENTIALS)
        if self._failures:
            raise self._failures.pop(0)

    # --- Brands and agents ---------------------------------------------------------------------

    async def _create_brand(self, request: web.Request) -> web.Response:
        body = obj(await read_body(request), "brand")
        name = f"brands/{self._next():013d}"
        brand = {
            "name": name,
            "displayName": display_name(body.get("displayName"), "brand.displayName"),
        }
        self.brands[name] = brand
        return web.json_response(brand)

    async def _list_brands(self, _: web.Request) -> web.Response:
        return web.json_response(page("brands", list(self.brands.values())))

    async def _get_brand(self, request: web.Request) -> web.Response:
        return web.json_response(self._brand(request))

    async def _create_agent(self, request: web.Request) -> web.Response:
        brand = self._brand(request)["name"]
        agent = validate_agent(await read_body(request))
        agent.pop("name", None)  # output only
        sequence = self._next()
        slug = re.sub(r"[^a-z0-9]+", "_", agent["displayName"].lower()).strip("_")[:20] or "agent"
        digest = hashlib.sha256(f"{brand}/{sequence}".encode()).hexdigest()[:8]
        name = f"{brand}/agents/{slug}_{digest}_agent"
        resource = {"name": name, **agent}
        verification = {"name": f"{name}/verification", "verificationState": "UNVERIFIED"}
        self.agents[name] = EmulatedAgent(resource, verification)
        return web.json_response(resource)

    async def _list_agents(self, request: web.Request) -> web.Response:
        brand = self._brand(request)["name"]
        agents = [a.resource for name, a in self.agents.items() if name.startswith(f"{brand}/")]
        return web.json_response(page("agents", agents))

    async def _get_agent(self, request: web.Request) -> web.Response:
        return web.json_response(self._agent_of(request).resource)

    async def _patch_agent(self, request: web.Request) -> web.Response:
        agent = self._agent_of(request)
        patch = obj(await read_body(request), "agent")
        mask = [p.strip() for p in request.query.get("updateMask", "").split(",") if p.strip()]
        if not mask:
            raise InvalidArgument("updateMask is required")
        merged = copy.deepcopy(agent.resource)
        for path in mask:
            apply_path(merged, patch, path)
        merged = validate_agent(merged)
        agent.check_patch(merged, mask)
        agent.resource = merged
        return web.json_response(merged)

    # --- Verification and launch ---------------------------------------------------------------

    async def _request_verification(self, request: web.Request) -> web.Response:
        agent = self._agent_of(request)
        agent.request_verification(validate_contact(await read_body(request)))
        return web.json_response(agent.verification)

    async def _get_verification(self, request: web.Request) -> web.Response:
        return web.json_response(self._agent_of(request).verification)

    async def _request_launch(self, request: web.Request) -> web.Response:
        agent = self._agent_of(request)
        body = obj(await read_body(request), "request")
        rbm = launch_regions(body.get("agentLaunch"), "agentLaunch", self._regions())
        agent.request_launch(rbm, self.clock.now())
        return web.json_response(agent.launch)

    async def _get_launch(self, request: web.Request) -> web.Response:
        agent = self._agent_of(request)
        if agent.launch is None:
            raise ApiError(404)
        return web.json_response(agent.launch)

    async def _patch_launch(self, request: web.Request) -> web.Response:
        agent = self._agent_of(request)
        if agent.launch is None:
            raise ApiError(404)
        rbm = launch_regions(await read_body(request), "agentLaunch", self._regions())
        agent.update_launch(rbm, self.clock.now())
        return web.json_response(agent.launch)

    async def _list_regions(self, _: web.Request) -> web.Response:
        return web.json_response({"regions": [dict(region) for region in REGIONS]})

    # --- Webhook integrations ------------------------------------------------------------------

    async def _create_integration(self, request: web.Request) -> web.Response:
        agent = self._agent_of(request)
        where = "integration.agentWebhookIntegration"
        body = obj(await read_body(request), "integration")
        hook = obj(body.get("agentWebhookIntegration"), where)
        webhook_uri = uri(hook.get("webhookUri"), f"{where}.webhookUri")
        secret = text(hook.get("verificationToken"), f"{where}.verificationToken")
        name = f"{agent.name}/integrations/{self._next():08d}"
        if self.handshake != "off":
            self.webhooks.policy.lenient_handshake = self.handshake == "lenient"
            self.webhooks.set_webhook(webhook_uri, secret, name)
            verified = await self.webhooks.verify(name)
            del self.webhooks.webhooks[name]
            if not verified:
                raise FailedPrecondition(
                    f"the webhook {webhook_uri} did not answer the verification handshake"
                    " (200 with the secret as its body)"
                )
        integration = {
            "name": name,
            "status": "ENABLED",
            "agentWebhookIntegration": {"webhookUri": webhook_uri},
        }
        self.integrations.setdefault(agent.name, []).append(
            integration | {"verificationToken": secret}
        )
        return web.json_response(integration)

    async def _list_integrations(self, request: web.Request) -> web.Response:
        kept = self.integrations.get(self._agent_of(request).name, [])
        shown = [{k: v for k, v in i.items() if k != "verificationToken"} for i in kept]
        return web.json_response(page("integrations", shown))

    async def _delete_integration(self, request: web.Request) -> web.Response:
        agent = self._agent_of(request)
        name = f"{agent.name}/integrations/{request.match_info['id']}"
        kept = self.integrations.get(agent.name, [])
        if not any(i["name"] == name for i in kept):
            raise ApiError(404)
        self.integrations[agent.name] = [i for i in kept if i["name"] != name]
        return web.json_response({})

    # --- Testers -------------------------------------------------------------------------------

    async def _add_tester(self, request: web.Request) -> web.Response:
        body = obj(await read_body(request), "tester")
        agent_id = self._agent_id(body.get("agentId"))
        phone = e164(body.get("phoneNumber"), "tester.phoneNumber")
        today = self.clock.now().date().isoformat()
        return web.json_response(self.testers.invite(agent_id, phone, today))

    async def _list_testers(self, request: web.Request) -> web.Response:
        agent_id = self._agent_id(request.query.get("agentId"))
        return web.json_response(page("testers", self.testers.of(agent_id)))

    async def _get_tester(self, request: web.Request) -> web.Response:
        return web.json_response(self.testers.get(*self._tester_key(request)))

    async def _remove_tester(self, request: web.Request) -> web.Response:
        self.testers.remove(*self._tester_key(request))
        return web.json_response({})

    # --- Control routes ------------------------------------------------------------------------

    async def _control_verify(self, request: web.Request) -> web.Response:
        return web.json_response(self.verify(self._agent_of(request).name))

    async def _control_launch(self, request: web.Request) -> web.Response:
        name = self._agent_of(request).name
        body = obj(await read_body(request), "request")
        regions = body.get("regions")
        if regions is not None and not (
            isinstance(regions, list) and all(isinstance(r, str) for r in regions)
        ):
            raise InvalidArgument("regions must be a list of region names")
        return web.json_response(self.launch(name, regions, state=body.get("state", "LAUNCHED")))

    async def _control_accept(self, request: web.Request) -> web.Response:
        agent_id = self._agent_id(request.query.get("agentId"))
        return web.json_response(self.accept_tester(agent_id, request.match_info["phone"]))

    # --- Look-ups ------------------------------------------------------------------------------

    def _next(self) -> int:
        self._sequence += 1
        return 1_000_000_000 + self._sequence

    def _regions(self) -> frozenset[str]:
        return frozenset(region["name"] for region in REGIONS)

    def _brand(self, request: web.Request) -> dict[str, Any]:
        brand = self.brands.get(f"brands/{request.match_info['brand']}")
        if brand is None:
            raise ApiError(404)
        return brand

    def _agent(self, name: str) -> EmulatedAgent:
        agent = self.agents.get(name)
        if agent is None:
            raise ApiError(404)
        return agent

    def _agent_of(self, request: web.Request) -> EmulatedAgent:
        info = request.match_info
        return self._agent(f"brands/{info['brand']}/agents/{info['agent']}")

    def _agent_id(self, value: Any) -> str:
        agent_id = text(value, "agentId")
        if not any(name.rsplit("/", 1)[-1] == agent_id for name in self.agents):
            raise ApiError(404)
        return agent_id

    def _tester_key(self, request: web.Request) -> tuple[str, str]:
        agent_id = self._agent_id(request.query.get("agentId"))
        return agent_id, e164(request.match_info["phone"], "phoneNumber")
