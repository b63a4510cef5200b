"""The control API of the RBM emulator: JSON under `/sandbox/rbm/...`, for tests, the demo and
people driving the sandbox by hand. RBM has no such API; these routes only turn the emulator's
knobs (`RbmFaults`) and call its test methods over HTTP.

Separate from `sandbox.rbm`, whose routes are Google's API: nothing here speaks Google's wire
format or goes through its authentication, fault injection or error envelope. The routes work
on any `Controlled` emulator, which keeps this module free of an import of `sandbox.rbm`.
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from sandbox.rbm_delivery import SentMessage
from sandbox.rbm_faults import RbmFaults

ROOT = "/sandbox/rbm"


class Controlled(Protocol):
    """What the control API needs of the emulator (`sandbox.rbm.RbmEmulator`)."""

    faults: RbmFaults
    messages: dict[tuple[str, str], SentMessage]

    def flush(self) -> None: ...

    def release_held(self) -> None: ...

    async def drain(self) -> None: ...

    def read(self, agent_id: str, message_id: str) -> None: ...

    async def set_webhook(self, agent_id: str, url: str, client_token: str) -> bool: ...

    def user_activity(self, phone: str, event_type: str, agent_id: str | None = None) -> None: ...


class RbmControl:
    """The `/sandbox/rbm/...` routes of one emulator."""

    def __init__(self, emulator: Controlled) -> None:
        self.emulator = emulator

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """`GET|PATCH /sandbox/rbm/faults` (RbmFaults as JSON), `POST /sandbox/rbm/release`,
        `POST /sandbox/rbm/drain`, `GET /sandbox/rbm/messages`,
        `POST /sandbox/rbm/messages/{agent}/{messageId}/read`,
        `PUT /sandbox/rbm/agents/{agent}/webhook` `{"url", "clientToken"}` (handshake now),
        `POST /sandbox/rbm/phones/{E.164}/events/{IS_TYPING|SUBSCRIBE|UNSUBSCRIBE}`."""
        router.add_get(f"{ROOT}/faults", self._get_faults)
        router.add_patch(f"{ROOT}/faults", self._patch_faults)
        router.add_post(f"{ROOT}/release", self._release)
        router.add_post(f"{ROOT}/drain", self._drain)
        router.add_get(f"{ROOT}/messages", self._list_messages)
        router.add_post(f"{ROOT}/messages/{{agent}}/{{message_id}}/read", self._read)
        router.add_put(f"{ROOT}/agents/{{agent}}/webhook", self._webhook)
        router.add_post(f"{ROOT}/phones/{{phone}}/events/{{event}}", self._activity)

    async def _get_faults(self, _: web.Request) -> web.Response:
        return web.json_response(self.emulator.faults.to_json())

    async def _patch_faults(self, request: web.Request) -> web.Response:
        try:
            self.emulator.faults.update(await request.json())
        except ValueError as error:
            return web.json_response({"error": str(error)}, status=400)
        self.emulator.flush()
        return web.json_response(self.emulator.faults.to_json())

    async def _release(self, _: web.Request) -> web.Response:
        self.emulator.release_held()
        return web.json_response({})

    async def _drain(self, _: web.Request) -> web.Response:
        await self.emulator.drain()
        return web.json_response({})

    async def _list_messages(self, _: web.Request) -> web.Response:
        keys = ("agent_id", "phone", "message_id", "state", "read")
        messages = self.emulator.messages.values()
        return web.json_response([{k: getattr(s, k) for k in keys} for s in messages])

    async def _read(self, request: web.Request) -> web.Response:
        try:
            self.emulator.read(request.match_info["agent"], request.match_info["message_id"])
        except KeyError:
            return web.json_response({"error": "no such message"}, status=404)
        return web.json_response({})

    async def _webhook(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            url, token = str(body["url"]), str(body["clientToken"])
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": 'expected {"url", "clientToken"}'}, status=400)
        verified = await self.emulator.set_webhook(request.match_info["agent"], url, token)
        return web.json_response({"verified": verified})

    async def _activity(self, request: web.Request) -> web.Response:
        try:
            self.emulator.user_activity(request.match_info["phone"], request.match_info["event"])
        except (KeyError, ValueError) as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response({})
