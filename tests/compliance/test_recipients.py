"""R5: duplicates removed, one message per recipient per send (compliance/recipients.py)."""

from __future__ import annotations

from compliance.recipients import Invalid, dedupe


def test_french_forms_are_one_recipient_r5() -> None:
    result = dedupe(["06 12 34 56 78", "0612345678", "+33612345678", "0033612345678"])
    assert result.phones == ("+33612345678",)
    assert result.merged == 3
    assert result.invalid == ()


def test_first_seen_order_is_kept_r5() -> None:
    result = dedupe(["0698765432", "0612345678", "+33698765432", "07 81 23 45 67"])
    assert result.phones == ("+33698765432", "+33612345678", "+33781234567")
    assert result.merged == 1


def test_invalid_inputs_are_reported_with_index_and_reason() -> None:
    result = dedupe(["0612345678", "", "hello", "06 12", "+33612345678", "   "])
    assert result.phones == ("+33612345678",)
    assert result.merged == 1
    assert result.invalid == (
        Invalid(1, "", "empty"),
        Invalid(2, "hello", "not a valid phone number"),
        Invalid(3, "06 12", "not a valid phone number"),
        Invalid(5, "   ", "empty"),
    )


def test_international_numbers() -> None:
    result = dedupe(["+44 20 7946 0958", "0044 20 7946 0958", "020 7946 0958"])
    assert result.phones == ("+442079460958",)
    assert [i.index for i in result.invalid] == [2]  # a UK national form is not French


def test_default_region() -> None:
    result = dedupe(["020 7946 0958", "+442079460958"], default_region="GB")
    assert result.phones == ("+442079460958",)
    assert result.merged == 1


def test_overseas_numbers_keep_their_country_code() -> None:
    assert dedupe(["0694 12 34 56"]).phones == ("+594694123456",)


def test_any_iterable_and_empty_input() -> None:
    assert dedupe(iter(())).phones == ()
    assert dedupe(n for n in ["0612345678"]).phones == ("+33612345678",)
