"""One size of `benchmarks/memory.py`, in a process of its own: opens the real runtime on a
store, runs turns on random waiting conversations, and prints what the process held and how
long the turns took as one JSON object on stdout.

Usage (by `memory.py`, from the repository root): `python -m benchmarks.memory_probe STORE
--turns T --warmup W --seed S`

The runtime is `bots.runtime.Runtime` as `causette serve` builds it without providers: the
worker, the timer firer and the outbox dispatcher on a `store.sqlite.SqliteStore`, a
`FakeClock` (nothing sleeps), the flow of `store_runtime.py`. Its sender accepts every
message in process and keeps only a count: how much a store's size costs is what is
measured, and a provider's HTTP round trip (measured by `benchmarks/turns.py`) neither
depends on it nor should blur it; a sender that kept the messages (`RecordingSender`) would
grow the heap with the turns and not with the store.

A turn: a text ("Je ne sais pas encore": the conversation stays waiting, its timer re-armed)
from a waiting conversation picked at random is stored (`Runtime.receive`), then
`Runtime.run_until_idle()` fires due timers, handles it (claim, step, commit) and hands its
one reply to the sender (claim, send, mark sent); the turn's latency is from the text's
arrival until that returns.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import reporting
from benchmarks.store_runtime import BOT, NOW, OWNER, UNSURE, flow_file, phone_of
from bots.runtime import Runtime
from bots.worker import BotProfile
from messaging.clock import FakeClock
from messaging.inbound import InboundText
from store.records import InboxSource, OutboxEntry
from store.sqlite import SqliteStore


class CountingSender:
    """Accepts every message at once and keeps only how many it was given."""

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, entry: OutboxEntry) -> str:
        self.sent += 1
        return f"sent-{self.sent}"


def status_mb(field: str) -> float:
    """A size field of /proc/self/status (`VmRSS`, `VmHWM`: kB), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no {field} line in /proc/self/status (Linux only)")


def rss_mb() -> float:
    """The process's resident set now."""
    return status_mb("VmRSS")


def peak_rss_mb() -> float:
    """The process's largest resident set so far. `VmHWM`, not `ru_maxrss`: Linux keeps
    `ru_maxrss` across `execve`, so in a child it starts at its parent's size when it was
    forked (the parent that generated a large store holds hundreds of MB), while `VmHWM`
    belongs to the new program's memory."""
    return status_mb("VmHWM")


def memory_now() -> dict[str, float]:
    return {"rss_mb": round(rss_mb(), 1), "peak_rss_mb": round(peak_rss_mb(), 1)}


@dataclass(frozen=True, slots=True)
class TurnCost:
    """One turn: its wall and CPU time, and the context switches it went through, which
    tell a slow turn's cause: waiting for the disk (voluntary: a checkpoint's fsync) or
    for a core (involuntary: other processes on the machine)."""

    wall_ns: int
    cpu_ns: int
    waits: int
    preempted: int


async def timed_turn(runtime: Runtime, sender: CountingSender, index: int, key: str) -> TurnCost:
    """Conversation `index`'s text arriving, until its reply was handed over."""
    turns, sent = runtime.worker.turns, sender.sent
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu = time.process_time_ns()
    began = time.perf_counter_ns()
    await runtime.receive(
        BOT, phone_of(index), InboundText(text=UNSURE), source=InboxSource.RBM, provider_id=key
    )
    await runtime.run_until_idle()
    elapsed = time.perf_counter_ns() - began
    cpu = time.process_time_ns() - cpu
    after = resource.getrusage(resource.RUSAGE_SELF)
    if runtime.worker.turns != turns + 1 or sender.sent != sent + 1:
        raise RuntimeError(f"the text to conversation {index} did not make one turn and reply")
    return TurnCost(
        elapsed, cpu, after.ru_nvcsw - before.ru_nvcsw, after.ru_nivcsw - before.ru_nivcsw
    )


def costs_json(costs: Sequence[TurnCost]) -> dict[str, Any]:
    """Latency and CPU percentiles (ms), and the switches per turn."""
    turns = max(len(costs), 1)
    return {
        "turn_ms": reporting.latency_ms([c.wall_ns for c in costs]),
        "turn_cpu_ms": reporting.latency_ms([c.cpu_ns for c in costs]),
        "waits_per_turn": round(sum(c.waits for c in costs) / turns, 3),
        "preempted_per_turn": round(sum(c.preempted for c in costs) / turns, 3),
    }


async def probe(
    path: Path, conversations: int, turns: int, warmup: int, seed: int
) -> dict[str, Any]:
    """Opens the runtime on the store at `path` of `conversations` generated ones, then
    times `turns` turns after `warmup` untimed ones."""
    found: dict[str, Any] = {"conversations": conversations, "start": memory_now()}
    sender = CountingSender()
    with tempfile.TemporaryDirectory(prefix="causette-memory-flow-") as name:
        runtime = Runtime(
            SqliteStore(path),
            {BOT: BotProfile(BOT)},
            {BOT: flow_file(Path(name))},
            clock=FakeClock(NOW),
            sender=sender,
            owner=OWNER,
        )
        began = time.perf_counter()
        await runtime.open()
        found["open_s"] = round(time.perf_counter() - began, 3)
    found["open"] = memory_now()
    rng = random.Random(seed)
    costs: list[TurnCost] = []
    try:
        for turn in range(warmup + turns):
            waiting = 2 * rng.randrange(conversations // 2) + 1  # odd indexes are waiting
            cost = await timed_turn(runtime, sender, waiting, f"text-{turn}")
            if turn >= warmup:
                costs.append(cost)
    finally:
        await runtime.close()
    found["turns"] = memory_now()
    return found | costs_json(costs)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="One size of benchmarks/memory.py: RSS and turn latency on one store."
    )
    parser.add_argument("store", type=Path, help="a store generated by store_generate.py")
    parser.add_argument("--conversations", type=reporting.positive, required=True)
    parser.add_argument("--turns", type=reporting.positive, required=True)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    found = asyncio.run(probe(args.store, args.conversations, args.turns, args.warmup, args.seed))
    json.dump(found, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
