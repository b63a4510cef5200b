"""The security review's fixtures: an admin API on a runtime with two bots and four tokens,
and the end-to-end tests' `demo` server (tests/e2e/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bots.admin import add_admin_api
from bots.admin.auth import hash_token, new_token
from bots.outbox import RecordingSender
from bots.runtime import Runtime
from bots.worker import BotProfile
from messaging.channel import Channel
from messaging.clock import FakeClock
from store.sqlite import SqliteStore
from store.tokens_records import ALL_BOTS, ApiToken
from tests.e2e.conftest import demo  # noqa: F401 - the end-to-end server, a fixture found by name

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FLOW = "flow: rdv\nstart: ask\nstates:\n  ask: {say: Bonjour, end: true}\n"

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]


@dataclass
class Admin:
    """The admin API of bots `rdv` and `colis`, and a token of each kind."""

    client: Client
    runtime: Runtime
    sender: RecordingSender
    rdv: str
    """Scoped to `rdv`."""
    colis: str
    """Scoped to `colis`."""
    every_bot: str
    revoked: str
    """Was a token of every bot."""


@pytest.fixture
async def admin(aiohttp_client: ClientFactory, tmp_path: Path) -> AsyncIterator[Admin]:
    flow = tmp_path / "rdv.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    sender = RecordingSender()
    runtime = Runtime(
        SqliteStore(tmp_path / "admin.db"),
        {bot: BotProfile(bot, channel=Channel.SMS) for bot in ("rdv", "colis")},
        {"rdv": flow, "colis": flow},
        clock=FakeClock(NOW),
        sender=sender,
    )
    await runtime.open()
    secrets: dict[str, str] = {}
    scopes = {"rdv": ("rdv",), "colis": ("colis",), "all": (ALL_BOTS,), "old": (ALL_BOTS,)}
    for token_id, scope in scopes.items():
        secrets[token_id] = new_token()
        record = ApiToken(token_id, token_id, hash_token(secrets[token_id]), scope, NOW)
        await runtime.store.save_token(record)
    await runtime.store.revoke_token("old", NOW)
    app = web.Application()
    add_admin_api(app, runtime)
    client = await aiohttp_client(app)
    yield Admin(client, runtime, sender, *(secrets[key] for key in scopes))
    await runtime.close()
