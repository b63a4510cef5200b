"""Turns per second through the worker and the SQLite store, and whether turns slow down as
the store fills up.

Usage: `python benchmarks/store.py [--json] [--quick] [--large N] [--profile]`

Both parts run the real runtime (`bots.runtime.Runtime` on a `store.sqlite.SqliteStore` file
in a temporary folder, a `FakeClock`, nothing sleeps) on a small realistic flow: a greeting
with three reply chips, one `data:` transition that ends the conversation, an `after: 24h`
timer and an `otherwise` that keeps it waiting.

1. Throughput. N conversations (2,000 by default) are started, then each is sent one text:
   even ones type the chip label "Je confirme" (the `data:` transition, the conversation
   ends), odd ones "Je ne sais pas encore" (`otherwise`: stays, its timer is re-armed). The
   inbound events are appended first (not timed); what is timed is `Worker.drain()`, i.e.
   claim → read the conversation → `engine.step` → `commit_turn`, for 2·N turns. Three
   paths are timed on fresh files, each round in the same run:
   - `runtime`: `Worker.drain()`, everything a production turn does;
   - `store SQL`: the store's exact statement sequence through the stdlib `sqlite3`, with no
     Python layer around it: the claim transaction (pending-entry SELECT, lease INSERT), the
     conversation SELECT, the commit transaction (lease DELETE, inbox done, conversation
     INSERT or compare-and-set UPDATE, outbox, history, timer DELETE/INSERT);
   - `bare writes`: the floor. Only the rows each turn writes (lease insert/delete, inbox
     done, conversation upsert, outbox, history, timers), one transaction per turn, no reads.
   Both replays write the very rows the runtime wrote: each `commit_turn` of the runtime
   run is recorded, its parameters are computed before the clock starts (with the store's
   public row converters, so the JSON payloads are byte for byte the same), and at the end
   every table of the three files is compared; the run stops if they differ.

2. Scale. Two stores are generated with `executemany` straight through `sqlite3`, in the
   schema `SqliteStore` creates: 1,000 and 1,000,000 conversations (`--large`), each with
   the rows a real store keeps after a start and a reply (2 inbox entries, 4 history lines,
   2 sent outbox entries; every second conversation ended, the others waiting with their
   armed timer), payloads copied from a conversation the runtime really ran. Then, turns
   alternating between the two stores, a waiting conversation picked at random is sent a
   text ("Je ne sais pas encore": conversation UPDATE, outbox, history, timer cancel and
   re-arm) and one `Worker.handle_next()` is timed. Reported: µs per turn (median, p95) and
   where it went (median of the store's `claim`, `get_conversation`, `commit_turn`; `other`
   is the rest: the worker and `engine.step`).

Reading the ratios:
- `runtime / bare` = µs per turn through the runtime ÷ µs per turn of the bare writes (the
  same as bare turns/s ÷ runtime turns/s): how many times the floor a real turn costs.
  `store SQL / bare` isolates what the store's statement sequence (two transactions, two
  reads) adds to the floor; the rest up to `runtime / bare` is Python (worker, engine,
  record conversions). Aim: ≤ 5.
- `large / small` = median (and p95) µs per turn with 1,000,000 stored conversations ÷ with
  1,000. About 1.0 means a turn costs the same however full the store is; above ~1.5 a
  statement of the turn grows with the store (a missing index, a scan). Aim: ≤ 1.5.

The script only measures: it exits 0 whatever the numbers.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as `python benchmarks/store.py`, this file's folder is first on sys.path and this
    # module would shadow the `store` package it measures.
    _FOLDER = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _FOLDER]

import argparse
import asyncio
import cProfile
import hashlib
import io
import json
import os
import platform
import pstats
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from bots.outbox import RecordingSender
from bots.runtime import Runtime
from bots.worker import BotProfile
from messaging.clock import FakeClock
from messaging.inbound import InboundText
from store.records import Claim, Conversation, InboxSource, TurnWrite
from store.sqlite import BUSY_TIMEOUT_MS, SqliteStore
from store.sqlite_schema import (
    CONVERSATION_COLUMNS,
    conversation_params,
    history_params,
    outbound_params,
    timer_params,
    to_us,
)

BOT = "rdv"
OWNER = "bench-worker"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CONTACT = {"first_name": "Ana", "last_name": "Dupont"}
CONFIRM = "Je confirme"
UNSURE = "Je ne sais pas encore"

FLOW = """\
flow: rdv
description: Appointment confirmation, for benchmarks/store.py
start: ask
vars: {date: "12 décembre"}
states:
  ask:
    say:
      text: "Bonjour {{ contact.first_name }}, votre rendez-vous du {{ vars.date }}
        tient-il toujours ?"
      suggestions:
        - {reply: Je confirme, data: confirm}
        - {reply: Annuler, data: cancel}
        - {reply: Déplacer, data: move}
    on:
      - data: confirm
        goto: confirmed
      - after: 24h
        say: "Petit rappel : votre rendez-vous du {{ vars.date }} tient-il toujours ?"
    otherwise:
      say: "Je n'ai pas compris. Choisissez une des réponses proposées."
  confirmed: {say: "Merci {{ contact.first_name }}, à bientôt !", end: true}
