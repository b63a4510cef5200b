"""`bots.demo`: the assembly `causette demo` serves, and the command itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

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
