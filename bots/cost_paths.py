"""A flow's typical paths, found by running it: from `start`, the shortest conversation (in the
person's turns) to each ending, an `end: true` state, a handoff or a state with no way out.

The flow simulator (`flows.simulator`, what `causette chat` and `causette test` run) plays each
turn, so the messages are the real ones, rendered with the flow's templates. The search is
breadth first over the moves `bots.cost_inputs` makes up; a turn that calls the backend is
tried with a made-up answer, with its flags false, and failing (`on_error`).
"""

from __future__ import annotations

import copy
import json
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final

from bots.cost_inputs import (
    ANSWERED,
    BACKEND_MODES,
    FAILED,
    Backend,
    Move,
    flow_source,
    moves,
    sample_contact,
    sample_env,
    sample_response,
)
from flows.checks_graph import reachable
from flows.compiler import CompiledFlow, CompiledState
from flows.conversation import FlowRuntimeError, Snapshot, Status, TurnContext
from flows.simulator import BotMessage, Simulator
from messaging.channel import Channel
from messaging.clock import FakeClock

MAX_TURNS: Final = 30
"""The longest path looked for, in the person's turns (replies and timers)."""
TURN_BUDGET: Final = 3000
"""Turns the search may simulate per flow and channel before it gives up on what is left."""
REPLY_DELAY: Final = timedelta(minutes=1)
"""How long the person takes to answer."""


@dataclass(frozen=True, slots=True)
class Said:
    """A message the bot sent, and the state that sent it."""

    state: str
    message: BotMessage


@dataclass(frozen=True, slots=True)
class Wrote:
    """The person wrote (an MO): a reply, a tap, a location..."""

    at: datetime


@dataclass(frozen=True, slots=True)
class Path:
    ending: str
    kind: str
    """`end`, `handoff` or `stuck` (a state with no way out)."""
    states: tuple[str, ...]
    """The states entered, in order, from `start`."""
    moves: tuple[str, ...]
    """What the person did at each turn, for people."""
    events: tuple[Said | Wrote, ...]
    backend: tuple[str, ...] = ()
    """How each backend call went: `answered`, `answered, flags false` or `failed`."""

    @property
    def turns(self) -> int:
        return len(self.moves)


@dataclass(slots=True)
class Exploration:
    channel: Channel
    paths: dict[str, Path] = field(default_factory=dict)
    """The shortest path found to each ending, in the order found (shortest first)."""
    errors: dict[str, str] = field(default_factory=dict)
    """The first run-time error met in each state (a template that failed...)."""
    cut: bool = False
    """The turn budget ran out before every ending was found."""
    deep: bool = False
    """Some conversations were still going after `MAX_TURNS` turns."""


def endings(flow: CompiledFlow) -> dict[str, str]:
    """The reachable states where a conversation stops, with their kind."""
    found: dict[str, str] = {}
    live = reachable(flow.flow)
    for name, state in flow.states.items():
        if name not in live:
            continue
        if state.spec.end:
            found[name] = "end"
        elif state.spec.handoff is not None:
            found[name] = "handoff"
        elif _no_way_out(state):
            found[name] = "stuck"
    return found


def _no_way_out(state: CompiledState) -> bool:
    return not (state.ask or state.goto or state.on_input or state.on_timer or state.otherwise)


@dataclass(frozen=True, slots=True)
class _Node:
    sim: Simulator
    states: tuple[str, ...]
    moves: tuple[str, ...]
    events: tuple[Said | Wrote, ...]
    backend: tuple[str, ...]


