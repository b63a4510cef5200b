"""The report of `benchmarks/memory.py`: the figures of each size, their ratios against the
smallest size, as a rich table or one JSON object."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks import reporting
from benchmarks.memory_stores import CachedStore

TARGET_RATIO = 1.5
"""Each figure at the largest size ÷ at the smallest: at most this."""

MEMORY = {
    "rss_open_mb": ("open", "rss_mb", "RSS open"),
    "rss_turns_mb": ("turns", "rss_mb", "RSS turns"),
    "peak_rss_mb": ("turns", "peak_rss_mb", "RSS peak"),
}
"""The memory figures (MB): where each is in a probe's JSON, and its column heading."""
TURNS = {
    "turn_p50_ms": ("turn_ms", "p50", "p50"),
    "turn_p95_ms": ("turn_ms", "p95", "p95"),
    "turn_p99_ms": ("turn_ms", "p99", "p99"),
    "cpu_p50_ms": ("turn_cpu_ms", "p50", "CPU p50"),
    "cpu_p95_ms": ("turn_cpu_ms", "p95", "CPU p95"),
    "cpu_p99_ms": ("turn_cpu_ms", "p99", "CPU p99"),
}
"""The turn figures (ms): wall time, then the process's CPU time, which other work on the
machine does not stretch."""
FIGURES = MEMORY | TURNS
TARGETED = (*MEMORY, "turn_p50_ms", "turn_p95_ms", "turn_p99_ms")
"""The figures the aim is about: RSS and turn latency (the CPU times explain them)."""


@dataclass(frozen=True, slots=True)
class Size:
    """One store size: its cached store and what its probe processes found (medians)."""

    store: CachedStore
    probe: dict[str, Any]

    def figure(self, name: str) -> float:
        part, key, _ = FIGURES[name]
        value: float = self.probe[part][key]
        return value

    def ratio(self, name: str, reference: Size) -> float:
        """This size's figure ÷ the reference's (1.0 when the reference's is 0)."""
        base = reference.figure(name)
        return self.figure(name) / base if base else 1.0


def ratios_json(size: Size, reference: Size) -> dict[str, float]:
    return {name: round(size.ratio(name, reference), 2) for name in FIGURES}


def size_json(size: Size) -> dict[str, Any]:
    store = size.store
    return {
        "conversations": store.conversations,
        "store_mb": round(store.megabytes, 1),
        "generated_s": None if store.generated_s is None else round(store.generated_s, 1),
        "open_s": round(size.probe["open_s"], 3),
        "probe_wall_s": round(size.probe["wall_s"], 1),
        "rss_mb": {moment: size.probe[moment]["rss_mb"] for moment in ("start", "open", "turns")},
        "peak_rss_mb": {
            moment: size.probe[moment]["peak_rss_mb"] for moment in ("start", "open", "turns")
        },
        "turn_ms": size.probe["turn_ms"],
        "turn_cpu_ms": size.probe["turn_cpu_ms"],
        "waits_per_turn": size.probe["waits_per_turn"],
        "preempted_per_turn": size.probe["preempted_per_turn"],
    }


def as_json(sizes: Sequence[Size], settings: dict[str, Any]) -> dict[str, Any]:
    """The whole report: settings, each size, the ratios, the target, the machine."""
    reference, largest = sizes[0], sizes[-1]
    at_largest = ratios_json(largest, reference)
    return {
        **settings,
        "sender": "in-process, counts messages (see benchmarks/memory_probe.py)",
        "sizes": {str(size.store.conversations): size_json(size) for size in sizes},
        "ratios": {
            str(size.store.conversations): ratios_json(size, reference) for size in sizes[1:]
        },
        "ratio_of": f"each size's figure / the one at {reference.store.conversations:,}",
        "target": {
            "max_ratio": TARGET_RATIO,
            "at": largest.store.conversations,
            "met": {name: at_largest[name] <= TARGET_RATIO for name in TARGETED},
            "all_met": all(at_largest[name] <= TARGET_RATIO for name in TARGETED),
        },
        "sqlite": sqlite3.sqlite_version,
        **reporting.machine_json(),
    }


def figure_cells(
    size: Size, figures: Mapping[str, tuple[str, str, str]], decimals: int
) -> list[str]:
    return [f"{size.figure(name):,.{decimals}f}" for name in figures]


def ratio_cells(
    size: Size, reference: Size, figures: Mapping[str, tuple[str, str, str]]
) -> list[str]:
    """Each figure's ratio, coloured against the aim when the aim is about it."""
    cells = []
    for name in figures:
        ratio = size.ratio(name, reference)
        targeted = name in TARGETED
        cells.append(
            reporting.ratio_cell(ratio, TARGET_RATIO, "×") if targeted else f"{ratio:.2f}×"
        )
    return cells


def memory_table(sizes: Sequence[Size]) -> Table:
    reference = sizes[0]
    table = reporting.figures_table(
        "Process memory (MB) by stored conversations, each size in a fresh process",
        ("stored", "file", *(heading for _, _, heading in MEMORY.values())),
        caption=(
            "file = the store; RSS = VmRSS after opening the runtime / after the turns; "
            f"peak = VmHWM; × = / {reference.store.conversations:,}, aim ≤ {TARGET_RATIO:g}×"
        ),
    )
    for size in sizes:
        file = f"{size.store.megabytes:,.0f}"
        table.add_row(f"{size.store.conversations:,}", file, *figure_cells(size, MEMORY, 1))
    for size in sizes[1:]:
        label = f"× {size.store.conversations:,}"
        table.add_row(label, "", *ratio_cells(size, reference, MEMORY))
    return table


def turns_table(sizes: Sequence[Size], settings: Mapping[str, Any]) -> Table:
    reference = sizes[0]
    table = reporting.figures_table(
        (
            f"Turn latency (ms): {settings['turns']:,} turns per process after "
            f"{settings['warmup']} warm-up, median of {settings['rounds']} round(s)"
        ),
        ("stored", *(heading for _, _, heading in TURNS.values()), "waits", "preempted"),
        caption=(
            "a turn = a text stored → its reply handed to the sender; CPU = the process's; "
            "waits / preempted = voluntary / involuntary context switches per turn; "
            f"× = / {reference.store.conversations:,}, aim ≤ {TARGET_RATIO:g}× (wall times)"
        ),
    )
    for size in sizes:
        switches = (f"{size.probe[key]:.2f}" for key in ("waits_per_turn", "preempted_per_turn"))
        table.add_row(f"{size.store.conversations:,}", *figure_cells(size, TURNS, 2), *switches)
    for size in sizes[1:]:
        label = f"× {size.store.conversations:,}"
        table.add_row(label, *ratio_cells(size, reference, TURNS), "", "")
    return table


def print_report(sizes: Sequence[Size], settings: Mapping[str, Any], console: Console) -> None:
    console.print(memory_table(sizes))
    console.print(turns_table(sizes, settings))
    reference, largest = sizes[0], sizes[-1]
    generated = [s for s in sizes if s.store.generated_s is not None]
    made = ", ".join(f"{s.store.conversations:,} in {s.store.generated_s:.0f} s" for s in generated)
    console.print(
        f"Stores cached in {settings['cache']['dir']}"
        + (f"; generated this run: {made}" if made else "")
    )
    console.print(
        f"{largest.store.conversations:,} / {reference.store.conversations:,} conversations: "
        + ", ".join(
            f"{heading} {largest.ratio(name, reference):.2f}×"
            for name, (_, _, heading) in FIGURES.items()
        )
    )
    console.print(f"SQLite {sqlite3.sqlite_version}, {reporting.machine_line()}")
