"""`Phone` remembers the numbers it parsed (a turn reads its phone about nine times,
benchmarks/turns.py); what it gives back is the same as a fresh parse, and invalid input is
refused every time, never remembered."""

from __future__ import annotations

import pytest

from messaging.phone import InvalidPhoneError, Phone, _parsed


def test_every_spelling_of_a_number_gives_the_same_phone_parsed_or_remembered() -> None:
    _parsed.cache_clear()
    spellings = ["06 12 34 56 78", "+33612345678", "0033612345678", "+33612345678"]

    phones = [Phone(raw) for raw in spellings]

    assert {phone.e164 for phone in phones} == {"+33612345678"}
    assert {phone.national for phone in phones} == {"06 12 34 56 78"}
    assert _parsed.cache_info().hits == 1  # the repeated spelling only


def test_the_region_is_part_of_what_is_remembered() -> None:
    assert Phone("0690 12 34 56").region == "GP"  # overseas, read from a French default
    assert Phone("612345678", region="FR").e164 == "+33612345678"
    with pytest.raises(InvalidPhoneError):
        Phone("612345678", region="GB")


def test_invalid_input_is_refused_each_time_and_not_remembered() -> None:
    _parsed.cache_clear()

    for _ in range(2):
        with pytest.raises(InvalidPhoneError, match="'0612'"):
            Phone("0612")

    assert _parsed.cache_info().currsize == 0
