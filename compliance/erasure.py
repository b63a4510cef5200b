"""R34: erasing a recipient while keeping the records that must outlive them.

An opt-out (R25) must survive the erasure of the person it protects, or the next campaign
would write to them again. So the number is replaced by a keyed hash: the same person, written
in any format, gives the same value (the number is parsed to E.164 first), the stored records
still match, and the number cannot be read back. HMAC-SHA256 with a per-deployment secret salt,
not a bare SHA-256: French mobile numbers are few enough (about 10^9) to hash them all.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from messaging.phone import DEFAULT_REGION, Phone

HASH_PREFIX: Final = "hash:"
"""What an erased phone looks like in the store: `hash:` and 64 hex digits."""


def is_hashed(phone: str) -> bool:
    """Whether a stored phone value was already erased."""
    return phone.startswith(HASH_PREFIX)


def hashed_phone(phone: str, salt: str, region: str = DEFAULT_REGION) -> str:
    """`hash:` + hex HMAC-SHA256 of the E.164 number, keyed by `salt` (R34).

    A value already hashed comes back as it is, so erasing twice is harmless. ValueError for an
    empty salt or an invalid number (`InvalidPhoneError`).
    """
    if not salt:
        raise ValueError("erasure needs a non-empty salt: without one the hash can be reversed")
    if is_hashed(phone):
        return phone
    e164 = Phone(phone, region).e164
    digest = hmac.new(salt.encode(), e164.encode(), hashlib.sha256).hexdigest()
    return HASH_PREFIX + digest
