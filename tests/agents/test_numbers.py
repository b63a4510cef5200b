"""Time2Chat 09 numbers (R11): SIRET check, platform ranges, the declaration."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from agents.numbers import NumberDeclaration, compact_siret, siret_valid


def luhn_check_digit(first_13: str) -> str:
    """The digit that makes `first_13 + digit` pass Luhn, computed independently of the module."""
    for digit in "0123456789":
        digits = [int(c) for c in first_13 + digit]
        total = sum(
            (d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 else d
            for i, d in enumerate(reversed(digits))
        )
        if total % 10 == 0:
            return digit
    raise AssertionError("unreachable")


def test_google_france_siret_is_valid() -> None:
    assert luhn_check_digit("7328293200007") == "4"
    assert siret_valid("73282932000074")
    assert siret_valid("732 829 320 00074")


@pytest.mark.parametrize("first_13", ["4424140500001", "1234567890123", "8000000000000"])
def test_computed_sirets_are_valid_and_one_digit_off_is_not(first_13: str) -> None:
    digit = luhn_check_digit(first_13)
    assert siret_valid(first_13 + digit)
    wrong = str((int(digit) + 1) % 10)
    assert not siret_valid(first_13 + wrong)


@pytest.mark.parametrize(
    "siret", ["73282932000075", "7328293200007", "732829320000744", "7328293200007A", "", "   "]
)
def test_invalid_sirets(siret: str) -> None:
    assert not siret_valid(siret)


def test_la_poste_uses_the_digit_sum_rule() -> None:
    # La Poste establishments: digit sum a multiple of 5, Luhn or not.
    assert sum(int(c) for c in "35600000049837") % 5 == 0
    assert luhn_check_digit("3560000004983") != "7"  # so only the La Poste rule accepts it
    assert siret_valid("35600000049837")
    assert siret_valid("35600000000001")  # digit sum 15, fails Luhn
    assert not siret_valid("35600000000002")  # digit sum 16
    assert siret_valid("35600000000048")  # the head office, which passes Luhn
    # The same digits under another SIREN get no such exception.
    assert not siret_valid("35600000100001")


def test_compact_siret_drops_separators() -> None:
    assert compact_siret("732\u00a0829 320.000-74") == "73282932000074"


def declaration(**changes: Any) -> NumberDeclaration:
    data: dict[str, Any] = {
        "number": "09 38 12 34 56",
        "client_name": "Cabinet dentaire des Tilleuls",
        "siret": "732 829 320 00074",
        "usage": "Rappels de rendez-vous et réponses des patients.",
        "contact": {
            "last_name": "Martin",
            "first_name": "Claire",
            "phone": "04 65 71 12 34",
            "email": "claire.martin@cabinet-des-tilleuls.fr",
        },
    }
    data.update(changes)
    return NumberDeclaration.model_validate(data)


def errors(**changes: Any) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        declaration(**changes)
    found = caught.value.errors()
    return [(tuple(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in found]


def test_a_good_declaration_is_normalised() -> None:
    found = declaration()
    assert found.number.e164 == "+33938123456"
    assert found.siret == "73282932000074"
    assert found.contact.phone.e164 == "+33465711234"
    assert found.client_name == "Cabinet dentaire des Tilleuls"


@pytest.mark.parametrize("number", ["09 37 00 00 01", "0938123456", "+33939123456"])
def test_platform_ranges_are_accepted(number: str) -> None:
    assert declaration(number=number).number.e164.startswith(("+33937", "+33938", "+33939"))


@pytest.mark.parametrize("number", ["09 36 12 34 56", "09 40 12 34 56", "06 12 34 56 78"])
def test_other_numbers_are_refused_with_the_ranges_named(number: str) -> None:
    ((loc, message),) = errors(number=number)
    assert loc == ("number",)
    assert "is not a Time2Chat 09 number" in message
    assert "09 37, 09 38 and 09 39 platform ranges" in message
    assert "R11" in message


def test_siret_errors_name_the_rule() -> None:
    assert errors(siret="73282932000075") == [
        (("siret",), "siret 73282932000075 fails the SIRET check digit (Luhn) (R11)")
    ]
    assert errors(siret="7328293200007") == [
        (("siret",), "siret `7328293200007` must be 14 digits (R11)")
    ]
    assert errors(siret=73282932000074) == [(("siret",), "siret must be text, not int (R11)")]


def test_usage_length_just_under_and_over() -> None:
    assert declaration(usage="x" * 10).usage == "x" * 10
    assert declaration(usage="x" * 500).usage == "x" * 500
    for usage in ("x" * 9, "x" * 501, "   rappels   "):
        ((loc, message),) = errors(usage=usage)
        assert loc == ("usage",)
        assert "describe it in 10 to 500 (R11)" in message


def test_contact_errors_are_each_located() -> None:
    found = errors(
        client_name="  ",
        contact={"last_name": "", "first_name": "Claire", "phone": "12", "email": "non"},
    )
    locs = [loc for loc, _ in found]
    assert locs == [
        ("client_name",),
        ("contact", "last_name"),
        ("contact", "phone"),
        ("contact", "email"),
    ]
    assert found[0][1] == "client_name must not be empty (R11)"
    assert found[1][1] == "last_name must not be empty (R11)"


def test_unknown_and_missing_fields() -> None:
    found = errors(sirene="x")
    assert found == [(("sirene",), "Extra inputs are not permitted")]
    with pytest.raises(ValidationError, match="contact"):
        NumberDeclaration.model_validate(
            {
                "number": "0938123456",
                "client_name": "C",
                "siret": "73282932000074",
                "usage": "x" * 10,
            }
        )


def test_declaration_is_frozen() -> None:
    found = declaration()
    with pytest.raises(ValidationError, match="frozen"):
        found.usage = "autre usage"  # type: ignore[misc]
