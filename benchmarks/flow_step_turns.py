"""The turns `benchmarks/flow_step.py` times, and how: four kinds of `engine.step` turn on a
compiled flow, each checked once, then sampled.

- `start`: a `Start` event, entering the start state and rendering its content;
- `postback`: an RCS `InboundPostback(data="next")` matching a `data:` transition;
- `sms_text`: an SMS `InboundText(text="2")` read through the numbered-choice map;
- `timer`: a `TimerFired` with the key armed by the `Start` turn.

Every turn starts from the same input snapshot (`step` never modifies it), so each iteration
does the same work. All iterations run inside one event loop; a sample is many iterations
timed with `perf_counter_ns`, with the garbage collector enabled as in production. The samples
of all scenarios are interleaved, so that drift on a shared machine hits them alike. `best`
is the fastest sample, `median` the typical one, both in µs per turn.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.flow_step_flows import SKIP, state_name
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
from messaging import Channel, FakeClock, InboundPostback, InboundText

KINDS = ("start", "postback", "sms_text", "timer")


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
