"""R30: consent to marketing (compliance/consent.py, sms.md §3.4)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from compliance.consent import marketing_consent


@pytest.mark.parametrize(
    "value",
    [
        True,
        1,
        "yes",
        "YES",
        "oui",
        " Oui ",
        "OUI.",
        "true",
        "True",
        "1",
        "2025-03-01",
        "2025-03-01T10:00:00+01:00",
        "2025-03-01T10:00:00Z",
        date(2025, 3, 1),
        datetime(2025, 3, 1, tzinfo=UTC),
    ],
)
def test_consent_r30(value: Any) -> None:
    assert marketing_consent({"opt_in": value})


@pytest.mark.parametrize(
    "value",
    [
        False,
        0,
        2,
        1.0,
        None,
        "",
        "no",
        "non",
        "false",
        "0",
        "peut-être",
        "2025-13-01",
        "2025-02-30",
        "01/03/2025",
        "20250301",
        ["yes"],
        {"yes": True},
    ],
)
def test_no_consent_r30(value: Any) -> None:
    assert not marketing_consent({"opt_in": value})


def test_missing_field_is_no_consent() -> None:
    assert not marketing_consent({})
    assert not marketing_consent({"name": "Léa"})


def test_field_name() -> None:
    contact = {"opt_in": "no", "sms_ok": "oui"}
    assert marketing_consent(contact, field="sms_ok")
    assert not marketing_consent(contact)
