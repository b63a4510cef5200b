"""`causette agents`: a spec with mistakes is refused before any call; reactivation (R19)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from store.sqlite import SqliteStore
from tests.bots.deployment import run_cli, write_config

SPEC = Path(__file__).parents[2] / "examples" / "agents" / "cabinet.yaml"
PROVIDERS = "providers:\n  rbm: {credentials_env: RBM_KEY, client_token_env: RBM_TOKEN}"
ENV = {"RBM_KEY": "{}", "RBM_TOKEN": "jeton"}


def test_a_spec_with_mistakes_is_refused_before_any_call(tmp_path: Path) -> None:
    spec = tmp_path / "agent.yaml"
    spec.write_text(SPEC.read_text("utf-8").replace('color: "#', 'colour: "#'), encoding="utf-8")
    config = write_config(tmp_path, "rdv", "appointment.yaml", database="s.db", extra=PROVIDERS)
    code, _, err = run_cli("agents", "create", str(spec), "--config", str(config), env=ENV)
    assert code == 1
    assert f"{spec}:" in err
    assert "unknown key `colour` (did you mean `color`?)" in err


def test_reactivate_records_the_revalidation(tmp_path: Path) -> None:
    config = write_config(tmp_path, "rdv", "appointment.yaml", database="s.db", extra=PROVIDERS)
    code, out, _ = run_cli(
        "agents", "reactivate", "cabinet_agent", "--config", str(config), env=ENV
    )
    assert code == 0
    assert out.startswith("cabinet_agent: reactivated at")

    async def read() -> None:
        async with SqliteStore(str(tmp_path / "s.db")) as store:
            record = await store.get_agent("cabinet_agent")
            assert record is not None
            assert record.reactivated_at is not None

    asyncio.run(read())
