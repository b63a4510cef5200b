"""What both stores share for archiving and erasure (R32, R34): the JSON form of an archived
record, and the tables an erasure reports on."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from store.records import HistoryEntry, InboxEntry, OutboxEntry

HISTORY, INBOX, OUTBOX = "history", "inbox", "outbox"
"""`Archived.kind` of each record."""

ERASED = (
    *("conversations", "history", "inbox", "outbox", "timers", "leases", "billing_states"),
    *("archive", "red_list", "opt_outs", "ledger", "contacts", "campaigns"),
    "business_events",
    "campaign_recipients",
)
"""The names `Store.erase_phone` counts under, every one of them in every answer (a zero says
the table was looked at). SQLite's `outbox_providers` rows go with their outbox entries and
are not counted apart: MongoDB keeps them inside the entry, and both answer alike; so are
SQLite's `contact_lists` rows, which MongoDB keeps inside the contact."""


def record_body(record: HistoryEntry | InboxEntry | OutboxEntry) -> dict[str, Any]:
    """The whole record as JSON, its field names as keys: times as ISO-8601 UTC text, enums
    as their values, tuples as lists. Both stores write the same body for the same record."""
    body: dict[str, Any] = _json(asdict(record))
    return body


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {key: _json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    return value


def erased(**counts: int) -> dict[str, int]:
    """An erasure's answer: `counts` over zeros for every name of `ERASED`."""
    unknown = set(counts) - set(ERASED)
    if unknown:
        raise ValueError(f"not a table an erasure reports on: {sorted(unknown)}")
    return {name: counts.get(name, 0) for name in ERASED}
