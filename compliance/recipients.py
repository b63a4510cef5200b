"""R5: one message per recipient per send; duplicates are removed before sending.

Two inputs are the same recipient when they are the same number once parsed to E.164:
`06 12 34 56 78`, `0612345678`, `+33612345678` and `0033612345678` are one person. Invalid
inputs are not dropped silently: each is reported with its position, so a business can fix its
list (R7: an invalid number submitted is billed all the same).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from messaging.phone import DEFAULT_REGION, InvalidPhoneError, Phone


@dataclass(frozen=True)
class Invalid:
    """An input that is not a phone number."""

    index: int
    """Position in the input, from 0."""
    raw: str
    reason: str


@dataclass(frozen=True)
class Dedupe:
    """The recipients of one send, each once (R5)."""

    phones: tuple[str, ...]
    """Unique numbers in E.164, in the order they first appear."""
    merged: int
    """Valid inputs dropped because their number was already there."""
    invalid: tuple[Invalid, ...]


def dedupe(raw: Iterable[str], default_region: str = DEFAULT_REGION) -> Dedupe:
    """The unique recipients of `raw`, numbers without a country code read in
    `default_region` (R5). Never raises on strings."""
    seen: dict[str, None] = {}  # a dict keeps first-seen order
    merged = 0
    invalid: list[Invalid] = []
    for index, text in enumerate(raw):
        if not text.strip():
            invalid.append(Invalid(index, text, "empty"))
            continue
        try:
            e164 = Phone(text, default_region).e164
        except InvalidPhoneError:
            invalid.append(Invalid(index, text, "not a valid phone number"))
            continue
        if e164 in seen:
            merged += 1
        else:
            seen[e164] = None
    return Dedupe(tuple(seen), merged, tuple(invalid))
