"""`causette numbers declare|list|assign|release`: the Time2Chat 09 numbers declared to the
operator (R11), and `causette serve` refusing a bot whose number is not declared."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from bots import cli
from bots.cli_numbers import undeclared_numbers
from bots.config import load_settings

FLOW = Path(__file__).parents[2] / "examples" / "flows" / "appointment.yaml"
NUMBER = "+33937000001"
DECLARATION = (
    *("--client-name", "Garage Martin", "--siret", "732 829 320 00074"),
    *("--usage", "Confirmations de rendez-vous"),
    *("--contact-last-name", "Dupont", "--contact-first-name", "Zoé"),
    *("--contact-phone", "06 12 34 56 78", "--contact-email", "zoe@example.fr"),
)
ENV = {"SMSMODE_KEY": "key", "SMSMODE_SECRET": "secret"}


@pytest.fixture(autouse=True)
def smsmode_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.main, list(args))
    return result.exit_code, result.stdout, result.stderr


def config(folder: Path, number: str = NUMBER) -> str:
    path = folder / "bots.yaml"
    text = f"""\
        store: sqlite://{folder / "causette.db"}
        providers:
          smsmode: {{api_key_env: SMSMODE_KEY, callback_secret_env: SMSMODE_SECRET}}
        bots:
          - {{id: rdv, flow: {FLOW}, t2c: {{number: "{number}"}}}}
          - {{id: colis, flow: {FLOW}}}
        """
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def declare(path: str, *extra: str, number: str = NUMBER) -> tuple[int, str, str]:
    return run("numbers", "declare", number, *DECLARATION, *extra, "--config", path)


def listed(path: str) -> list[dict[str, object]]:
    code, out, err = run("numbers", "list", "--json", "--config", path)
    assert code == 0, err
    rows: list[dict[str, object]] = json.loads(out)
    return rows


def test_a_number_is_declared_listed_and_declared_again_idempotently(tmp_path: Path) -> None:
    path = config(tmp_path)
    assert declare(path)[:2] == (0, f"number {NUMBER} declared for Garage Martin\n")
    (row,) = listed(path)
    assert row["number"] == NUMBER
    assert row["siret"] == "73282932000074"
    assert row["contact"] == {
        "last_name": "Dupont",
        "first_name": "Zoé",
        "phone": "+33•••••••78",
        "email": "zoe@example.fr",
    }
    assert (row["bot"], row["released"]) == (None, None)
    code, out, _ = run("numbers", "list", "--config", path)
    assert code == 0
    assert NUMBER in out
    assert "Garage Martin" in out

    assert declare(path)[:2] == (0, f"number {NUMBER} already declared\n")
    code, _, err = declare(path, "--client-name", "Autre client")
    assert code == 1
    assert err == (
        f"number {NUMBER} is already declared with another declaration: release it first"
        f" (causette numbers release {NUMBER}) (R11)\n"
    )
    assert listed(path)[0]["client_name"] == "Garage Martin"


def test_every_problem_of_a_declaration_names_its_field_and_r11(tmp_path: Path) -> None:
    path = config(tmp_path)
    args = ("numbers", "declare", "+33612345678", "--siret", "73282932000075")
    code, out, err = run(*args, "--usage", "court", "--contact-email", "nope", "--config", path)
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        "number +33612345678 is not a Time2Chat 09 number: R11 numbers are in the 09 37,"
        " 09 38 and 09 39 platform ranges (sms.md §3.5)",
        "client_name: required (R11)",
        "siret 73282932000075 fails the SIRET check digit (Luhn) (R11)",
        "usage has 5 characters; describe it in 10 to 500 (R11)",
        "contact.last_name: required (R11)",
        "contact.first_name: required (R11)",
        "contact.phone: required (R11)",
        "contact.email: value is not a valid email address: An email address must have an @-sign."
        " (R11)",
    ]
    assert listed(path) == []  # nothing written


def test_a_declaration_from_a_yaml_file(tmp_path: Path) -> None:
    path = config(tmp_path)
    good = tmp_path / "declaration.yaml"
    good.write_text(
        textwrap.dedent(
            f"""\
            number: "{NUMBER}"
            client_name: Garage Martin
            siret: "732 829 320 00074"
            usage: Confirmations de rendez-vous
            contact:
              last_name: Dupont
              first_name: Zoé
              phone: "06 12 34 56 78"
              email: zoe@example.fr
            """
        ),
        encoding="utf-8",
    )
    code, out, err = run("numbers", "declare", "--from", str(good), "--config", path)
    assert (code, out) == (0, f"number {NUMBER} declared for Garage Martin\n"), err
    assert declare(path)[:2] == (0, f"number {NUMBER} already declared\n")  # the same one

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        good.read_text("utf-8").replace('"732 829 320 00074"', "73282932000074")
        + "fax: 0100000000\n",
        encoding="utf-8",
    )
    code, _, err = run("numbers", "declare", "--from", str(bad), "--config", path)
    assert code == 1
    assert err.splitlines() == [
        "siret must be text, not int (R11)",
        "fax: unknown field (R11)",
    ]
    code, _, err = run("numbers", "declare", NUMBER, "--from", str(good), "--config", path)
    assert code == 2
    assert "not both" in err


def test_assign_needs_a_bot_of_the_configuration_and_a_declared_number(tmp_path: Path) -> None:
    path = config(tmp_path)
    code, _, err = run("numbers", "assign", NUMBER, "--bot", "rdv", "--config", path)
    assert (code, err) == (1, f"number {NUMBER} is not declared: declare it first (R11)\n")
    declare(path)
    code, _, err = run("numbers", "assign", NUMBER, "--bot", "nobody", "--config", path)
    assert (code, err) == (1, f"no bot nobody in {path}\n")
    code, out, err = run("numbers", "assign", "09 37 00 00 01", "--bot", "rdv", "--config", path)
    assert (code, out, err) == (0, f"number {NUMBER} assigned to rdv\n", "")
    assert listed(path)[0]["bot"] == "rdv"
    code, _, err = run("numbers", "assign", NUMBER, "--bot", "colis", "--config", path)
    assert code == 0
    assert err == ""  # colis has no t2c number of its own
    code, _, err = run("numbers", "assign", "+33938000009", "--bot", "colis", "--config", path)
    assert code == 1


def test_a_released_number_is_assigned_no_more_and_declared_again(tmp_path: Path) -> None:
    path = config(tmp_path)
    declare(path)
    run("numbers", "assign", NUMBER, "--bot", "rdv", "--config", path)
    assert run("numbers", "release", NUMBER, "--config", path)[:2] == (
        0,
        f"number {NUMBER} released\n",
    )
    (row,) = listed(path)
    assert row["bot"] is None
    assert row["released"] is not None
    code, _, err = run("numbers", "release", NUMBER, "--config", path)
    assert (code, err) == (1, f"no declared number {NUMBER}\n")
    code, _, _ = run("numbers", "assign", NUMBER, "--bot", "rdv", "--config", path)
    assert code == 1
    code, out, _ = declare(path, "--client-name", "Nouveau client")
    assert (code, out) == (0, f"number {NUMBER} declared for Nouveau client\n")
    (row,) = listed(path)
    assert (row["client_name"], row["released"]) == ("Nouveau client", None)


def test_serve_refuses_a_bot_whose_number_is_not_declared_to_it(tmp_path: Path) -> None:
    path = config(tmp_path)
    settings = load_settings(Path(path), ENV)
    not_declared = (
        f"bot rdv: Time2Chat number {NUMBER} is not declared (R11):"
        f" causette numbers declare {NUMBER} ..."
    )
    assert asyncio.run(undeclared_numbers(settings)) == [not_declared]
    code, _, err = run("serve", "--config", path)
    assert (code, err) == (1, not_declared + "\n")

    declare(path)
    assert asyncio.run(undeclared_numbers(settings)) == []  # declared, not assigned yet
    run("numbers", "assign", NUMBER, "--bot", "colis", "--config", path)
    assert asyncio.run(undeclared_numbers(settings)) == [
        f"bot rdv: Time2Chat number {NUMBER} is assigned to bot colis (R11)"
    ]
    run("numbers", "assign", NUMBER, "--bot", "rdv", "--config", path)
    assert asyncio.run(undeclared_numbers(settings)) == []
    run("numbers", "release", NUMBER, "--config", path)
    assert asyncio.run(undeclared_numbers(settings)) == [not_declared]


def test_bots_without_a_number_need_no_declaration(tmp_path: Path) -> None:
    path = tmp_path / "bots.yaml"
    path.write_text(f"store: sqlite://{tmp_path / 'x.db'}\nbots:\n  - {{id: a, flow: {FLOW}}}\n")
    assert asyncio.run(undeclared_numbers(load_settings(path, {}))) == []
    assert not (tmp_path / "x.db").exists()  # not even opened
