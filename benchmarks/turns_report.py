"""The figures of `benchmarks/turns.py`: each run's turns/s and latencies, the ratios against
the baseline, the load generator's own check, the profile; as tables or one JSON object."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks import reporting
from benchmarks.turns_load import Turns
from benchmarks.turns_profile import Profile

TARGET_RATIO = 0.7
TARGET_ACK_P99_MS = 20.0
TARGET_ACK_RATE = 1000
"""The acknowledgement target holds at this offered load (MO/s) and below."""
KINDS = ("causette", "baseline")
PROFILE_LINES = 20


def _per_s(count: int, ns: int) -> float:
    return count / (ns / 1e9) if ns > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Run:
    kind: str
    rate: int
    turns: Turns
    server_cpu_s: float
    generator_cpu_s: float
    profile: Profile | None = None

    @property
    def turns_per_s(self) -> float:
        """Completed turns over the span from the first MO due to the last reply."""
        return _per_s(self.turns.completed, self.turns.last_done - self.turns.first_due)

    @property
    def cpu_ms_per_turn(self) -> float:
        """The server's CPU time (user + system) per completed turn: its cost, whatever else
        competes for the cores."""
        return self.server_cpu_s * 1000 / self.turns.completed if self.turns.completed else 0.0

    @property
    def window_s(self) -> float:
        return max(self.turns.last_done, self.turns.sent_until) / 1e9 - self.turns.first_due / 1e9

    def to_json(self) -> dict[str, Any]:
        turns = self.turns
        window = self.window_s
        return {
            "offered": turns.offered,
            "acked": turns.acked,
            "refused": turns.refused,
            "completed": turns.completed,
            "unmatched_replies": turns.unmatched,
            "turns_per_s": round(self.turns_per_s, 1),
            "turn_ms": reporting.latency_ms(turns.turn_ns),
            "ack_ms": reporting.latency_ms(turns.ack_ns),
            "generator_lag_ms": reporting.latency_ms(turns.lag_ns),
            "server_cpu_ms_per_turn": round(self.cpu_ms_per_turn, 3),
            "server_cpu_share": round(self.server_cpu_s / window, 3) if window else None,
            "generator_cpu_share": round(self.generator_cpu_s / window, 3) if window else None,
        }


@dataclass(frozen=True, slots=True)
class Calibration:
    """The load side against a server that answers without reading: its own ceiling."""

    rate: int
    turns: Turns
    cpu_s: float

    @property
    def posted_per_s(self) -> float:
        return _per_s(self.turns.acked, self.turns.sent_until - self.turns.first_due)

    def to_json(self) -> dict[str, Any]:
        return {
            "offered_mo_per_s": self.rate,
            "posted_mo_per_s": round(self.posted_per_s, 1),
            "lag_ms": reporting.latency_ms(self.turns.lag_ns),
            "ack_ms": reporting.latency_ms(self.turns.ack_ns),
        }


@dataclass(slots=True)
class Report:
    store: str
    phones: int
    duration: float
    rates: list[int]
    runs: list[Run] = field(default_factory=list)
    generator: Calibration | None = None

    def run(self, kind: str, rate: int) -> Run:
        return next(r for r in self.runs if r.kind == kind and r.rate == rate)

    def ratio(self, rate: int) -> float:
        baseline = self.run("baseline", rate).turns_per_s
        return self.run("causette", rate).turns_per_s / baseline if baseline else 0.0

    def cpu_ratio(self, rate: int) -> float:
        """Baseline CPU per turn ÷ causette CPU per turn: the share of the baseline's ceiling
        Causette would reach with a core to itself."""
        causette = self.run("causette", rate).cpu_ms_per_turn
        return self.run("baseline", rate).cpu_ms_per_turn / causette if causette else 0.0

    @property
    def ratio_rate(self) -> int:
        return self.rates[-1]

    def ack_p99_ms(self, rate: int) -> float:
        return reporting.latency_ms(self.run("causette", rate).turns.ack_ns)["p99"]

    @property
    def ack_target_met(self) -> bool:
        checked = [rate for rate in self.rates if rate <= TARGET_ACK_RATE]
        return all(self.ack_p99_ms(rate) < TARGET_ACK_P99_MS for rate in checked)

    @property
    def profile(self) -> Profile | None:
        return next((r.profile for r in self.runs if r.profile is not None), None)


def as_json(report: Report) -> dict[str, Any]:
    ratio = report.ratio(report.ratio_rate)
    found: dict[str, Any] = {
        "store": report.store,
        "phones": report.phones,
        "duration_s": report.duration,
        "rates": report.rates,
        "runs": {
            str(rate): {
                **{kind: report.run(kind, rate).to_json() for kind in KINDS},
                "ratio": round(report.ratio(rate), 3),
                "cpu_ratio": round(report.cpu_ratio(rate), 3),
            }
            for rate in report.rates
        },
        "ratio": round(ratio, 3),
        "ratio_of": f"turns/s causette / turns/s baseline at {report.ratio_rate:,} MO/s offered",
        "cpu_ratio": round(report.cpu_ratio(report.ratio_rate), 3),
        "cpu_ratio_of": "server CPU ms per turn, baseline / causette, at the same rate",
        "ack_p99_ms": {str(rate): report.ack_p99_ms(rate) for rate in report.rates},
        "target": {
            "min_ratio": TARGET_RATIO,
            "ratio_met": ratio >= TARGET_RATIO,
            "ack_p99_ms_below": TARGET_ACK_P99_MS,
            "ack_met": report.ack_target_met,
        },
        "generator": report.generator.to_json() if report.generator else None,
        **reporting.machine_json(),
    }
    if report.profile is not None:
        found["profile"] = report.profile.to_json()
    return found


def runs_table(report: Report) -> Table:
    table = reporting.figures_table(
        f"Turns on {report.store}: {report.phones:,} phones, {report.duration:g} s per rate",
        (
            "MO/s",
            "server",
            "turns/s",
            "done",
            "turn p50",
            "p95",
            "p99",
            "ack p50",
            "ack p99",
            "lag p99",
            "server CPU",
            "CPU ms/turn",
            "× baseline",
        ),
        labels=2,
        caption=(
            "Latencies in ms: turn = MO due → reply accepted by the emulator; ack = our "
            "webhook's answer; lag = how late the generator sent. CPU = share of one core "
            "over the run; CPU ms/turn = the server's CPU time per turn. × baseline = "
            f"turns/s ÷ baseline turns/s, aim ≥ {TARGET_RATIO:g}; "
            f"ack p99 aim < {TARGET_ACK_P99_MS:g} ms up to {TARGET_ACK_RATE:,} MO/s"
        ),
    )
    for rate in report.rates:
        for kind in KINDS:
            run = report.run(kind, rate)
            figures = run.to_json()
            turn, ack = figures["turn_ms"], figures["ack_ms"]
            ratio = report.ratio(rate)
            ack_good = kind != "causette" or rate > TARGET_ACK_RATE or ack["p99"] < 20
            table.add_row(
                f"{rate:,}",
                kind,
                f"{run.turns_per_s:,.0f}",
                f"{run.turns.completed:,}/{run.turns.offered:,}",
                f"{turn['p50']:.1f}",
                f"{turn['p95']:.1f}",
                f"{turn['p99']:.1f}",
                f"{ack['p50']:.1f}",
                reporting.styled(f"{ack['p99']:.1f}", ack_good),
                f"{figures['generator_lag_ms']['p99']:.1f}",
                f"{figures['server_cpu_share'] or 0:.0%}",
                f"{run.cpu_ms_per_turn:.2f}",
                reporting.styled(f"{ratio:.2f}", ratio >= TARGET_RATIO)
                if kind == "causette"
                else "1.00",
            )
    return table


def profile_table(profile: Profile, which: str) -> Table:
    title = "own time (running)" if which == "own" else "total time (on the stack)"
    table = reporting.figures_table(
        f"causette server, py-spy: functions by {title}", ("function", "share"), labels=1
    )
    for name, share in profile.top(which)[:PROFILE_LINES]:
        table.add_row(name, f"{share:.1%}")
    return table


def print_report(report: Report, console: Console) -> None:
    console.print(runs_table(report))
    ratio = report.ratio(report.ratio_rate)
    console.print(
        f"causette / baseline = {ratio:.2f} at {report.ratio_rate:,} MO/s offered "
        f"(aim ≥ {TARGET_RATIO:g}); by CPU per turn {report.cpu_ratio(report.ratio_rate):.2f}; "
        "causette ack p99 "
        + ", ".join(f"{report.ack_p99_ms(r):.1f} ms at {r:,}" for r in report.rates)
    )
    if report.generator is not None:
        generator = report.generator.to_json()
        console.print(
            f"Load generator alone (null server): {generator['posted_mo_per_s']:,.0f} MO/s "
            f"posted of {generator['offered_mo_per_s']:,} offered, lag p99 "
            f"{generator['lag_ms']['p99']:.1f} ms"
        )
    profile = report.profile
    if profile is not None:
        if profile.error is not None:
            console.print(f"profile: {profile.error}")
        else:
            console.print(profile_table(profile, "own"))
            console.print(profile_table(profile, "total"))
            console.print(
                f"{profile.samples:,} samples over {profile.seconds:g} s; the server was on "
                f"the CPU {profile.busy:.0%} of the time"
            )
    console.print(reporting.machine_line())
