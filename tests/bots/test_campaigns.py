"""Campaigns run (bots/campaigns.py): due ones start each recipient once (R5), at their time;
paused and cancelled ones start nobody; a campaign run again starts nobody twice."""

# ruff: noqa: F811 (the runtime fixtures of tests/runtime/conftest.py, imported by name)
from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from bots.campaigns import run_campaign, run_due_campaigns, set_status
from bots.outbox import RecordingSender
from bots.runtime import Runtime
from messaging.clock import FakeClock
from store.campaigns_records import Campaign, CampaignRecipient, CampaignStatus
from store.contacts_records import Contact
from tests.bots.deployment import run_cli, write_config
from tests.runtime.conftest import (  # noqa: F401 (fixtures)
    RuntimeFactory,
    clock,
    db_path,
    flow_file,
    make_runtime,
    sender,
)

PHONES = ("+33612345601", "+33612345602")


def campaign(clock: FakeClock, campaign_id: str = "soldes", **changes: object) -> Campaign:
    now = clock.now()
    made = Campaign(
        campaign_id, "rdv", "clients", (), {}, now, None, CampaignStatus.SCHEDULED, now, now
    )
    return replace(made, **changes)  # type: ignore[arg-type]


async def _open(make_runtime: RuntimeFactory, clock: FakeClock) -> Runtime:
    runtime = make_runtime()
    await runtime.open()
    now = clock.now()
    people = [Contact(phone, {}, now, now) for phone in PHONES]
    assert await runtime.store.upsert_contacts(people, "clients") == (2, 0)
    return runtime


def _phones(sender: RecordingSender) -> list[str]:
    return sorted({entry.phone for entry in sender.sent})


async def test_a_due_list_campaign_starts_each_member_once(
    make_runtime: RuntimeFactory, clock: FakeClock, sender: RecordingSender
) -> None:
    runtime = await _open(make_runtime, clock)
    assert await runtime.store.save_campaign(campaign(clock))
    assert await run_due_campaigns(runtime, clock.now()) == 1
    await runtime.run_until_idle()
    assert _phones(sender) == list(PHONES)
    done = await runtime.store.get_campaign("soldes")
    assert done is not None
    assert (done.status, done.started, done.merged, done.invalid) == (CampaignStatus.DONE, 2, 0, 0)
    # Done: running the due ones again runs nothing.
    sent = len(sender.sent)
    assert await run_due_campaigns(runtime, clock.now()) == 0
    await runtime.run_until_idle()
    assert len(sender.sent) == sent


async def test_a_csv_campaign_merges_a_number_given_twice(
    make_runtime: RuntimeFactory, clock: FakeClock, sender: RecordingSender
) -> None:
    runtime = await _open(make_runtime, clock)
    rows = (
        CampaignRecipient("06 12 34 56 01", {"prenom": "Zoé"}),
        CampaignRecipient("+33612345601", {"prenom": "Zoe"}),
        CampaignRecipient("06 12 34 56 02", {"prenom": "Paul"}),
        CampaignRecipient("pas un numéro", {}),
    )
    assert await runtime.store.save_campaign(campaign(clock, list_name=None, recipients=rows))
    assert await run_due_campaigns(runtime, clock.now()) == 1
    await runtime.run_until_idle()
    assert _phones(sender) == list(PHONES)
    done = await runtime.store.get_campaign("soldes")
    assert done is not None
    assert (done.started, done.merged, done.invalid) == (2, 1, 1)


async def test_a_campaign_waits_for_its_time(
    make_runtime: RuntimeFactory, clock: FakeClock, sender: RecordingSender
) -> None:
    runtime = await _open(make_runtime, clock)
    later = clock.now() + timedelta(hours=2)
    assert await runtime.store.save_campaign(campaign(clock, send_at=later))
    assert await run_due_campaigns(runtime, clock.now()) == 0
    await runtime.run_until_idle()
    assert sender.sent == []
    clock.advance(timedelta(hours=2))
    assert await run_due_campaigns(runtime, clock.now()) == 1
    await runtime.run_until_idle()
    assert _phones(sender) == list(PHONES)