"""

DEFAULT_CONVERSATIONS = 2000
DEFAULT_ROUNDS = 3
DEFAULT_SMALL = 1000
DEFAULT_LARGE = 1_000_000
DEFAULT_TURNS = 500
DEFAULT_WARMUP = 20
QUICK = {"conversations": 500, "rounds": 2, "large": 10_000, "turns": 200}
TARGET_BARE_RATIO = 5.0
TARGET_SCALE_RATIO = 1.5
GENERATE_BATCH = 10_000
"""Conversations per transaction when generating a store."""
PROFILE_LINES = 30
PHASES = ("claim", "get_conversation", "commit_turn")


MAX_CONVERSATIONS = 90_000_000
"""`phone_of` makes distinct valid numbers below this index."""


def phone_of(index: int) -> str:
    """A distinct valid French mobile number per conversation index."""
    return f"+336{10_000_000 + index}"


def reply_text(index: int) -> str:
    return CONFIRM if index % 2 == 0 else UNSURE


def us_of(ns: int) -> float:
    return ns / 1000


# --- the runtime under test ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedTurn:
    claim: Claim
    write: TurnWrite
    now: datetime


class TimedStore(SqliteStore):
    """The SQLite store, adding up the time spent in the three methods of a turn, and
    optionally recording each committed turn (for the replays). Both cost well under 1 µs a
    call, and every path of the benchmark uses this same class."""

    def __init__(self, path: Path, *, record: bool) -> None:
        super().__init__(path)
        self.spent: dict[str, int] = dict.fromkeys(PHASES, 0)
        self.recorded: list[RecordedTurn] | None = [] if record else None

    async def claim(self, owner: str, now: datetime, lease: timedelta) -> Claim | None:
        began = time.perf_counter_ns()
        try:
            return await super().claim(owner, now, lease)
        finally:
            self.spent["claim"] += time.perf_counter_ns() - began

    async def get_conversation(self, bot_id: str, phone: str) -> Conversation | None:
        began = time.perf_counter_ns()
        try:
            return await super().get_conversation(bot_id, phone)
        finally:
            self.spent["get_conversation"] += time.perf_counter_ns() - began

    async def commit_turn(self, claim: Claim, write: TurnWrite, now: datetime) -> None:
        began = time.perf_counter_ns()
        try:
            await super().commit_turn(claim, write, now)
        finally:
            self.spent["commit_turn"] += time.perf_counter_ns() - began
        if self.recorded is not None:
            self.recorded.append(RecordedTurn(claim, write, now))


@dataclass(slots=True)
class Bench:
    runtime: Runtime
    store: TimedStore
    path: Path

    @property
    def turns(self) -> int:
        return self.runtime.worker.turns


def flow_file(folder: Path) -> Path:
    path = folder / "rdv.yaml"
    if not path.exists():
        path.write_text(FLOW, encoding="utf-8")
    return path


async def open_bench(folder: Path, name: str, *, record: bool = False) -> Bench:
    path = folder / f"{name}.db"
    store = TimedStore(path, record=record)
    runtime = Runtime(
        store,
        {BOT: BotProfile(BOT)},
        {BOT: flow_file(folder)},
        clock=FakeClock(NOW),
        sender=RecordingSender(),
        owner=OWNER,
    )
    await runtime.open()
    return Bench(runtime, store, path)


async def create_schema(path: Path) -> None:
    """An empty file in the store's schema, made by the store itself."""
    store = SqliteStore(path)
    await store.open()
    await store.close()


def connect(path: Path) -> sqlite3.Connection:
    """A connection set up as `SqliteStore.open` sets up its own (WAL is kept in the file)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA synchronous = NORMAL")
    return db


@contextmanager
def profiling(profiler: cProfile.Profile | None) -> Iterator[None]:
    if profiler is None:
        yield
        return
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()


# --- part 1: throughput against the bare writes --------------------------------------------

# The store's statements, copied from store/sqlite.py (its constants are private).
_LEASE_TAKE = "INSERT OR REPLACE INTO leases (bot_id, phone, owner, until) VALUES (?, ?, ?, ?)"
_LEASE_DROP = "DELETE FROM leases WHERE bot_id = ? AND phone = ? AND owner = ? AND until = ?"
_INBOX_DONE = "UPDATE inbox SET done = 1 WHERE seq = ?"
_CONVERSATION_INSERT = (
    f"INSERT INTO conversations ({', '.join(CONVERSATION_COLUMNS)}) "
    f"VALUES ({', '.join(':' + column for column in CONVERSATION_COLUMNS)})"
)
_CONVERSATION_UPDATE = (
    f"UPDATE conversations SET {', '.join(f'{c} = :{c}' for c in CONVERSATION_COLUMNS[1:])} "
    "WHERE id = :id AND version = :version - 1"
)
_OUTBOX_INSERT = """INSERT INTO outbox (key, conversation_id, bot_id, phone, content, channel,
    status, due_at, created_at, history) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, '[]')
    ON CONFLICT (key) DO NOTHING"""
_HISTORY_INSERT = "INSERT INTO history VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING"
_TIMER_CANCEL = "DELETE FROM timers WHERE id = ?"
_TIMER_ARM = "INSERT OR REPLACE INTO timers VALUES (?, ?, ?, ?, ?, ?)"
_CLAIMABLE = """SELECT inbox.* FROM inbox INDEXED BY inbox_pending_seq
    LEFT JOIN leases ON leases.bot_id = inbox.bot_id AND leases.phone = inbox.phone
    WHERE inbox.done = 0 AND (leases.until IS NULL OR leases.until <= ?)
    ORDER BY inbox.seq LIMIT 1"""
_GET_CONVERSATION = (
    "SELECT * FROM conversations WHERE bot_id = ? AND phone = ? AND status != 'ended'"
)


@dataclass(frozen=True, slots=True)
class TurnRows:
    """Parameters of every statement one recorded turn ran, computed before timing."""

    seq: int
    now: int
    lease: tuple[str, str, str, int]
    create: bool
    conversation: dict[str, Any]
    outbox: list[tuple[Any, ...]]
    history: list[tuple[Any, ...]]
    cancel: list[tuple[str]]
    arm: list[tuple[Any, ...]]

    @property
    def writes(self) -> int:
        """Rows written: lease insert and delete, inbox done, conversation, and the lists."""
        lists = (self.outbox, self.history, self.cancel, self.arm)
        return 4 + sum(len(rows) for rows in lists)


def turn_rows(turn: RecordedTurn) -> TurnRows:
    """What `SqliteStore.claim` and `commit_turn` wrote for this turn, as statement params."""
    claim, write, now = turn.claim, turn.write, turn.now
    conversation = replace(write.conversation, last_inbox_seq=claim.entry.seq)
    return TurnRows(
        seq=claim.entry.seq,
        now=to_us(now),
        lease=(claim.bot_id, claim.phone, claim.owner, to_us(claim.lease_until)),
        create=conversation.version == 1,
        conversation=conversation_params(conversation),
        outbox=[outbound_params(conversation, item, now) for item in write.outbound],
        history=[history_params(line) for line in write.history],
        cancel=[(timer_id,) for timer_id in write.cancel],
        arm=[timer_params(timer) for timer in write.arm],
    )


def replay_bare(db: sqlite3.Connection, turns: Sequence[TurnRows]) -> int:
    """The floor: each turn's rows in one transaction, no reads; ns for all turns."""
    execute = db.execute
    began = time.perf_counter_ns()
    for turn in turns:
        execute("BEGIN IMMEDIATE")
        execute(_LEASE_TAKE, turn.lease)
        execute(_LEASE_DROP, turn.lease)
        execute(_INBOX_DONE, (turn.seq,))
        sql = _CONVERSATION_INSERT if turn.create else _CONVERSATION_UPDATE
        execute(sql, turn.conversation)
        for row in turn.outbox:
            execute(_OUTBOX_INSERT, row)
        for row in turn.history:
            execute(_HISTORY_INSERT, row)
        for row in turn.cancel:
            execute(_TIMER_CANCEL, row)
        for row in turn.arm:
            execute(_TIMER_ARM, row)
        execute("COMMIT")
    return time.perf_counter_ns() - began


