"""The RBM management API client ("Business Communications"): brands, agents, verification,
launch, regions, the webhook integration and testers (reference/rbm.md §7).

Hosts and auth are those of rbm.md §0: `https://businesscommunications.googleapis.com/v1`, a
bearer token of scope `BUSINESS_COMMUNICATIONS_SCOPE` (`agents.google_auth`). Like
`agents.rbm.RbmClient`, the client is thin: one HTTP call per method (plus one retry after a 401
with a fresh token), the API's JSON given back as a plain dict, every refusal turned into an
`agents.errors` type (rbm.md §6):

- 400 (INVALID_ARGUMENT, FAILED_PRECONDITION) → `Invalid`;
- 404 NOT_FOUND → `Permanent` with `status` 404 (no recipient here: `NotReachable` would send a
  message to SMS, which means nothing for an admin call);
- 409 ALREADY_EXISTS → `Permanent` with `status` 409 (`already_exists(error)` tells);
- 429 → `RateLimited` (with `Retry-After` when given), 5xx → `Transient`;
- 401 again after a fresh token, 403 and any other status → `Permanent`.

Idempotency: Google dedupes nothing here. `create_brand`, `create_agent` and
`create_integration` make a new resource (a new id) on every call, so a retried create after a
timeout (`OutcomeUnknown`) may leave a duplicate. Admin scripts therefore look up first
(`list_brands` / `list_agents`, matching on `displayName`) and create only what is missing;
`add_tester` answers 409 for a tester already invited, which a caller treats as done.
rbm.md §7 lists only the integration's create; list and delete follow Google's guide
"Manage webhooks" (guides/management-api/webhooks: retrieve, look up, remove integrations) and
the REST reference `brands.agents.integrations.delete`.

List calls give back the first page as Google sent it (`nextPageToken` included when present).

What leaves this module (messages, `body`, logs) never holds the bearer token, a webhook
verification token or a full tester phone number.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Mapping, Sequence
from datetime import timedelta
from typing import Any

import aiohttp
from yarl import URL

from agents.errors import Invalid, ProviderError, Transient
from agents.google_auth import TokenSource
from agents.rbm import (
    Answer,
    google_error,
    google_error_summary,
    normalise_agent_id,
    scrub,
    transport_error,
)
from messaging.clock import Clock, SystemClock
from messaging.phone import InvalidPhoneError, Phone

DEFAULT_BASE_URL = "https://businesscommunications.googleapis.com"
"""The management host (rbm.md §0); the sandbox overrides it."""

DEFAULT_TIMEOUT = timedelta(seconds=30)
"""Total time for one HTTP exchange (admin calls, not on any user's path)."""

ERROR_BODY_LIMIT = 500
"""Characters of an error body kept in `ProviderError.body` for logs."""

_BRAND = re.compile(r"brands/[^/:?#\s]+")
_AGENT = re.compile(r"brands/[^/:?#\s]+/agents/[^/:?#\s]+")
_INTEGRATION = re.compile(r"brands/[^/:?#\s]+/agents/[^/:?#\s]+/integrations/[^/:?#\s]+")

_log = logging.getLogger(__name__)


def already_exists(error: ProviderError) -> bool:
    """True for Google's 409 ALREADY_EXISTS: for an idempotent caller, the work is done."""
    return error.status == 409


class ManagementClient:
    """Calls to the management API over the caller's shared `aiohttp.ClientSession`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        tokens: TokenSource,
        base_url: str = DEFAULT_BASE_URL,
        timeout: timedelta = DEFAULT_TIMEOUT,
        clock: Clock | None = None,
    ) -> None:
        self._session = session
        self._tokens = tokens
        self._base = URL(base_url)
        self._timeout = aiohttp.ClientTimeout(total=timeout.total_seconds())
        self._clock: Clock = clock or SystemClock()

    # --- Brands and agents ---------------------------------------------------------------------

    async def create_brand(self, display_name: str) -> dict[str, Any]:
        """A new brand (`{"name": "brands/{id}", "displayName"}`); not idempotent (module doc)."""
        _require("display_name", display_name)
        return await self._call("POST", "brands", body={"displayName": display_name})

    async def list_brands(self) -> dict[str, Any]:
        """`{"brands": [...]}` (the key is absent when there are none)."""
        return await self._call("GET", "brands")

    async def create_agent(self, brand: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A new agent of `brand` ("brands/{id}") from an Agent body (rbm.md §7); the answer's
        `name` is `brands/{b}/agents/{a}`. Not idempotent (module doc)."""
        return await self._call("POST", f"{_brand(brand)}/agents", body=dict(body))

    async def get_agent(self, name: str) -> dict[str, Any]:
        return await self._call("GET", _agent(name))

    async def list_agents(self, brand: str) -> dict[str, Any]:
        """`{"agents": [...]}` of `brand` (the key is absent when there are none)."""
        return await self._call("GET", f"{_brand(brand)}/agents")

    async def update_agent(
        self, name: str, body: Mapping[str, Any], update_mask: Sequence[str]
    ) -> dict[str, Any]:
        """PATCHes the fields of `update_mask` (e.g. `rcsBusinessMessagingAgent.description`).

        Google refuses (400) displayName, logo and hero once verified, the hosting region
        always, the use case once launched (rbm.md §7).
        """
        if not update_mask:
            raise ValueError("update_mask must name at least one field")
        return await self._call(
            "PATCH", _agent(name), query={"updateMask": ",".join(update_mask)}, body=dict(body)
        )

    # --- Verification and launch ---------------------------------------------------------------

    async def request_verification(
        self, agent_name: str, contact: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Asks Google to verify the agent; `contact` is the agentVerificationContact
        (partnerName, partnerEmailAddress, brandContactName, brandContactEmailAddress,
        brandWebsiteUrl). Answers the AgentVerification (state PENDING)."""
        return await self._call(
            "POST",
            f"{_agent(agent_name)}:requestVerification",
            body={"agentVerificationContact": dict(contact)},
        )

    async def get_verification(self, agent_name: str) -> dict[str, Any]:
        """`{"name", "verificationState", "agentVerificationContact"}`."""
        return await self._call("GET", f"{_agent(agent_name)}/verification")

    async def request_launch(self, agent_name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Asks for a launch; `body` is the AgentLaunch, `{"rcsBusinessMessaging":
        {"questionnaire": {...}, "launchDetails": {"/v1/regions/<id>": {}}}}`, sent wrapped
        in `agentLaunch`. Answers the AgentLaunch with a `launchState` per region."""
        return await self._call(
            "POST", f"{_agent(agent_name)}:requestLaunch", body={"agentLaunch": dict(body)}
        )

    async def get_launch(self, agent_name: str) -> dict[str, Any]:
        return await self._call("GET", f"{_agent(agent_name)}/launch")

    async def update_launch(self, agent_name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Adds regions: `body` is the AgentLaunch naming every region already launched or
        pending plus the new ones (rbm.md §7)."""
        return await self._call("PATCH", f"{_agent(agent_name)}/launch", body=dict(body))

    async def list_regions(self) -> dict[str, Any]:
        """`{"regions": [{"name": "/v1/regions/<id>", "displayName", "managementType"}]}`."""
        return await self._call("GET", "regions")

    # --- Webhook and testers -------------------------------------------------------------------

    async def create_integration(
        self, agent_name: str, webhook_uri: str, verification_token: str
    ) -> dict[str, Any]:
        """Points the agent's webhook at `webhook_uri`; Google then runs the handshake with
        `verification_token` (rbm.md §5.2). Not idempotent (module doc)."""
        _require("webhook_uri", webhook_uri)
        _require("verification_token", verification_token)
        body = {
            "agentWebhookIntegration": {
                "webhookUri": webhook_uri,
                "verificationToken": verification_token,
            }
        }
        return await self._call(
            "POST", f"{_agent(agent_name)}/integrations", body=body, secrets=(verification_token,)
        )

    async def list_integrations(self, agent_name: str) -> dict[str, Any]:
        """`{"integrations": [{"name", "status", "agentWebhookIntegration": {"webhookUri"}}]}`
        (the key is absent when there are none; the verification token is never given back)."""
        return await self._call("GET", f"{_agent(agent_name)}/integrations")

    async def delete_integration(self, integration_name: str) -> dict[str, Any]:
        """Removes an integration (`brands/{b}/agents/{a}/integrations/{id}`)."""
        if not _INTEGRATION.fullmatch(integration_name):
            raise ValueError(
                "an integration name looks like brands/{b}/agents/{a}/integrations/{id}"
            )
        return await self._call("DELETE", integration_name)

    async def add_tester(self, agent_id: str, phone: str | Phone) -> dict[str, Any]:
        """Invites `phone` to test the unlaunched agent (`inviteStatus` PENDING until the user
        accepts). 409 (`already_exists`) when already invited; 429 past 20 a day or 200 in all."""
        tester = _phone(phone, "add tester")
        body = {"agentId": normalise_agent_id(agent_id), "phoneNumber": tester.e164}
        return await self._call("POST", "testers", body=body, phone=tester)

    async def list_testers(self, agent_id: str) -> dict[str, Any]:
        """`{"testers": [...]}` of the agent (the key is absent when there are none)."""
        return await self._call("GET", "testers", query={"agentId": normalise_agent_id(agent_id)})

    async def remove_tester(self, agent_id: str, phone: str | Phone) -> dict[str, Any]:
        tester = _phone(phone, "remove tester")
        return await self._call(
            "DELETE",
            f"testers/{tester.e164}",
            query={"agentId": normalise_agent_id(agent_id)},
            phone=tester,
        )

    # --- One call ------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        phone: Phone | None = None,
        secrets: Sequence[str] = (),
        expect: Collection[int] = (200,),
    ) -> dict[str, Any]:
        # The path is built as text: names hold slashes and verbs a colon ("...:requestLaunch").
        url = self._base.with_path(f"/v1/{path}", encoded=False).with_query(dict(query or {}))
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        action = f"{method} {_masked(path, phone)}"
        token = await self._tokens.token()
        answer = await self._exchange(method, url, data, token, action, phone, secrets)
        if answer.status == 401:
            # As in agents.rbm: one fresh token and one more try.
            self._tokens.invalidate(token)
            token = await self._tokens.token()
            answer = await self._exchange(method, url, data, token, action, phone, secrets)
        if answer.status not in expect:
            raise self._error(answer, action, phone, (token, *secrets))
        try:
            value = json.loads(answer.body or b"{}")
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise Transient(f"RBM management {action}: unreadable answer", status=answer.status)
        return value

    async def _exchange(
        self,
        method: str,
        url: URL,
        data: bytes | None,
        token: str,
        action: str,
        phone: Phone | None,
        secrets: Sequence[str],
    ) -> Answer:
        headers = {"Authorization": f"Bearer {token}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                answer = Answer(response.status, await response.read(), response.headers)
        except (TimeoutError, aiohttp.ClientError) as error:
            raise transport_error(
                error, f"RBM management {action}", phone, (token, *secrets)
            ) from None
        _log.debug("RBM management %s: HTTP %d", action, answer.status)
        return answer

    def _error(
        self, answer: Answer, action: str, phone: Phone | None, secrets: Sequence[str]
    ) -> ProviderError:
        status = answer.status
        body = scrub(answer.text, phone, secrets, limit=ERROR_BODY_LIMIT)
        summary = scrub(google_error_summary(answer.body), phone, secrets, limit=200)
        message = f"RBM management {action}: HTTP {status}" + (f" {summary}" if summary else "")
        return google_error(answer, message, body, self._clock.now())


def _brand(name: str) -> str:
    if not _BRAND.fullmatch(name):
        raise ValueError("a brand name looks like brands/{brandId}")
    return name


def _agent(name: str) -> str:
    if not _AGENT.fullmatch(name):
        raise ValueError("an agent name looks like brands/{brandId}/agents/{agentId}")
    return name


def _phone(raw: str | Phone, action: str) -> Phone:
    if isinstance(raw, Phone):
        return raw
    try:
        return Phone(raw)
    except InvalidPhoneError:
        raise Invalid(f"RBM management {action}: not a valid phone number") from None


def _masked(path: str, phone: Phone | None) -> str:
    return path if phone is None else path.replace(phone.e164, phone.masked)


def _require(name: str, value: str) -> None:
    if not value:
        raise ValueError(f"{name} must not be empty")
