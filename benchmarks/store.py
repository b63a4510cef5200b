"""Turns per second through the worker and the SQLite store, and whether turns slow down as
the store fills up.

Usage: `python benchmarks/store.py [--json] [--quick] [--large N] [--profile]`

Both parts run the real runtime (`bots.runtime.Runtime` on a `store.sqlite.SqliteStore` file
in a temporary folder, a `FakeClock`, nothing sleeps) on a small realistic flow (see
`store_runtime.py`).

1. Throughput (`store_throughput.py`). N conversations (2,000 by default) are started, then
   each is sent one text; `Worker.drain()` is timed for the 2·N turns, against the same turns
   replayed as the store's exact SQL statements and as the bare writes of their rows (see
   `store_rows.py`), on fresh files, checked to hold the same rows at the end.

2. Scale (`store_scale.py`). Two stores of 1,000 and 1,000,000 conversations (`--large`) are
   generated straight through `sqlite3` (see `store_generate.py`); then, alternating between
   them, a waiting conversation picked at random is sent a text and one
   `Worker.handle_next()` is timed: µs per turn (median, p95) and where it went.

Reading the ratios:
- `runtime / bare` = µs per turn through the runtime ÷ µs per turn of the bare writes (the
  same as bare turns/s ÷ runtime turns/s): how many times the floor a real turn costs.
  `store SQL / bare` isolates what the store's statement sequence (two transactions, two
  reads) adds to the floor; the rest up to `runtime / bare` is Python (worker, engine,
  record conversions). Aim: ≤ 5.
- `large / small` = median (and p95) µs per turn with 1,000,000 stored conversations ÷ with
  1,000. About 1.0 means a turn costs the same however full the store is; above ~1.5 a
  statement of the turn grows with the store (a missing index, a scan). Aim: ≤ 1.5.

The script only measures: it exits 0 whatever the numbers. This module is the entry point:
the command line, the run of the parts, and the report.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as `python benchmarks/store.py`, this file's folder is first on sys.path and this
    # module would shadow the `store` package it measures: the repository root takes its
    # place, which makes the `benchmarks` package importable.
    _FOLDER = Path(__file__).resolve().parent
    _OTHERS = [entry for entry in sys.path if Path(entry or ".").resolve() != _FOLDER]
    sys.path[:] = [str(_FOLDER.parent), *_OTHERS]

import argparse
import asyncio
import cProfile
import io
import pstats
import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from benchmarks import reporting, store_options
from benchmarks.store_scale import Scale, measure_scale, scale_json, scale_summary, scale_tables
from benchmarks.store_throughput import (
    Throughput,
    measure_throughput,
    profile_round,
    throughput_json,
    throughput_summary,
    throughput_tables,
)

DEFAULT_CONVERSATIONS = 2000
DEFAULT_ROUNDS = 3
DEFAULT_SMALL = 1000
DEFAULT_LARGE = 1_000_000
DEFAULT_TURNS = 500
DEFAULT_WARMUP = 20
FULL = {
    "conversations": DEFAULT_CONVERSATIONS,
    "rounds": DEFAULT_ROUNDS,
    "large": DEFAULT_LARGE,
    "turns": DEFAULT_TURNS,
}
"""The values of the options `--quick` changes, in a full run."""
QUICK = {"conversations": 500, "rounds": 2, "large": 10_000, "turns": 200}
PROFILE_LINES = 30
ABOUT = (
    "Turns per second of the worker on the SQLite store, against the bare SQLite "
    "writes of the same rows (ratio runtime / bare), and turn latency with 1,000 vs "
    "1,000,000 stored conversations (ratio large / small)."
)
"""What `--help` says the script does."""


# --- output -------------------------------------------------------------------------------


@dataclass(slots=True)
class Report:
    throughput: Throughput | None = None
    scale: Scale | None = None
    profiles: dict[str, str] = field(default_factory=dict)


def as_json(report: Report) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if report.throughput is not None:
        found["throughput"] = throughput_json(report.throughput)
    if report.scale is not None:
        found["scale"] = scale_json(report.scale)
    return {**found, "sqlite": sqlite3.sqlite_version, **reporting.machine_json()}


def print_report(report: Report, console: Console) -> None:
    lines = []
    if report.throughput is not None:
        for table in throughput_tables(report.throughput):
            console.print(table)
        lines.append(throughput_summary(report.throughput))
    if report.scale is not None:
        for table in scale_tables(report.scale):
            console.print(table)
        lines.append(scale_summary(report.scale))
    for line in lines:
        console.print(line)
    console.print(f"SQLite {sqlite3.sqlite_version}, {reporting.machine_line()}")
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
                drains = await profile_round(root, args.conversations, console)
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


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = reporting.benchmark_parser(ABOUT)
    store_options.add_quick(
        parser,
        f"{QUICK['conversations']} conversations, {QUICK['rounds']} rounds, "
        f"{QUICK['large']:,} vs {DEFAULT_SMALL:,} conversations, {QUICK['turns']} turns",
    )
    parser.add_argument(
        "--part",
        choices=("all", "throughput", "scale"),
        default="all",
        help="run only one part (default: all)",
    )
    parser.add_argument(
        "--conversations",
        type=reporting.positive,
        help=f"throughput: conversations, each started then answered (default: "
        f"{DEFAULT_CONVERSATIONS:,})",
    )
    parser.add_argument(
        "--rounds",
        type=reporting.positive,
        help=f"throughput: rounds on fresh files; the best is reported (default: {DEFAULT_ROUNDS})",
    )
    parser.add_argument(
        "--small",
        type=store_options.store_size,
        default=DEFAULT_SMALL,
        help=f"scale: conversations in the small store (default: {DEFAULT_SMALL:,})",
    )
    parser.add_argument(
        "--large",
        type=store_options.store_size,
        help=f"scale: conversations in the large store (default: {DEFAULT_LARGE:,})",
    )
    store_options.add_turn_options(
        parser, turns=DEFAULT_TURNS, warmup=DEFAULT_WARMUP, where="in each store", part="scale: "
    )
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
    store_options.settle(args, FULL, QUICK)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Progress and status go to stderr, so that --json leaves stdout to the JSON object.
    progress_console = Console(stderr=True)
    report = asyncio.run(run(args, progress_console))
    if args.json:
        reporting.print_json(as_json(report))
        for name, text in report.profiles.items():
            print(f"--- cProfile: {name}\n{text}", file=sys.stderr)
    else:
        print_report(report, Console())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