def replay_store_sql(db: sqlite3.Connection, turns: Sequence[TurnRows]) -> int:
    """The store's statement sequence for each turn (and the empty claim that ends a drain),
    without the runtime around it; ns for all turns."""
    execute, executemany = db.execute, db.executemany
    began = time.perf_counter_ns()
    for turn in turns:
        execute("BEGIN IMMEDIATE")
        claimed = execute(_CLAIMABLE, (turn.now,)).fetchone()
        execute(_LEASE_TAKE, turn.lease)
        execute("COMMIT")
        execute(_GET_CONVERSATION, turn.lease[:2]).fetchone()
        execute("BEGIN IMMEDIATE")
        dropped = execute(_LEASE_DROP, turn.lease).rowcount
        execute(_INBOX_DONE, (turn.seq,))
        sql = _CONVERSATION_INSERT if turn.create else _CONVERSATION_UPDATE
        changed = execute(sql, turn.conversation).rowcount
        executemany(_OUTBOX_INSERT, turn.outbox)
        executemany(_HISTORY_INSERT, turn.history)
        executemany(_TIMER_CANCEL, turn.cancel)
        executemany(_TIMER_ARM, turn.arm)
        execute("COMMIT")
        if claimed is None or claimed[0] != turn.seq or dropped != 1 or changed != 1:
            raise RuntimeError(f"replay of inbox seq {turn.seq} diverged from the runtime")
    execute("BEGIN IMMEDIATE")
    if execute(_CLAIMABLE, (turns[-1].now,)).fetchone() is not None:
        raise RuntimeError("events left pending after the replay")
    execute("COMMIT")
    return time.perf_counter_ns() - began


def seed(db: sqlite3.Connection, source: Path, turns: Sequence[TurnRows], *, flows: bool) -> None:
    """Copies from `source` what the runtime's file held before it handled `turns`: their
    inbox entries, pending (and the flow versions, when `flows`)."""
    read = sqlite3.connect(source)
    try:
        db.execute("BEGIN")
        if flows:
            rows = read.execute("SELECT * FROM flow_versions")
            db.executemany("INSERT INTO flow_versions VALUES (?, ?, ?, ?, ?)", rows)
        sql = """SELECT seq, source, provider_id, bot_id, phone, event, received_at FROM inbox
            WHERE seq BETWEEN ? AND ? ORDER BY seq"""
        seqs = [turn.seq for turn in turns]
        entries = read.execute(sql, (min(seqs), max(seqs))).fetchall()
        if len(entries) != len(turns):
            raise RuntimeError("the turns of a phase did not handle consecutive inbox entries")
        db.executemany("INSERT INTO inbox VALUES (?, ?, ?, ?, ?, ?, ?, 0)", entries)
        db.execute("COMMIT")
    finally:
        read.close()


TABLES = (
    "flow_versions",
    "conversations",
    "inbox",
    "leases",
    "timers",
    "outbox",
    "history",
    "sqlite_sequence",
)


def digest(path: Path) -> dict[str, str]:
    """A hash of every table's rows, in key order."""
    db = sqlite3.connect(path)
    try:
        found = {}
        for table in TABLES:
            text = repr(db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall())
            found[table] = hashlib.sha256(text.encode()).hexdigest()
        return found
    finally:
        db.close()


@dataclass(frozen=True, slots=True)
class Phases:
    """ns to handle the N start turns and the N reply turns."""

    start: int
    reply: int

    @property
    def total(self) -> int:
        return self.start + self.reply


@dataclass(frozen=True, slots=True)
class Round:
    runtime: Phases
    store_sql: Phases
    bare: Phases
    spent: dict[str, int]
    """ns the runtime spent in each timed store method, over both phases."""
    writes: int
    """Rows written by all the turns (see `TurnRows.writes`)."""


