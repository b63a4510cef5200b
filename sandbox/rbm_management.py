"""An offline RBM management API ("Business Communications", reference/rbm.md §7).

`RbmManagementEmulator().app()` serves, under `/v1`, brands, agents, verification, launch,
regions, the webhook integration and testers, with Google's bearer check and error envelope
(rbm.md §6). Bodies are checked by `sandbox.rbm_management_validation`.

What a console operator does at Google, a test does here: `verify(agent)` moves a PENDING
verification to VERIFIED, `launch(agent, regions)` moves PENDING regions to LAUNCHED (or
REJECTED), `accept_tester(agent_id, phone)` plays the user accepting the invite. The same moves
are served over HTTP under `/sandbox/management/...`. `fail_next(status)` queues an error for
the next API call (503, 429 with `Retry-After`...).

Where Google is silent (**[?]**): ids are derived from a counter (brand `brands/<13 digits>`,
agent `brands/{b}/agents/<slug>_<8 hex>_agent`); a second `:requestLaunch` is refused
(FAILED_PRECONDITION: use PATCH); a launch needs verification requested first; a launch PATCH
must keep every region already there; displayName, logo and hero freeze once VERIFIED.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from messaging.clock import Clock, SystemClock
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
from sandbox.rbm_schema import InvalidArgument, format_timestamp
from sandbox.rbm_validation import E164

__all__ = ["REGIONS", "FailedPrecondition", "RbmManagementEmulator"]

REGIONS: tuple[dict[str, str], ...] = tuple(
    {"name": f"/v1/regions/{rid}", "displayName": label, "managementType": "CARRIER_MANAGED"}
    for rid, label in (
        ("orange-fr", "Orange France"),
        ("sfr-fr", "SFR"),
        ("bouygues-fr", "Bouygues Telecom"),
        ("free-fr", "Free Mobile"),
    )
)
TESTERS_PER_DAY = 20
TESTERS_TOTAL = 200

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}
_STATUS |= {404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}
_STATUS |= {503: "UNAVAILABLE"}
_MESSAGES = {
    404: "Requested entity was not found.",
    409: "Requested entity already exists",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
}
_NO_CREDENTIALS = (
    "Request is missing required authentication credential. Expected OAuth 2 access token,"
    " login cookie or other valid authentication credential."
)
_BAD_CREDENTIALS = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token,"
    " login cookie or other valid authentication credential."
)
_FROZEN_AFTER_VERIFICATION = (
    "displayName",
    "rcsBusinessMessagingAgent.logoUri",
    "rcsBusinessMessagingAgent.heroUri",
)
_FROZEN_AFTER_LAUNCH = (
    "rcsBusinessMessagingAgent.agentUseCase",
    "rcsBusinessMessagingAgent.billingConfig",
)
_ID = "[^/:]+"
_AGENT_PATH = f"/brands/{{brand:{_ID}}}/agents/{{agent:{_ID}}}"


class _ApiError(Exception):
    def __init__(self, code: int, message: str | None = None, *, retry_after: int | None = None):
        super().__init__(message or _MESSAGES.get(code, "Unknown error."))
        self.code = code
        self.retry_after = retry_after


@dataclass
class _Agent:
    resource: dict[str, Any]
    verification: dict[str, Any]
    launch: dict[str, Any] | None = None

    def launched(self) -> bool:
        details = (self.launch or {}).get("rcsBusinessMessaging", {}).get("launchDetails", {})
        return any(region.get("launchState") == "LAUNCHED" for region in details.values())


class RbmManagementEmulator:
    """Google's management API in memory (see the module doc)."""

    def __init__(self, *, token: str | None = None, clock: Clock | None = None) -> None:
        """`token`: the one bearer token accepted (None: any non-empty one)."""
        self.token = token
        self.clock: Clock = clock or SystemClock()
        self.brands: dict[str, dict[str, Any]] = {}
        self.agents: dict[str, _Agent] = {}
        self.integrations: dict[str, list[dict[str, Any]]] = {}
        """Per agent name; each keeps its `verificationToken` (the bot's handshake secret)."""
        self.testers: dict[tuple[str, str], dict[str, Any]] = {}
        """Per (agent id, E.164)."""
        self._invited: list[tuple[str, str]] = []  # (agent id, UTC date) of every invite
        self._failures: list[_ApiError] = []
        self._sequence = 0

    # --- The operator's moves ------------------------------------------------------------------

    def fail_next(self, status: int, *, retry_after: int | None = None) -> None:
        """The next API call answers `status` in Google's envelope (after the bearer check)."""
        self._failures.append(_ApiError(status, retry_after=retry_after))

    def verify(self, agent_name: str) -> dict[str, Any]:
        """Google approves the pending verification: PENDING → VERIFIED."""
        agent = self._agent(agent_name)
        if agent.verification["verificationState"] != "PENDING":
            raise FailedPrecondition(f"the verification of {agent_name} is not PENDING")
        agent.verification["verificationState"] = "VERIFIED"
        return agent.verification

    def launch(
        self, agent_name: str, regions: list[str] | None = None, *, state: str = "LAUNCHED"
    ) -> dict[str, Any]:
        """The carriers decide: PENDING `regions` (all pending ones by default) → `state`."""
        if state not in ("LAUNCHED", "REJECTED", "SUSPENDED"):
            raise InvalidArgument(f"state must be LAUNCHED, REJECTED or SUSPENDED (got {state!r})")
        agent = self._agent(agent_name)
        if agent.launch is None:
            raise FailedPrecondition(f"no launch was requested for {agent_name}")
        if state == "LAUNCHED" and agent.verification["verificationState"] != "VERIFIED":
            raise FailedPrecondition(f"{agent_name} is not verified")
        details = agent.launch["rcsBusinessMessaging"]["launchDetails"]
        chosen = regions if regions is not None else list(details)
        for region in chosen:
            current = details.get(region)
            if current is None:
                raise InvalidArgument(f"no launch was requested in {region!r}")
            if regions is not None and current["launchState"] != "PENDING":
                raise FailedPrecondition(f"{region} is {current['launchState']}, not PENDING")
            if current["launchState"] == "PENDING":
                current["launchState"] = state
                current["updateTime"] = format_timestamp(self.clock.now())
        return agent.launch

    def accept_tester(self, agent_id: str, phone: str) -> dict[str, Any]:
        """The tester accepts the invite on the phone: PENDING → ACCEPTED."""
        tester = self.testers.get((agent_id, phone))
        if tester is None:
            raise _ApiError(404)
        tester["inviteStatus"] = "ACCEPTED"
        return tester

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
        add("GET", "/v1/regions", self._list_regions)
        add("POST", "/v1/testers", self._add_tester)
        add("GET", "/v1/testers", self._list_testers)
        add("GET", "/v1/testers/{phone}", self._get_tester)
        add("DELETE", "/v1/testers/{phone}", self._remove_tester)
        control = "/sandbox/management"
        add("POST", f"{control}{_AGENT_PATH}/verify", self._control_verify)
        add("POST", f"{control}{_AGENT_PATH}/launch", self._control_launch)
        add("POST", f"{control}/testers/{{phone}}/accept", self._control_accept)
        return app

    @web.middleware
    async def _errors(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            if request.path.startswith("/v1/"):
                self._guard(request)
            return await handler(request)
        except InvalidArgument as error:
            return _error(400, str(error))
        except FailedPrecondition as error:
            return _error(400, str(error), status="FAILED_PRECONDITION")
        except web.HTTPNotFound:
            return _error(404, _MESSAGES[404])
        except _ApiError as error:
            response = _error(error.code, str(error))
            if error.retry_after is not None:
                response.headers["Retry-After"] = str(error.retry_after)
            return response

    def _guard(self, request: web.Request) -> None:
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise _ApiError(401, _NO_CREDENTIALS)
        if self.token is not None and credential.strip() != self.token:
            raise _ApiError(401, _BAD_CREDENTIALS)
        if self._failures:
            raise self._failures.pop(0)

    # --- Brands and agents ---------------------------------------------------------------------

    async def _create_brand(self, request: web.Request) -> web.Response:
        body = obj(await _body(request), "brand")
        name = f"brands/{self._next():013d}"
        brand = {
            "name": name,
            "displayName": display_name(body.get("displayName"), "brand.displayName"),
        }
        self.brands[name] = brand
        return web.json_response(brand)

    async def _list_brands(self, _: web.Request) -> web.Response:
        return web.json_response(_page("brands", list(self.brands.values())))

    async def _get_brand(self, request: web.Request) -> web.Response:
        return web.json_response(self._brand(request))

    async def _create_agent(self, request: web.Request) -> web.Response:
        brand = self._brand(request)["name"]
        agent = validate_agent(await _body(request))
        agent.pop("name", None)  # output only
        sequence = self._next()
        slug = re.sub(r"[^a-z0-9]+", "_", agent["displayName"].lower()).strip("_")[:20] or "agent"
        digest = hashlib.sha256(f"{brand}/{sequence}".encode()).hexdigest()[:8]
        name = f"{brand}/agents/{slug}_{digest}_agent"
        resource = {"name": name, **agent}
        verification = {"name": f"{name}/verification", "verificationState": "UNVERIFIED"}
        self.agents[name] = _Agent(resource, verification)
        return web.json_response(resource)

    async def _list_agents(self, request: web.Request) -> web.Response:
        brand = self._brand(request)["name"]
        agents = [a.resource for name, a in self.agents.items() if name.startswith(f"{brand}/")]
        return web.json_response(_page("agents", agents))

    async def _get_agent(self, request: web.Request) -> web.Response:
        return web.json_response(self._agent_of(request).resource)

    async def _patch_agent(self, request: web.Request) -> web.Response:
        agent = self._agent_of(request)
        patch = obj(await _body(request), "agent")
        mask = [p.strip() for p in request.query.get("updateMask", "").split(",") if p.strip()]
        if not mask:
            raise InvalidArgument("updateMask is required")
        merged = copy.deepcopy(agent.resource)
        for path in mask:
            _apply(merged, patch, path)
        merged = validate_agent(merged)
        for path in mask:
            if _get(merged, path) == _get(agent.resource, path):
                continue
            if path == "name":
                raise InvalidArgument("agent.name cannot be changed")
            if path.startswith("rcsBusinessMessagingAgent.hostingRegion"):
                raise FailedPrecondition(
                    "hostingRegion cannot be changed after the agent is created"
                )
            verified = agent.verification["verificationState"] == "VERIFIED"
            if verified and path.startswith(_FROZEN_AFTER_VERIFICATION):
                raise FailedPrecondition(f"{path} cannot be changed after the agent is verified")
            if agent.launched() and path.startswith(_FROZEN_AFTER_LAUNCH):
                raise FailedPrecondition(f"{path} cannot be changed after the agent is launched")
        agent.resource = merged
        return web.json_response(merged)

    # --- Verification and launch ---------------------------------------------------------------

    async def _request_verification(self, request: web.Request) -> web.Response:
        agent = self._agent_of(request)
        contact = validate_contact(await _body(request))
        if agent.verification["verificationState"] == "VERIFIED":
            raise FailedPrecondition("the agent is already verified")
        agent.verification |= {"verificationState": "PENDING", "agentVerificationContact": contact}
        return web.json_response(agent.verification)

    async def _get_verification(self, request: web.Request) -> web.Response:
        return web.json_response(self._agent_of(request).verification)

    async def _request_launch(self, request: web.Request) -> web.Response:
        agent = self._agent_of(request)
        body = obj(await _body(request), "request")
        rbm = launch_regions(body.get("agentLaunch"), "agentLaunch", self._regions())
        if agent.launch is not None:
            raise FailedPrecondition("a launch was already requested: update it (PATCH) instead")
        if agent.verification["verificationState"] == "UNVERIFIED":
            raise FailedPrecondition("request the agent's verification before its launch")
        launched: dict[str, Any] = {
            "launchDetails": {region: self._pending() for region in rbm["launchDetails"]}
        }
        if "questionnaire" in rbm:
            launched["questionnaire"] = rbm["questionnaire"]
        launch = {"name": f"{agent.resource['name']}/launch", "rcsBusinessMessaging": launched}
        agent.launch = launch
        return web.json_response(launch)

    async def _get_launch(self, request: web.Request) -> web.Response:
        agent = self._agent_of(request)
        if agent.launch is None:
            raise _ApiError(404)
        return web.json_response(agent.launch)

    async def _patch_launch(self, request: web.Request) -> web.Response:
        agent = self._agent_of(request)
        if agent.launch is None:
            raise _ApiError(404)
        rbm = launch_regions(await _body(request), "agentLaunch", self._regions())
        details = agent.launch["rcsBusinessMessaging"]["launchDetails"]
        for region in details:
            if region not in rbm["launchDetails"]:
                raise InvalidArgument(
                    f"agentLaunch.rcsBusinessMessaging.launchDetails must keep region {region!r}"
                )
        for region in rbm["launchDetails"]:
            if region not in details:
                details[region] = self._pending()
        if "questionnaire" in rbm:
            agent.launch["rcsBusinessMessaging"]["questionnaire"] = rbm["questionnaire"]
        return web.json_response(agent.launch)

    async def _list_regions(self, _: web.Request) -> web.Response:
        return web.json_response({"regions": [dict(region) for region in REGIONS]})

    # --- Webhook and testers -------------------------------------------------------------------

    async def _create_integration(self, request: web.Request) -> web.Response:
        agent = self._agent_of(request)
        where = "integration.agentWebhookIntegration"
        body = obj(await _body(request), "integration")
        hook = obj(body.get("agentWebhookIntegration"), where)
        webhook_uri = uri(hook.get("webhookUri"), f"{where}.webhookUri")
        secret = text(hook.get("verificationToken"), f"{where}.verificationToken")
        name = agent.resource["name"]
        kept = self.integrations.setdefault(name, [])
        integration = {
            "name": f"{name}/integrations/{self._next():08d}",
            "status": "ENABLED",
            "agentWebhookIntegration": {"webhookUri": webhook_uri},
        }
        kept.append(integration | {"verificationToken": secret})
        return web.json_response(integration)

    async def _add_tester(self, request: web.Request) -> web.Response:
        body = obj(await _body(request), "tester")
        agent_id = self._agent_id(body.get("agentId"))
        phone = _e164(body.get("phoneNumber"), "tester.phoneNumber")
        if (agent_id, phone) in self.testers:
            raise _ApiError(409)
        today = self.clock.now().date().isoformat()
        invited = [day for agent, day in self._invited if agent == agent_id]
        if len(invited) >= TESTERS_TOTAL or invited.count(today) >= TESTERS_PER_DAY:
            raise _ApiError(429)
        self._invited.append((agent_id, today))
        tester = {
            "name": f"testers/{phone}",
            "agentId": agent_id,
            "phoneNumber": phone,
            "inviteStatus": "PENDING",
        }
        self.testers[(agent_id, phone)] = tester
        return web.json_response(tester)

    async def _list_testers(self, request: web.Request) -> web.Response:
        agent_id = self._agent_id(request.query.get("agentId"))
        found = [t for (agent, _), t in self.testers.items() if agent == agent_id]
        return web.json_response(_page("testers", found))

    async def _get_tester(self, request: web.Request) -> web.Response:
        return web.json_response(self._tester(request))

    async def _remove_tester(self, request: web.Request) -> web.Response:
        tester = self._tester(request)
        del self.testers[(tester["agentId"], tester["phoneNumber"])]
        return web.json_response({})

    # --- Control routes ------------------------------------------------------------------------

    async def _control_verify(self, request: web.Request) -> web.Response:
        return web.json_response(self.verify(self._agent_of(request).resource["name"]))

    async def _control_launch(self, request: web.Request) -> web.Response:
        name = self._agent_of(request).resource["name"]
        body = obj(await _body(request), "request")
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

    def _pending(self) -> dict[str, str]:
        return {"launchState": "PENDING", "updateTime": format_timestamp(self.clock.now())}

    def _regions(self) -> frozenset[str]:
        return frozenset(region["name"] for region in REGIONS)

    def _brand(self, request: web.Request) -> dict[str, Any]:
        brand = self.brands.get(f"brands/{request.match_info['brand']}")
        if brand is None:
            raise _ApiError(404)
        return brand

    def _agent(self, name: str) -> _Agent:
        agent = self.agents.get(name)
        if agent is None:
            raise _ApiError(404)
        return agent

    def _agent_of(self, request: web.Request) -> _Agent:
        info = request.match_info
        return self._agent(f"brands/{info['brand']}/agents/{info['agent']}")

    def _agent_id(self, value: Any) -> str:
        agent_id = text(value, "agentId")
        if not any(name.rsplit("/", 1)[-1] == agent_id for name in self.agents):
            raise _ApiError(404)
        return agent_id

    def _tester(self, request: web.Request) -> dict[str, Any]:
        agent_id = self._agent_id(request.query.get("agentId"))
        tester = self.testers.get((agent_id, _e164(request.match_info["phone"], "phoneNumber")))
        if tester is None:
            raise _ApiError(404)
        return tester


async def _body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"{}")
    except ValueError:
        raise InvalidArgument("Invalid JSON payload received.") from None


def _e164(value: Any, where: str) -> str:
    if not isinstance(value, str) or not E164.fullmatch(value):
        raise InvalidArgument(f"{where} is not an E.164 number (+33612345678)")
    return value


def _page(key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    # proto-JSON leaves an empty repeated field out.
    return {key: items} if items else {}


def _get(resource: dict[str, Any], path: str) -> Any:
    value: Any = resource
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _apply(target: dict[str, Any], patch: dict[str, Any], path: str) -> None:
    """Copies `path` from `patch` into `target` (or removes it where `patch` lacks it)."""
    *parents, last = path.split(".")
    source: Any = patch
    for part in parents:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise InvalidArgument(f"updateMask: {path!r} is not a field")
        source = source.get(part, {}) if isinstance(source, dict) else {}
    if isinstance(source, dict) and last in source:
        target[last] = copy.deepcopy(source[last])
    else:
        target.pop(last, None)


def _error(code: int, message: str, *, status: str | None = None) -> web.Response:
    body = {
        "error": {
            "code": code,
            "message": message,
            "status": status or _STATUS.get(code, "UNKNOWN"),
        }
    }
    headers = (
        {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'} if code == 401 else None
    )
    return web.json_response(body, status=code, headers=headers)
