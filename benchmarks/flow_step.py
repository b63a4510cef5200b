"""How long one conversation turn takes, and whether that depends on the size of the flow.

Usage: `python benchmarks/flow_step.py [--json] [--sizes 10,100,1000] [--repeat N]`

For each size it generates a realistic flow and compiles it through `compile_text` (every
semantic check; the run stops if the flow is refused; see `flow_step_flows.py`), then times
`engine.step` for four kinds of turn: `start`, an RCS `postback`, an SMS numbered reply
(`sms_text`) and a `timer` (see `flow_step_turns.py`, which also says how samples are taken).
The samples of every size and kind are interleaved; `best` is the fastest sample, `median` the
typical one, both in µs per turn.

Reading the ratio: for each kind, best µs/turn on the largest flow divided by best µs/turn on
the smallest flow of the same run (1000-state / 10-state by default). 1.0 means the turn cost
does not depend on flow size; the target is ≤ 1.2, with every turn under 100 µs. The script
only measures: it exits 0 whatever the numbers.

This module is the entry point: the command line, the run over all sizes, and the report.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as `python benchmarks/flow_step.py`, this file's folder is first on sys.path, where
    # `store.py` would shadow the `store` package: the repository root takes its place, which
    # makes the `benchmarks` package importable.
    _FOLDER = Path(__file__).resolve().parent
    _OTHERS = [entry for entry in sys.path if Path(entry or ".").resolve() != _FOLDER]
    sys.path[:] = [str(_FOLDER.parent), *_OTHERS]

import argparse
import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks import reporting
from benchmarks.flow_step_flows import compile_flow
from benchmarks.flow_step_turns import KINDS, Scenario, Timing, measure, scenarios_for

DEFAULT_SIZES = (10, 100, 1000)
DEFAULT_REPEAT = 7
DEFAULT_SAMPLE_MS = 50.0
TARGET_RATIO = 1.2
TARGET_US = 100.0
ABOUT = (
    "Time one conversation turn (engine.step) on generated flows of several sizes: "
    "Start, an RCS postback, an SMS numbered reply and a timer. Prints µs per turn "
    "(best / median of the samples) and, per kind, the ratio largest-flow / "
    "smallest-flow: about 1.0 means the turn cost does not grow with the flow."
)
"""What `--help` says the script does."""


# --- the run ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    sizes: tuple[int, ...]
    compile_ms: dict[int, float]
    timings: dict[tuple[int, str], Timing]
    repeat: int

    def ratio(self, kind: str) -> float:
        """Best µs/turn on the largest flow over best µs/turn on the smallest."""
        largest = self.timings[max(self.sizes), kind].best
        return largest / self.timings[min(self.sizes), kind].best

    def target_met(self) -> bool:
        flat = all(self.ratio(kind) <= TARGET_RATIO for kind in KINDS)
        fast = all(t.best < TARGET_US for t in self.timings.values())
        return flat and fast


async def run(sizes: Sequence[int], repeat: int, sample_ms: float) -> Report:
    compile_ms: dict[int, float] = {}
    scenarios: list[Scenario] = []
    for size in sizes:
        flow, compile_ms[size] = compile_flow(size)
        scenarios.extend(await scenarios_for(flow, size))
    timings = await measure(scenarios, repeat, sample_ms)
    by_key = {(s.size, s.kind): t for s, t in zip(scenarios, timings, strict=True)}
    return Report(tuple(sizes), compile_ms, by_key, repeat)


# --- output -------------------------------------------------------------------------------


def as_json(report: Report) -> dict[str, Any]:
    return {
        "sizes": list(report.sizes),
        "us_per_turn": {
            kind: {
                str(size): {
                    "best": round(report.timings[size, kind].best, 2),
                    "median": round(report.timings[size, kind].median, 2),
                    "loops": report.timings[size, kind].loops,
                }
                for size in report.sizes
            }
            for kind in KINDS
        },
        "ratios": {kind: round(report.ratio(kind), 3) for kind in KINDS},
        "ratio_of": f"best µs/turn, {max(report.sizes)} states / {min(report.sizes)} states",
        "compile_ms": {str(size): round(ms, 1) for size, ms in report.compile_ms.items()},
        "repeat": report.repeat,
        "target": {"max_ratio": TARGET_RATIO, "max_us": TARGET_US, "met": report.target_met()},
        **reporting.machine_json(implementation=True),
    }


def as_table(report: Report) -> Table:
    table = reporting.figures_table(
        f"engine.step: µs per turn, best / median of {report.repeat} samples",
        ("states", *KINDS, "compile ms"),
        caption=(
            f"ratio = best µs/turn at {max(report.sizes)} states / at {min(report.sizes)} "
            f"states (target ≤ {TARGET_RATIO}, and < {TARGET_US:g} µs per turn)"
        ),
    )
    for size in report.sizes:
        cells = [_timing_cell(report.timings[size, kind]) for kind in KINDS]
        table.add_row(str(size), *cells, f"{report.compile_ms[size]:,.0f}")
    ratios = [reporting.ratio_cell(report.ratio(kind), TARGET_RATIO) for kind in KINDS]
    table.add_row(f"{max(report.sizes)}/{min(report.sizes)}", *ratios, "", end_section=True)
    return table


def _timing_cell(timing: Timing) -> str:
    best = reporting.styled(f"{timing.best:,.1f}", timing.best < TARGET_US)
    return f"{best} / {timing.median:,.1f}"


def print_report(report: Report, console: Console) -> None:
    console.print(as_table(report))
    met = report.target_met()
    verdict = reporting.styled("met" if met else "not met", met)
    console.print(
        f"target (ratio ≤ {TARGET_RATIO}, < {TARGET_US:g} µs/turn): {verdict}; "
        f"{reporting.machine_line()}"
    )


# --- command line -------------------------------------------------------------------------


def parse_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if len(sizes) < 2 or sizes[0] < 2:
        raise argparse.ArgumentTypeError("give at least two sizes, each of 2 states or more")
    return sizes


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = reporting.benchmark_parser(ABOUT)
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=DEFAULT_SIZES,
        help="comma-separated flow sizes in states; the ratio is largest/smallest "
        "(default: 10,100,1000)",
    )
    parser.add_argument(
        "--repeat",
        type=reporting.positive,
        default=DEFAULT_REPEAT,
        help=f"samples per size and kind; best and median are over these (default: "
        f"{DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--sample-ms",
        type=float,
        default=DEFAULT_SAMPLE_MS,
        help=f"minimum duration of one sample, which sets the turns per sample (default: "
        f"{DEFAULT_SAMPLE_MS:g})",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = asyncio.run(run(args.sizes, args.repeat, args.sample_ms))
    if args.json:
        reporting.print_json(as_json(report))
    else:
        print_report(report, Console())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