async def runtime_phases(
    bench: Bench, conversations: int, profiler: cProfile.Profile | None
) -> Phases:
    runtime = bench.runtime
    for index in range(conversations):
        await runtime.start_conversation(
            BOT, phone_of(index), key=f"start-{index}", contact=CONTACT
        )
    with profiling(profiler):
        began = time.perf_counter_ns()
        started = await runtime.worker.drain()
        start_ns = time.perf_counter_ns() - began
    for index in range(conversations):
        message = InboundText(text=reply_text(index))
        await runtime.receive(
            BOT, phone_of(index), message, source=InboxSource.RBM, provider_id=f"msg-{index}"
        )
    with profiling(profiler):
        began = time.perf_counter_ns()
        replied = await runtime.worker.drain()
        reply_ns = time.perf_counter_ns() - began
    if started != conversations or replied != conversations or bench.turns != 2 * conversations:
        raise RuntimeError(
            f"expected {conversations} start and reply turns, handled {started} and {replied}, "
            f"committed {bench.turns}"
        )
    return Phases(start_ns, reply_ns)


async def throughput_round(
    folder: Path, conversations: int, profiler: cProfile.Profile | None = None
) -> Round:
    folder.mkdir()
    bench = await open_bench(folder, "runtime", record=True)
    try:
        runtime = await runtime_phases(bench, conversations, profiler)
    finally:
        await bench.runtime.close()
    recorded = bench.store.recorded or []
    turns = [turn_rows(turn) for turn in recorded]
    results: dict[str, Phases] = {}
    for name, replay in (("store_sql", replay_store_sql), ("bare", replay_bare)):
        path = folder / f"{name}.db"
        await create_schema(path)
        db = connect(path)
        try:
            phases = []
            for first, phase in enumerate((turns[:conversations], turns[conversations:])):
                seed(db, bench.path, phase, flows=first == 0)
                phases.append(replay(db, phase))
            start, reply = phases
        finally:
            db.close()
        results[name] = Phases(start, reply)
        if digest(path) != digest(bench.path):
            raise RuntimeError(f"the {name} replay did not write the rows the runtime wrote")
    return Round(
        runtime=runtime,
        store_sql=results["store_sql"],
        bare=results["bare"],
        spent=dict(bench.store.spent),
        writes=sum(turn.writes for turn in turns),
    )


def remove_folder(folder: Path) -> None:
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


@dataclass(frozen=True, slots=True)
class Throughput:
    conversations: int
    rounds: list[Round]

    @property
    def turns(self) -> int:
        return 2 * self.conversations

    def best(self, path: str) -> Round:
        """The round in which `path` was fastest."""
        return min(self.rounds, key=lambda r: self.phases(r, path).total)

    @staticmethod
    def phases(found: Round, path: str) -> Phases:
        phases: Phases = getattr(found, path)
        return phases

    def best_ns(self, path: str) -> Phases:
        return self.phases(self.best(path), path)

    def median_total(self, path: str) -> float:
        return statistics.median(self.phases(r, path).total for r in self.rounds)

    def us_per_turn(self, path: str) -> float:
        return us_of(self.best_ns(path).total) / self.turns

    def turns_per_s(self, path: str, phase: str = "total") -> float:
        phases = self.best_ns(path)
        ns: int = getattr(phases, phase)
        count = self.turns if phase == "total" else self.conversations
        return count / (ns / 1e9)

    def ratio(self, path: str) -> float:
        """µs/turn of `path` over µs/turn of the bare writes (best rounds)."""
        return self.best_ns(path).total / self.best_ns("bare").total

    def breakdown(self) -> dict[str, float]:
        """µs per turn in each store method and the rest, in the runtime's best round."""
        best = self.best("runtime")
        spent = {phase: us_of(ns) / self.turns for phase, ns in best.spent.items()}
        spent["other"] = us_of(best.runtime.total) / self.turns - sum(spent.values())
        return spent

    def writes_per_turn(self) -> float:
        return self.rounds[0].writes / self.turns


PATHS = {"runtime": "runtime", "store_sql": "store SQL", "bare": "bare writes"}
"""runtime: Worker.drain; store SQL: the store's statements alone; bare writes: the floor."""


async def measure_throughput(
    root: Path, conversations: int, rounds: int, console: Console
) -> Throughput:
    found = []
    with console.status("throughput rounds…"):
        for index in range(rounds):
            folder = root / f"throughput-{index}"
            found.append(await throughput_round(folder, conversations))
            remove_folder(folder)
    return Throughput(conversations, found)


# --- part 2: turn latency in a small and a large store --------------------------------------


@dataclass(frozen=True, slots=True)
class ConversationTemplate:
    """The rows of one conversation the runtime really ran, to be copied N times."""

    conversation: tuple[Any, ...]
    phone: str
    contact: str
    inbox: list[tuple[str, str]]
    """(source, event JSON) of its 2 inbox entries: the start and the reply."""
    history: list[tuple[str, str, str]]
    """(key format, direction, body); `{0}` / `{1}` stand for the start / reply seq."""
    outbox: list[tuple[str, str, str]]
    """(key format, content, channel)."""
    timers: list[tuple[str, int]]
    """(key, due minus the turn's time, µs)."""


_COLUMN = {name: index for index, name in enumerate(CONVERSATION_COLUMNS)}


def key_format(key: str, position: int, seqs: Sequence[int]) -> str:
    """`in:12` → `in:{0}` when 12 is the conversation's first seq: the seq part of a key."""
    parts = key.split(":")
    parts[position] = "{%d}" % seqs.index(int(parts[position]))  # noqa: UP031
    return ":".join(parts)


