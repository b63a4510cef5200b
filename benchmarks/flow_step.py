"""How long one conversation turn takes, and whether that depends on the size of the flow.

Usage: `python benchmarks/flow_step.py [--json] [--sizes 10,100,1000] [--repeat N]`

For each size it generates a realistic flow (every state says a templated text with three
reply chips, has two `data:` transitions, a `keywords` transition and an `after: 2h` timer;
a global `on` with keywords; states form a ring plus skips so all are reachable), compiles it
through `compile_text` (every semantic check; the run stops if the flow is refused), then times
`engine.step` for four kinds of turn:

- `start`: a `Start` event, entering the start state and rendering its content;
- `postback`: an RCS `InboundPostback(data="next")` matching a `data:` transition;
- `sms_text`: an SMS `InboundText(text="2")` read through the numbered-choice map;
- `timer`: a `TimerFired` with the key armed by the `Start` turn.

Every turn starts from the same input snapshot (`step` never modifies it), so each iteration
does the same work. All iterations run inside one event loop; a sample is many iterations
timed with `perf_counter_ns`, with the garbage collector enabled as in production. The samples
of every size and kind are interleaved, so that drift on a shared machine hits them alike.
`best` is the fastest sample, `median` the typical one, both in µs per turn.

Reading the ratio: for each kind, best µs/turn on the largest flow divided by best µs/turn on
the smallest flow of the same run (1000-state / 10-state by default). 1.0 means the turn cost
does not depend on flow size; the target is ≤ 1.2, with every turn under 100 µs. The script
only measures: it exits 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from string import Template
from typing import Any

from rich.console import Console
from rich.table import Table

from flows.compiler import CompiledFlow
from flows.conversation import (
    Event,
    Received,
    Snapshot,
    Start,
    StepResult,
    TimerFired,
    TurnContext,
)
from flows.engine import new_snapshot, step
from flows.validation import compile_text
from messaging import Channel, FakeClock, InboundPostback, InboundText

DEFAULT_SIZES = (10, 100, 1000)
DEFAULT_REPEAT = 7
DEFAULT_SAMPLE_MS = 50.0
SKIP = 7
"""The `skip` chip jumps this many states ahead; with the ring it keeps every state reachable."""
TARGET_RATIO = 1.2
TARGET_US = 100.0
KINDS = ("start", "postback", "sms_text", "timer")

_HEADER = Template(
    """\
flow: bench-$size
description: Synthetic flow of $size states for benchmarks/flow_step.py
traffic: transactional
start: s0
vars:
  counter: 0
  last_choice: null

on:
  - keywords: [aide, help, menu]
    say: "Répondez SUIVANT, SAUTER ou RETOUR."
  - keywords: [accueil, recommencer]
    goto: s0

states:
"""
)

_STATE = Template(
    """\
  $name:
    say:
      text: "Bonjour {{ contact.first_name }}, étape $index/$size, compteur {{ vars.counter }}."
      suggestions:
        - reply: Suivant
          data: next
        - reply: Sauter
          data: skip
        - reply: Retour
          data: back
    on:
      - data: next
        goto: $next
      - data: skip
        goto: $skip
      - keywords: [retour, précédent, back]
        goto: $back
      - after: 2h
        goto: $next
