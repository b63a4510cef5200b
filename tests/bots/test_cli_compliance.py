"""`causette redlist`, `causette contacts erase`, `causette retention run` (R6, R32, R34)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from compliance.erasure import hashed_phone
from store.compliance_records import OptOut
from store.sqlite import SqliteStore
from tests.bots.deployment import ERASURE_ENV, compliance_config, run_cli
from tests.store import conversation, line, outbound, start

PHONE = "+33612345678"


def run(*args: str) -> tuple[int, str, str]:
    return run_cli(*args, env=ERASURE_ENV)


def test_the_red_list_is_managed_by_hand(tmp_path: Path) -> None:
    path = str(compliance_config(tmp_path))
    code, out, _ = run("redlist", "add", "06 12 34 56 78", "--reason", "courrier", "--config", path)
    assert (code, out) == (0, "+33•••••••78: added to the red list\n")
    code, out, _ = run("redlist", "add", "+33612345678", "--config", path)
    assert "already on the red list" in out
    code, out, _ = run("redlist", "list", "--json", "--config", path)
    assert [(e["phone"], e["reason"]) for e in json.loads(out)] == [(PHONE, "courrier")]
    assert run("redlist", "remove", PHONE, "--config", path)[0] == 0
    code, _, err = run("redlist", "remove", PHONE, "--config", path)
    assert code == 1
    assert "is not on the red list" in err
    assert run("redlist", "add", "not a phone", "--config", path)[0] == 2


def test_erase_removes_the_person_and_keeps_a_hashed_opt_out(tmp_path: Path) -> None:
    """R34: erasure everywhere, except the opt-out and the ledger, kept under a salted hash."""
    path = compliance_config(tmp_path)

    async def seed() -> None:
        async with SqliteStore(str(tmp_path / "causette.db")) as store:
            conv = conversation("rdv-1", bot="rdv", phone=PHONE)
            await start(store, conv, outbound=[outbound("k1")], history=[line(conv, "h1")])
            await store.set_opt_out(OptOut("prado", PHONE, True, datetime.now(UTC), "sms:stop"))

    asyncio.run(seed())
    code, out, _ = run("contacts", "erase", "06 12 34 56 78", "--yes", "--config", str(path))
    assert code == 0, out
    assert "conversations: 1" in out
    assert "outbox: 1" in out
    hashed = hashed_phone(PHONE, ERASURE_ENV["ERASURE_SALT"])

    async def check() -> None:
        async with SqliteStore(str(tmp_path / "causette.db")) as store:
            assert await store.get_conversation("rdv", PHONE) is None
            assert await store.get_opt_out("prado", PHONE) is None
            kept = await store.get_opt_out("prado", hashed)
            assert kept is not None
            assert kept.opted_out

    asyncio.run(check())
    with sqlite3.connect(tmp_path / "causette.db") as db:
        dump = "\n".join(db.iterdump())
    for form in (PHONE, PHONE[1:], "0612345678"):
        assert form not in dump


def test_erase_needs_a_salt(tmp_path: Path) -> None:
    path = str(compliance_config(tmp_path))
    code, _, err = run_cli("contacts", "erase", PHONE, "--yes", "--config", path)
    assert code == 1
    assert "erasure_salt_env" in err


def test_retention_run_says_what_it_does(tmp_path: Path) -> None:
    path = str(compliance_config(tmp_path))
    code, out, _ = run("retention", "run", "--dry-run", "--config", path)
    assert code == 0
    assert "dry run: nothing changed" in out
    code, out, _ = run("retention", "run", "--config", path)
    assert code == 0
    assert "archived 0 record(s), deleted 0 archived record(s)" in out