def read_template(db: sqlite3.Connection, index: int) -> ConversationTemplate:
    phone = phone_of(index)
    row = db.execute("SELECT * FROM conversations WHERE phone = ?", (phone,)).fetchone()
    conversation = tuple(row[column] for column in CONVERSATION_COLUMNS)
    inbox = db.execute("SELECT * FROM inbox WHERE phone = ? ORDER BY seq", (phone,)).fetchall()
    seqs = [entry["seq"] for entry in inbox]
    if len(seqs) != 2 or row["id"] != f"{BOT}-{seqs[0]}":
        raise RuntimeError(f"template conversation {index}: unexpected rows")
    history = db.execute(
        "SELECT * FROM history WHERE conversation_id = ? ORDER BY rowid", (row["id"],)
    ).fetchall()
    outbox = db.execute(
        "SELECT * FROM outbox WHERE conversation_id = ? ORDER BY rowid", (row["id"],)
    ).fetchall()
    timers = db.execute("SELECT * FROM timers WHERE conversation_id = ?", (row["id"],)).fetchall()
    return ConversationTemplate(
        conversation=conversation,
        phone=phone,
        contact=row["contact"],
        inbox=[(entry["source"], entry["event"]) for entry in inbox],
        history=[(key_format(h["key"], 1, seqs), h["direction"], h["body"]) for h in history],
        outbox=[(key_format(o["key"], 0, seqs), o["content"], o["channel"]) for o in outbox],
        timers=[(t["key"], t["due_at"] - row["updated_at"]) for t in timers],
    )


async def make_templates(folder: Path) -> tuple[ConversationTemplate, ConversationTemplate]:
    """An ended and a waiting conversation, each after a start and a reply turn."""
    folder.mkdir()
    bench = await open_bench(folder, "template")
    try:
        await runtime_phases(bench, 2, None)
    finally:
        await bench.runtime.close()
    db = sqlite3.connect(bench.path)
    db.row_factory = sqlite3.Row
    try:
        ended, waiting = read_template(db, 0), read_template(db, 1)
    finally:
        db.close()
    if ended.conversation[_COLUMN["status"]] != "ended" or not waiting.timers:
        raise RuntimeError("the template conversations did not end / wait as expected")
    return ended, waiting


_GENERATE = {
    "conversations": (
        f"INSERT INTO conversations ({', '.join(CONVERSATION_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in CONVERSATION_COLUMNS)})"
    ),
    "inbox": """INSERT INTO inbox (seq, source, provider_id, bot_id, phone, event, received_at,
        done) VALUES (?, ?, ?, ?, ?, ?, ?, 1)""",
    "history": "INSERT INTO history (key, conversation_id, direction, body, at) "
    "VALUES (?, ?, ?, ?, ?)",
    "outbox": """INSERT INTO outbox (key, conversation_id, bot_id, phone, content, channel,
        status, due_at, created_at, attempts, provider_id, history, lease_owner, lease_until)
        VALUES (?, ?, ?, ?, ?, ?, 'sent', ?, ?, 1, ?, ?, ?, ?)""",
    "timers": "INSERT INTO timers (id, conversation_id, bot_id, phone, key, due_at) "
    "VALUES (?, ?, ?, ?, ?, ?)",
}
SPAN = timedelta(hours=20)
"""Generated conversations started within this span before the clock's now (so no armed
24 h timer is due during the run)."""
LEASE_US = 30_000_000
SENT_HISTORY = json.dumps(
    [{"at": NOW.isoformat(), "status": "sent", "detail": None}],
    ensure_ascii=False,
    separators=(",", ":"),
)


def generated_rows(
    templates: Sequence[ConversationTemplate], first: int, last: int, size: int
) -> dict[str, list[tuple[Any, ...]]]:
    """Rows of conversations `first` to `last - 1` of a store of `size`: even indexes ended,
    odd ones waiting; conversation i has inbox seqs 2i+1 and 2i+2."""
    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in _GENERATE}
    conversations, inbox, history = rows["conversations"], rows["inbox"], rows["history"]
    outbox, timers = rows["outbox"], rows["timers"]
    base = to_us(NOW - SPAN)
    step = (to_us(NOW) - base) // max(size, 1)
    id_at, phone_at, contact_at = _COLUMN["id"], _COLUMN["phone"], _COLUMN["contact"]
    seq_at, created_at, updated_at = (
        _COLUMN["last_inbox_seq"],
        _COLUMN["created_at"],
        _COLUMN["updated_at"],
    )
    for index in range(first, last):
        template = templates[index % 2]
        seqs = (2 * index + 1, 2 * index + 2)
        conversation_id = f"{BOT}-{seqs[0]}"
        phone = phone_of(index)
        at = base + index * step
        values = list(template.conversation)
        values[id_at] = conversation_id
        values[phone_at] = phone
        values[contact_at] = template.contact.replace(template.phone, phone)
        values[seq_at] = seqs[1]
        values[created_at] = values[updated_at] = at
        conversations.append(tuple(values))
        for seq, (source, event) in zip(seqs, template.inbox, strict=True):
            inbox.append((seq, source, f"gen-{seq}", BOT, phone, event, at))
        for key, direction, body in template.history:
            history.append((key.format(*seqs), conversation_id, direction, body, at))
        for key_fmt, content, channel in template.outbox:
            key = key_fmt.format(*seqs)
            sent = (f"gen-{key}", SENT_HISTORY, OWNER, at + LEASE_US)
            outbox.append((key, conversation_id, BOT, phone, content, channel, at, at, *sent))
        for key, due in template.timers:
            timers.append((f"{conversation_id}/{key}", conversation_id, BOT, phone, key, at + due))
    return rows


