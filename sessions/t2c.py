"""Time2Chat billing for one pair (a 09 number, a recipient): seed rules R12-R16.

- An MO with no session open opens one, billed once (R14), until the next midnight in
  `policy.timezone` (R16). An MO while a session is open opens nothing (R16 **Choice**).
- An MT inside the open session is covered, not billed (R15); outside, it is billed at the
  T2C MT price (R12, R14). A long MT (R13) opens nothing and is billed as SMS per segment,
  inside a session too unless `policy.long_mt_in_session_billed` is false.

State (JSON, `BillingState.data`)::

    {"session": {"id": "t2c:{MO key}", "opened_at": ISO, "until": ISO} | null}

A T2C session ends by itself at midnight and nothing is left to bill afterwards, so this
tracker never sets `due` (it removes one if present).

Events are expected in time order per pair (the worker handles one conversation at a time). An
MO older than the open session's start opens nothing: it cannot tell whether its own day
already had a session, and billing a day twice is the worse mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sessions.classes import BillingClass
from sessions.entries import (
    aware,
    from_json,
    in_utc,
    local_text,
    mt_entry,
    session_entry,
    to_json,
)
from sessions.events import Mo, Mt
from sessions.policy import BillingPolicy
from store.billing_records import LedgerEntry

LONG_MT_CHARACTERS = 160
"""R13: "more than 160 characters"."""


@dataclass(frozen=True, slots=True)
class _Session:
    id: str
    opened_at: datetime
    until: datetime

    def covers(self, at: datetime) -> bool:
        return self.opened_at <= at < self.until

    def json(self) -> dict[str, str]:
        return {"id": self.id, "opened_at": to_json(self.opened_at), "until": to_json(self.until)}


def session_end(at: datetime, policy: BillingPolicy) -> datetime:
    """R16: midnight at the end of `at`'s local day, as an instant in UTC.

    The local date is taken in `policy.timezone`, the next day's 00:00 is built there and
    zoneinfo gives its offset: a DST night (23 or 25 hours) ends at the right instant. Midnight
    never falls in Paris's DST gap (02:00-03:00), so the wall time always exists."""
    local = aware(at, "an MO's time").astimezone(policy.timezone)
    next_day = local.date() + timedelta(days=1)
    return datetime.combine(next_day, time(0), tzinfo=policy.timezone).astimezone(UTC)


def is_long(mt: Mt, policy: BillingPolicy) -> bool:
    """R13's "more than 160 characters", read per `policy.long_mt`."""
    if policy.long_mt == "characters":
        return mt.characters > LONG_MT_CHARACTERS
    return mt.segments > 1


def t2c_step(
    state: dict[str, Any] | None, event: Mt | Mo, policy: BillingPolicy
) -> tuple[dict[str, Any], list[LedgerEntry]]:
    """The pair's new state and the entries `event` produces. Pure: `state` is not changed."""
    if event.channel != "t2c" or (isinstance(event, Mt) and event.fallback):
        raise ValueError(f"{event.key} went on {event.channel!r}, not Time2Chat")
    event = replace(event, at=in_utc(event.at, f"the time of {event.key}"))
    session = _load(state)
    if isinstance(event, Mo):
        session, entries = _mo(session, event, policy)
    else:
        entries = [_mt(session, event, policy)]
    return _dump(state, session), entries


def _mo(
    session: _Session | None, mo: Mo, policy: BillingPolicy
) -> tuple[_Session | None, list[LedgerEntry]]:
    session_id = f"t2c:{mo.key}"
    if session is not None and session.id == session_id:
        # The MO that opened the session, replayed: the same entry again (the ledger keeps one).
        return session, [_session_entry(mo, session, policy)]
    if session is not None and mo.at < session.until:
        return session, []  # R16 Choice: an open session takes further MOs in free
    opened = _Session(session_id, mo.at, session_end(mo.at, policy))
    return opened, [_session_entry(mo, opened, policy)]


def _session_entry(mo: Mo, session: _Session, policy: BillingPolicy) -> LedgerEntry:
    rule = (
        "R14: the person wrote to the 09 number, which opens a Time2Chat session billed once; "
        f"R16: it ends at midnight, {local_text(session.until, policy)}"
    )
    return session_entry(mo, session.id, BillingClass.T2C_SESSION, "t2c_number", rule, policy)


def _mt(session: _Session | None, mt: Mt, policy: BillingPolicy) -> LedgerEntry:
    inside = session if session is not None and session.covers(mt.at) else None
    if is_long(mt, policy):
        segments = max(mt.segments, 1)
        if inside is not None and not policy.long_mt_in_session_billed:
            rule = (
                "R15: long MT inside the open session, not billed "
                "(setting long_mt_in_session_billed: false; R13 would bill it per segment)"
            )
            return mt_entry(mt, BillingClass.COVERED, rule, policy, session_id=inside.id)
        rule = (
            f"R13: long MT ({_length(mt, policy)}) opens no session, "
            f"billed per SMS segment: {segments}"
        )
        if inside is not None:
            rule += " (inside an open session, billed anyway: long_mt_in_session_billed: true)"
        return mt_entry(mt, BillingClass.SMS_MT, rule, policy, quantity=segments)
    if inside is not None:
        rule = (
            "R15: inside the session the person opened, not billed "
            f"(until {local_text(inside.until, policy)})"
        )
        return mt_entry(mt, BillingClass.COVERED, rule, policy, session_id=inside.id)
    rule = "R12, R14: no session open (the person has not written today), billed as a T2C MT"
    return mt_entry(mt, BillingClass.T2C_MT, rule, policy)


def _length(mt: Mt, policy: BillingPolicy) -> str:
    if policy.long_mt == "characters":
        return f"{mt.characters} characters, more than {LONG_MT_CHARACTERS}"
    return f"{mt.segments} SMS segments"


def _load(state: dict[str, Any] | None) -> _Session | None:
    raw = (state or {}).get("session")
    if not raw:
        return None
    return _Session(str(raw["id"]), from_json(raw["opened_at"]), from_json(raw["until"]))


def _dump(state: dict[str, Any] | None, session: _Session | None) -> dict[str, Any]:
    data = {key: value for key, value in (state or {}).items() if key != "due"}
    data["session"] = session.json() if session is not None else None
    return data
