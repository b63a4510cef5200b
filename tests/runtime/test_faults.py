"""Crash at every write of a conversation's life, restart, and check nothing is lost or doubled.

A `FaultyStore` dies at its k-th write, before or after the write reaches the database, and
stays dead like a killed process. The scenario then resumes on a fresh runtime (another
owner, the dead one's leases expired), redoing the step that was interrupted as a provider
would retry an unacknowledged webhook. Whatever k, the conversation's outbox must end exactly
as in a run without faults: every reply produced once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import wraps
from pathlib import Path
from typing import Any

from bots.conversations import outbox_key
from bots.runtime import Runtime
from messaging.clock import FakeClock
from messaging.inbound import InboundText
from store.records import InboxSource
from store.sqlite import SqliteStore
from tests.runtime.conftest import PHONE, RuntimeFactory


class Crash(BaseException):
    """The process dies here (a BaseException, so that no `except Exception` survives it)."""


WRITES = (
    "append_inbound",
    "claim",
    "release",
    "commit_turn",
    "skip",
    "fire_timer",
    "claim_outbound",
    "mark_outbound",
)


class FaultyStore(SqliteStore):
    def __init__(self, path: Path, crash_at: int | None, after: bool) -> None:
        super().__init__(path)
        self.crash_at = crash_at
        self.after = after
        self.writes = 0
        self.dead = False


def _faulty(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @wraps(method)
    async def write(self: FaultyStore, *args: Any, **kwargs: Any) -> Any:
        if self.dead:
            raise Crash
        self.writes += 1
        crashing = self.writes == self.crash_at
        if crashing and not self.after:
            self.dead = True
            raise Crash
        result = await method(self, *args, **kwargs)
        if crashing:
            self.dead = True
            raise Crash
        return result

    return write


for _name in WRITES:
    setattr(FaultyStore, _name, _faulty(getattr(SqliteStore, _name)))


Step = Callable[[Runtime, FakeClock], Awaitable[Any]]

SCENARIO: list[Step] = [
    lambda r, c: r.start_conversation("rdv", PHONE, key="start", contact={"first_name": "Ana"}),
    lambda r, c: r.run_until_idle(),
    lambda r, c: r.receive(
        "rdv", PHONE, InboundText(text="hein ?"), source=InboxSource.SMSMODE, provider_id="m1"
    ),
    lambda r, c: r.run_until_idle(),
    lambda r, c: _advance(c, timedelta(hours=3)),
    lambda r, c: r.run_until_idle(),
    lambda r, c: r.receive(
        "rdv", PHONE, InboundText(text="1"), source=InboxSource.SMSMODE, provider_id="m2"
    ),
    lambda r, c: r.run_until_idle(),
]


async def _advance(clock: FakeClock, delta: timedelta) -> None:
    clock.advance(delta)


async def play(
    make: RuntimeFactory, clock: FakeClock, db: Path, crash_at: int | None, after: bool
) -> tuple[dict[str, str], int]:
    """Runs the scenario, crashing at write `crash_at`; returns the final outbox and the
    number of writes the faulty run made."""
    faulty = FaultyStore(db, crash_at, after)
    runtime = make(faulty, owner="doomed", on=clock)
    resume = len(SCENARIO)
    try:
        await runtime.open()
        for index, step in enumerate(SCENARIO):
            resume = index
            await step(runtime, clock)
        resume = len(SCENARIO)
    except Crash:
        pass
    writes = faulty.writes
    clock.advance(timedelta(minutes=5))  # the dead process's leases expire
    survivor = make(SqliteStore(db), owner="survivor", on=clock)
    await survivor.open()
    for step in SCENARIO[resume:]:
        await step(survivor, clock)
    await survivor.run_until_idle()
    outbox = {}
    for seq in range(1, 64):
        for index in range(4):
            entry = await survivor.store.get_outbound(outbox_key(seq, index))
            if entry is not None:
                outbox[entry.key] = str(entry.content.get("text"))
    return outbox, writes


async def test_every_crash_point_ends_like_a_run_without_faults(
    make_runtime: RuntimeFactory, clock: FakeClock, tmp_path: Path
) -> None:
    baseline, total = await play(
        make_runtime, FakeClock(clock.now()), tmp_path / "base.db", None, False
    )
    assert sorted(baseline.values()) == sorted(
        [
            "Bonjour Ana, rendez-vous du 12 décembre ?",
            "Je n'ai pas compris.",
            "Petit rappel",
            "Merci, à bientôt !",
        ]
    )
    assert total > 20, total
    for crash_at in range(1, total + 1):
        for after in (False, True):
            db = tmp_path / f"crash-{crash_at}-{after}.db"
            outbox, writes = await play(make_runtime, FakeClock(clock.now()), db, crash_at, after)
            assert writes == crash_at  # the process did die at that write
            texts = sorted(outbox.values())
            assert texts == sorted(baseline.values()), (crash_at, after, outbox)
