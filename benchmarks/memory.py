"""Process memory and turn latency of the runtime on SQLite stores of 1,000, 100,000 and
1,000,000 conversations: whether what a process holds, or a turn costs, grows with the store.

Usage: `python benchmarks/memory.py [--json] [--quick] [--sizes N ...] [--turns T]
[--rounds R] [--cache-dir DIR] [--clear-cache]`

Each size's store is generated once (`store_generate.py`: every conversation has the rows of
a start and a reply, every second one waits with its timer armed) and cached on disk between
runs (`memory_stores.py` says where and how to clean it). Then, for each size, a FRESH
PROCESS (`memory_probe.py`, so nothing one size allocated is counted in another's) opens the
real runtime on a copy of the store and runs `--turns` turns on random waiting
conversations. Reported per size: the process's resident set (VmRSS) after opening the
runtime and after the turns, its peak (VmHWM), and the turn latency p50/p95/p99. With
`--rounds` R, the sizes run R times, in turn (forward, then backward, ...), so that a
machine busy with other work at one moment does not weigh on one size only; each figure is
the median of its rounds.

Reading the ratios: each size's figure ÷ the smallest size's (1,000 by default). About 1.0
means the process holds as much and a turn costs as much however many conversations are
stored; the aim is ≤ 1.5 at 1,000,000. RSS counts the process's own memory only: SQLite
reads the file through the OS page cache, which the kernel shares and reclaims, and its own
page cache is bounded per connection (`PRAGMA cache_size`).

The script only measures: it exits 0 whatever the numbers. This module is the entry point:
the command line, the runs, and the report.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as `python benchmarks/memory.py`, this file's folder is first on sys.path, where
    # `store.py` would shadow the `store` package: the repository root takes its place.
    _FOLDER = Path(__file__).resolve().parent
    _OTHERS = [entry for entry in sys.path if Path(entry or ".").resolve() != _FOLDER]
    sys.path[:] = [str(_FOLDER.parent), *_OTHERS]

import argparse
import asyncio
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console

from benchmarks import reporting, store_options
from benchmarks.memory_report import Size, as_json, print_report
from benchmarks.memory_stores import (
    CachedStore,
    StoreCache,
    clear_cache,
    default_cache_dir,
    open_cache,
    working_copy,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SIZES = (1000, 100_000, 1_000_000)
DEFAULT_TURNS = 2000
DEFAULT_WARMUP = 100
DEFAULT_ROUNDS = 3
QUICK_SIZES = (1000, 10_000, 100_000)
QUICK_TURNS = 500
QUICK_ROUNDS = 1
ABOUT = (
    "Process RSS (after opening, after the turns, peak) and turn latency (p50, p95, p99) of "
    "the runtime on SQLite stores of 1,000, 100,000 and 1,000,000 conversations, each size "
    "in a fresh process, with ratios against the smallest size."
)
"""What `--help` says the script does."""


def run_probe(store: CachedStore, folder: Path, args: argparse.Namespace, seed: int) -> Any:
    """One size in a fresh process, on a fresh copy of its cached store: its JSON."""
    path = working_copy(store, folder)
    try:
        command = [
            *(sys.executable, "-m", "benchmarks.memory_probe", str(path)),
            *("--conversations", str(store.conversations), "--turns", str(args.turns)),
            *("--warmup", str(args.warmup), "--seed", str(seed)),
        ]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    finally:
        for leftover in folder.glob(path.name + "*"):
            leftover.unlink()
    if done.returncode != 0:
        raise RuntimeError(
            f"the probe of {store.conversations:,} conversations failed "
            f"(exit {done.returncode}):\n{done.stderr}"
        )
    return json.loads(done.stdout)


def round_orders(sizes: Sequence[int], rounds: int) -> list[list[int]]:
    """The sizes of each round: forward, backward, forward, ..."""
    return [list(sizes) if r % 2 == 0 else list(reversed(sizes)) for r in range(rounds)]


def median_of(rounds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Each figure (nested one level) as the median of the rounds'."""
    found: dict[str, Any] = {}
    for name, value in rounds[0].items():
        if isinstance(value, dict):
            found[name] = {key: statistics.median(r[name][key] for r in rounds) for key in value}
        else:
            found[name] = statistics.median(r[name] for r in rounds)
    return found


