"""Part 1 of `benchmarks/store.py`: turns per second through the runtime, against the same
turns replayed as the store's SQL alone and as the bare writes of their rows.

N conversations (2,000 by default) are started, then each is sent one text: even ones type
the chip label (the `data:` transition, the conversation ends), odd ones a text the flow does
not know (`otherwise`: it stays, its timer is re-armed). The inbound events are appended
first (not timed); what is timed is `Worker.drain()`, i.e. claim → read the conversation →
`engine.step` → `commit_turn`, for 2·N turns. Three paths are timed on fresh files, each
round in the same run:

- `runtime`: `Worker.drain()`, everything a production turn does;
- `store SQL`: the store's exact statement sequence (see `store_rows.py`);
- `bare writes`: the floor, only the rows each turn writes.

Both replays write the very rows the runtime wrote: at the end of a round every table of the
three files is compared, and the run stops if they differ. The ratio of a path is its µs per
turn over that of the bare writes, best rounds.
"""

from __future__ import annotations

import cProfile
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks import reporting
from benchmarks.store_rows import (
    connect,
    digest,
    replay_bare,
    replay_store_sql,
    seed,
    turn_rows,
)
from benchmarks.store_runtime import (
    PARTS,
    Phases,
    create_schema,
    open_bench,
    runtime_phases,
    us_of,
)

TARGET_BARE_RATIO = 5.0


@dataclass(frozen=True, slots=True)
class Round:
    """The three paths timed on the same turns, in one round on fresh files."""

    runtime: Phases
    store_sql: Phases
    bare: Phases
    spent: dict[str, int]
    """ns the runtime spent in each timed store method, over both phases."""
    writes: int
    """Rows written by all the turns (see `TurnRows.writes`)."""


async def throughput_round(
    folder: Path, conversations: int, profiler: cProfile.Profile | None = None
) -> Round:
    """Runs the runtime, records its turns, replays them twice and checks the three files."""
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
    """All the rounds; figures are of the best round of each path unless named median."""

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

    def median_us_per_turn(self, path: str) -> float:
        return us_of(round(self.median_total(path))) / self.turns

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


async def profile_round(root: Path, conversations: int, console: Console) -> cProfile.Profile:
    """One more, untimed round with the runtime's drains under cProfile."""
    drains = cProfile.Profile()
    folder = root / "throughput-profile"
    with console.status("profiling a throughput round…"):
        await throughput_round(folder, conversations, drains)
    remove_folder(folder)
    return drains


# --- output -------------------------------------------------------------------------------


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
                "median_us_per_turn": round(found.median_us_per_turn(path), 1),
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


def throughput_table(found: Throughput) -> Table:
    table = reporting.figures_table(
        (
            f"Throughput: {found.conversations:,} conversations × (start + reply) = "
            f"{found.turns:,} turns, best of {len(found.rounds)} rounds"
        ),
        ("path", "start/s", "reply/s", "turns/s", "µs/turn", "median", "× bare"),
        labels=1,
        caption=(
            "runtime = Worker.drain; store SQL = the store's statements alone; bare writes = "
            f"the {found.writes_per_turn():.1f} rows a turn writes, one transaction per turn. "
            "start/s, reply/s, turns/s and µs/turn from the best round, median = median "
            "µs/turn of the rounds; × bare = µs/turn ÷ µs/turn of the bare writes, target "
            f"runtime ≤ {TARGET_BARE_RATIO:g}×"
        ),
    )
    for path, label in PATHS.items():
        table.add_row(
            label,
            f"{found.turns_per_s(path, 'start'):,.0f}",
            f"{found.turns_per_s(path, 'reply'):,.0f}",
            f"{found.turns_per_s(path):,.0f}",
            f"{found.us_per_turn(path):,.1f}",
            f"{found.median_us_per_turn(path):,.1f}",
            reporting.ratio_cell(found.ratio(path), TARGET_BARE_RATIO, "×")
            if path == "runtime"
            else f"{found.ratio(path):.2f}×",
        )
    return table


def breakdown_table(found: Throughput) -> Table:
    parts = found.breakdown()
    total = sum(parts.values())
    table = reporting.figures_table(
        "Where a runtime turn goes (best round, µs per turn)", (*PARTS, "total")
    )
    table.add_row(
        *(f"{parts[name]:,.1f} ({parts[name] / total:.0%})" for name in PARTS), f"{total:,.1f}"
    )
    return table


def throughput_tables(found: Throughput) -> tuple[Table, ...]:
    return throughput_table(found), breakdown_table(found)


def throughput_summary(found: Throughput) -> str:
    """The line under all the tables that gives the ratios of this part."""
    return (
        f"runtime / bare = {found.ratio('runtime'):.2f}× "
        f"({found.turns_per_s('runtime'):,.0f} vs {found.turns_per_s('bare'):,.0f} turns/s); "
        f"store SQL / bare = {found.ratio('store_sql'):.2f}×"
    )
