"""`causette serve` refusing a bad configuration, and `causette flows migrate`."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

from click.testing import CliRunner

from bots import cli
from messaging.inbound import InboundText
from store.records import InboxSource
from tests.runtime.conftest import PHONE, RuntimeFactory


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_serve_refuses_an_invalid_configuration(tmp_path: Path) -> None:
    config = tmp_path / "bots.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            store: sqlite://causette.db
            timezone: Europe/Pariss
            bots:
              - id: rdv
                flw: rdv.yaml
            """
        ),
        encoding="utf-8",
    )
    code, _, err = run("serve", "--config", str(config))
    assert code == 1
    assert f"{config}:2:11: timezone: unknown time zone" in err
    assert f"{config}:5:5: bots[0]: unknown key `flw` (did you mean `flow`?)" in err


def test_serve_refuses_a_broken_flow(tmp_path: Path) -> None:
    (tmp_path / "rdv.yaml").write_text("flow: rdv\nstart: nowhere\nstates: {a: {end: true}}\n")
    config = tmp_path / "bots.yaml"
    config.write_text("bots:\n  - {id: rdv, flow: rdv.yaml}\n", encoding="utf-8")
    code, _, err = run("serve", "--config", str(config))
    assert code == 1
    assert "rdv.yaml:2:8: start: unknown state 'nowhere'" in err


async def test_migrate_lists_then_moves_live_conversations(
    make_runtime: RuntimeFactory, flow_file: Path, db_path: Path
) -> None:
    runtime = make_runtime()
    await runtime.open()
    await runtime.start_conversation("rdv", PHONE, key="a", contact={"first_name": "Ana"})
    await runtime.run_until_idle()
    flow_file.write_text(
        flow_file.read_text("utf-8")
        .replace("  ask:", "  question:")
        .replace("start: ask", "start: question")
    )
    config = flow_file.parent / "bots.yaml"
    config.write_text(
        f"store: sqlite://{db_path.name}\nbots:\n  - {{id: rdv, flow: {flow_file.name}}}\n"
    )

    # The command runs its own event loop: give it a thread of its own.
    code, out, err = await asyncio.to_thread(
        run, "flows", "migrate", "--config", str(config), "--bot", "rdv", "--dry-run"
    )
    assert code == 0
    assert "rdv-1  +33•••••••78" in out
    assert ":ask -> ?" in out
    assert "1 conversation(s) to move" in err
    assert "no state to go to" in err

    code, out, err = await asyncio.to_thread(
        run, "flows", "migrate", "--config", str(config), "--bot", "rdv"
    )
    assert code == 1  # a state without a counterpart: nobody moves

    code, out, err = await asyncio.to_thread(
        run, "flows", "migrate", "--config", str(config), "--bot", "rdv", "--map", "ask=question"
    )
    assert code == 0, err
    assert "moved 1 conversation(s)" in err

    moved = make_runtime(owner="after")
    await moved.open()
    await moved.receive(
        "rdv", PHONE, InboundText(text="1"), source=InboxSource.SMSMODE, provider_id="m1"
    )
    await moved.run_until_idle()
    conversation = await moved.store.get_conversation("rdv", PHONE)
    assert conversation is None  # "1" confirmed it on the new version: the conversation ended