async def test_paused_and_cancelled_campaigns_start_nobody(
    make_runtime: RuntimeFactory, clock: FakeClock, sender: RecordingSender
) -> None:
    runtime = await _open(make_runtime, clock)
    store, now = runtime.store, clock.now()
    assert await store.save_campaign(campaign(clock, "a"))
    assert await store.save_campaign(campaign(clock, "b"))
    assert (await set_status(store, "a", "pause", now)).status is CampaignStatus.PAUSED
    assert (await set_status(store, "b", "cancel", now)).status is CampaignStatus.CANCELLED
    assert await run_due_campaigns(runtime, now) == 0
    await runtime.run_until_idle()
    assert sender.sent == []
    with pytest.raises(ValueError, match="cancelled: cannot resume"):
        await set_status(store, "b", "resume", now)
    with pytest.raises(ValueError, match="no campaign"):
        await set_status(store, "c", "pause", now)
    # Resumed, the paused one runs; the cancelled one never does.
    assert (await set_status(store, "a", "resume", now)).status is CampaignStatus.SCHEDULED
    assert await run_due_campaigns(runtime, now) == 1
    await runtime.run_until_idle()
    assert _phones(sender) == list(PHONES)
    cancelled = await store.get_campaign("b")
    assert cancelled is not None
    assert cancelled.started == 0


async def test_a_campaign_run_again_starts_nobody_twice(
    make_runtime: RuntimeFactory, clock: FakeClock, sender: RecordingSender
) -> None:
    """A crash after the starts but before `done` leaves it running: it runs again, and the
    key `campaign:{id}` keeps every recipient to one conversation."""
    runtime = await _open(make_runtime, clock)
    assert await runtime.store.save_campaign(campaign(clock))
    assert await run_due_campaigns(runtime, clock.now()) == 1
    await runtime.run_until_idle()
    sent = len(sender.sent)
    done = await runtime.store.get_campaign("soldes")
    assert done is not None
    crashed = replace(done, status=CampaignStatus.RUNNING, version=done.version + 1)
    assert await runtime.store.update_campaign(crashed)
    assert await run_due_campaigns(runtime, clock.now()) == 1
    await runtime.run_until_idle()
    assert len(sender.sent) == sent
    again = await runtime.store.get_campaign("soldes")
    assert again is not None
    assert (again.status, again.started) == (CampaignStatus.DONE, 2)
    # A stale copy (read before the run) is refused: it changed meanwhile.
    assert not await run_campaign(runtime, campaign(clock), clock.now())


CSV = """telephone,prenom
06 12 34 56 01,Zoé
+33612345601,Zoe
pas un numéro,Jean
06 12 34 56 02,Paul
"""


def test_the_cli_creates_shows_pauses_and_runs_campaigns(tmp_path: Path) -> None:
    path = str(write_config(tmp_path, "rdv", "appointment.yaml", database="causette.db"))
    (tmp_path / "rappel.csv").write_text(CSV, encoding="utf-8")
    csv_file = str(tmp_path / "rappel.csv")
    code, out, err = run_cli(
        "campaigns", "create", "--bot", "rdv", "--csv", csv_file, "--var", "remise=20 %",
        "--send-at", "2099-01-05T09:30", "--id", "rappel", "--config", path,
    )  # fmt: skip
    assert code == 0, err
    assert out == "campaign rappel scheduled for 2099-01-05T08:30:00+00:00\n"
    assert "2 recipients read, 1 duplicates merged, 1 invalid rows skipped" in err
    code, _, err = run_cli("campaigns", "create", "--bot", "rdv", "--list", "x", "--id", "rappel",
                           "--config", path)  # fmt: skip
    assert (code, err) == (1, "campaign 'rappel' exists already\n")
    code, _, err = run_cli("campaigns", "create", "--bot", "nope", "--list", "x", "--config", path)
    assert (code, err) == (1, "no bot 'nope' in the configuration\n")
    assert run_cli("campaigns", "pause", "rappel", "--config", path)[:2] == (
        0,
        "campaign rappel: paused\n",
    )
    code, _, err = run_cli("campaigns", "cancel", "rappel", "--config", path)
    assert code == 0, err
    code, _, err = run_cli("campaigns", "resume", "rappel", "--config", path)
    assert (code, err) == (1, "campaign 'rappel' is cancelled: cannot resume\n")
    code, out, _ = run_cli("campaigns", "show", "rappel", "--json", "--config", path)
    shown = json.loads(out)
    assert (shown["status"], shown["recipients"], shown["vars"]) == (
        "cancelled",
        2,
        {"remise": "20 %"},
    )
    code, out, _ = run_cli("campaigns", "create", "--bot", "rdv", "--list", "clients", "--id",
                           "maintenant", "--config", path)  # fmt: skip
    assert code == 0
    code, out, _ = run_cli("campaigns", "run", "--config", path)
    assert (code, out) == (0, "1 campaign(s) run\n")
    code, out, _ = run_cli("campaigns", "show", "maintenant", "--config", path)
    assert "status: done" in out  # an empty list: nobody to start
    code, out, _ = run_cli("campaigns", "list", "--config", path)
    assert "rappel" in out
    assert "maintenant" in out
