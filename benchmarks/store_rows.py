"""The rows each recorded runtime turn wrote, and the two replays of them that the
throughput part of `benchmarks/store.py` times against the runtime.

Each `commit_turn` of the runtime run is recorded (see `store_runtime.TimedStore`). Before
the clock starts, the store's own turn writer (`store.sqlite_turns.write_turn`) is run on a
stand-in connection that keeps the statements it is given: the replays execute the very
SQL and parameters the store executed, so a column the store adds, a new row of a turn or a
changed statement is replayed without a change here. Both replays run through the stdlib
`sqlite3` on a fresh file seeded with the runtime's pending inbox entries:

- `replay_store_sql`: the store's exact statement sequence for the three timed methods, with
  no Python layer around it: `claim` (the pending-entry SELECT, then under the lock the
  SELECT again and the lease INSERT), `get_conversation` (its SELECT) and `commit_turn` (one
  transaction, the turn in a savepoint as the group commit writes it: lease DELETE, inbox
  done, conversation INSERT or compare-and-set UPDATE, outbox, history, business events,
  timer DELETE/INSERT), and the empty claim that ends a drain;
- `replay_bare`: the floor. Only the rows each turn writes (the lease insert, then the
  commit's rows one statement each), one transaction per turn, no reads.

`digest` hashes every table of a file, so that a replayed file can be compared with the
runtime's: a row the runtime writes and the replays do not stops the run.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from benchmarks.store_runtime import RecordedTurn
from store.sqlite import _CLAIMABLE, BUSY_TIMEOUT_MS
from store.sqlite_schema import to_us
from store.sqlite_turns import write_turn

# The store's own statements (`_CLAIMABLE` private on purpose): the replay must run them, and
# a rename fails here at import (and in mypy) instead of replaying stale SQL. The two below
# are written inline in `SqliteStore.claim` and `get_conversation`; they name their columns,
# so a new column does not change them.
_LEASE_TAKE = "INSERT OR REPLACE INTO leases (bot_id, phone, owner, until) VALUES (?, ?, ?, ?)"
_GET_CONVERSATION = (
    "SELECT * FROM conversations WHERE bot_id = ? AND phone = ? AND status != 'ended'"
)

Params = Sequence[Any] | Mapping[str, Any]


def connect(path: Path) -> sqlite3.Connection:
    """A connection set up as `SqliteStore.open` sets up its own (WAL is kept in the file)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA synchronous = NORMAL")
    # As the store: the commit's savepoint keeps its statement journal in memory.
    db.execute("PRAGMA temp_store = MEMORY")
    return db


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement the store ran: `execute(sql, rows[0])`, or `executemany(sql, rows)`."""

    sql: str
    rows: tuple[Params, ...]
    many: bool


class _Recorder:
    """Stands in for the store's connection while its turn writer runs: keeps each statement
    and reports one row changed, which is what the writer checks (the lease it deletes, the
    conversation version it replaces)."""

    rowcount = 1

    def __init__(self) -> None:
        self.statements: list[Statement] = []

    def execute(self, sql: str, params: Params = (), /) -> _Recorder:
        self.statements.append(Statement(sql, (params,), many=False))
        return self

    def executemany(self, sql: str, rows: Sequence[Params], /) -> _Recorder:
        self.statements.append(Statement(sql, tuple(rows), many=True))
        return self


@dataclass(frozen=True, slots=True)
class TurnRows:
    """Parameters of every statement one recorded turn ran, computed before timing."""

    seq: int
    now: int
    lease: tuple[str, str, str, int]
    commit: tuple[Statement, ...]
    """What `commit_turn` ran inside the turn's savepoint, in order."""

    @property
    def writes(self) -> int:
        """Rows written: the lease insert, and one per row of the commit's statements."""
        return 1 + sum(len(statement.rows) for statement in self.commit)