def measure(cache: StoreCache, args: argparse.Namespace, console: Console) -> list[Size]:
    stores = asyncio.run(cache.ensure(args.sizes, console))
    by_size = {store.conversations: store for store in stores}
    probes: dict[int, list[dict[str, Any]]] = {size: [] for size in args.sizes}
    # The copies go next to the cached stores, on the disk chosen for them (--cache-dir).
    with tempfile.TemporaryDirectory(prefix="run-", dir=cache.folder) as name:
        for number, order in enumerate(round_orders(args.sizes, args.rounds), start=1):
            for size in order:
                what = f"round {number}/{args.rounds}: {size:,} conversations"
                with console.status(f"{what}, {args.turns:,} turns in a fresh process…"):
                    began = time.perf_counter()
                    found = run_probe(by_size[size], Path(name), args, args.seed + number)
                    found["wall_s"] = time.perf_counter() - began
                probes[size].append(found)
    return [Size(by_size[size], median_of(probes[size])) for size in args.sizes]


# --- command line -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = reporting.benchmark_parser(ABOUT)
    store_options.add_quick(
        parser,
        f"sizes {', '.join(f'{s:,}' for s in QUICK_SIZES)}, {QUICK_TURNS} turns, "
        f"{QUICK_ROUNDS} round",
    )
    parser.add_argument(
        "--sizes",
        type=store_options.store_size,
        nargs="+",
        metavar="N",
        help=f"stored conversations of each store, the smallest the reference of the ratios "
        f"(default: {' '.join(f'{s:_}' for s in DEFAULT_SIZES)})",
    )
    store_options.add_turn_options(
        parser, turns=DEFAULT_TURNS, warmup=DEFAULT_WARMUP, where="in each size's process"
    )
    parser.add_argument(
        "--rounds",
        type=reporting.positive,
        help=f"runs of every size, in turn; figures are medians (default: {DEFAULT_ROUNDS})",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where generated stores are kept between runs, under memory/ (default: "
        "$CAUSETTE_BENCH_CACHE, else ~/.cache/causette/benchmarks); a million "
        "conversations take ~3.1 GB, and each run makes a copy there for the time of one size",
    )
    parser.add_argument(
        "--clear-cache",
        action="store_true",
        help="remove every store this benchmark cached (all schema versions), then exit",
    )
    args = parser.parse_args(argv)
    store_options.settle(
        args,
        {"sizes": DEFAULT_SIZES, "turns": DEFAULT_TURNS, "rounds": DEFAULT_ROUNDS},
        {"sizes": QUICK_SIZES, "turns": QUICK_TURNS, "rounds": QUICK_ROUNDS},
    )
    args.sizes = sorted(set(args.sizes))
    if args.cache_dir is None:
        args.cache_dir = default_cache_dir()
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.clear_cache:
        freed = clear_cache(args.cache_dir)
        print(f"removed the cached stores in {args.cache_dir} ({freed / 1e9:.1f} GB)")
        return 0
    # Progress and status go to stderr, so that --json leaves stdout to the JSON object.
    progress_console = Console(stderr=True)
    cache = asyncio.run(open_cache(args.cache_dir))
    sizes = measure(cache, args, progress_console)
    settings = {
        "turns": args.turns,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "seed": args.seed,
        "cache": {"dir": str(cache.folder), "key": cache.key},
    }
    if args.json:
        reporting.print_json(as_json(sizes, settings))
    else:
        print_report(sizes, settings, Console())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
