"""R30: may this contact receive marketing? Prior consent is required for commercial
prospection by SMS (CNIL, art. L34-5 CPCE; sms.md §3.4), and one opt-in covers SMS and RCS.

Contact lists come from CSV imports, forms and APIs, which write consent in many ways. What
counts as consent (field `opt_in` by default):

- `True`, or the integer 1;
- the strings `yes`, `oui`, `true`, `1` in any case, accents and surrounding spaces ignored;
- the date of the opt-in: a `date` or `datetime`, or an ISO 8601 string starting with
  `YYYY-MM-DD` (`2025-03-01`, `2025-03-01T10:00:00+01:00`) that is a real date.

Everything else is no consent: a missing field, None, False, 0, `no`, `non`, an empty string,
any other word, a malformed date. Unclear means no: a lawful basis must be shown, not guessed.
Whether the date lies in the future is not checked here (this module reads no clock).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Final

from messaging.text import fold

_YES: Final = frozenset({"yes", "oui", "true", "1"})
_ISO_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


def marketing_consent(contact: Mapping[str, Any], field: str = "opt_in") -> bool:
    """Whether `contact[field]` records the contact's consent to marketing (R30)."""
    value = contact.get(field)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value == 1
    if isinstance(value, date):  # datetime is a date too
        return True
    if isinstance(value, str):
        return fold(value) in _YES or _is_iso_date(value.strip())
    return False


def _is_iso_date(text: str) -> bool:
    if not _ISO_DATE.match(text):
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True
