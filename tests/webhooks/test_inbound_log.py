"""A stored message is logged at DEBUG (`causette serve -v`), a provider's retry of it at INFO:
one line per message cost 2.5% of the server's CPU at 1,000 MO/s (docs/performance.md)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from messaging.inbound import InboundText
from store.events import inbound_event
from store.records import InboxSource, NewInbound
from store.sqlite import SqliteStore
from webhooks.common import store_inbound


async def test_new_messages_log_at_debug_and_duplicates_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="webhooks")
    event = inbound_event(InboundText(text="bonjour"), "t2c")
    at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    inbound = NewInbound(InboxSource.SMSMODE, "mo-1", "echo", "+33612345678", event, at)
    store = SqliteStore(":memory:")
    await store.open()
    try:
        await store_inbound(store, inbound, None, "smsmode callback")
        await store_inbound(store, inbound, None, "smsmode callback")
    finally:
        await store.close()

    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "webhooks.common"]
    assert [level for level, _ in lines] == [logging.DEBUG, logging.INFO]
    assert "stored mo-1" in lines[0][1]
    assert "duplicate mo-1" in lines[1][1]
    assert all("+33•••••••78" in text and "612345678" not in text for _, text in lines)
