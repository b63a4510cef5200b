"""R27: the SenderID (OADC) a business may show in France (sms.md §3.1).

Two layers:

- `sender_id_problem`: the form, the same for everybody (AF2M): letters and digits only (no
  space, punctuation or accent), at most 11 characters, not digits only. AF2M states no
  minimum; aggregators use 3, and so do we. A digits-only sender is refused even when it looks
  like a 5-digit short number (36xxx, 38xxx): short numbers are assigned by the platform when
  no SenderID is set, never typed in as one.
- `SenderIdRules.check`: the lists. smsmode refuses generic words (its examples: alert, rdv,
  payment, bank, parcel); the AF2M keeps sensitive-brand lists built from 33700 reports: SI
  (strictly forbidden) and ISA (forbidden unless the brand authorised the sender). The AF2M
  lists are not public, so they are empty by default: load them into the configuration.

All list matching ignores case: operators compare what the handset shows, and `BANK`, `Bank`
and `bank` look the same to a recipient.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Final

MIN_LENGTH: Final = 3
MAX_LENGTH: Final = 11
_ALLOWED: Final = frozenset(string.ascii_letters + string.digits)

DEFAULT_GENERIC: Final = frozenset({"ALERT", "RDV", "PAYMENT", "BANK", "PARCEL"})
"""Generic words smsmode refuses as SenderIDs (sms.md §3.1 gives these as examples; the list
is not exhaustive: extend it in configuration)."""


def sender_id_problem(sender: str) -> str | None:
    """What makes `sender` an invalid SenderID in France (R27), or None when its form is fine.

    One sentence naming the sender and the first fault found, e.g. "`ALERTE-RDV` is not a valid
    SenderID: only letters and digits, found `-` (R27)".
    """
    shown = _shown(sender)
    if not sender:
        return "An empty SenderID is not valid (R27)"
    if any(c.isspace() for c in sender):
        return f"`{shown}` is not a valid SenderID: no spaces allowed (R27)"
    wrong = "".join(dict.fromkeys(c for c in sender if c not in _ALLOWED))
    if wrong:
        return (
            f"`{shown}` is not a valid SenderID: only letters and digits, without accents, "
            f"found `{_shown(wrong)}` (R27)"
        )
    if len(sender) > MAX_LENGTH:
        return (
            f"`{shown}` is not a valid SenderID: {len(sender)} characters, "
            f"at most {MAX_LENGTH} (R27)"
        )
    if len(sender) < MIN_LENGTH:
        return (
            f"`{shown}` is not a valid SenderID: {len(sender)} characters, "
            f"at least {MIN_LENGTH} (R27)"
        )
    if sender.isdigit():
        return (
            f"`{shown}` is digits only (R27): a SenderID needs at least one letter; leave the "
            "sender unset to send from a short number"
        )
    return None


@dataclass(frozen=True)
class Authorisation:
    """A brand's authorisation to use a sender on the ISA list, registered via the operator or
    the AF2M (sms.md §3.1)."""

    reference: str
    valid_until: date
    """Last day the authorisation holds (included)."""


@dataclass(frozen=True)
class SenderIdRules:
    """The lists a SenderID is checked against, beyond its form (R27)."""

    forbidden: frozenset[str] = frozenset()
    """AF2M SI list: always blocked."""
    authorised_only: frozenset[str] = frozenset()
    """AF2M ISA list: blocked unless `authorisations` holds a valid record for the sender."""
    authorisations: Mapping[str, Authorisation] = field(default_factory=dict)
    """The business's own authorisations, by sender."""
    generic: frozenset[str] = DEFAULT_GENERIC
    """Generic words the platform refuses."""

    def __post_init__(self) -> None:
        # Matching ignores case: keep every list folded once, here.
        for name in ("forbidden", "authorised_only", "generic"):
            words: frozenset[str] = getattr(self, name)
            object.__setattr__(self, name, frozenset(w.casefold() for w in words))
        folded = {sender.casefold(): record for sender, record in self.authorisations.items()}
        object.__setattr__(self, "authorisations", folded)

    def check(self, sender: str, today: date) -> str | None:
        """What stops `sender` from being used on `today` (R27), or None when it may be used."""
        problem = sender_id_problem(sender)
        if problem:
            return problem
        key = sender.casefold()
        if key in self.forbidden:
            return f"`{sender}` is on the AF2M strictly forbidden list (SI): always blocked (R27)"
        if key in self.generic:
            return f"`{sender}` is a generic word the platform refuses as a SenderID (R27)"
        if key in self.authorised_only:
            record = self.authorisations.get(key)
            if record is None:
                return (
                    f"`{sender}` is on the AF2M forbidden-unless-authorised list (ISA) and no "
                    "authorisation is recorded for it (R27)"
                )
            if today > record.valid_until:
                return (
                    f"`{sender}` is on the AF2M forbidden-unless-authorised list (ISA) and its "
                    f"authorisation {record.reference} expired on {record.valid_until} (R27)"
                )
        return None


def _shown(text: str, limit: int = 24) -> str:
    """`text` cut for a message: a pasted paragraph must not become the error."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
