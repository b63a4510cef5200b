"""A flow whose template loops a billion times, or builds a huge string, is stopped with a clear
error and the worker goes on with the other conversations (issue 9, item 7).

The limits themselves are tested in tests/flows/test_template_limits.py; here the template
runs where it would in production: in a turn of the runtime's worker, beside a well-behaved
bot, with the worker's log captured.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bots.outbox import RecordingSender
from bots.runtime import Runtime
from bots.worker import BotProfile
from messaging.channel import Channel
from messaging.clock import FakeClock
from store.sqlite import SqliteStore
from tests.security.conftest import NOW

GUARD = 60.0
"""Seconds before a hung worker fails the test (the refusals take milliseconds)."""
HOSTILE = {
    "billion": "{% for i in range(1000000000) %}x{% endfor %}",
    "nested": "{% for i in range(10000) %}{% for j in range(10000) %}{% for k in range(10) %}"
    "{% endfor %}{% endfor %}{% endfor %}fini",
    "huge": "{% set ns = namespace(s='0123456789') %}{% for i in range(40) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
}
REASONS = {
    "billion": "argument 1000000000 is over the limit of 10000",
    "nested": "rendering took over 100000 steps",
    "huge": "a string of 40960 characters is over the limit of 32000",
}


def flow(name: str, text: str) -> str:
    quoted = text.replace("'", "''")
    return f"flow: {name}\nstart: hello\nstates:\n  hello: {{say: '{quoted}', end: true}}\n"


@pytest.mark.parametrize("kind", list(HOSTILE))
async def test_the_turn_fails_clearly_and_the_worker_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    files = {"evil": tmp_path / "evil.yaml", "rdv": tmp_path / "rdv.yaml"}
    files["evil"].write_text(flow("evil", HOSTILE[kind]), encoding="utf-8")
    files["rdv"].write_text(flow("rdv", "Bonjour {{ contact.first_name }}"), encoding="utf-8")
    sender = RecordingSender()
    runtime = Runtime(
        SqliteStore(tmp_path / "hostile.db"),
        {bot: BotProfile(bot, channel=Channel.SMS) for bot in files},
        dict(files),
        clock=FakeClock(NOW),
        sender=sender,
    )
    await runtime.open()
    try:
        await runtime.start_conversation("evil", "+33612345678", key="e-1")
        await runtime.start_conversation(
            "rdv", "+33698765432", key="r-1", contact={"first_name": "Ana"}
        )
        with caplog.at_level(logging.WARNING, logger="bots.worker"):
            await asyncio.wait_for(runtime.run_until_idle(), GUARD)
        # The other bot's conversation was served: its message, and only its, was sent.
        assert [(entry.bot_id, entry.phone) for entry in sender.sent] == [("rdv", "+33698765432")]
        assert await runtime.store.get_conversation("evil", "+33612345678") is None
        [skipped] = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
        assert "bot evil skipped: turn failed" in skipped
        assert "refused by the template sandbox" in skipped
        assert REASONS[kind] in skipped
    finally:
        await runtime.close()
