"""`causette campaigns …` (and `causette campaign …`, the same group) against a deployment: a
CSV's bad rows reported by line number and the rest imported, a campaign scheduled or run in
the foreground, its progress shown as text or JSON, pause / resume / cancel."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bots.deployment import run_cli, write_config

CSV = """telephone,prenom
06 12 34 56 01,Zoé
+33612345601,Zoe
pas un numéro,Jean
06 12 34 56 02,Paul
,Vide
06 12 34 56 03,Luc,en trop
"""


def _deployment(tmp_path: Path) -> tuple[str, str]:
    path = str(write_config(tmp_path, "rdv", "appointment.yaml", database="causette.db"))
    (tmp_path / "rappel.csv").write_text(CSV, encoding="utf-8")
    return path, str(tmp_path / "rappel.csv")


def test_send_reports_bad_rows_by_line_and_schedules_a_later_campaign(tmp_path: Path) -> None:
    path, csv_file = _deployment(tmp_path)
    code, out, err = run_cli(
        "campaigns", "send", "--bot", "rdv", "--csv", csv_file, "--var", "remise=20 %",
        "--at", "2099-01-05T09:30", "--rate", "50/s", "--id", "rappel", "--config", path,
    )  # fmt: skip
    assert code == 0, err
    assert err.splitlines() == [
        "rappel.csv:4: phone: 'pas un numéro' is not a valid phone number",
        "rappel.csv:6: phone: empty",
        "rappel.csv:7: 3 cells where the header has 2",
        "2 recipients, 1 duplicates merged, 3 invalid rows skipped",
    ]
    assert out.endswith("campaign rappel scheduled for 2099-01-05T08:30:00+00:00\n")
    code, out, err = run_cli("campaigns", "show", "rappel", "--json", "--config", path)
    assert code == 0, err
    shown = json.loads(out)
    expected = {
        "status": "scheduled",
        "total": 2,
        "pending": 2,
        "started": 0,
        "merged": 1,
        "invalid": 3,
        "rate": 50.0,
        "vars": {"remise": "20 %"},
    }
    assert {key: shown[key] for key in expected} == expected
    assert (
        shown["problems"][0] == "rappel.csv:4: phone: 'pas un numéro' is not a valid phone number"
    )
    # Pause, resume, cancel; a cancelled campaign cannot be resumed.
    assert run_cli("campaign", "pause", "rappel", "--config", path)[:2] == (
        0,
        "campaign rappel: paused\n",
    )
    assert run_cli("campaigns", "resume", "rappel", "--config", path)[0] == 0
    assert run_cli("campaigns", "cancel", "rappel", "--config", path)[0] == 0
    code, _, err = run_cli("campaigns", "resume", "rappel", "--config", path)
    assert (code, err) == (1, "campaign 'rappel' is cancelled: cannot resume\n")
    code, _, err = run_cli("campaigns", "create", "--bot", "rdv", "--list", "x", "--id",
                           "rappel", "--config", path)  # fmt: skip
    assert (code, err) == (1, "campaign 'rappel' exists already\n")


def test_the_singular_group_sends_now_in_the_foreground_as_json(tmp_path: Path) -> None:
    path, csv_file = _deployment(tmp_path)
    code, out, err = run_cli(
        "campaign", "send", "--bot", "rdv", "--csv", csv_file, "--id", "maintenant", "--json",
        "--config", path,
    )  # fmt: skip
    assert code == 0, err
    shown = json.loads(out)
    counts = ("status", "total", "pending", "started", "merged", "invalid", "runner")
    assert {key: shown[key] for key in counts} == {
        "status": "done",
        "total": 2,
        "pending": 0,
        "started": 2,
        "merged": 1,
        "invalid": 3,
        "runner": None,
    }
    # Sent again with the same id: it is done, nothing more starts.
    code, out, err = run_cli("campaign", "send", "--bot", "rdv", "--csv", csv_file, "--id",
                             "maintenant", "--json", "--config", path)  # fmt: skip
    assert code == 0, err
    assert "exists (done): resuming" in err
    assert json.loads(out)["started"] == 2
    code, out, _ = run_cli("campaigns", "list", "--config", path)
    assert "maintenant" in out
    assert "started 2" in out
    code, out, _ = run_cli("campaigns", "show", "maintenant", "--config", path)
    assert "status: done" in out
    assert "started: 2" in out


def test_create_schedules_with_the_options_of_send_and_the_old_names(tmp_path: Path) -> None:
    path, csv_file = _deployment(tmp_path)
    for campaign_id, when in (
        ("neuf", ("--at", "2099-01-05T09:30", "--rate", "2/s")),
        ("ancien", ("--send-at", "2099-01-05T09:30", "--per-minute", "120")),
    ):
        code, out, err = run_cli("campaigns", "create", "--bot", "rdv", "--csv", csv_file,
                                 *when, "--id", campaign_id, "--config", path)  # fmt: skip
        assert code == 0, err
        assert out == f"campaign {campaign_id} scheduled for 2099-01-05T08:30:00+00:00\n"
        assert err.endswith("2 recipients, 1 duplicates merged, 3 invalid rows skipped\n")
        code, out, err = run_cli("campaigns", "show", campaign_id, "--json", "--config", path)
        assert code == 0, err
        shown = json.loads(out)
        assert (shown["status"], shown["total"], shown["rate"]) == ("scheduled", 2, 2.0)


def test_bad_input_fails_with_a_clear_message(tmp_path: Path) -> None:
    path, _csv_file = _deployment(tmp_path)
    for args, message in (
        (("--bot", "nope", "--list", "x"), "no bot 'nope' in the configuration\n"),
        (("--bot", "rdv"), "give either --list or --csv\n"),
        (("--bot", "rdv", "--list", "x", "--rate", "vite"), "--rate 'vite': expected starts "
         "per second, e.g. 500 or 500/s\n"),
        (("--bot", "rdv", "--list", "x", "--at", "demain"), "--at 'demain': expected an ISO "
         "date and time, e.g. 2026-12-01T09:30\n"),
        (("--bot", "rdv", "--list", "x", "--var", "oups"), "--var 'oups': expected NAME=VALUE\n"),
    ):  # fmt: skip
        code, _, err = run_cli("campaigns", "send", *args, "--config", path)
        assert (code, err) == (1, message), args
    (tmp_path / "vide.csv").write_text("nom,prenom\nA,B\n", encoding="utf-8")
    code, _, err = run_cli("campaigns", "send", "--bot", "rdv", "--csv",
                           str(tmp_path / "vide.csv"), "--config", path)  # fmt: skip
    assert code == 1
    assert err.startswith("vide.csv:1: no phone column")
    (tmp_path / "bad.csv").write_text("telephone\nnope\n", encoding="utf-8")
    code, _, err = run_cli("campaigns", "send", "--bot", "rdv", "--csv",
                           str(tmp_path / "bad.csv"), "--config", path)  # fmt: skip
    assert code == 1
    assert "rappel" not in err
    assert "bad.csv:2: phone: 'nope' is not a valid phone number" in err
    assert err.endswith(" has no valid recipient\n")


def test_help_lists_send_and_the_group_answers_as_campaign(tmp_path: Path) -> None:
    code, out, _ = run_cli("campaign", "--help")
    assert code == 0
    assert "send" in out
    assert "show" in out
    code, out, _ = run_cli("campaigns", "send", "--help")
    assert code == 0
    assert "--rate" in out
    assert "--at" in out
