"""RCS billing for one pair (an agent, a recipient): seed rules R21 and R22, rbm.md §8.1.

Non-conversational agents pay per message: basic or single (R21). Conversational agents pay
per session (R22): "a conversation starts when either side replies to the other's message
within 24 h; for 24 h from that first reply any number of messages is covered by one flat fee;
if the user never replies within 24 h, messages are billed individually".

- A reply opens a session when it comes less than 24 h after the message it answers: 23 h 59
  opens, exactly 24 h does not (the window is [sent, sent + 24 h), like the session's).
- The person's reply to agent messages opens an A2P session (`session:rcs:{MO key}`) that
  covers the pending messages it answers; agent messages older than 24 h are billed singly.
- The agent's message after an unanswered MO opens a P2A session (`session:rcs:{MT key}`),
  which covers that message.
- An agent message with neither is kept pending: billed singly by `rcs_settle` once its 24 h
  pass unanswered, at its own time (`due` = the oldest pending message's time + 24 h).
- **Choice:** messages inside a session are spent: an MO inside a session opens nothing later,
  and a covered agent message is never answered into a new session.

State (JSON, `BillingState.data`)::

    {"session": {"id": "rcs:{key}", "class": "rcs_a2p_session" | "rcs_p2a_session",
                 "opened_at": ISO, "until": ISO, "covered": [MT keys it covered when opening]}
                | null,
     "last_mo": ISO | null,            # the person's latest MO no agent message answered yet
     "pending": [{"key", "at", "class", "bot_id", "sender", "sender_type", "recipient"}],
     "due": ISO}                       # only while something is pending

Prices are read when the entry is made (settling a pending message uses today's table).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sessions.classes import BillingClass
from sessions.entries import (
    DAY,
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

BASIC_LIMIT = 160
"""R21: a basic message has at most 160 (bytes or characters, per policy)."""


@dataclass(frozen=True, slots=True)
class _Session:
    id: str
    billing_class: BillingClass
    opened_at: datetime
    until: datetime
    covered: tuple[str, ...] = ()

    def covers(self, mt: Mt) -> bool:
        # A message it took in when opening (an A2P session covers the earlier messages the
        # person answered) stays covered when replayed.
        return mt.at < self.until and (self.opened_at <= mt.at or mt.key in self.covered)

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "class": self.billing_class.value,
            "opened_at": to_json(self.opened_at),
            "until": to_json(self.until),
            "covered": list(self.covered),
        }


@dataclass(frozen=True, slots=True)
class _State:
    session: _Session | None
    last_mo: datetime | None
    pending: tuple[Mt, ...]
    pending_class: dict[str, BillingClass]


def rcs_class(mt: Mt, policy: BillingPolicy) -> BillingClass:
    """R21: basic = text only, no suggestion, no media, at most 160 (UTF-8 bytes by default,
    Google's measure; or characters, R21's words); anything else is single."""
    size = mt.text_bytes if policy.rcs_basic_measure == "bytes" else mt.text_characters
    return (
        BillingClass.RCS_BASIC if not mt.rich and size <= BASIC_LIMIT else BillingClass.RCS_SINGLE
    )


def rcs_step(
    state: dict[str, Any] | None,
    event: Mt | Mo,
    policy: BillingPolicy,
    *,
    conversational: bool,
) -> tuple[dict[str, Any], list[LedgerEntry]]:
    """The pair's new state and the entries `event` produces. Pure: `state` is not changed.

    Pending messages whose 24 h passed by `event.at` are billed first, as `rcs_settle` would."""
    if event.channel != "rcs" or (isinstance(event, Mt) and event.fallback):
        raise ValueError(f"{event.key} went on {event.channel!r}, not RCS")
    event = replace(event, at=in_utc(event.at, f"the time of {event.key}"))
    if not conversational:
        # R21: per message; the person's messages cost nothing.
        entries = []
        if isinstance(event, Mt):
            rule = f"Non-conversational agent, billed per message; {_class_rule(event, policy)}"
            entries.append(_single(event, policy, rule))
        return dict(state or {}), entries
    current, entries = _settle(_load(state), event.at, policy)
    if isinstance(event, Mo):
        current, more = _mo(current, event, policy)
    else:
        current, more = _mt(current, event, policy)
    return _dump(state, current), entries + more


def rcs_settle(
    state: dict[str, Any] | None, now: datetime, policy: BillingPolicy
) -> tuple[dict[str, Any], list[LedgerEntry]]:
    """Bill singly the pending messages whose 24 h passed by `now` without a reply (R22)."""
    current, entries = _settle(_load(state), in_utc(now, "now"), policy)
    return _dump(state, current), entries


def _class_rule(mt: Mt, policy: BillingPolicy) -> str:
    """Why `rcs_class` chose what it chose, in R21's words and the policy's unit."""
    unit = policy.rcs_basic_measure
    size = mt.text_bytes if unit == "bytes" else mt.text_characters
    if rcs_class(mt, policy) is BillingClass.RCS_BASIC:
        return f"R21: basic message (text only, {size} {unit} of at most {BASIC_LIMIT})"
    if mt.rich:
        return "R21: single message (suggestions, media or a card)"
    return f"R21: single message (text of {size} {unit}, more than {BASIC_LIMIT})"


def _single(mt: Mt, policy: BillingPolicy, rule: str) -> LedgerEntry:
    return mt_entry(mt, rcs_class(mt, policy), rule, policy, quantity=mt.parts)


def _settle(
    current: _State, now: datetime, policy: BillingPolicy
) -> tuple[_State, list[LedgerEntry]]:
    entries: list[LedgerEntry] = []
    kept: list[Mt] = []
    for mt in current.pending:
        if now - mt.at >= DAY:
            billing_class = current.pending_class[mt.key]
            rule = f"R22: no reply within 24 h, billed individually as {billing_class.value} (R21)"
            entries.append(mt_entry(mt, billing_class, rule, policy, quantity=mt.parts))
        else:
            kept.append(mt)
    classes = {mt.key: current.pending_class[mt.key] for mt in kept}
    return _State(current.session, current.last_mo, tuple(kept), classes), entries


def _mt(current: _State, mt: Mt, policy: BillingPolicy) -> tuple[_State, list[LedgerEntry]]:
    session = current.session
    if any(pending.key == mt.key for pending in current.pending):
        return current, []  # a retry or a replay: it is pending once
    if session is not None and session.covers(mt):
        entries = [_covered(mt, session, policy)]
        if session.id == f"rcs:{mt.key}":
            entries.insert(0, _p2a_entry(mt, session, policy))  # the opener, replayed
        return current, entries
    blocked = session is not None and mt.at < session.until  # never two sessions at once
    last_mo = current.last_mo
    if not blocked and last_mo is not None and last_mo <= mt.at and mt.at - last_mo < DAY:
        opened = _Session(f"rcs:{mt.key}", BillingClass.RCS_P2A_SESSION, mt.at, mt.at + DAY)
        entries = [_p2a_entry(mt, opened, policy), _covered(mt, opened, policy)]
        return _State(opened, None, current.pending, current.pending_class), entries
    classes = {**current.pending_class, mt.key: rcs_class(mt, policy)}
    return _State(session, last_mo, (*current.pending, mt), classes), []


def _mo(current: _State, mo: Mo, policy: BillingPolicy) -> tuple[_State, list[LedgerEntry]]:
    session = current.session
    if session is not None and session.id == f"rcs:{mo.key}":
        return current, [_a2p_entry(mo, session, policy)]  # the opener, replayed
    if session is not None and mo.at < session.until:
        return current, []  # inside a session (or older than it): spent, opens nothing
    # `_settle` at mo.at billed what is 24 h old or more: what remains is answered in time.
    if not any(mt.at <= mo.at for mt in current.pending):
        last_mo = mo.at if current.last_mo is None else max(current.last_mo, mo.at)
        return _State(session, last_mo, current.pending, current.pending_class), []
    until = mo.at + DAY
    answered = tuple(mt for mt in current.pending if mt.at < until)
    opened = _Session(
        f"rcs:{mo.key}",
        BillingClass.RCS_A2P_SESSION,
        mo.at,
        until,
        tuple(mt.key for mt in answered),
    )
    entries = [_a2p_entry(mo, opened, policy)]
    entries += [_covered(mt, opened, policy) for mt in answered]
    kept = tuple(mt for mt in current.pending if mt.at >= until)
    classes = {mt.key: current.pending_class[mt.key] for mt in kept}
    return _State(opened, None, kept, classes), entries


def _covered(mt: Mt, session: _Session, policy: BillingPolicy) -> LedgerEntry:
    rule = (
        f"R22: covered by conversation {session.id} "
        f"(until {local_text(session.until, policy)}), not billed"
    )
    return mt_entry(mt, BillingClass.COVERED, rule, policy, session_id=session.id)


def _a2p_entry(mo: Mo, session: _Session, policy: BillingPolicy) -> LedgerEntry:
    rule = (
        "R22: the person replied within 24 h to the agent's message: A2P conversation, "
        f"one fee for 24 h (until {local_text(session.until, policy)})"
    )
    return session_entry(mo, session.id, BillingClass.RCS_A2P_SESSION, "rcs_agent", rule, policy)


def _p2a_entry(mt: Mt, session: _Session, policy: BillingPolicy) -> LedgerEntry:
    rule = (
        "R22: the agent replied within 24 h to the person's message: P2A conversation, "
        f"one fee for 24 h (until {local_text(session.until, policy)})"
    )
    return session_entry(mt, session.id, BillingClass.RCS_P2A_SESSION, "rcs_agent", rule, policy)


def _load(state: dict[str, Any] | None) -> _State:
    data = state or {}
    raw = data.get("session")
    session = (
        _Session(
            str(raw["id"]),
            BillingClass(raw["class"]),
            from_json(raw["opened_at"]),
            from_json(raw["until"]),
            tuple(str(key) for key in raw.get("covered", ())),
        )
        if raw
        else None
    )
    last_mo = from_json(data["last_mo"]) if data.get("last_mo") else None
    pending = tuple(
        Mt(
            str(item["key"]),
            str(item["bot_id"]),
            str(item["recipient"]),
            from_json(item["at"]),
            "rcs",
            str(item["sender"]),
            str(item.get("sender_type", "rcs_agent")),
            parts=int(item.get("parts", 1)),
        )
        for item in data.get("pending", ())
    )
    classes = {str(item["key"]): BillingClass(item["class"]) for item in data.get("pending", ())}
    return _State(session, last_mo, pending, classes)


def _dump(state: dict[str, Any] | None, current: _State) -> dict[str, Any]:
    data = {key: value for key, value in (state or {}).items() if key != "due"}
    data["session"] = current.session.json() if current.session is not None else None
    data["last_mo"] = to_json(current.last_mo) if current.last_mo is not None else None
    data["pending"] = [
        {
            "key": mt.key,
            "at": to_json(mt.at),
            "class": current.pending_class[mt.key].value,
            "bot_id": mt.bot_id,
            "sender": mt.sender,
            "sender_type": mt.sender_type,
            "recipient": mt.recipient,
            "parts": mt.parts,
        }
        for mt in current.pending
    ]
    if current.pending:
        data["due"] = to_json(min(mt.at for mt in current.pending) + DAY)
    return data