@dataclass(frozen=True, slots=True)
class Generated:
    conversations: int
    rows: int
    seconds: float
    megabytes: float


async def generate_store(
    path: Path,
    size: int,
    templates: Sequence[ConversationTemplate],
    progress: Progress,
) -> Generated:
    """A store of `size` conversations, schema by `SqliteStore`, rows by `executemany`."""
    await create_schema(path)
    began = time.perf_counter()
    task = progress.add_task(f"{size:,} conversations", total=size)
    db = sqlite3.connect(path, isolation_level=None)
    rows = 0
    try:
        db.execute("PRAGMA synchronous = OFF")  # a crash only loses the benchmark's file
        db.execute("PRAGMA cache_size = -524288")  # 512 MiB: index inserts stay in memory
        for first in range(0, size, GENERATE_BATCH):
            last = min(size, first + GENERATE_BATCH)
            batch = generated_rows(templates, first, last, size)
            db.execute("BEGIN")
            for table, table_rows in batch.items():
                db.executemany(_GENERATE[table], table_rows)
                rows += len(table_rows)
            db.execute("COMMIT")
            progress.update(task, completed=last)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    seconds = time.perf_counter() - began
    megabytes = sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6
    return Generated(size, rows, seconds, megabytes)


@dataclass(frozen=True, slots=True)
class Latencies:
    generated: Generated
    total: list[float]
    """µs per turn."""
    spent: dict[str, list[float]]
    """µs per turn in each store method, and `other`."""

    @property
    def median(self) -> float:
        return statistics.median(self.total)

    @property
    def p95(self) -> float:
        return percentile(self.total, 95)

    def part(self, name: str) -> float:
        return statistics.median(self.spent[name])


