"""`causette tokens create|list|revoke`: the admin API's tokens, printed once, kept hashed."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

from click.testing import CliRunner

from bots import cli
from bots.admin.auth import TOKEN_PREFIX, hash_token

FLOW = Path(__file__).parents[2] / "examples" / "flows" / "appointment.yaml"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.main, list(args))
    return result.exit_code, result.stdout, result.stderr


def config(folder: Path) -> str:
    path = folder / "bots.yaml"
    text = f"""\
        store: sqlite://{folder / "causette.db"}
        bots:
          - {{id: rdv, flow: {FLOW}}}
          - {{id: colis, flow: {FLOW}}}
        """
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def test_a_token_is_printed_once_and_only_its_hash_is_kept(tmp_path: Path) -> None:
    path = config(tmp_path)
    code, out, err = run("tokens", "create", "--bot", "rdv", "--name", "crm", "--config", path)
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith(TOKEN_PREFIX)
    assert len(secret) > 40
    assert secret not in err
    db = sqlite3.connect(tmp_path / "causette.db")
    try:
        dump = "\n".join(db.iterdump())
        (row,) = db.execute("SELECT name, token_hash, scopes FROM api_tokens").fetchall()
    finally:
        db.close()
    assert secret not in dump
    assert row == ("crm", hash_token(secret), '["rdv"]')

    code, out, _ = run("tokens", "list", "--json", "--config", path)
    (listed,) = json.loads(out)
    assert (listed["name"], listed["bots"], listed["revoked"]) == ("crm", ["rdv"], None)
    assert secret not in out
    assert hash_token(secret) not in out
    code, out, _ = run("tokens", "list", "--config", path)
    assert code == 0
    assert listed["id"] in out
    assert secret not in out

    assert run("tokens", "revoke", listed["id"], "--config", path)[:2] == (
        0,
        f"token {listed['id']} revoked\n",
    )
    code, _, err = run("tokens", "revoke", listed["id"], "--config", path)
    assert code == 1
    assert "no live token" in err
    code, out, _ = run("tokens", "list", "--json", "--config", path)
    assert json.loads(out)[0]["revoked"] is not None


def test_a_token_for_all_bots_and_as_json(tmp_path: Path) -> None:
    path = config(tmp_path)
    code, out, _ = run("tokens", "create", "--all-bots", "--json", "--config", path)
    assert code == 0
    created = json.loads(out)
    assert created["bots"] == ["*"]
    assert created["token"].startswith(TOKEN_PREFIX)
    code, out, _ = run("tokens", "list", "--json", "--config", path)
    assert "token" not in json.loads(out)[0]


def test_create_needs_known_bots_or_all(tmp_path: Path) -> None:
    path = config(tmp_path)
    assert run("tokens", "create", "--config", path)[0] == 2
    assert run("tokens", "create", "--bot", "rdv", "--all-bots", "--config", path)[0] == 2
    code, _, err = run("tokens", "create", "--bot", "nobody", "--config", path)
    assert code == 2
    assert "nobody" in err
    assert json.loads(run("tokens", "list", "--json", "--config", path)[1]) == []
