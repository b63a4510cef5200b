"""The runtime `benchmarks/store.py` measures, and what both of its parts share: a small
realistic flow, the real `bots.runtime.Runtime` on a `store.sqlite.SqliteStore` file, a
`FakeClock` (nothing sleeps), and a store subclass that times the three store methods of a
turn and can record each committed turn for the replays of `store_rows.py`.

The flow: a greeting with three reply chips, one `data:` transition that ends the
conversation, an `after: 24h` timer and an `otherwise` that keeps it waiting. Conversation
`i` has the phone `phone_of(i)`; its reply is "Je confirme" (the chip label: the `data:`
transition, the conversation ends) when `i` is even, "Je ne sais pas encore" (`otherwise`:
it stays, its timer is re-armed) when it is odd.
"""

from __future__ import annotations

import cProfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bots.outbox import RecordingSender
from bots.runtime import Runtime
from bots.worker import BotProfile
from messaging.clock import FakeClock
from messaging.inbound import InboundText
from store.records import Claim, Conversation, InboxSource, TurnWrite
from store.sqlite import SqliteStore

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

PHASES = ("claim", "get_conversation", "commit_turn")
"""The store methods of a turn that `TimedStore` times."""
PARTS = (*PHASES, "other")
"""Where a turn's time goes: the three timed store methods, and the rest."""


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


@dataclass(frozen=True, slots=True)
class Phases:
    """ns to handle the N start turns and the N reply turns."""

    start: int
    reply: int

    @property
    def total(self) -> int:
        return self.start + self.reply


async def runtime_phases(
    bench: Bench, conversations: int, profiler: cProfile.Profile | None
) -> Phases:
    """Starts `conversations` conversations, then answers each (`reply_text`), each time
    timing the `Worker.drain()` that handles all of them."""
    runtime = bench.runtime
    for index in range(conversations):
        await runtime.start_conversation(
            BOT, phone_of(index), key=f"start-{index}", contact=CONTACT
        )
    with profiler or nullcontext():
        began = time.perf_counter_ns()
        started = await runtime.worker.drain()
        start_ns = time.perf_counter_ns() - began
    for index in range(conversations):
        message = InboundText(text=reply_text(index))
        await runtime.receive(
            BOT, phone_of(index), message, source=InboxSource.RBM, provider_id=f"msg-{index}"
        )
    with profiler or nullcontext():
        began = time.perf_counter_ns()
        replied = await runtime.worker.drain()
        reply_ns = time.perf_counter_ns() - began
    if started != conversations or replied != conversations or bench.turns != 2 * conversations:
        raise RuntimeError(
            f"expected {conversations} start and reply turns, handled {started} and {replied}, "
            f"committed {bench.turns}"
        )
    return Phases(start_ns, reply_ns)