def percentile(values: Sequence[float], rank: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[rank - 1]


@dataclass(frozen=True, slots=True)
class Scale:
    small: Latencies
    large: Latencies
    turns: int
    warmup: int

    def ratio(self, which: str = "median") -> float:
        large: float = getattr(self.large, which)
        small: float = getattr(self.small, which)
        return large / small


async def timed_turn(
    bench: Bench, index: int, provider_id: str, profiler: cProfile.Profile | None = None
) -> tuple[int, dict[str, int]]:
    """Sends conversation `index` a text, then times the one turn that handles it."""
    message = InboundText(text=UNSURE)
    await bench.runtime.receive(
        BOT, phone_of(index), message, source=InboxSource.RBM, provider_id=provider_id
    )
    before, turns = dict(bench.store.spent), bench.turns
    with profiling(profiler):
        began = time.perf_counter_ns()
        handled = await bench.runtime.worker.handle_next()
        elapsed = time.perf_counter_ns() - began
    if not handled or bench.turns != turns + 1:
        raise RuntimeError(f"the text to conversation {index} was not handled as a turn")
    return elapsed, {name: bench.store.spent[name] - before[name] for name in PHASES}


async def measure_scale(
    root: Path,
    small: int,
    large: int,
    turns: int,
    warmup: int,
    seed: int,
    console: Console,
    profiler: cProfile.Profile | None = None,
) -> Scale:
    templates = await make_templates(root / "template")
    folder = root / "scale"
    folder.mkdir()
    generated: list[Generated] = []
    columns = (
        TextColumn("generating {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        for size in (small, large):
            generated.append(
                await generate_store(folder / f"store-{size}.db", size, templates, progress)
            )
    benches = [await open_bench(folder, f"store-{size}") for size in (small, large)]
    rng = random.Random(seed)
    totals: list[list[float]] = [[], []]
    spent: list[dict[str, list[float]]] = [
        {name: [] for name in (*PHASES, "other")} for _ in benches
    ]
    try:
        with console.status(f"timing {turns:,} turns in each store…"):
            for turn in range(warmup + turns):
                # Alternate which store goes first, so that neither always follows the other.
                order = (0, 1) if turn % 2 == 0 else (1, 0)
                for which in order:
                    bench, size = benches[which], generated[which].conversations
                    waiting = 2 * rng.randrange(size // 2) + 1  # odd indexes are waiting
                    elapsed, parts = await timed_turn(bench, waiting, f"bench-{turn}")
                    if turn < warmup:
                        continue
                    totals[which].append(us_of(elapsed))
                    for name, ns in parts.items():
                        spent[which][name].append(us_of(ns))
                    spent[which]["other"].append(us_of(elapsed - sum(parts.values())))
        if profiler is not None:
            with console.status("profiling turns in the large store…"):
                for turn in range(turns):
                    waiting = 2 * rng.randrange(large // 2) + 1
                    await timed_turn(benches[1], waiting, f"profile-{turn}", profiler)
    finally:
        for bench in benches:
            await bench.runtime.close()
    return Scale(
        small=Latencies(generated[0], totals[0], spent[0]),
        large=Latencies(generated[1], totals[1], spent[1]),
        turns=turns,
        warmup=warmup,
    )


# --- output -------------------------------------------------------------------------------


@dataclass(slots=True)
class Report:
    throughput: Throughput | None = None
    scale: Scale | None = None
    profiles: dict[str, str] = field(default_factory=dict)


def throughput_json(found: Throughput) -> dict[str, Any]:
    return {
        "conversations": found.conversations,
        "turns": found.turns,
        "rounds": len(found.rounds),
        "writes_per_turn": round(found.writes_per_turn(), 2),
        "paths": {
            path: {
                "turns_per_s": round(found.turns_per_s(path)),
                "start_turns_per_s": round(found.turns_per_s(path, "start")),
                "reply_turns_per_s": round(found.turns_per_s(path, "reply")),
                "us_per_turn": round(found.us_per_turn(path), 1),
                "median_us_per_turn": round(
                    us_of(round(found.median_total(path))) / found.turns, 1
                ),
                "ratio_to_bare": round(found.ratio(path), 2),
            }
            for path in PATHS
        },
        "runtime_us_per_turn_in": {k: round(v, 1) for k, v in found.breakdown().items()},
        "ratio": round(found.ratio("runtime"), 2),
        "ratio_of": "µs/turn runtime (Worker.drain) / µs/turn bare writes, best rounds",
        "target": {
            "max_ratio": TARGET_BARE_RATIO,
            "met": found.ratio("runtime") <= TARGET_BARE_RATIO,
        },
    }


def latencies_json(found: Latencies) -> dict[str, Any]:
    g = found.generated
    return {
        "conversations": g.conversations,
        "rows": g.rows,
        "megabytes": round(g.megabytes, 1),
        "generate_s": round(g.seconds, 1),
        "median_us": round(found.median, 1),
        "p95_us": round(found.p95, 1),
        "median_us_in": {name: round(found.part(name), 1) for name in (*PHASES, "other")},
    }


def scale_json(found: Scale) -> dict[str, Any]:
    return {
        "turns": found.turns,
        "warmup": found.warmup,
        "small": latencies_json(found.small),
        "large": latencies_json(found.large),
        "ratio": round(found.ratio(), 2),
        "p95_ratio": round(found.ratio("p95"), 2),
        "ratio_of": "median µs/turn, large store / small store",
        "target": {"max_ratio": TARGET_SCALE_RATIO, "met": found.ratio() <= TARGET_SCALE_RATIO},
    }


def as_json(report: Report) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if report.throughput is not None:
        found["throughput"] = throughput_json(report.throughput)
    if report.scale is not None:
        found["scale"] = scale_json(report.scale)
    found.update(
        sqlite=sqlite3.sqlite_version,
        python=platform.python_version(),
        cores=os.cpu_count(),
    )
    return found


def _ratio_cell(ratio: float, target: float) -> str:
    style = "green" if ratio <= target else "red"
    return f"[{style}]{ratio:.2f}×[/]"


def throughput_table(found: Throughput) -> Table:
    table = Table(
        title=(
            f"Throughput: {found.conversations:,} conversations × (start + reply) = "
            f"{found.turns:,} turns, best of {len(found.rounds)} rounds"
        ),
        caption=(
            "runtime = Worker.drain; store SQL = the store's statements alone; bare writes = "
            f"the {found.writes_per_turn():.1f} rows a turn writes, one transaction per turn. "
            "start/s, reply/s, turns/s and µs/turn from the best round, median = median "
            "µs/turn of the rounds; × bare = µs/turn ÷ µs/turn of the bare writes, target "
            f"runtime ≤ {TARGET_BARE_RATIO:g}×"
        ),
    )
    table.add_column("path")
    for name in ("start/s", "reply/s", "turns/s", "µs/turn", "median", "× bare"):
        table.add_column(name, justify="right")
    for path, label in PATHS.items():
        median_us = us_of(round(found.median_total(path))) / found.turns
        table.add_row(
            label,
            f"{found.turns_per_s(path, 'start'):,.0f}",
            f"{found.turns_per_s(path, 'reply'):,.0f}",
            f"{found.turns_per_s(path):,.0f}",
            f"{found.us_per_turn(path):,.1f}",
            f"{median_us:,.1f}",
            _ratio_cell(found.ratio(path), TARGET_BARE_RATIO)
            if path == "runtime"
            else f"{found.ratio(path):.2f}×",
        )
    return table


def breakdown_table(found: Throughput) -> Table:
    parts = found.breakdown()
    total = sum(parts.values())
    table = Table(title="Where a runtime turn goes (best round, µs per turn)")
    for name in (*PARTS, "total"):
        table.add_column(name, justify="right")
    table.add_row(
        *(f"{parts[name]:,.1f} ({parts[name] / total:.0%})" for name in PARTS), f"{total:,.1f}"
    )
    return table


PARTS = (*PHASES, "other")


def scale_table(found: Scale) -> Table:
    table = Table(
        title=(
            f"Turn latency by store size: {found.turns:,} turns in each (after "
            f"{found.warmup} warm-up), a random waiting conversation each"
        ),
        caption=(
            "µs per turn (Worker.handle_next: claim → step → commit); rows of all tables; "
            f"× = large / small, target median ≤ {TARGET_SCALE_RATIO:g}×"
        ),
    )
    for name in ("conversations", "rows", "MB", "generate s", "median µs", "p95 µs"):
        table.add_column(name, justify="right")
    for found_at in (found.small, found.large):
        g = found_at.generated
        table.add_row(
            f"{g.conversations:,}",
            f"{g.rows:,}",
            f"{g.megabytes:,.0f}",
            f"{g.seconds:,.1f}",
            f"{found_at.median:,.1f}",
            f"{found_at.p95:,.1f}",
        )
    table.add_row(
        "×",
        "",
        "",
        "",
        _ratio_cell(found.ratio(), TARGET_SCALE_RATIO),
        f"{found.ratio('p95'):.2f}×",
        end_section=True,
    )
    return table


def scale_parts_table(found: Scale) -> Table:
    table = Table(
        title="Where a scale turn goes (medians, µs per turn)",
        caption="other = the worker and engine.step, outside the three store methods",
    )
    table.add_column("conversations", justify="right")
    for name in PARTS:
        table.add_column(name, justify="right")
    for found_at in (found.small, found.large):
        parts = (f"{found_at.part(name):,.1f}" for name in PARTS)
        table.add_row(f"{found_at.generated.conversations:,}", *parts)
    ratios = (f"{found.large.part(name) / found.small.part(name):.2f}×" for name in PARTS)
    table.add_row("×", *ratios, end_section=True)
    return table


def print_report(report: Report, console: Console) -> None:
    lines = []
    if report.throughput is not None:
        found = report.throughput
        console.print(throughput_table(found))
        console.print(breakdown_table(found))
        lines.append(
            f"runtime / bare = {found.ratio('runtime'):.2f}× "
            f"({found.turns_per_s('runtime'):,.0f} vs {found.turns_per_s('bare'):,.0f} turns/s); "
            f"store SQL / bare = {found.ratio('store_sql'):.2f}×"
        )
    if report.scale is not None:
        scale = report.scale
        console.print(scale_table(scale))
        console.print(scale_parts_table(scale))
        lines.append(
            f"{scale.large.generated.conversations:,} / {scale.small.generated.conversations:,} "
            f"conversations = {scale.ratio():.2f}× median ({scale.large.median:,.1f} vs "
            f"{scale.small.median:,.1f} µs/turn), {scale.ratio('p95'):.2f}× p95"
        )
    for line in lines:
        console.print(line)
    console.print(
        f"SQLite {sqlite3.sqlite_version}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores"
    )
    for name, text in report.profiles.items():
        # Plain print: pstats lines are wider than a table and must not be wrapped.
        print(f"\n--- cProfile: {name}\n{text}", file=console.file, flush=True)


def profile_text(profiler: cProfile.Profile) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats(pstats.SortKey.TIME).print_stats(PROFILE_LINES)
    return out.getvalue()


# --- the run ------------------------------------------------------------------------------


async def run(args: argparse.Namespace, console: Console) -> Report:
    report = Report()
    with tempfile.TemporaryDirectory(prefix="causette-bench-", dir=args.dir) as name:
        root = Path(name)
        if args.part in ("all", "throughput"):
            report.throughput = await measure_throughput(
                root, args.conversations, args.rounds, console
            )
            if args.profile:
                drains = cProfile.Profile()
                folder = root / "throughput-profile"
                with console.status("profiling a throughput round…"):
                    await throughput_round(folder, args.conversations, drains)
                remove_folder(folder)
                report.profiles["runtime turns (throughput, Worker.drain)"] = profile_text(drains)
        if args.part in ("all", "scale"):
            profiler = cProfile.Profile() if args.profile else None
            report.scale = await measure_scale(
                root,
                args.small,
                args.large,
                args.turns,
                args.warmup,
                args.seed,
                console,
                profiler,
            )
            if profiler is not None:
                report.profiles[f"turns in the store of {args.large:,}"] = profile_text(profiler)
    return report


# --- command line -------------------------------------------------------------------------


def positive(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {text}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Turns per second of the worker on the SQLite store, against the bare SQLite "
            "writes of the same rows (ratio runtime / bare), and turn latency with 1,000 vs "
            "1,000,000 stored conversations (ratio large / small). Always exits 0 after a "
            "successful run."
        )
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object, no table")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=(
            f"a fast smoke run: {QUICK['conversations']} conversations, {QUICK['rounds']} "
            f"rounds, {QUICK['large']:,} vs {DEFAULT_SMALL:,} conversations, "
            f"{QUICK['turns']} turns (options given explicitly still apply)"
        ),
    )
    parser.add_argument(
        "--part",
        choices=("all", "throughput", "scale"),
        default="all",
        help="run only one part (default: all)",
    )
    parser.add_argument(
        "--conversations",
        type=positive,
        help=f"throughput: conversations, each started then answered (default: "
        f"{DEFAULT_CONVERSATIONS:,})",
    )
    parser.add_argument(
        "--rounds",
        type=positive,
        help=f"throughput: rounds on fresh files; the best is reported (default: {DEFAULT_ROUNDS})",
    )
    parser.add_argument(
        "--small",
        type=positive,
        default=DEFAULT_SMALL,
        help=f"scale: conversations in the small store (default: {DEFAULT_SMALL:,})",
    )
    parser.add_argument(
        "--large",
        type=positive,
        help=f"scale: conversations in the large store (default: {DEFAULT_LARGE:,})",
    )
    parser.add_argument(
        "--turns",
        type=positive,
        help=f"scale: timed turns in each store (default: {DEFAULT_TURNS})",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=DEFAULT_WARMUP,
        help=f"scale: untimed turns first (default: {DEFAULT_WARMUP})",
    )
    parser.add_argument("--seed", type=int, default=1, help="scale: picks conversations")
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to make the temporary folder (default: the system's; the large store "
        "takes ~2.7 GB per million conversations); it is removed at the end",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run one untimed throughput round and the scale turns again in the large "
        "store under cProfile, and print the top functions by own time",
    )
    args = parser.parse_args(argv)
    for name, default in (
        ("conversations", DEFAULT_CONVERSATIONS),
        ("rounds", DEFAULT_ROUNDS),
        ("large", DEFAULT_LARGE),
        ("turns", DEFAULT_TURNS),
    ):
        if getattr(args, name) is None:
            setattr(args, name, QUICK[name] if args.quick else default)
    if not 2 <= min(args.small, args.large) <= max(args.small, args.large) < MAX_CONVERSATIONS:
        parser.error(f"each store needs 2 to {MAX_CONVERSATIONS - 1:,} conversations")
    if args.warmup < 0:
        parser.error("--warmup must be 0 or more")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Progress and status go to stderr, so that --json leaves stdout to the JSON object.
    progress_console = Console(stderr=True)
    report = asyncio.run(run(args, progress_console))
    if args.json:
        print(json.dumps(as_json(report), ensure_ascii=False, indent=2))
        for name, text in report.profiles.items():
            print(f"--- cProfile: {name}\n{text}", file=sys.stderr)
    else:
        print_report(report, Console())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