class _Explorer:
    def __init__(self, flow: CompiledFlow, channel: Channel, start: datetime) -> None:
        self.flow = flow
        self.channel = channel
        self.start = start
        source = flow_source(flow)
        self.context = TurnContext(
            contact=sample_contact(source), channel=channel, env=sample_env(source)
        )
        self.bodies: dict[str, dict[str, Any] | None] = {
            ANSWERED: sample_response(source, flow, flags=True),
            BACKEND_MODES[1]: sample_response(source, flow, flags=False),
            FAILED: None,
        }
        self.endings = endings(flow)
        self.result = Exploration(channel)
        self.budget = TURN_BUDGET

    async def run(self) -> Exploration:
        queue: deque[_Node] = deque()
        seen: set[str] = set()
        for root in await self._children(None, None):
            queue.append(root)
            seen.add(_key(root.sim))
        while queue and len(self.result.paths) < len(self.endings):
            node = queue.popleft()
            if self._ended(node):
                continue
            if len(node.moves) >= MAX_TURNS:
                self.result.deep = True
                continue
            if self.budget <= 0:
                self.result.cut = True
                break
            snapshot = node.sim.snapshot
            assert snapshot is not None
            for move in moves(self.flow, snapshot, self.channel, bool(node.sim.timers)):
                for child in await self._children(node, move):
                    key = _key(child.sim)
                    if key not in seen:
                        seen.add(key)
                        queue.append(child)
        return self.result

    def _ended(self, node: _Node) -> bool:
        sim = node.sim
        name = sim.state
        if name is None:
            return True
        stopped = sim.status in (Status.ENDED, Status.HANDED_OFF)
        if not stopped and self.endings.get(name) != "stuck":
            return False
        kind = self.endings.get(name, "end" if sim.status is Status.ENDED else "handoff")
        path = Path(name, kind, node.states, node.moves, node.events, node.backend)
        self.result.paths.setdefault(name, path)
        return True

    async def _children(self, node: _Node | None, move: Move | None) -> list[_Node]:
        """The conversations after `move` (the start when `node` is None): one, or one per way
        the backend may answer when the turn called it."""
        children: list[_Node] = []
        for mode in BACKEND_MODES:
            backend = Backend(self.bodies[mode])
            self.budget -= 1
            try:
                child = await self._turn(node, move, backend)
            except FlowRuntimeError as error:
                self.result.errors.setdefault(error.state, str(error))
                child = None
            if child is not None and backend.calls:
                child = replace(child, backend=(*child.backend, mode))
            if child is not None:
                children.append(child)
            if not backend.calls:
                break  # nothing called: the other modes would give the same turn
        return children

    async def _turn(self, node: _Node | None, move: Move | None, backend: Backend) -> _Node:
        clock = FakeClock(node.sim.clock.now() if node is not None else self.start)
        sim = Simulator(self.flow, context=self.context, clock=clock, http=backend)
        events: list[Said | Wrote] = []
        if node is None or move is None:
            before = None
            said = await sim.start()
        else:
            assert node.sim.snapshot is not None
            sim.snapshot = _copy(node.sim.snapshot)
            sim.timers = dict(node.sim.timers)
            before = sim.state
            if move.message is None:
                due = min(sim.timers.values())
                said = await sim.wait(max(due - clock.now(), timedelta(0)))
            else:
                clock.advance(REPLY_DELAY)
                events.append(Wrote(clock.now()))
                said = await sim.receive(move.message)
        trace = sim.last.trace if sim.last is not None else []
        entered = [item.removeprefix("enter ") for item in trace if item.startswith("enter ")]
        owners = _owners(self.flow, before, trace, len(said), sim.state or "")
        events.extend(Said(owner, message) for owner, message in zip(owners, said, strict=True))
        if node is None:
            return _Node(sim, tuple(entered), (), tuple(events), ())
        return _Node(
            sim,
            (*node.states, *entered),
            (*node.moves, move.label if move is not None else "start"),
            (*node.events, *events),
            node.backend,
        )


def _copy(snapshot: Snapshot) -> Snapshot:
    return replace(snapshot, vars=copy.deepcopy(dict(snapshot.vars)))


def _key(sim: Simulator) -> str:
    """What makes two conversations the same for the rest of the search."""
    snapshot = sim.snapshot
    assert snapshot is not None
    return json.dumps(
        [
            snapshot.state,
            str(snapshot.status),
            dict(snapshot.vars),
            snapshot.attempts,
            [choice.data for choice in snapshot.choices.choices],
            bool(sim.timers),
        ],
        sort_keys=True,
        default=str,
    )


def _owners(
    flow: CompiledFlow, before: str | None, trace: list[str], count: int, after: str
) -> list[str]:
    """The state that sent each of a turn's `count` messages, read from the engine's trace.

    Entering a state sends its `say`, then its `ask` prompt or handoff message, unless its call
    failed (the trace says so); what the turn sent before the first entry (a transition's or
    `otherwise`'s `say`, a retry) is the state the turn started in. When the counts do not add
    up (several timers in one wait), every message is put down to the state it ended in.
    """
    entered: list[list[Any]] = []
    for item in trace:
        if item.startswith("enter "):
            name = item.removeprefix("enter ")
            entered.append([name, _entry_messages(flow.states[name])])
        elif item.startswith("call ") and " failed" in item and entered:
            entered[-1][1] = 0
    own = count - sum(n for _, n in entered)
    if own < 0 or (own and before is None):
        return [after] * count
    return [str(before)] * own + [str(name) for name, n in entered for _ in range(n)]


def _entry_messages(state: CompiledState) -> int:
    count = len(state.say)
    if state.ask is not None:
        return count + (state.ask.prompt is not None)
    if state.goto:
        return count
    return count + len(state.handoff_say)


async def explore(flow: CompiledFlow, channel: Channel, start: datetime) -> Exploration:
    """The shortest path to each ending of `flow` on `channel`, starting at `start`."""
    return await _Explorer(flow, channel, start).run()
