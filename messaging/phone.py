"""Phone numbers as E.164, parsed by `phonenumbers` with France as the default region."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import phonenumbers
from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

DEFAULT_REGION = "FR"
OVERSEAS_REGIONS = ("GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF")
"""French overseas territories: their numbers are written `0690 ...` at home, like mainland
ones, but metadata for region FR covers mainland France only (reference/sms.md §3.5)."""


class InvalidPhoneError(ValueError):
    """Raised when a string is not a valid phone number; names the input."""

    def __init__(self, raw: str, reason: str = "not a valid phone number") -> None:
        super().__init__(f"{raw!r} is {reason}")
        self.raw = raw


class Phone:
    """A phone number in E.164 (`+33612345678`).

    `06 12 34 56 78`, `+33612345678` and `0033612345678` are the same `Phone`.
    Never log `str(phone)`: use `masked`, which hides the middle digits.
    """

    __slots__ = ("_number", "e164")

    def __init__(self, raw: str, region: str = DEFAULT_REGION) -> None:
        self._number, self.e164 = _parsed(raw, region)

    @property
    def national(self) -> str:
        """The number as its own country writes it: `06 12 34 56 78` for France."""
        return str(
            phonenumbers.format_number(self._number, phonenumbers.PhoneNumberFormat.NATIONAL)
        )

    @property
    def region(self) -> str | None:
        """ISO country code of the number (`FR`, `GP`, ...)."""
        region: str | None = phonenumbers.region_code_for_number(self._number)
        return region

    @property
    def masked(self) -> str:
        """A form safe for logs: country code and last two digits only (`+33•••••••78`)."""
        return f"+{self._number.country_code}" + "•" * (len(self.e164) - 5) + self.e164[-2:]

    def __str__(self) -> str:
        return self.e164

    def __repr__(self) -> str:
        return f"Phone({self.masked!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Phone):
            return NotImplemented
        return other.e164 == self.e164

    def __hash__(self) -> int:
        return hash(self.e164)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        from_str = core_schema.no_info_plain_validator_function(_phone_from_input)
        return core_schema.json_or_python_schema(
            json_schema=core_schema.chain_schema([core_schema.str_schema(), from_str]),
            python_schema=from_str,
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )


PARSED_CACHE = 65_536
"""Numbers whose parse is remembered. A turn reads its phone several times (webhook, inbox,
worker, router, renderers) and parsing costs ~35 µs (benchmarks/turns.py profile)."""


@lru_cache(maxsize=PARSED_CACHE)
def _parsed(raw: str, region: str) -> tuple[phonenumbers.PhoneNumber, str]:
    """The number `raw` reads as and its E.164; shared, so never mutated (invalid input raises
    and is not remembered)."""
    number = _parse(raw, region)
    return number, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse(raw: str, region: str) -> phonenumbers.PhoneNumber:
    regions = (region, *OVERSEAS_REGIONS) if region == DEFAULT_REGION else (region,)
    for candidate in regions:
        try:
            number = phonenumbers.parse(raw, candidate)
        except phonenumbers.NumberParseException:
            raise InvalidPhoneError(raw) from None
        if phonenumbers.is_valid_number(number):
            return number
        if raw.lstrip().startswith(("+", "00")):
            break  # an international number has one reading only
    raise InvalidPhoneError(raw)


def _phone_from_input(value: Any) -> Phone:
    if isinstance(value, Phone):
        return value
    if not isinstance(value, str):
        raise ValueError(f"a phone number must be a string, not {type(value).__name__}")
    try:
        return Phone(value)
    except InvalidPhoneError as error:
        raise ValueError(str(error)) from None
