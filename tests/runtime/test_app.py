"""The `causette serve` application over real HTTP: health, metrics, the runtime's loops."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient

from bots.app import RUNTIME, create_app
from bots.metrics import Metrics
from bots.outbox import RecordingSender
from bots.runtime import Runtime, Tuning
from bots.worker import BotProfile
from messaging.clock import FakeClock
from store.sqlite import SqliteStore
from tests.runtime.conftest import PHONE

ClientFactory = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


async def test_health_metrics_and_a_turn(
    aiohttp_client: ClientFactory, flow_file: Path, clock: FakeClock, tmp_path: Path
) -> None:
    sender = RecordingSender()
    metrics = Metrics()
    runtime = Runtime(
        SqliteStore(tmp_path / "app.db"),
        {"rdv": BotProfile("rdv")},
        {"rdv": flow_file},
        clock=clock,
        sender=sender,
        tuning=Tuning(concurrency=2),
        on_turn=metrics.observe_turn,
    )
    client = await aiohttp_client(create_app(runtime, metrics))

    health = await client.get("/healthz")
    assert health.status == 200
    assert await health.json() == {"status": "ok", "inbox_depth": 0}

    await client.app[RUNTIME].start_conversation(
        "rdv", PHONE, key="k", contact={"first_name": "Ana"}
    )
    # The loops run inside the server: wait for their outcome (bounded), not for a time.
    await asyncio.wait_for(sender.arrived.wait(), timeout=30)
    assert sender.sent[0].content["text"].startswith("Bonjour Ana")

    page = await client.get("/metrics")
    text = await page.text()
    assert page.status == 200
    assert "causette_turns_total 1.0" in text
    assert "causette_inbox_depth 0.0" in text
    assert 'causette_outbox_depth{status="queued"}' in text
    assert "causette_timer_lag_seconds 0.0" in text