def turn_rows(turn: RecordedTurn) -> TurnRows:
    """What `SqliteStore.claim` and `commit_turn` wrote for this turn, as statements."""
    claim = turn.claim
    recorder = _Recorder()
    write_turn(cast(sqlite3.Connection, recorder), claim, turn.write, turn.now)
    return TurnRows(
        seq=claim.entry.seq,
        now=to_us(turn.now),
        lease=(claim.bot_id, claim.phone, claim.owner, to_us(claim.lease_until)),
        commit=tuple(recorder.statements),
    )


def replay_bare(db: sqlite3.Connection, turns: Sequence[TurnRows]) -> int:
    """The floor: each turn's rows in one transaction, no reads; ns for all turns."""
    execute = db.execute
    began = time.perf_counter_ns()
    for turn in turns:
        execute("BEGIN IMMEDIATE")
        execute(_LEASE_TAKE, turn.lease)
        for statement in turn.commit:
            for row in statement.rows:
                execute(statement.sql, row)
        execute("COMMIT")
    return time.perf_counter_ns() - began


def replay_store_sql(db: sqlite3.Connection, turns: Sequence[TurnRows]) -> int:
    """The store's statement sequence for each turn (and the empty claim that ends a drain),
    without the runtime around it; ns for all turns."""
    execute, executemany = db.execute, db.executemany
    began = time.perf_counter_ns()
    for turn in turns:
        seen = execute(_CLAIMABLE, (turn.now,)).fetchone()
        execute("BEGIN IMMEDIATE")
        claimed = execute(_CLAIMABLE, (turn.now,)).fetchone()
        execute(_LEASE_TAKE, turn.lease)
        execute("COMMIT")
        execute(_GET_CONVERSATION, turn.lease[:2]).fetchone()
        execute("BEGIN IMMEDIATE")
        execute("SAVEPOINT turn")
        # The store checks the lease DELETE and the conversation write changed one row; the
        # other single-row statements of a turn do too.
        diverged = False
        for statement in turn.commit:
            if statement.many:
                executemany(statement.sql, statement.rows)
            elif execute(statement.sql, statement.rows[0]).rowcount != 1:
                diverged = True
        execute("RELEASE turn")
        execute("COMMIT")
        if diverged or seen is None or claimed is None or claimed[0] != turn.seq:
            raise RuntimeError(f"replay of inbox seq {turn.seq} diverged from the runtime")
    if execute(_CLAIMABLE, (turns[-1].now,)).fetchone() is not None:
        raise RuntimeError("events left pending after the replay")
    return time.perf_counter_ns() - began


def seed(db: sqlite3.Connection, source: Path, turns: Sequence[TurnRows], *, flows: bool) -> None:
    """Copies from `source` what the runtime's file held before it handled `turns`: their
    inbox entries, pending (and the flow versions, when `flows`). Both files are in the
    store's schema, so whole rows are copied, whatever their columns."""
    seqs = [turn.seq for turn in turns]
    inbox = [row[1] for row in db.execute("PRAGMA table_info(inbox)")]
    pending = ", ".join("0" if column == "done" else column for column in inbox)
    db.execute("ATTACH DATABASE ? AS runtime", (str(source),))
    try:
        db.execute("BEGIN")
        if flows:
            db.execute("INSERT INTO flow_versions SELECT * FROM runtime.flow_versions")
        sql = f"""INSERT INTO inbox ({", ".join(inbox)}) SELECT {pending} FROM runtime.inbox
            WHERE seq BETWEEN ? AND ? ORDER BY seq"""
        if db.execute(sql, (min(seqs), max(seqs))).rowcount != len(turns):
            raise RuntimeError("the turns of a phase did not handle consecutive inbox entries")
        db.execute("COMMIT")
    finally:
        if db.in_transaction:
            db.execute("ROLLBACK")
        db.execute("DETACH DATABASE runtime")


def digest(path: Path) -> dict[str, str]:
    """A hash of every table's rows (those of the schema and SQLite's own), in full order."""
    db = sqlite3.connect(path)
    try:
        found = {}
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        for (table,) in db.execute(sql).fetchall():
            width = len(db.execute(f"PRAGMA table_info({table})").fetchall())
            order = ", ".join(str(column) for column in range(1, width + 1))
            rows = db.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            found[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
        return found
    finally:
        db.close()
