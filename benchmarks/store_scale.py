"""Part 2 of `benchmarks/store.py`: whether turns slow down as the store fills up.

Two stores are generated (see `store_generate.py`): 1,000 and 1,000,000 conversations by
default. Then, turns alternating between the two stores, a waiting conversation picked at
random is sent a text (conversation UPDATE, outbox, history, timer cancel and re-arm) and
one `Worker.handle_next()` is timed. Reported: µs per turn (median, p95) and where it went
(median of the store's `claim`, `get_conversation`, `commit_turn`; `other` is the rest: the
worker and `engine.step`). The ratio is large / small, median (and p95) µs per turn.
"""

from __future__ import annotations

import cProfile
import random
import statistics
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks import reporting
from benchmarks.store_generate import Generated, generate_stores, make_templates
from benchmarks.store_runtime import (
    BOT,
    PARTS,
    PHASES,
    UNSURE,
    Bench,
    open_bench,
    phone_of,
    us_of,
)
from messaging.inbound import InboundText
from store.records import InboxSource

TARGET_SCALE_RATIO = 1.5


@dataclass(frozen=True, slots=True)
class Latencies:
    """The timed turns in one store."""

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
    """The `rank`-th percentile (1 to 99) of `values`, inclusive method."""
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[rank - 1]


@dataclass(frozen=True, slots=True)
class Scale:
    """The turns timed in the small and in the large store."""

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
    with profiler or nullcontext():
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
    """Generates both stores, then times `turns` turns in each after `warmup` untimed ones;
    with a `profiler`, the same number of turns again in the large store under it."""
    templates = await make_templates(root / "template")
    folder = root / "scale"
    folder.mkdir()
    generated = await generate_stores(folder, (small, large), templates, console)
    benches = [await open_bench(folder, f"store-{size}") for size in (small, large)]
    rng = random.Random(seed)
    totals: list[list[float]] = [[], []]
    spent: list[dict[str, list[float]]] = [{name: [] for name in PARTS} for _ in benches]
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


def latencies_json(found: Latencies) -> dict[str, Any]:
    g = found.generated
    return {
        "conversations": g.conversations,
        "rows": g.rows,
        "megabytes": round(g.megabytes, 1),
        "generate_s": round(g.seconds, 1),
        "median_us": round(found.median, 1),
        "p95_us": round(found.p95, 1),
        "median_us_in": {name: round(found.part(name), 1) for name in PARTS},
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


def scale_table(found: Scale) -> Table:
    table = reporting.figures_table(
        (
            f"Turn latency by store size: {found.turns:,} turns in each (after "
            f"{found.warmup} warm-up), a random waiting conversation each"
        ),
        ("conversations", "rows", "MB", "generate s", "median µs", "p95 µs"),
        caption=(
            "µs per turn (Worker.handle_next: claim → step → commit); rows of all tables; "
            f"× = large / small, target median ≤ {TARGET_SCALE_RATIO:g}×"
        ),
    )
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
        reporting.ratio_cell(found.ratio(), TARGET_SCALE_RATIO, "×"),
        f"{found.ratio('p95'):.2f}×",
        end_section=True,
    )
    return table


def scale_parts_table(found: Scale) -> Table:
    table = reporting.figures_table(
        "Where a scale turn goes (medians, µs per turn)",
        ("conversations", *PARTS),
        caption="other = the worker and engine.step, outside the three store methods",
    )
    for found_at in (found.small, found.large):
        parts = (f"{found_at.part(name):,.1f}" for name in PARTS)
        table.add_row(f"{found_at.generated.conversations:,}", *parts)
    ratios = (f"{found.large.part(name) / found.small.part(name):.2f}×" for name in PARTS)
    table.add_row("×", *ratios, end_section=True)
    return table


def scale_tables(found: Scale) -> tuple[Table, ...]:
    return scale_table(found), scale_parts_table(found)


def scale_summary(found: Scale) -> str:
    """The line under all the tables that gives the ratios of this part."""
    large, small = found.large, found.small
    return (
        f"{large.generated.conversations:,} / {small.generated.conversations:,} "
        f"conversations = {found.ratio():.2f}× median ({large.median:,.1f} vs "
        f"{small.median:,.1f} µs/turn), {found.ratio('p95'):.2f}× p95"
    )
