"""A campaign of N recipients (100,000 by default) through the smsmode emulator, killed halfway
and resumed: counts, nobody twice, achieved rate against the requested one, peak memory.

Usage: `python benchmarks/campaign.py [--json] [--recipients N] [--rate R] [--kill-at F]`

The script writes, in a temporary folder, a CSV of N rows (2 % of them repeat an earlier
number, 1 % are not phone numbers, the rest unique French mobiles), a `bots.yaml` with one
marketing bot sending by SMS (SenderID) through smsmode, and a SQLite store in which 1 % of
the unique numbers opted out of the bot's business. It serves the smsmode emulator on
127.0.0.1 in this process, then runs the real command line in a child process:

    causette campaigns send --bot promo --csv recipients.csv --rate R --id bench --json

When the campaign's runner has gone through a share `--kill-at` (0.5) of the CSV (its
`cursor`, read from the store), the child gets SIGKILL. The same command runs again: the
campaign exists, so it resumes (once the dead runner's lease expired) and finishes, its
runtime also handling the starts and messages the dead one left. Then the script checks:

- the counts the store reports against the ones the CSV was made with: started (unique valid
  numbers not opted out), opted_out, merged, invalid, nothing pending;
- nobody twice: the messages per number at the emulator (each expected number exactly once,
  no opted-out one);
- the achieved rates against `--rate` (1.0 is the requested pace): the runner's starts per
  second (inbox appends, what `--rate` paces), and the messages the emulator received per
  second while a child ran (the import and the wait for the lease left out), which also
  measures the worker and the dispatcher of the same process;
- the peak RSS of each child, its `VmHWM` read every 0.1 s while it runs (and just before the
  kill): the target is under 300 MB. Not `getrusage(RUSAGE_CHILDREN)`: a child's maximum
  there counts the pages of this process it was forked from, emulator and all.

The script only measures: it exits 0 whatever the numbers.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as `python benchmarks/campaign.py`: the repository root replaces this folder on
    # sys.path, where `store.py` would shadow the `store` package.
    _FOLDER = Path(__file__).resolve().parent
    _OTHERS = [entry for entry in sys.path if Path(entry or ".").resolve() != _FOLDER]
    sys.path[:] = [str(_FOLDER.parent), *_OTHERS]

import asyncio
import os
import random
import signal
import sqlite3
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from rich.console import Console

from benchmarks import reporting
from bots.campaigns_progress import progress
from sandbox.phonebook import Network, PhoneBook
from sandbox.smsmode import SmsmodeChannel, SmsmodeEmulator
from store.compliance_records import OptOut
from store.sqlite import SqliteStore
from store.sqlite_schema import from_us

DEFAULT_RECIPIENTS = 100_000
DEFAULT_RATE = 500
MEMORY_TARGET_MB = 300
DUPLICATES, INVALID, OPTED_OUT = 0.02, 0.01, 0.01
BUSINESS = "bench-boutique"
CAMPAIGN = "bench"
API_KEY, SECRET = "bench-smsmode-key", "bench-callback-secret"
FLOW = """\
flow: promo
traffic: marketing
start: offre
vars: {prenom: ""}
states:
  offre:
    say: "Bonjour {{ vars.prenom }}, -20 % sur tout le magasin ce week-end."
    end: true
"""


@dataclass
class Plan:
    """What the CSV holds, hence what the campaign must report."""

    rows: int
    unique: list[str] = field(default_factory=list)
    merged: int = 0
    invalid: int = 0
    opted_out: list[str] = field(default_factory=list)

    @property
    def started(self) -> set[str]:
        return set(self.unique) - set(self.opted_out)


def write_csv(path: Path, rows: int, rng: random.Random) -> Plan:
    """`rows` lines (a header aside): 2 % repeat an earlier number in another form, 1 % are
    not numbers, the others are unique; 1 % of the unique ones will have opted out."""
    plan = Plan(rows)
    with path.open("w", encoding="utf-8") as out:
        out.write("telephone;prenom\n")
        for index in range(rows):
            draw = rng.random()
            if draw < INVALID:
                out.write(f"pas-un-numero-{index};X\n")
                plan.invalid += 1
            elif draw < INVALID + DUPLICATES and plan.unique:
                again = rng.choice(plan.unique)
                out.write(f"0{again[3:]};Doublon\n")  # +336… written 06…
                plan.merged += 1
            else:
                phone = f"+336{10_000_000 + len(plan.unique):08d}"
                plan.unique.append(phone)
                out.write(f"{phone};P{index}\n")
    plan.opted_out = rng.sample(plan.unique, round(len(plan.unique) * OPTED_OUT))
    return plan


def write_config(folder: Path, base_url: str) -> Path:
    (folder / "promo.yaml").write_text(FLOW, encoding="utf-8")
    config = folder / "bots.yaml"
    config.write_text(
        f"""store: sqlite://{folder / "causette.db"}
