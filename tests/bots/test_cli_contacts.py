"""`causette contacts import|export|lists`, and erasure of a contact (R5, R6, R34)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bots.cli_contacts import read_contacts
from bots.csv_files import CsvFileError, slug
from store.contacts_records import Contact
from store.sqlite import SqliteStore
from tests.bots.deployment import ERASURE_ENV, compliance_config
from tests.bots.deployment import run_cli as run_with_env

PHONE = "+33612345678"


def run_cli(*args: str) -> tuple[int, str, str]:
    return run_with_env(*args, env=ERASURE_ENV)


def stored(folder: Path, list_name: str | None = None) -> list[Contact]:
    async def read() -> list[Contact]:
        async with SqliteStore(str(folder / "causette.db")) as store:
            return await store.contacts(list_name)

    return asyncio.run(read())


CSV = """phone,first_name,Last Name
06 12 34 56 78,Zoé,
+33612345601,Paul,Martin
pas un numéro,Jean,Dupont
+33612345678,,Durand
,Anne,
+33612345602,trop,de,cellules
"""


def test_import_merges_duplicates_and_skips_invalid_rows(tmp_path: Path) -> None:
    path = str(compliance_config(tmp_path))
    (tmp_path / "contacts.csv").write_text(CSV, encoding="utf-8")
    csv_file = str(tmp_path / "contacts.csv")
    code, out, err = run_cli("contacts", "import", csv_file, "--list", "clients", "--config", path)
    assert code == 0, err
    assert out == (
        "2 contacts imported (2 created, 0 updated), 1 duplicates merged, 3 invalid rows skipped\n"
    )
    assert err.splitlines() == [
        "contacts.csv:4: phone: 'pas un numéro' is not a valid phone number",
        "contacts.csv:6: phone: empty",
        "contacts.csv:7: 4 cells where the header has 3",
    ]
    people = stored(tmp_path, "clients")
    assert [(c.phone, dict(c.fields)) for c in people] == [
        ("+33612345601", {"first_name": "Paul", "last_name": "Martin"}),
        (PHONE, {"first_name": "Zoé", "last_name": "Durand"}),
    ]
    code, out, _ = run_cli("contacts", "lists", "--config", path)
    assert code == 0
    assert "clients" in out

    # Again, with new fields: the known numbers are updated, their other fields kept.
    (tmp_path / "more.csv").write_text("phone,ville\n0612345678,Lyon\n", encoding="utf-8")
    code, out, _ = run_cli("contacts", "import", str(tmp_path / "more.csv"), "--config", path)
    assert code == 0
    assert out.startswith("1 contacts imported (0 created, 1 updated), 0 duplicates merged")
    zoe = {"first_name": "Zoé", "last_name": "Durand", "ville": "Lyon"}
    assert dict(stored(tmp_path)[1].fields) == zoe


def test_a_semicolon_file_with_a_bom_and_accented_headers(tmp_path: Path) -> None:
    path = str(compliance_config(tmp_path))
    text = "Téléphone;Prénom;Date de naissance\r\n06 12 34 56 78;Zoé;1990-01-02\r\n"
    (tmp_path / "export.csv").write_bytes(text.encode("utf-8-sig"))
    code, out, err = run_cli("contacts", "import", str(tmp_path / "export.csv"), "--config", path)
    assert (code, err) == (0, "")
    assert out.startswith("1 contacts imported (1 created, 0 updated)")
    fields = {"prenom": "Zoé", "date_de_naissance": "1990-01-02"}
    assert [(c.phone, dict(c.fields)) for c in stored(tmp_path)] == [(PHONE, fields)]


def test_strict_imports_nothing_when_a_row_is_invalid(tmp_path: Path) -> None:
    path = str(compliance_config(tmp_path))
    (tmp_path / "contacts.csv").write_text(CSV, encoding="utf-8")
    csv_file = str(tmp_path / "contacts.csv")
    code, out, err = run_cli("contacts", "import", csv_file, "--strict", "--config", path)
    assert code == 1
    assert out == ""
    assert "contacts.csv:4: phone:" in err
    assert "nothing imported: 3 invalid row(s) (--strict)" in err
    assert stored(tmp_path) == []


def test_a_file_with_no_valid_row_fails(tmp_path: Path) -> None:
    path = str(compliance_config(tmp_path))
    (tmp_path / "bad.csv").write_text("mobile,nom\nabc,Zoé\n", encoding="utf-8")
    code, _, err = run_cli("contacts", "import", str(tmp_path / "bad.csv"), "--config", path)
    assert code == 1
    assert "bad.csv:2: phone:" in err
    assert "nothing imported" in err
    (tmp_path / "none.csv").write_text("nom\nZoé\n", encoding="utf-8")
    code, _, err = run_cli("contacts", "import", str(tmp_path / "none.csv"), "--config", path)
    assert code == 1
    assert "none.csv:1: no phone column" in err
    (tmp_path / "latin1.csv").write_bytes("phone,prénom\n0612345678,Zoé\n".encode("latin-1"))
    code, _, err = run_cli("contacts", "import", str(tmp_path / "latin1.csv"), "--config", path)
    assert code == 1
    assert "not UTF-8" in err
    assert stored(tmp_path) == []


def test_export_round_trips(tmp_path: Path) -> None:
    path = str(compliance_config(tmp_path))
    (tmp_path / "contacts.csv").write_text(CSV, encoding="utf-8")
    csv_file = str(tmp_path / "contacts.csv")
    assert run_cli("contacts", "import", csv_file, "--list", "clients", "--config", path)[0] == 0
    code, out, _ = run_cli("contacts", "export", "--list", "clients", "--config", path)
    assert code == 0
    assert out == "phone,first_name,last_name\n+33612345601,Paul,Martin\n+33612345678,Zoé,Durand\n"
    assert run_cli("contacts", "export", "--list", "nobody", "--config", path)[1] == "phone\n"

    exported = tmp_path / "out.csv"
    code, _, err = run_cli("contacts", "export", "--output", str(exported), "--config", path)
    assert code == 0
    assert "2 contacts exported" in err
    before = stored(tmp_path)
    code, out, _ = run_cli("contacts", "import", str(exported), "--config", path)
    assert code == 0
    assert out.startswith("2 contacts imported (0 created, 2 updated), 0 duplicates merged")
    after = stored(tmp_path)
    assert [(c.phone, c.fields) for c in after] == [(c.phone, c.fields) for c in before]


def test_an_excel_export_has_semicolons_and_a_bom_and_imports_back(tmp_path: Path) -> None:
    path = str(compliance_config(tmp_path))
    (tmp_path / "contacts.csv").write_text(CSV, encoding="utf-8")
    assert run_cli("contacts", "import", str(tmp_path / "contacts.csv"), "--config", path)[0] == 0
    exported = tmp_path / "excel.csv"
    code, _, _ = run_cli(
        "contacts", "export", "--excel", "--output", str(exported), "--config", path
    )
    assert code == 0
    raw = exported.read_bytes()
    assert raw.startswith("\ufeffphone;first_name;last_name\n".encode())
    assert "+33612345678;Zoé;Durand" in raw.decode("utf-8")
    before = stored(tmp_path)
    assert run_cli("contacts", "import", str(exported), "--config", path)[0] == 0
    assert [(c.phone, c.fields) for c in stored(tmp_path)] == [(c.phone, c.fields) for c in before]


def test_unlist_takes_numbers_off_a_list_or_deletes_it(tmp_path: Path) -> None:
    path = str(compliance_config(tmp_path))
    (tmp_path / "contacts.csv").write_text(CSV, encoding="utf-8")
    csv_file = str(tmp_path / "contacts.csv")
    assert run_cli("contacts", "import", csv_file, "--list", "clients", "--config", path)[0] == 0
    code, out, _ = run_cli("contacts", "unlist", "clients", "06 12 34 56 78", "--config", path)
    assert (code, out.strip()) == (0, "1 number(s) taken off clients")
    code, out, _ = run_cli("contacts", "export", "--list", "clients", "--config", path)
    assert out == "phone,first_name,last_name\n+33612345601,Paul,Martin\n"
    code, out, _ = run_cli("contacts", "unlist", "clients", "--all", "--config", path)
    assert (code, out.strip()) == (0, "1 number(s) taken off clients (the list is deleted)")
    assert len(stored(tmp_path)) == 2  # the contacts stay
    code, _, err = run_cli("contacts", "unlist", "clients", "--all", "--config", path)
    assert (code, err.strip()) == (1, "no list 'clients'")
    assert run_cli("contacts", "unlist", "clients", "--config", path)[0] == 2
    assert run_cli("contacts", "unlist", "clients", "pas un numéro", "--config", path)[0] == 2


def test_set_creates_or_edits_one_contact(tmp_path: Path) -> None:
    path = str(compliance_config(tmp_path))
    code, out, _ = run_cli("contacts", "set", "0612345678", "Prénom=Zoé", "--config", path)
    assert (code, out.strip()) == (0, "+33•••••••78 created")
    args = ("contacts", "set", "+33612345678", "ville=Lyon", "--list", "vip", "--config", path)
    assert run_cli(*args)[1].strip() == "+33•••••••78 updated"
    (person,) = stored(tmp_path)
    assert person.fields == {"prenom": "Zoé", "ville": "Lyon"}
    code, out, _ = run_cli("contacts", "export", "--list", "vip", "--config", path)
    assert out == "phone,prenom,ville\n+33612345678,Zoé,Lyon\n"
    assert run_cli("contacts", "set", "0612345678", "--config", path)[0] == 2
    assert run_cli("contacts", "set", "0612345678", "=x", "--config", path)[0] == 2


def test_erase_removes_the_contact(tmp_path: Path) -> None:
    path = str(compliance_config(tmp_path))
    (tmp_path / "contacts.csv").write_text(CSV, encoding="utf-8")
    csv_file = str(tmp_path / "contacts.csv")
    assert run_cli("contacts", "import", csv_file, "--list", "clients", "--config", path)[0] == 0
    code, out, _ = run_cli("contacts", "erase", PHONE, "--yes", "--config", path)
    assert code == 0, out
    assert "contacts: 1" in out
    assert [c.phone for c in stored(tmp_path, "clients")] == ["+33612345601"]


def test_slugs_and_reading() -> None:
    assert slug(" Prénom ") == "prenom"
    assert slug("Date de naissance") == "date_de_naissance"
    assert slug("N° Mobile") == "n_mobile"
    quoted = 'phone,note\n0612345678,"deux\nlignes"\n0612345601,x,y\n'
    read = read_contacts(quoted, "q.csv")
    assert read.fields == {PHONE: {"note": "deux\nlignes"}}
    assert read.invalid == ["q.csv:4: 3 cells where the header has 2"]
    with pytest.raises(CsvFileError, match="columns named twice: nom"):
        read_contacts("phone,Nom,nom\n", "d.csv")
    with pytest.raises(CsvFileError, match="no header"):
        read_contacts("", "e.csv")
