"""R34: erasing a recipient's number (compliance/erasure.py)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from compliance.erasure import hashed_phone, is_hashed
from messaging.phone import InvalidPhoneError

SALT = "deployment-secret"


def test_the_same_person_in_any_format_r34() -> None:
    forms = ["06 12 34 56 78", "0612345678", "+33612345678", "0033612345678"]
    assert len({hashed_phone(form, SALT) for form in forms}) == 1


def test_hmac_sha256_of_e164_r34() -> None:
    expected = hmac.new(SALT.encode(), b"+33612345678", hashlib.sha256).hexdigest()
    assert hashed_phone("0612345678", SALT) == "hash:" + expected
    assert len(hashed_phone("0612345678", SALT)) == len("hash:") + 64


def test_the_salt_changes_the_hash() -> None:
    assert hashed_phone("0612345678", SALT) != hashed_phone("0612345678", "other")


def test_different_people_differ() -> None:
    assert hashed_phone("0612345678", SALT) != hashed_phone("0612345679", SALT)


def test_erasing_twice_is_harmless() -> None:
    once = hashed_phone("0612345678", SALT)
    assert is_hashed(once)
    assert hashed_phone(once, SALT) == once
    assert not is_hashed("+33612345678")


def test_a_salt_is_required() -> None:
    with pytest.raises(ValueError, match="salt"):
        hashed_phone("0612345678", "")


def test_an_invalid_number_is_refused() -> None:
    with pytest.raises(InvalidPhoneError):
        hashed_phone("hello", SALT)


def test_region() -> None:
    assert hashed_phone("020 7946 0958", SALT, region="GB") == hashed_phone("+442079460958", SALT)
