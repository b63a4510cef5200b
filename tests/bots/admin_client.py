"""An admin API over aiohttp's test client, on a runtime with a SQLite store, a fake clock and
a recording sender: what the admin API's tests share. Bots `rdv` and `colis` run the same flow;
`rdv` belongs to business `acme`, `colis` to `colis-express`."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from bots.admin import add_admin_api
from bots.admin.auth import hash_token, new_token
from bots.outbox import RecordingSender
from bots.runtime import Runtime
from bots.worker import BotProfile
from messaging.channel import Channel
from messaging.clock import FakeClock
from messaging.inbound import InboundPostback, InboundText
from store.records import InboxSource
from store.sqlite import SqliteStore
from store.tokens_records import ALL_BOTS, ApiToken

FLOW = """\
flow: rdv
start: ask
vars: {date: "demain"}
states:
  ask:
    say:
      text: "Bonjour {{ contact.first_name | default('à vous') }}, le {{ vars.date }} ?"
      suggestions:
        - {reply: Oui, data: yes}
        - {reply: Conseiller, data: human}
    on:
      - data: yes
        goto: done
      - data: human
        goto: human
  human:
    handoff: {queue: accueil, say: "Un conseiller vous répond."}
    on:
      - keywords: [merci]
        goto: done
  done: {say: Merci, end: true}
"""
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PHONE = "+33612345678"
URL = "/v1/bots/rdv/conversations"
BODY = {
    "phone": "06 12 34 56 78",
    "vars": {"date": "12 décembre"},
    "contact": {"first_name": "Ana"},
}
SALT = "a-test-salt"

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]


@dataclass
class Api:
    client: Client
    runtime: Runtime
    sender: RecordingSender
    clock: FakeClock
    rdv: str
    """A token scoped to `rdv`."""
    other: str
    """A token scoped to `colis` only."""
    revoked: str
    everything: str
    """A token of every bot (`*`)."""

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.rdv}"}

    async def post(
        self, body: Any = None, *, token: str | None = None, key: str | None = "k-1", **kw: Any
    ) -> tuple[int, Any, Any]:
        """POST a start (or `url`) with an Idempotency-Key; status, JSON body, headers."""
        headers = self.auth(token)
        if key is not None:
            headers["Idempotency-Key"] = key
        data = kw.pop("data", None)
        if data is None:
            data = json.dumps(BODY if body is None else body)
        response = await self.client.post(kw.pop("url", URL), data=data, headers=headers)
        return response.status, await response.json(), response.headers

    async def call(
        self, method: str, url: str, *, token: str | None = None, **kw: Any
    ) -> tuple[int, Any]:
        """Any request with a token (the `rdv` one by default): status and JSON body."""
        headers = {**self.auth(token), **kw.pop("headers", {})}
        response = await self.client.request(method, url, headers=headers, **kw)
        return response.status, await response.json()

    async def started(self) -> str:
        """Start the flow for `PHONE` and run it: the conversation's id."""
        assert (await self.post())[0] == 202
        await self.runtime.run_until_idle()
        conversation = await self.runtime.store.get_conversation("rdv", PHONE)
        assert conversation is not None
        return conversation.id

    async def says(
        self, text: str, provider_id: str, *, data: str | None = None, phone: str = PHONE
    ) -> None:
        """The person writes (or taps a chip with `data`), and the runtime runs."""
        message = (
            InboundPostback(data=data, text=text) if data is not None else InboundText(text=text)
        )
        await self.runtime.receive(
            "rdv", phone, message, source=InboxSource.SMSMODE, provider_id=provider_id
        )
        await self.runtime.run_until_idle()


async def make_api(
    aiohttp_client: ClientFactory, tmp_path: Path, *, erasure_salt: str | None = SALT
) -> Api:
    """The API over a fresh runtime (opened: close `api.runtime` after)."""
    flow = tmp_path / "rdv.yaml"
    flow.write_text(textwrap.dedent(FLOW), encoding="utf-8")
    sender = RecordingSender()
    clock = FakeClock(NOW)
    profiles = {
        "rdv": BotProfile("rdv", channel=Channel.SMS, business="acme"),
        "colis": BotProfile("colis", channel=Channel.SMS, business="colis-express"),
    }
    runtime = Runtime(
        SqliteStore(tmp_path / "admin.db"),
        profiles,
        {"rdv": flow, "colis": flow},
        clock=clock,
        sender=sender,
    )
    await runtime.open()
    secrets = {}
    scopes = {"t-rdv": ("rdv",), "t-colis": ("colis",), "t-old": (ALL_BOTS,), "t-all": (ALL_BOTS,)}
    for token_id, scope in scopes.items():
        secrets[token_id] = new_token()
        record = ApiToken(token_id, token_id, hash_token(secrets[token_id]), scope, NOW)
        await runtime.store.save_token(record)
    await runtime.store.revoke_token("t-old", NOW)
    app = web.Application()
    add_admin_api(app, runtime, erasure_salt=erasure_salt)
    client = await aiohttp_client(app)
    return Api(
        client,
        runtime,
        sender,
        clock,
        secrets["t-rdv"],
        secrets["t-colis"],
        secrets["t-old"],
        secrets["t-all"],
    )


def error_of(body: Any, code: str) -> dict[str, Any]:
    """The error of an error answer, checked for the API's one shape and `code`."""
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert set(error) <= {"code", "message", "details"}
    return error
