"""`causette billing explain` and `causette billing credits` on a small ledger."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sessions.events import Mo, Mt
from sessions.policy import BillingPolicy
from sessions.t2c import t2c_step
from store.billing_records import LedgerEntry
from store.sqlite import SqliteStore
from tests.bots.deployment import run_cli, write_config

NUMBER, PHONE = "+33939000001", "+33612345678"
AT = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def run(*args: str) -> tuple[int, str, str]:
    return run_cli(*args)


def config(folder: Path) -> Path:
    return write_config(folder, "survey", "survey.yaml", database="ledger.db")


def seed(folder: Path) -> list[LedgerEntry]:
    """A T2C MT, the person's reply (a session) and an MT it covers."""
    policy = BillingPolicy()
    first = Mt("k1", "survey", PHONE, AT, "t2c", NUMBER, "t2c_number")
    reply = Mo("mo-1", "survey", PHONE, AT.replace(minute=5), "t2c", NUMBER)
    second = Mt("k2", "survey", PHONE, AT.replace(minute=6), "t2c", NUMBER, "t2c_number")
    state = None
    entries: list[LedgerEntry] = []
    for event in (first, reply, second):
        state, produced = t2c_step(state, event, policy)
        entries += produced

    async def write() -> None:
        async with SqliteStore(str(folder / "ledger.db")) as store:
            await store.commit_billing(None, entries)

    asyncio.run(write())
    return entries


def test_explain_tells_why_a_message_and_a_session_were_billed(tmp_path: Path) -> None:
    path = config(tmp_path)
    seed(tmp_path)
    code, out, _ = run("billing", "explain", "k1", "--config", str(path))
    assert code == 0
    assert "t2c_mt" in out
    assert "R12" in out
    code, out, _ = run("billing", "explain", "t2c:mo-1", "--config", str(path))
    assert code == 0
    assert "t2c_session" in out  # the session and the message it covers
    assert "covered" in out
    code, _, err = run("billing", "explain", "nope", "--config", str(path))
    assert code == 1
    assert "nothing in the ledger refers to 'nope'" in err


def test_credits_are_recorded_once_and_debited(tmp_path: Path) -> None:
    path = config(tmp_path)
    entries = seed(tmp_path)
    spent = sum((entry.amount for entry in entries), Decimal(0))
    code, out, _ = run(
        "billing",
        "credits",
        "add",
        "10",
        "--id",
        "achat-1",
        "--date",
        "2026-11-01",
        "--config",
        str(path),
    )
    assert code == 0
    assert "achat-1: 10.00 EUR, valid until 2027-11-01" in out
    code, _, err = run("billing", "credits", "add", "10", "--id", "achat-1", "--config", str(path))
    assert code == 1
    assert "already recorded" in err
    code, _, _ = run("billing", "credits", "add", "-5", "--config", str(path))
    assert code == 2
    code, out, _ = run("billing", "credits", "show", "--json", "--config", str(path))
    assert code == 0
    shown = json.loads(out)
    assert Decimal(shown["balance"]) == Decimal(10) - spent
    assert [line["id"] for line in shown["purchases"]] == ["achat-1"]


def test_report_refuses_a_bad_month_and_an_unknown_bot(tmp_path: Path) -> None:
    path = config(tmp_path)
    code, _, err = run("billing", "report", "--month", "2026-13", "--config", str(path))
    assert code == 2
    assert "'2026-13' is not YYYY-MM" in err
    code, _, err = run(
        "billing", "report", "--month", "2026-11", "--bot", "nope", "--config", str(path)
    )
    assert code == 2
    assert "no bot `nope`" in err
