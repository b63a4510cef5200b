"""`causette messages show`: a message's status, route and history, from the store."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

from click.testing import CliRunner

from bots import cli
from sandbox.phonebook import Network
from tests.fallback.harness import RCS_PHONE, SMS_PHONE, open_line


def run(*args: str) -> tuple[int, str, str]:
    # Wide enough for the history table's reasons to stay on one line each.
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli.main, list(args))
    return result.exit_code, result.stdout, result.stderr


EXAMPLE_FLOW = Path(__file__).parents[2] / "examples" / "flows" / "appointment.yaml"


def config(folder: Path) -> Path:
    path = folder / "bots.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            store: sqlite://line.db
            bots:
              - id: rappels
                flow: {flow}
            """
        ).format(flow=EXAMPLE_FLOW),
        encoding="utf-8",
    )
    return path


async def one_sms(folder: Path) -> tuple[str, str | None]:
    """A message that went by SMS, in `folder/line.db`: its key and provider id."""
    phones = ((RCS_PHONE, Network.RCS), (SMS_PHONE, Network.SMS))
    async with open_line(folder, phones=phones) as line:
        (key,) = await line.queue(SMS_PHONE, "Bonjour")
        await line.settle()
        return key, (await line.entry(key)).provider_id


def test_show_tells_where_a_message_went_and_why(tmp_path: Path) -> None:
    # The command runs its own event loop: the test is not a coroutine.
    key, provider_id = asyncio.run(one_sms(tmp_path))
    path = config(tmp_path)
    code, out, _ = run("messages", "show", key, "--config", str(path), "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["status"] == "delivered"
    assert shown["route"] == "t2c"
    assert shown["phone"] == "+33•••••••32"
    assert SMS_PHONE not in out  # masked everywhere
    assert [line["status"] for line in shown["history"]] == [
        "queued",
        "sending",
        "sent",
        "delivered",
    ]
    assert shown["valid_until"].startswith("2026-03-03T10:00")
    code, table, _ = run("messages", "show", str(provider_id), "--config", str(path))
    assert code == 0
    assert "not reachable by RCS (capability check: 404)" in table
    assert key in table


def test_show_an_unknown_message_exits_1(tmp_path: Path) -> None:
    code, _, err = run("messages", "show", "nope", "--config", str(config(tmp_path)))
    assert code == 1
    assert "no outgoing message 'nope'" in err
