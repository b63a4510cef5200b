"""A turn's writes on SQLite, and their group commit (`SqliteStore.commit_turn`).

A turn gives its lease back, marks its inbox entry done, writes the conversation (version 1, or
the next version over the stored one), its outgoing messages, transcript lines, business events
and timers: all in the transaction `commit_turns` opens for the turns that reached the store in
the same turn of the event loop, each turn in a savepoint, so that one turn's lost lease or
stale version undoes that turn alone. `benchmarks/store_rows.py` replays `write_turn`'s exact
statements as its baseline.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from store.base import LeaseLost, StoreError, VersionConflict
from store.records import Claim, Conversation, TurnWrite
from store.sqlite_business_events import insert_business_events
from store.sqlite_outbox import insert_outbound
from store.sqlite_schema import (
    CONVERSATION_COLUMNS,
    conversation_params,
    history_params,
    timer_params,
    to_us,
    transaction,
)

_INSERT_CONVERSATION = (
    f"INSERT INTO conversations ({', '.join(CONVERSATION_COLUMNS)}) "
    f"VALUES ({', '.join(':' + column for column in CONVERSATION_COLUMNS)})"
)
# Only the columns a turn or a migration can change: rewriting `bot_id`/`phone` would also
# rewrite their index entries on every turn (one WAL page more per commit, measured).
_MUTABLE_COLUMNS = [
    c for c in CONVERSATION_COLUMNS[1:] if c not in ("bot_id", "phone", "created_at")
]
_UPDATE_CONVERSATION = (
    f"UPDATE conversations SET {', '.join(f'{c} = :{c}' for c in _MUTABLE_COLUMNS)} "
    "WHERE id = :id AND version = :version - 1"
)
# A claim's `lease_until` is its fencing token: a later claim by the same owner (after this
# one expired) has another, so a stale claim cannot commit over it.
HELD = "bot_id = ? AND phone = ? AND owner = ? AND until = ?"
INSERT_HISTORY = "INSERT INTO history VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING"
_ARM_TIMER = "INSERT OR REPLACE INTO timers VALUES (?, ?, ?, ?, ?, ?)"


def put_conversation(db: sqlite3.Connection, conversation: Conversation, *, create: bool) -> None:
    """Insert version 1, or replace the stored version with the next one."""
    params = conversation_params(conversation)
    try:
        if create:
            db.execute(_INSERT_CONVERSATION, params)
            return
        if db.execute(_UPDATE_CONVERSATION, params).rowcount == 1:
            return
    except sqlite3.IntegrityError as error:
        # The id exists already, or another live conversation holds this bot and phone: the
        # caller decided on a stale read either way.
        raise VersionConflict(f"conversation {conversation.id}: {error}") from error
    raise VersionConflict(
        f"conversation {conversation.id}: version {conversation.version} does not follow the "
        "stored one"
    )


@dataclass(frozen=True, slots=True)
class PendingTurn:
    claim: Claim
    write: TurnWrite
    now: datetime
    done: asyncio.Future[None]


def write_turn(db: sqlite3.Connection, claim: Claim, write: TurnWrite, now: datetime) -> None:
    c = replace(write.conversation, last_inbox_seq=claim.entry.seq)
    finish(db, claim)
    put_conversation(db, c, create=c.version == 1)
    insert_outbound(db, c, write.outbound, now)
    db.executemany(INSERT_HISTORY, [history_params(h) for h in write.history])
    insert_business_events(db, write.events)
    # Cancel before arming, so an id in both lists ends armed, as the later intent.
    db.executemany("DELETE FROM timers WHERE id = ?", [(i,) for i in write.cancel])
    db.executemany(_ARM_TIMER, [timer_params(t) for t in write.arm])


def finish(db: sqlite3.Connection, claim: Claim) -> None:
    """Inside a unit: give the lease back (`LeaseLost` if it is not this claim's any more)
    and mark the claimed entry done. A later failure in the unit rolls both back."""
    if db.execute(f"DELETE FROM leases WHERE {HELD}", held(claim)).rowcount != 1:
        raise LeaseLost(lost(claim))
    db.execute("UPDATE inbox SET done = 1 WHERE seq = ?", (claim.entry.seq,))


def held(claim: Claim) -> tuple[str, str, str, int]:
    return (claim.bot_id, claim.phone, claim.owner, to_us(claim.lease_until))


def lost(claim: Claim) -> str:
    return f"{claim.owner} no longer holds {claim.bot_id}/{claim.phone} (entry {claim.entry.seq})"


def commit_turns(db: sqlite3.Connection, turns: Sequence[PendingTurn]) -> None:
    """Write `turns` in one transaction, each in a savepoint of its own, and settle each
    turn's future: done, or the `StoreError` of that turn alone (its savepoint rolled back),
    or the batch's error when the whole transaction failed (none was written)."""
    outcomes: list[StoreError | None] = []
    try:
        with transaction(db):
            for turn in turns:
                db.execute("SAVEPOINT turn")
                try:
                    write_turn(db, turn.claim, turn.write, turn.now)
                    outcomes.append(None)
                except StoreError as error:  # LeaseLost, VersionConflict: this turn only
                    db.execute("ROLLBACK TO turn")
                    outcomes.append(error)
                db.execute("RELEASE turn")
    except Exception as error:  # the whole batch failed: none of its turns was written
        for turn in turns:
            if not turn.done.done():
                turn.done.set_exception(error)
        return
    for turn, outcome in zip(turns, outcomes, strict=True):
        if turn.done.done():  # its caller was cancelled; the turn is written all the same
            continue
        if outcome is None:
            turn.done.set_result(None)
        else:
            turn.done.set_exception(outcome)