compliance:
  business: {BUSINESS}
  # Open every hour of every day: the benchmark runs whenever it is started.
  quiet_hours: {{days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "23:59:59",
                public_holidays: false}}
# An SMS in flight at the kill fails rather than waits for its report (the default,
# `confirm`, would hold the run 5 minutes): the benchmark counts those and checks them.
dispatch: {{sms_unknown_outcome: fail}}
providers:
  smsmode: {{api_key_env: BENCH_SMSMODE_KEY, callback_secret_env: BENCH_SMSMODE_SECRET,
             base_url: "{base_url}"}}
bots:
  - id: promo
    flow: promo.yaml
    sms: {{sender: BOUTIQUE}}
""",
        encoding="utf-8",
    )
    return config


async def record_opt_outs(database: Path, phones: list[str]) -> None:
    now = datetime.now(UTC)
    async with SqliteStore(database) as store:
        for phone in phones:
            await store.set_opt_out(OptOut(BUSINESS, phone, True, now, "sms"))


@dataclass
class Child:
    """One run of the command line: its peak RSS and the messages received while it ran."""

    peak_kb: int = 0
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    killed_at: datetime | None = None


def peak_rss_kb(pid: int) -> int:
    """The process's peak resident set (VmHWM), in kB; 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def campaign_cursor(database: Path) -> int:
    """The CSV line the campaign's runner last recorded as handled; 0 before it runs."""
    try:
        db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=0.1)
    except sqlite3.Error:
        return 0
    try:
        row = db.execute("SELECT cursor FROM campaigns WHERE id = ?", (CAMPAIGN,)).fetchone()
    except sqlite3.Error:  # not created yet, or busy
        return 0
    finally:
        db.close()
    return 0 if row is None else int(row[0])


async def run_child(
    command: list[str], env: dict[str, str], database: Path, kill_after: int | None
) -> Child:
    """Run `command`; SIGKILL it once the campaign's cursor passed line `kill_after`."""
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    child = Child()
    reading = asyncio.ensure_future(process.communicate())
    while not reading.done():
        child.peak_kb = max(child.peak_kb, peak_rss_kb(process.pid))
        if (
            kill_after is not None
            and not child.killed_at
            and campaign_cursor(database) >= kill_after
        ):
            child.peak_kb = max(child.peak_kb, peak_rss_kb(process.pid))
            process.send_signal(signal.SIGKILL)
            child.killed_at = datetime.now(UTC)
        await asyncio.wait([reading], timeout=0.1)
    out, err = reading.result()
    child.exit_code = process.returncode
    child.stdout, child.stderr = out.decode(), err.decode()
    return child


def start_times(database: Path) -> list[datetime]:
    """When each recipient's start was appended to the inbox, oldest first."""
    db = sqlite3.connect(database)
    try:
        rows = db.execute(
            "SELECT received_at FROM inbox WHERE provider_id LIKE ? ORDER BY received_at",
            (f"campaign:{CAMPAIGN}:%",),
        ).fetchall()
    finally:
        db.close()
    return [from_us(at) for (at,) in rows]


def interrupted_phones(database: Path) -> set[str]:
    """The numbers of the SMS the router failed as interrupted by the kill (fallback/router.py
    `interrupted_sms`)."""
    db = sqlite3.connect(database)
    try:
        rows = db.execute(
            "SELECT phone FROM outbox WHERE status = 'failed' AND history LIKE ?",
            ("%interrupted while sending by SMS%",),
        ).fetchall()
    finally:
        db.close()
    return {phone for (phone,) in rows}


@dataclass
class Runs:
    """The two children and the times things happened: messages at the emulator (before the
    kill, and all), starts appended to the inbox."""

    first: Child
    second: Child
    first_times: list[datetime]
    all_times: list[datetime]
    starts: list[datetime]
    interrupted: set[str]
    """The numbers whose SMS the killed process was sending: not sent again (smsmode cannot
    drop a second copy), each received or not depending on where the kill fell."""


def received_rate(times: list[datetime]) -> tuple[float, float]:
    """Events per second over the span of the middle 98 % of them, and that span in seconds:
    the first and last 1 % left out, such as the few messages a killed process was sending,
    sent again only once its lease ran out."""
    ordered = sorted(times)
    edge = len(ordered) // 100
    middle = ordered[edge : len(ordered) - edge]
    if len(middle) < 2:
        return 0.0, 0.0
    span = (middle[-1] - middle[0]).total_seconds()
    return (len(middle) - 1) / span if span else 0.0, span


