"""Completed turns per second, turn latency and webhook acknowledgement latency of a Causette
server under fixed offered loads of MOs over loopback HTTP, against a minimal aiohttp server
doing the same I/O per turn, measured the same way in the same run.

Usage: `python benchmarks/turns.py [--json] [--store sqlite|mongodb] [--phones N]
[--duration S] [--rate R ...] [--profile]`

A turn: a simulated phone's MO is POSTed to the server's smsmode callback URL; the server
acknowledges it (the webhook's answer); the bot answers with one SMS, POSTed to the smsmode
emulator, which accepts it (201): the turn is complete. The servers (`turns_servers.py`):

- `causette`: `causette serve` on a `bots.yaml` of one bot on a Time2Chat number, whose flow
  answers every message; the real runtime (worker, outbox dispatcher, fallback router,
  compliance gate, billing) on the store of `--store`, defaults for everything else;
- `baseline`: parse the callback, one durable write (SQLite WAL + synchronous=NORMAL, as our
  store; or one MongoDB insert), answer 200, POST the reply to the emulator.

Each server runs in a child process of its own, one at a time, started fresh (new store) for
each offered load; this process runs the load generator and the smsmode emulator
(`turns_load.py`) on one event loop. On 2 cores that gives the server one core and the load
side the other, the same for both servers; `generator` below measures the load side alone
against a server that answers without reading (`null`), and every run reports how late MOs
left (lag) and the CPU each side used, so a saturated generator shows.

For each `--rate` (MO/s, default 100, 300 and 1,000): first one MO per phone as a warm-up (the
conversations are created, connections opened), then MOs due every 1/rate s for `--duration`
s, phones in turn, open-loop; latencies count from each MO's due time. Servers alternate which
goes first from one rate to the next.

Reading the figures:
- turns/s: completed turns ÷ (last reply accepted − first MO due). At an offered load a server
  sustains it is the offered rate; above, the server's ceiling.
- `causette / baseline` = causette turns/s ÷ baseline turns/s at the same offered load; the
  headline `ratio` is at the highest `--rate`. 1.0 means Causette completes as many turns as
  the bare I/O; aim ≥ 0.7 on SQLite. Below saturation both are ~1.0: the latencies tell
  them apart.
- turn p50/p95/p99: MO due → reply accepted. ack p99: the webhook's answer to the MO's POST;
  aim < 20 ms at 1,000 MO/s.

With `--profile`, py-spy samples the causette server during its run at the highest rate and
the report lists the functions by own and total share of its CPU samples. The script only
measures: it exits 0 whatever the numbers.

This module is the entry point: the command line, the runs, the report.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as `python benchmarks/turns.py`, this file's folder is first on sys.path, where
    # `store.py` would shadow the `store` package: the repository root takes its place.
    _FOLDER = Path(__file__).resolve().parent
    _OTHERS = [entry for entry in sys.path if Path(entry or ".").resolve() != _FOLDER]
    sys.path[:] = [str(_FOLDER.parent), *_OTHERS]

import argparse
import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Sequence

from rich.console import Console

from benchmarks import reporting
from benchmarks.turns_load import Emulator, offer, phone_numbers, running_emulator
from benchmarks.turns_profile import Profile, Sampler
from benchmarks.turns_report import Calibration, Report, Run, as_json, print_report
from benchmarks.turns_servers import mo_path, running_secantus, server_process

DEFAULT_RATES = (100, 300, 1000)
DEFAULT_PHONES = 1000
DEFAULT_DURATION = 10.0
WARM_UP_RATE = 300
"""MO/s of the warm-up (one MO per phone): slow enough for either server."""
CALIBRATION_FACTOR = 2
"""The generator is checked at this multiple of the highest offered rate."""
ABOUT = (
    "Turns per second and latency percentiles of a Causette server (causette serve) under "
    "fixed offered loads of smsmode MOs over loopback HTTP, and webhook acknowledgement "
    "latency, against a minimal aiohttp server doing the same I/O per turn in the same run "
    "(ratio causette / baseline)."
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


async def measured(
    kind: str,
    rate: int,
    args: argparse.Namespace,
    emulator: Emulator,
    folder: Path,
    store_url: str,
    profile: bool,
) -> Run:
    """One server, fresh, warmed up, then offered `rate` MO/s for the duration."""
    async with server_process(
        kind, folder, store=store_url, emulator_url=emulator.base_url
    ) as server:
        url = f"{server.base_url}{mo_path(kind)}"
        warm_rate = min(WARM_UP_RATE, len(emulator.phones))
        await offer(
            emulator, url, warm_rate, len(emulator.phones) / warm_rate, tag="w", drain=args.drain
        )
        sampler = Sampler(server.pid, folder, args.duration) if profile else None
        failed = await sampler.start() if sampler is not None else None
        server_cpu, own_cpu = cpu_seconds(server.pid), own_cpu_seconds()
        turns = await offer(emulator, url, rate, args.duration, tag="m", drain=args.drain)
        server_cpu = cpu_seconds(server.pid) - server_cpu
        own_cpu = own_cpu_seconds() - own_cpu
        found: Profile | None = None
        if sampler is not None:
            found = Profile(error=failed) if failed else await sampler.stop()
    return Run(kind, rate, turns, server_cpu, own_cpu, found)


async def calibrate(emulator: Emulator, rate: int, folder: Path, seconds: float) -> Calibration:
    async with server_process("null", folder, store="", emulator_url=emulator.base_url) as server:
        own_cpu = own_cpu_seconds()
        turns = await offer(emulator, f"{server.base_url}/mo", rate, seconds, tag="c", drain=0)
        return Calibration(rate, turns, own_cpu_seconds() - own_cpu)


@contextlib.asynccontextmanager
async def store_url(kind: str, folder: Path) -> AsyncIterator[str]:
    """A store for one server: a SQLite file in `folder`, or a database on SecantusDB."""
    if kind == "sqlite":
        yield f"sqlite://{folder / 'turns.db'}"
        return
    async with running_secantus(folder) as uri:
        yield uri


async def run(args: argparse.Namespace, console: Console) -> Report:
    rates = sorted(set(args.rate or DEFAULT_RATES))
    report = Report(args.store, args.phones, args.duration, rates)
    phones = phone_numbers(args.phones)
    with tempfile.TemporaryDirectory(prefix="causette-turns-") as name:
        root = Path(name)
        async with running_emulator(phones) as emulator:
            top = rates[-1] * CALIBRATION_FACTOR
            with console.status(f"load generator alone at {top:,} MO/s…"):
                seconds = min(args.duration, 3.0)
                report.generator = await calibrate(emulator, top, root / "null", seconds)
            for index, rate in enumerate(rates):
                order = ("causette", "baseline") if index % 2 == 0 else ("baseline", "causette")
                for kind in order:
                    folder = root / f"{kind}-{rate}"
                    folder.mkdir()
                    profile = args.profile and kind == "causette" and rate == rates[-1]
                    with console.status(f"{kind} at {rate:,} MO/s for {args.duration:g} s…"):
                        async with store_url(args.store, folder) as url:
                            found = await measured(kind, rate, args, emulator, folder, url, profile)
                    report.runs.append(found)
    return report


# --- command line -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = reporting.benchmark_parser(ABOUT)
    parser.add_argument(
        "--store",
        choices=("sqlite", "mongodb"),
        default="sqlite",
        help="the servers' store: a SQLite file, or MongoDB on SecantusDB (started here; "
        "a Python server, its figures say little about MongoDB) (default: sqlite)",
    )
    parser.add_argument(
        "--phones",
        type=reporting.positive,
        default=DEFAULT_PHONES,
        help=f"simulated phones, one conversation each (default: {DEFAULT_PHONES:,})",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=DEFAULT_DURATION,
        help=f"seconds of load at each rate, for each server (default: {DEFAULT_DURATION:g})",
    )
    parser.add_argument(
        "--rate",
        type=reporting.positive,
        action="append",
        help="an offered load in MO/s; repeat for several (default: "
        + ", ".join(f"{rate:,}" for rate in DEFAULT_RATES)
        + ")",
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=30.0,
        help="seconds to wait for the last replies after the load stops (default: 30)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the causette server with py-spy at the highest rate and list where "
        "its CPU time goes",
    )
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 3600:
        parser.error("--duration must be between 0 and 3600 seconds")
    if not 0 <= args.drain <= 3600:
        parser.error("--drain must be between 0 and 3600 seconds")
    if args.phones > 1_000_000:
        parser.error("--phones: at most 1,000,000")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Progress goes to stderr, so that --json leaves stdout to the JSON object.
    try:
        report = asyncio.run(run(args, Console(stderr=True)))
    except RuntimeError as error:
        print(f"turns.py: {error}", file=sys.stderr)
        return 1
    if args.json:
        reporting.print_json(as_json(report))
    else:
        # A pipe gets the table whole rather than cut to 80 columns.
        print_report(report, Console() if sys.stdout.isatty() else Console(width=170))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
