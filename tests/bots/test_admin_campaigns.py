"""Campaigns through the admin API: created from rows, an uploaded CSV or a list; run by the
campaign runner; paused, resumed and cancelled; their progress read (docs/campaigns.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bots.campaigns_runner import CampaignRunner
from store.contacts_records import Contact
from tests.bots.admin_client import NOW, Api, ClientFactory, error_of, make_api

CAMPAIGNS = "/v1/bots/rdv/campaigns"
CSV = (
    "telephone;prenom;code\n"
    "06 12 34 56 01;Ana;A1\n"
    "0612345602;Bruno;\n"
    "pas un numéro;X;\n"
    "+33612345601;Ana bis;A9\n"  # Ana again: merged (R5)
)


@pytest.fixture
async def api(aiohttp_client: ClientFactory, tmp_path: Path) -> AsyncIterator[Api]:
    api = await make_api(aiohttp_client, tmp_path)
    yield api
    await api.runtime.close()


async def upload(
    api: Api, text: str | bytes, query: str = "", token: str | None = None
) -> tuple[int, Any]:
    data = text.encode() if isinstance(text, str) else text
    headers = {"Content-Type": "text/csv"}
    return await api.call(
        "POST", f"{CAMPAIGNS}/csv{query}", token=token, data=data, headers=headers
    )


async def run(api: Api, campaign_id: str) -> None:
    async def instant(_: float) -> None:
        return None

    await CampaignRunner(api.runtime, sleep=instant).run(campaign_id)
    await api.runtime.run_until_idle()


async def test_an_uploaded_csv_becomes_a_campaign_with_every_count(api: Api) -> None:
    status, body = await upload(api, CSV, "?id=soldes&rate=2")
    assert status == 201
    assert (body["id"], body["status"], body["rate"]) == ("soldes", "scheduled", 2.0)
    counts = {k: body[k] for k in ("total", "pending", "started", "merged", "invalid")}
    assert counts == {"total": 2, "pending": 2, "started": 0, "merged": 1, "invalid": 1}
    (problem,) = body["problems"]
    assert problem.startswith("upload.csv:4: phone:")
    await run(api, "soldes")
    status, body = await api.call("GET", f"{CAMPAIGNS}/soldes")
    assert (status, body["status"], body["started"], body["pending"]) == (200, "done", 2, 0)
    assert sorted(entry.phone for entry in api.sender.sent) == ["+33612345601", "+33612345602"]


async def test_rows_in_the_body_carry_their_own_variables(api: Api) -> None:
    body = {
        "id": "rappel",
        "recipients": [
            {"phone": "0612345601", "vars": {"date": "lundi"}},
            {"phone": "0612345602"},
            {"phone": "nope"},
        ],
        "vars": {"date": "mardi"},
    }
    status, created = await api.call("POST", CAMPAIGNS, json=body)
    assert (status, created["total"], created["invalid"]) == (201, 2, 1)
    assert created["problems"][0].startswith("recipients[2]: phone:")
    await run(api, "rappel")
    texts = sorted(entry.content["text"] for entry in api.sender.sent)
    assert texts == ["Bonjour à vous, le lundi ?", "Bonjour à vous, le mardi ?"]


async def test_a_campaign_to_a_list_and_an_unknown_list(api: Api) -> None:
    members = [Contact(f"+3361234560{n}", {"first_name": "Zoé"}, NOW, NOW) for n in (1, 2, 3)]
    await api.runtime.store.upsert_contacts(members, "clients")
    status, created = await api.call("POST", CAMPAIGNS, json={"list_name": "clients"})
    assert (status, created["list_name"], created["total"]) == (201, "clients", 3)
    status, body = await api.call("POST", CAMPAIGNS, json={"list_name": "personne"})
    assert status == 404
    error_of(body, "unknown_list")


async def test_pause_resume_and_cancel_follow_the_campaigns_status(api: Api) -> None:
    later = (NOW + timedelta(days=1)).isoformat()
    body = {"id": "c1", "recipients": [{"phone": "0612345601"}], "send_at": later}
    assert (await api.call("POST", CAMPAIGNS, json=body))[0] == 201
    status, paused = await api.call("POST", f"{CAMPAIGNS}/c1/pause")
    assert (status, paused["status"]) == (200, "paused")
    status, error = await api.call("POST", f"{CAMPAIGNS}/c1/pause")
    assert status == 409
    error_of(error, "campaign_status")
    status, resumed = await api.call("POST", f"{CAMPAIGNS}/c1/resume")
    assert (status, resumed["status"]) == (200, "scheduled")
    status, cancelled = await api.call("POST", f"{CAMPAIGNS}/c1/cancel")
    assert (status, cancelled["status"]) == (200, "cancelled")
    assert (await api.call("POST", f"{CAMPAIGNS}/c1/resume"))[0] == 409
    status, listed = await api.call("GET", CAMPAIGNS)
    assert [c["id"] for c in listed["campaigns"]] == ["c1"]


async def test_the_same_id_twice_is_a_conflict(api: Api) -> None:
    body = {"id": "c1", "recipients": [{"phone": "0612345601"}]}
    assert (await api.call("POST", CAMPAIGNS, json=body))[0] == 201
    status, error = await api.call("POST", CAMPAIGNS, json=body)
    assert status == 409
    error_of(error, "campaign_exists")


async def test_another_bots_campaign_is_not_found(api: Api) -> None:
    body = {"id": "c1", "recipients": [{"phone": "0612345601"}]}
    assert (await api.call("POST", CAMPAIGNS, json=body))[0] == 201
    status, body = await api.call("GET", "/v1/bots/colis/campaigns/c1", token=api.other)
    assert status == 404
    error_of(body, "unknown_campaign")
    assert (await api.call("GET", f"{CAMPAIGNS}/c1", token=api.other))[0] == 403


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"\xff\xfephone\n0612345601\n", "not UTF-8"),
        ("", "no header line"),
        ("nom;prenom\nA;B\n", "no phone column"),
        ("phone\n06\x0012\n", "NUL"),
    ],
)
async def test_a_csv_that_cannot_be_read_is_refused_with_nothing_written(
    api: Api, text: str | bytes, reason: str
) -> None:
    status, body = await upload(api, text, "?id=x")
    assert status == 400
    assert reason in error_of(body, "invalid_csv")["message"]
    assert await api.runtime.store.get_campaign("x") is None


async def test_bad_settings_are_named(api: Api) -> None:
    status, body = await upload(api, CSV, "?rate=0")
    assert status == 400
    assert error_of(body, "invalid_request")["details"][0]["loc"] == ["query", "rate"]
    both = {"list_name": "clients", "recipients": []}
    status, body = await api.call("POST", CAMPAIGNS, json=both)
    assert status == 400
    naive = {"recipients": [{"phone": "0612345601"}], "send_at": "2026-12-01T09:00:00"}
    assert (await api.call("POST", CAMPAIGNS, json=naive))[0] == 400