def weighted(rate_1: float, span_1: float, rate_2: float, span_2: float) -> float:
    """The rate of both runs together, over the time each was measured on."""
    span = span_1 + span_2
    return (rate_1 * span_1 + rate_2 * span_2) / span if span else 0.0


async def bench(recipients: int, rate: int, kill_at: float) -> dict[str, Any]:
    rng = random.Random(8)
    with tempfile.TemporaryDirectory(prefix="causette-campaign-") as tmp:
        folder = Path(tmp)
        plan = write_csv(folder / "recipients.csv", recipients, rng)
        phonebook = PhoneBook()
        for phone in plan.unique:
            phonebook.add(phone, Network.SMS)
        channel = SmsmodeChannel(api_keys=(API_KEY,), name="bench", flow="MARKETING")
        sms = SmsmodeEmulator(phonebook, [channel], rng=random.Random(1))
        runner = web.AppRunner(sms.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            config = write_config(folder, f"http://127.0.0.1:{port}")
            await record_opt_outs(folder / "causette.db", plan.opted_out)
            env = {**os.environ, "BENCH_SMSMODE_KEY": API_KEY, "BENCH_SMSMODE_SECRET": SECRET}
            causette = Path(sys.executable).with_name("causette")
            command = [
                *([str(causette)] if causette.exists() else [sys.executable, "-m", "bots.cli"]),
                *("campaigns", "send", "--config", str(config), "--bot", "promo"),
                *("--csv", str(folder / "recipients.csv"), "--rate", str(rate)),
                *("--id", CAMPAIGN, "--json"),
            ]
            started = time.perf_counter()
            database = folder / "causette.db"
            first = await run_child(command, env, database, int(recipients * kill_at))
            first_times = [m.accepted_at for m in sms.messages.values()]
            second = await run_child(command, env, database, None)
            wall = time.perf_counter() - started
            all_times = [m.accepted_at for m in sms.messages.values()]
            async with SqliteStore(folder / "causette.db") as store:
                found = await progress(store, CAMPAIGN, datetime.now(UTC))
            starts = start_times(folder / "causette.db")
            interrupted = interrupted_phones(folder / "causette.db")
        finally:
            await runner.cleanup()
    if found is None:
        raise SystemExit(f"the campaign was not created:\n{first.stderr}")
    runs = Runs(first, second, first_times, all_times, starts, interrupted)
    return report(plan, sms, found.as_json(), runs, wall, rate)


def report(
    plan: Plan, sms: SmsmodeEmulator, counts: dict[str, Any], runs: Runs, wall: float, rate: int
) -> dict[str, Any]:
    first, second, first_times, all_times = (
        runs.first,
        runs.second,
        runs.first_times,
        runs.all_times,
    )
    per_phone = Counter(message.to.e164 for message in sms.messages.values())
    per_entry = Counter(message.ref_client for message in sms.messages.values())
    entries_of: dict[str, set[str | None]] = {}
    for message in sms.messages.values():
        entries_of.setdefault(message.to.e164, set()).add(message.ref_client)
    expected = plan.started
    twice = sorted(phone for phone, n in per_phone.items() if n > 1)
    killed = first.killed_at or datetime.max.replace(tzinfo=UTC)
    start_1, start_span_1 = received_rate([at for at in runs.starts if at <= killed])
    start_2, start_span_2 = received_rate([at for at in runs.starts if at > killed])
    starts_rate = weighted(start_1, start_span_1, start_2, start_span_2)
    wanted = {
        "status": "done",
        "total": len(plan.unique),
        "started": len(expected),
        "opted_out": len(plan.opted_out),
        "red_listed": 0,
        "pending": 0,
        "merged": plan.merged,
        "invalid": plan.invalid,
    }
    checks = {name: {"expected": value, "reported": counts[name]} for name, value in wanted.items()}
    rate_1, span_1 = received_rate(first_times)
    rate_2, span_2 = received_rate(all_times[len(first_times) :])
    achieved = weighted(rate_1, span_1, rate_2, span_2)
    return {
        "recipients": plan.rows,
        "requested_rate": rate,
        "counts": checks,
        "counts_correct": all(c["expected"] == c["reported"] for c in checks.values()),
        "messages_received": sum(per_phone.values()),
        "phones_received_twice": len(twice),
        # Two conversations (two outbox entries) for one number would be the campaign's fault;
        # one entry sent twice is the dispatcher re-sending an SMS it was sending at the kill.
        "phones_with_two_conversations": sum(len(refs) > 1 for refs in entries_of.values()),
        "outbox_entries_sent_twice": sum(n > 1 for n in per_entry.values()),
        "missing": len(expected - set(per_phone)),
        # The kill's unknown outcomes: failed rather than risk a duplicate, each received or
        # not depending on where the kill fell; every missing phone must be one of them.
        "interrupted_by_the_kill": len(runs.interrupted),
        "interrupted_received": len(runs.interrupted & set(per_phone)),
        "missing_unexplained": len(expected - set(per_phone) - runs.interrupted),
        "opted_out_reached": len(set(plan.opted_out) & set(per_phone)),
        "killed_after_messages": len(first_times),
        "killed_after_starts": sum(at <= killed for at in runs.starts),
        "achieved_rate_by_run": {"first": round(rate_1, 1), "second": round(rate_2, 1)},
        "start_rate": round(starts_rate, 1),
        "start_rate_by_run": {"first": round(start_1, 1), "second": round(start_2, 1)},
        "start_rate_ratio": round(starts_rate / rate, 3),
        "start_seconds": round(start_span_1 + start_span_2, 1),
        "achieved_rate": round(achieved, 1),
        "rate_ratio": round(achieved / rate, 3),
        "wall_seconds": round(wall, 1),
        "peak_rss_mb": {
            "first_run": round(first.peak_kb / 1024, 1),
            "second_run": round(second.peak_kb / 1024, 1),
        },
        "memory_target_mb": MEMORY_TARGET_MB,
        "second_run_exit": second.exit_code,
        "second_run_stderr_tail": second.stderr.strip().splitlines()[-3:],
        **reporting.machine_json(),
    }


def print_tables(found: dict[str, Any]) -> None:
    console = Console()
    counts = reporting.figures_table(
        f"Campaign of {found['recipients']:,} rows, killed after "
        f"{found['killed_after_starts']:,} starts and resumed",
        ("count", "expected", "reported"),
        labels=1,
    )
    for name, pair in found["counts"].items():
        good = pair["expected"] == pair["reported"]
        counts.add_row(name, str(pair["expected"]), reporting.styled(str(pair["reported"]), good))
    console.print(counts)
    peak = max(found["peak_rss_mb"].values())
    figures = reporting.figures_table(
        "Delivery, pace and memory",
        ("figure", "value", "target"),
        labels=1,
        caption=reporting.machine_line(),
    )
    twice = found["phones_received_twice"]
    figures.add_row("phones received twice", reporting.styled(str(twice), twice == 0), "0")
    resent = found["outbox_entries_sent_twice"]
    figures.add_row("  of which one outbox entry sent again", str(resent), "")
    two = found["phones_with_two_conversations"]
    figures.add_row("  of which two conversations", reporting.styled(str(two), two == 0), "0")
    figures.add_row(
        "SMS interrupted by the kill (not sent again)", str(found["interrupted_by_the_kill"]), ""
    )
    figures.add_row("  of which received before the kill", str(found["interrupted_received"]), "")
    missing = found["missing_unexplained"]
    figures.add_row(
        "expected phones missing (not interrupted)",
        reporting.styled(str(missing), not missing),
        "0",
    )
    reached = found["opted_out_reached"]
    figures.add_row("opted-out phones reached", reporting.styled(str(reached), not reached), "0")
    figures.add_row("requested rate (/s)", str(found["requested_rate"]), "")
    for label, rate_key, ratio_key in (
        ("starts", "start_rate", "start_rate_ratio"),
        ("messages at the emulator", "achieved_rate", "rate_ratio"),
    ):
        ratio = found[ratio_key]
        figures.add_row(f"{label} /s", str(found[rate_key]), "")
        figures.add_row(
            f"{label} / requested", reporting.styled(f"{ratio:.2f}", ratio >= 0.9), "≥ 0.90"
        )
    figures.add_row(
        "peak RSS, MB (1st, 2nd run)",
        reporting.styled(
            f"{found['peak_rss_mb']['first_run']}, {found['peak_rss_mb']['second_run']}",
            peak < MEMORY_TARGET_MB,
        ),
        f"< {MEMORY_TARGET_MB}",
    )
    figures.add_row("wall time, s (lease wait included)", str(found["wall_seconds"]), "")
    console.print(figures)


def main() -> None:
    parser = reporting.benchmark_parser(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--recipients", type=reporting.positive, default=DEFAULT_RECIPIENTS)
    parser.add_argument("--rate", type=reporting.positive, default=DEFAULT_RATE)
    parser.add_argument(
        "--kill-at", type=float, default=0.5, help="share of the CSV handled before SIGKILL"
    )
    args = parser.parse_args()
    found = asyncio.run(bench(args.recipients, args.rate, args.kill_at))
    if args.json:
        reporting.print_json(found)
    else:
        print_tables(found)


if __name__ == "__main__":
    main()
