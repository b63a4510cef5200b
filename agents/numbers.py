"""Time2Chat 09 numbers: what the operator needs to declare one for a client (R11).

Each client is assigned at least one French 09 number that collects every reply (MO). The
declaration carries the client's name, SIRET, the usage of the number and a contact person
(last name, first name, phone, e-mail). Time2Chat numbers sit in the `09 37` to `09 39` blocks
that ARCEP reserves for exchanges with a technical platform (reference/sms.md §3.5); any other
09 number is refused, since the platform cannot route its replies.

Every message names the field and the rule, so a pydantic error reads on its own:
`siret: 73282932000075 fails the SIRET check digit (Luhn) (R11)`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, EmailStr

from messaging.phone import Phone

T2C_PREFIXES = ("+33937", "+33938", "+33939")
"""E.164 starts of the Time2Chat platform blocks 09 37, 09 38, 09 39 (sms.md §3.5)."""
USAGE_MIN = 10
USAGE_MAX = 500
"""Length of the declared usage, in characters: our rule, so the operator gets a real sentence."""
LA_POSTE_SIREN = "356000000"
"""La Poste's establishments share one SIREN and use another check: digit sum a multiple of 5."""

_SPACES = str.maketrans("", "", " \u00a0\u202f\t.-")


def compact_siret(raw: str) -> str:
    """The SIRET with spaces (also non-breaking), dots and dashes removed: `732 829 320 00074`."""
    return raw.translate(_SPACES)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def siret_valid(siret: str) -> bool:
    """True for a well-formed SIRET: 14 digits (spaces allowed), Luhn check digit.

    La Poste's establishments (SIREN 356000000) do not follow Luhn: there the sum of the 14
    digits must be a multiple of 5 (INSEE rule); La Poste's head office, 356 000 000 00048,
    passes Luhn and is valid too.
    """
    digits = compact_siret(siret)
    if len(digits) != 14 or not digits.isascii() or not digits.isdigit():
        return False
    if _luhn_valid(digits):
        return True
    return digits.startswith(LA_POSTE_SIREN) and sum(int(c) for c in digits) % 5 == 0


def _siret(value: str) -> str:
    digits = compact_siret(value)
    if len(digits) != 14 or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"siret `{value}` must be 14 digits (R11)")
    if not siret_valid(digits):
        raise ValueError(f"siret {digits} fails the SIRET check digit (Luhn) (R11)")
    return digits


def _t2c_number(phone: Phone) -> Phone:
    if not phone.e164.startswith(T2C_PREFIXES):
        raise ValueError(
            f"number {phone.e164} is not a Time2Chat 09 number: R11 numbers are in the"
            " 09 37, 09 38 and 09 39 platform ranges (sms.md §3.5)"
        )
    return phone


def _named_text(field: str) -> AfterValidator:
    def check(value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError(f"{field} must not be empty (R11)")
        return value

    return AfterValidator(check)


def _usage(value: str) -> str:
    value = value.strip()
    if not USAGE_MIN <= len(value) <= USAGE_MAX:
        raise ValueError(
            f"usage has {len(value)} characters; describe it in {USAGE_MIN} to {USAGE_MAX} (R11)"
        )
    return value


def _string(field: str) -> BeforeValidator:
    def check(value: object) -> object:
        if not isinstance(value, str):
            raise ValueError(f"{field} must be text, not {type(value).__name__} (R11)")
        return value

    return BeforeValidator(check)


class DeclarationContact(BaseModel):
    """The client's contact person for the number (R11)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    last_name: Annotated[str, _named_text("last_name")]
    first_name: Annotated[str, _named_text("first_name")]
    phone: Phone
    email: EmailStr


class NumberDeclaration(BaseModel):
    """What the operator declares for one Time2Chat 09 number (R11)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    number: Annotated[Phone, AfterValidator(_t2c_number)]
    client_name: Annotated[str, _named_text("client_name")]
    siret: Annotated[str, _string("siret"), AfterValidator(_siret)]
    """Stored as its 14 digits."""
    usage: Annotated[str, _string("usage"), AfterValidator(_usage)]
    contact: DeclarationContact