"""
)


# --- the flows ----------------------------------------------------------------------------


def state_name(index: int, size: int) -> str:
    return f"s{index % size}"


def flow_yaml(size: int) -> str:
    """A flow of `size` states as YAML text, in the flow language of FLOWS.md."""
    parts = [_HEADER.substitute(size=size)]
    for index in range(size):
        parts.append(
            _STATE.substitute(
                name=state_name(index, size),
                index=index,
                size=size,
                next=state_name(index + 1, size),
                skip=state_name(index + SKIP, size),
                back=state_name(index - 1, size),
            )
        )
    return "".join(parts)


def compile_flow(size: int) -> tuple[CompiledFlow, float]:
    """The compiled flow and the time `compile_text` took, in ms; raises if validation fails."""
    text = flow_yaml(size)
    began = time.perf_counter_ns()
    flow = compile_text(text, f"<bench-{size}>")
    return flow, (time.perf_counter_ns() - began) / 1e6


# --- the turns ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    """One kind of turn on one flow: always the same input, so every iteration is alike."""

    kind: str
    size: int
    flow: CompiledFlow
    snapshot: Snapshot
    event: Event
    context: TurnContext
    expected_state: str


CONTACT = {"first_name": "Ana", "phone": "+33612345678"}
RCS = TurnContext(contact=CONTACT, channel=Channel.RCS)
SMS = TurnContext(contact=CONTACT, channel=Channel.SMS)
CLOCK = FakeClock()


async def run_turn(scenario: Scenario) -> StepResult:
    return await step(
        scenario.flow, scenario.snapshot, scenario.event, context=scenario.context, clock=CLOCK
    )


async def scenarios_for(flow: CompiledFlow, size: int) -> list[Scenario]:
    """The four kinds of turn on `flow`, each checked once before it is timed."""
    fresh = new_snapshot(flow, {"counter": 3})
    start = Scenario("start", size, flow, fresh, Start(), RCS, state_name(0, size))
    entered = await check(start)
    if not entered.arm:
        raise RuntimeError(f"{size} states: the start state armed no timer")
    waiting = entered.snapshot
    postback = InboundPostback(data="next", text="Suivant")
    return [
        start,
        Scenario("postback", size, flow, waiting, Received(postback), RCS, state_name(1, size)),
        Scenario(
            "sms_text",
            size,
            flow,
            waiting,
            Received(InboundText(text="2")),
            SMS,
            state_name(SKIP, size),
        ),
        Scenario(
            "timer", size, flow, waiting, TimerFired(entered.arm[0].key), RCS, state_name(1, size)
        ),
    ]


async def check(scenario: Scenario) -> StepResult:
    """Runs the turn once and fails loudly unless it went where the flow says."""
    result = await run_turn(scenario)
    state = result.snapshot.state
    if state != scenario.expected_state or not result.messages:
        raise RuntimeError(
            f"{scenario.kind}: expected a move to {scenario.expected_state} with a message, "
            f"got state {state} and {len(result.messages)} messages; trace: {result.trace}"
        )
    return result


# --- timing -------------------------------------------------------------------------------


async def sample(scenario: Scenario, loops: int) -> float:
    """µs per turn over `loops` consecutive turns."""
    flow, snapshot, event, context = (
        scenario.flow,
        scenario.snapshot,
        scenario.event,
        scenario.context,
    )
    began = time.perf_counter_ns()
    for _ in range(loops):
        await step(flow, snapshot, event, context=context, clock=CLOCK)
    return (time.perf_counter_ns() - began) / loops / 1000


async def calibrate(scenario: Scenario, sample_ms: float) -> int:
    """Iterations per sample so that one sample lasts at least `sample_ms` (1, 2, 5, 10…)."""
    loops = 1
    while True:
        for factor in (1, 2, 5):
            count = loops * factor
            if await sample(scenario, count) * count >= sample_ms * 1000:
                return count
        loops *= 10


@dataclass(frozen=True, slots=True)
class Timing:
    best: float
    median: float
    loops: int


async def measure(scenarios: Sequence[Scenario], repeat: int, sample_ms: float) -> list[Timing]:
    """Best and median µs per turn of each scenario; rounds interleave all scenarios."""
    loops = [await calibrate(s, sample_ms) for s in scenarios]
    samples: list[list[float]] = [[] for _ in scenarios]
    for _ in range(repeat):
        for scenario, count, found in zip(scenarios, loops, samples, strict=True):
            found.append(await sample(scenario, count))
    return [
        Timing(best=min(found), median=statistics.median(found), loops=count)
        for found, count in zip(samples, loops, strict=True)
    ]


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
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cores": os.cpu_count(),
    }


def as_table(report: Report) -> Table:
    table = Table(
        title=f"engine.step: µs per turn, best / median of {report.repeat} samples",
        caption=(
            f"ratio = best µs/turn at {max(report.sizes)} states / at {min(report.sizes)} "
            f"states (target ≤ {TARGET_RATIO}, and < {TARGET_US:g} µs per turn)"
        ),
    )
    table.add_column("states", justify="right")
    for kind in KINDS:
        table.add_column(kind, justify="right")
    table.add_column("compile ms", justify="right")
    for size in report.sizes:
        cells = [_timing_cell(report.timings[size, kind]) for kind in KINDS]
        table.add_row(str(size), *cells, f"{report.compile_ms[size]:,.0f}")
    ratios = [_ratio_cell(report.ratio(kind)) for kind in KINDS]
    table.add_row(f"{max(report.sizes)}/{min(report.sizes)}", *ratios, "", end_section=True)
    return table


def _timing_cell(timing: Timing) -> str:
    style = "green" if timing.best < TARGET_US else "red"
    return f"[{style}]{timing.best:,.1f}[/] / {timing.median:,.1f}"


def _ratio_cell(ratio: float) -> str:
    style = "green" if ratio <= TARGET_RATIO else "red"
    return f"[{style}]{ratio:.2f}[/]"


def print_report(report: Report, console: Console) -> None:
    console.print(as_table(report))
    verdict = "[green]met[/]" if report.target_met() else "[red]not met[/]"
    console.print(
        f"target (ratio ≤ {TARGET_RATIO}, < {TARGET_US:g} µs/turn): {verdict}; "
        f"Python {platform.python_version()}, {os.cpu_count()} cores"
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


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {text}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Time one conversation turn (engine.step) on generated flows of several sizes: "
            "Start, an RCS postback, an SMS numbered reply and a timer. Prints µs per turn "
            "(best / median of the samples) and, per kind, the ratio largest-flow / "
            "smallest-flow: about 1.0 means the turn cost does not grow with the flow. "
            "Always exits 0 after a successful run."
        )
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object, no table")
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=DEFAULT_SIZES,
        help="comma-separated flow sizes in states; the ratio is largest/smallest "
        "(default: 10,100,1000)",
    )
    parser.add_argument(
        "--repeat",
        type=positive,
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
        print(json.dumps(as_json(report), ensure_ascii=False, indent=2))
    else:
        print_report(report, Console())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
