"""Messages per second through the fallback dispatcher to the RBM and smsmode emulators, against
bare client POSTs of the same messages in the same run.

Usage: `python benchmarks/dispatch.py [--json] [--messages N] [--conversations N]
[--in-flight N] [--sms-share F] [--repeat N] [--profile]`

Each round builds a fresh line (`dispatch_line.py`): one aiohttp server on 127.0.0.1 holding
the RBM emulator, the smsmode emulator and our webhooks, which write to a new SQLite store;
a phone book of one phone per conversation, a quarter of them SMS-only by default. On it, two
paths send the same number of messages (`dispatch_paths.py`):

- `causette`: M messages (2,000 by default) queued in the outbox as 200 committed turns of 10
  messages, then `Dispatcher.dispatch_due()` with the `Router` timed until every entry was
  handed over (`sent`) or already `delivered`; capability checks on (the default policy);
- `baseline`: the same number of messages posted straight with `RbmClient.send` and
  `SmsmodeClient.send_sms`, at the same concurrency (`--in-flight`), no store.

Real time throughout (`SystemClock`, `asyncio.sleep`): the emulators deliver and post their
receipts to our webhooks while the messages leave, in both paths. The paths alternate which
goes first from round to round, after a few untimed bare sends that open the connections and
pass RBM's webhook handshake; each path's figure is its best round.

Reading the ratio: `causette / baseline` = causette msgs/s ÷ baseline msgs/s, best rounds.
1.0 means the dispatcher (store claims and writes, routing, capability checks, per-conversation
order) costs nothing over the bare HTTP calls; 0.5 means each message costs twice the bare
sending. Aim: ≥ 0.5. Everything runs in one process on one event loop: the emulators, the
webhooks and the store share the CPU with the path being timed. The script only measures: it
exits 0 whatever the numbers.

This module is the entry point: the command line, the rounds, and the report.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as `python benchmarks/dispatch.py`, this file's folder is first on sys.path, where
    # `store.py` would shadow the `store` package: the repository root takes its place, which
    # makes the `benchmarks` package importable.
    _FOLDER = Path(__file__).resolve().parent
    _OTHERS = [entry for entry in sys.path if Path(entry or ".").resolve() != _FOLDER]
    sys.path[:] = [str(_FOLDER.parent), *_OTHERS]

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks import reporting
from benchmarks.dispatch_line import REQUEST_KINDS, STORE_CALLS, open_line, phone_numbers
from benchmarks.dispatch_paths import (
    Message,
    PathRun,
    plan,
    run_baseline,
    run_causette,
    warm_up,
)
from sandbox.phonebook import Network

DEFAULT_MESSAGES = 2000
DEFAULT_CONVERSATIONS = 200
DEFAULT_IN_FLIGHT = 32
DEFAULT_SMS_SHARE = 0.25
DEFAULT_REPEAT = 3
TARGET_RATIO = 0.5
PROFILE_LINES = 30
PROFILE_OURS = r"router|dispatcher|agent_status|breaker|capabilities|sqlite|store|webhooks|common"
"""The files of ours the second profile listing keeps (after `strip_dirs`)."""
PATHS = ("causette", "baseline")
ABOUT = (
    "Messages per second through the fallback dispatcher and router to the RBM and smsmode "
    "emulators over loopback HTTP, against bare client POSTs of the same messages in the same "
    "run (ratio causette / baseline)."
)
"""What `--help` says the script does."""


# --- the run ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Round:
    causette: PathRun
    baseline: PathRun
    causette_first: bool

    @property
    def ratio(self) -> float:
        return self.causette.per_s / self.baseline.per_s


@dataclass(slots=True)
class Report:
    messages: int
    conversations: int
    phones: list[tuple[str, Network]]
    in_flight: int
    rounds: list[Round] = field(default_factory=list)
    profile: str | None = None

    def runs(self, path: str) -> list[PathRun]:
        return [getattr(found, path) for found in self.rounds]

    def best(self, path: str) -> PathRun:
        return min(self.runs(path), key=lambda run: run.ns)

    def median_per_s(self, path: str) -> float:
        return statistics.median(run.per_s for run in self.runs(path))

    @property
    def ratio(self) -> float:
        """Best causette msgs/s over best baseline msgs/s."""
        return self.best("causette").per_s / self.best("baseline").per_s

    @property
    def rcs_phones(self) -> int:
        return sum(network is Network.RCS for _, network in self.phones)


async def one_round(
    folder: Path,
    args: argparse.Namespace,
    phones: list[tuple[str, Network]],
    plans: list[list[Message]],
    index: int,
    profiler: cProfile.Profile | None = None,
) -> Round:
    folder.mkdir()
    causette_first = index % 2 == 1
    async with open_line(folder, phones, in_flight=args.in_flight, seed=index) as line:
        await warm_up(line, plans, args.in_flight, f"w{index}-")
        if causette_first:
            causette = await run_causette(line, plans, profiler)
            baseline = await run_baseline(line, plans, args.in_flight, f"b{index}-")
        else:
            baseline = await run_baseline(line, plans, args.in_flight, f"b{index}-")
            causette = await run_causette(line, plans, profiler)
    return Round(causette, baseline, causette_first)


async def run(args: argparse.Namespace, console: Console) -> Report:
    phones = phone_numbers(args.conversations, args.sms_share)
    plans = plan(phones, args.messages)
    report = Report(args.messages, args.conversations, phones, args.in_flight)
    with tempfile.TemporaryDirectory(prefix="causette-dispatch-") as name:
        root = Path(name)
        for index in range(args.repeat):
            with console.status(f"round {index + 1} of {args.repeat}…"):
                found = await one_round(root / f"round-{index}", args, phones, plans, index)
            report.rounds.append(found)
        if args.profile:
            profiler = cProfile.Profile()
            with console.status("profiling one more causette window…"):
                await one_round(root / "profile", args, phones, plans, args.repeat, profiler)
            report.profile = profile_text(profiler)
    return report


def profile_text(profiler: cProfile.Profile) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    out.write("By own time:\n")
    stats.sort_stats(pstats.SortKey.TIME).print_stats(PROFILE_LINES)
    out.write("Ours, by cumulative time (coroutines count each resumption as a call):\n")
    stats.sort_stats(pstats.SortKey.CUMULATIVE).print_stats(PROFILE_OURS, PROFILE_LINES)
    return out.getvalue()


# --- output -------------------------------------------------------------------------------


def as_json(report: Report) -> dict[str, Any]:
    return {
        "messages": report.messages,
        "conversations": report.conversations,
        "phones": {"rcs": report.rcs_phones, "sms_only": len(report.phones) - report.rcs_phones},
        "in_flight": report.in_flight,
        "capability_checks": True,
        "rcs_pacing": None,
        "rounds": [
            {
                "first": "causette" if found.causette_first else "baseline",
                "ratio": round(found.ratio, 3),
                **{path: getattr(found, path).to_json() for path in PATHS},
            }
            for found in report.rounds
        ],
        "best": {path: report.best(path).to_json() for path in PATHS},
        "median_msgs_per_s": {path: round(report.median_per_s(path), 1) for path in PATHS},
        "ratio": round(report.ratio, 3),
        "median_round_ratio": round(statistics.median(r.ratio for r in report.rounds), 3),
        "ratio_of": "msgs/s causette (Dispatcher.dispatch_due) / msgs/s baseline (bare client "
        "POSTs), best rounds",
        "target": {"min_ratio": TARGET_RATIO, "met": report.ratio >= TARGET_RATIO},
        **reporting.machine_json(),
    }


def api_calls(run: PathRun) -> str:
    calls = [f"{run.requests.get(kind, 0):,} {kind}" for kind in REQUEST_KINDS]
    return ", ".join(call for call in calls if not call.startswith("0 "))


def paths_table(report: Report) -> Table:
    sms_only = len(report.phones) - report.rcs_phones
    table = reporting.figures_table(
        (
            f"Dispatch: {report.messages:,} messages, {report.conversations:,} conversations "
            f"({report.rcs_phones:,} RCS phones, {sms_only:,} SMS-only), in flight "
            f"{report.in_flight}, best of {len(report.rounds)} rounds"
        ),
        ("path", "msgs/s", "seconds", "median msgs/s", "RCS", "SMS", "× baseline"),
        labels=1,
        caption=(
            "causette = Dispatcher.dispatch_due with the Router until every entry is sent or "
            "delivered, capability checks on; baseline = RbmClient.send / "
            "SmsmodeClient.send_sms of the same messages, no store. msgs/s and seconds from "
            "the best round; × baseline = msgs/s ÷ baseline msgs/s, "
            f"aim causette ≥ {TARGET_RATIO:g}"
        ),
    )
    for path in PATHS:
        best = report.best(path)
        ratio = best.per_s / report.best("baseline").per_s
        sms = sum(count for channel, count in best.channels.items() if channel != "rcs")
        table.add_row(
            path,
            f"{best.per_s:,.0f}",
            f"{best.ns / 1e9:.2f}",
            f"{report.median_per_s(path):,.0f}",
            f"{best.channels.get('rcs', 0):,}",
            f"{sms:,}",
            reporting.styled(f"{ratio:.2f}", ratio >= TARGET_RATIO)
            if path == "causette"
            else f"{ratio:.2f}",
        )
    return table


def rounds_table(report: Report) -> Table:
    table = reporting.figures_table(
        "Rounds", ("round", "first", "causette msgs/s", "baseline msgs/s", "ratio"), labels=2
    )
    for index, found in enumerate(report.rounds, 1):
        table.add_row(
            str(index),
            "causette" if found.causette_first else "baseline",
            f"{found.causette.per_s:,.0f}",
            f"{found.baseline.per_s:,.0f}",
            f"{found.ratio:.2f}",
        )
    return table


def store_table(report: Report) -> Table:
    table = reporting.figures_table(
        "Store calls inside the timed window (best round of each path)",
        ("path", "call", "calls", "ms", "µs/call", "share of window"),
        labels=2,
        caption=(
            "Time around each store call (its SQL and record conversions; the store awaits "
            "nothing inside). Receipts are the webhooks' DELIVERED events and delivery "
            "reports arriving meanwhile; in the baseline their lookups find nothing."
        ),
    )
    for path in PATHS:
        best = report.best(path)
        for name in STORE_CALLS:
            calls = best.store_calls.get(name, 0)
            if not calls:
                continue
            ns = best.store_ns.get(name, 0)
            table.add_row(
                path,
                name,
                f"{calls:,}",
                f"{ns / 1e6:,.1f}",
                f"{ns / 1e3 / calls:,.1f}",
                f"{ns / best.ns:.0%}",
            )
    return table


def summary(report: Report) -> list[str]:
    causette, baseline = report.best("causette"), report.best("baseline")
    statuses = ", ".join(f"{count:,} {status}" for status, count in causette.statuses.items())
    settled = (causette.settled_ns or causette.ns) / 1e9
    return [
        f"causette / baseline = {report.ratio:.2f} "
        f"({causette.per_s:,.0f} vs {baseline.per_s:,.0f} msgs/s)",
        f"causette requests: {api_calls(causette)}; every receipt stored after {settled:.2f} s; "
        f"outbox at the end: {statuses}",
        f"baseline requests: {api_calls(baseline)}",
        f"store inside the causette window: {causette.store_us_per_message:,.0f} µs per "
        f"message, {sum(causette.store_ns.values()) / causette.ns:.0%} of the window",
        "Capability checks included (default policy: one RBM capabilities call per phone "
        "before its first message); RCS sends not paced (no RcsPolicy.rate limiter).",
    ]


def print_report(report: Report, console: Console) -> None:
    console.print(paths_table(report))
    console.print(rounds_table(report))
    console.print(store_table(report))
    for line in summary(report):
        console.print(line)
    console.print(reporting.machine_line())
    if report.profile is not None:
        # Plain print: pstats lines are wider than a table and must not be wrapped.
        print(f"\n--- cProfile: one causette window\n{report.profile}", file=console.file)


# --- command line -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = reporting.benchmark_parser(ABOUT)
    parser.add_argument(
        "--messages",
        type=reporting.positive,
        default=DEFAULT_MESSAGES,
        help=f"messages sent by each path, each round (default: {DEFAULT_MESSAGES:,})",
    )
    parser.add_argument(
        "--conversations",
        type=reporting.positive,
        default=DEFAULT_CONVERSATIONS,
        help=f"conversations, one phone each; the messages are spread over them (default: "
        f"{DEFAULT_CONVERSATIONS:,})",
    )
    parser.add_argument(
        "--in-flight",
        type=reporting.positive,
        default=DEFAULT_IN_FLIGHT,
        help=f"messages being sent at once, by both paths (default: {DEFAULT_IN_FLIGHT})",
    )
    parser.add_argument(
        "--sms-share",
        type=float,
        default=DEFAULT_SMS_SHARE,
        help=f"share of the phones that are SMS-only (default: {DEFAULT_SMS_SHARE:g})",
    )
    parser.add_argument(
        "--repeat",
        type=reporting.positive,
        default=DEFAULT_REPEAT,
        help=f"rounds, each on a fresh server and store; the best is reported (default: "
        f"{DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run one more round with the causette window under cProfile, and print "
        "the top functions by own time and ours by cumulative time",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.sms_share <= 1:
        parser.error("--sms-share must be between 0 and 1")
    if args.conversations > args.messages:
        parser.error("--conversations must not exceed --messages")
    if args.conversations > 10_000_000:
        parser.error("--conversations: at most 10,000,000 phones")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Progress goes to stderr, so that --json leaves stdout to the JSON object.
    report = asyncio.run(run(args, Console(stderr=True)))
    if args.json:
        reporting.print_json(as_json(report))
        if report.profile is not None:
            print(f"--- cProfile: one causette window\n{report.profile}", file=sys.stderr)
    else:
        print_report(report, Console())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
