"""`bots.demo`: the assembly `causette demo` serves, and the command itself."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer, unused_port
from click.testing import CliRunner

from bots import cli
from bots.demo import PHONES, build_demo
from sandbox.phonebook import Direction, PhoneMessage

WAIT = 10.0
"""Seconds the greetings may take before the test fails."""


async def test_the_demo_greets_the_rcs_and_the_sms_phone(tmp_path: Path) -> None:
    port = unused_port()
    demo = await build_demo(f"http://127.0.0.1:{port}", tmp_path / "demo.db", seed=7)
    watch = demo.phonebook.watch()
    server = TestServer(demo.app, host="127.0.0.1", port=port)
    try:
        await server.start_server()
        greeted = await asyncio.wait_for(_first_channels(watch, len(PHONES)), WAIT)
        # Receipts are on their way to the webhooks: let them land before the server closes
        # (Python 3.11's loop leaks a socket accepted while its server closes).
        await asyncio.wait_for(asyncio.gather(demo.rbm.drain(), demo.sms.drain()), WAIT)
    finally:
        await server.close()
        demo.phonebook.unwatch(watch)
    assert greeted == {"+33612345601": "rcs", "+33798765432": "sms"}


async def _first_channels(watch: asyncio.Queue[PhoneMessage], phones: int) -> dict[str, str]:
    """The channel of the first message delivered to each phone, once `phones` have one."""
    channels: dict[str, str] = {}
    while len(channels) < phones:
        message = await watch.get()
        if message.direction is Direction.TO_PHONE and message.status == "delivered":
            channels.setdefault(message.phone, message.channel)
    return channels


async def test_an_unknown_bot_to_greet_with_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'nope' is not an example bot"):
        await build_demo("http://127.0.0.1:1", tmp_path / "demo.db", greet="nope")


def test_the_demo_command_has_help() -> None:
    result = CliRunner().invoke(cli.main, ["demo", "--help"])
    assert result.exit_code == 0, result.output
    assert "--bot" in result.output
    assert "--port" in result.output


def test_an_unknown_bot_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli.main, ["demo", "--bot", "nope"])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--bot'" in result.output
    assert "appointment" in result.output


async def test_the_billing_panel_shows_sessions_and_running_cost(tmp_path: Path) -> None:
    port = unused_port()
    demo = await build_demo(f"http://127.0.0.1:{port}", tmp_path / "demo.db", seed=7)
    watch = demo.phonebook.watch()
    server = TestServer(demo.app, host="127.0.0.1", port=port)
    ana, bruno = PHONES[0][0], PHONES[1][0]
    try:
        await server.start_server()
        await asyncio.wait_for(_first_channels(watch, len(PHONES)), WAIT)
        await asyncio.wait_for(asyncio.gather(demo.rbm.drain(), demo.sms.drain()), WAIT)
        async with aiohttp.ClientSession() as http:
            before = await _panel(http, port)
            # Bruno answers on his SMS phone: his reply opens a Time2Chat session (R14).
            url = f"http://127.0.0.1:{port}/api/phones/{bruno}/act"
            async with http.post(url, json={"text": "1"}) as answer:
                assert answer.status == 200
            # The worker bills the reply before its turn: once the bot has answered, the
            # session is in the ledger.
            known = {message.id for message in demo.phonebook.phones[bruno].messages}
            await asyncio.wait_for(_next_to(watch, bruno, known), WAIT)
            after = await _panel(http, port)
    finally:
        await server.close()
        demo.phonebook.unwatch(watch)
    # The greeting is 2 SMS segments for Bruno (sms_mt x 2, R13), one rich RCS message for Ana.
    assert before[bruno] == {"sessions": [], "cost": "0.090", "currency": "EUR"}
    assert before[ana] == {"sessions": [], "cost": "0.045", "currency": "EUR"}
    assert [session["label"] for session in after[bruno]["sessions"]] == ["Time2Chat"]
    # + the session (t2c_session 0.090), + the answer if already billed (2 segments, 0.090).
    assert after[bruno]["cost"] in ("0.180", "0.270")


async def _panel(http: aiohttp.ClientSession, port: int) -> dict[str, Any]:
    async with http.get(f"http://127.0.0.1:{port}/api/billing") as response:
        assert response.status == 200
        phones: dict[str, Any] = (await response.json())["phones"]
        return phones


async def _next_to(watch: asyncio.Queue[PhoneMessage], phone: str, known: set[str]) -> None:
    """Until a message of the bot that is not one of `known` reaches `phone`."""
    while True:
        message = await watch.get()
        new = message.id not in known
        if new and message.phone == phone and message.direction is Direction.TO_PHONE:
            return
