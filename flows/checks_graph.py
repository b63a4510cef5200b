"""Checks of how states move: unknown, unreachable and dead-end states, endless goto loops.

The graph is `flows.edges.flow_edges`, the edges the compiler turns into the machine, so a
state called reachable here is one the engine can enter; what moves on at once and what waits
for input follows `flows.engine._Turn._enter`.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from itertools import pairwise
from typing import TYPE_CHECKING, Final

from flows.edges import ANY_STATE, Edge, EdgeKind, flow_edges
from flows.engine import MAX_MOVES_PER_TURN
from flows.problems import Problem, Severity
from flows.schema import Flow, State

if TYPE_CHECKING:
    from flows.checking import FlowFile

LOOP_SEARCH_BUDGET: Final = 100_000
"""Steps the loop search may take. Hand-written flows need a few hundred; a generated flow
full of conditional gotos could hold exponentially many loops, and validation must end."""


def intended(name: str, states: Iterable[str]) -> str | None:
    """The state a misspelt target most likely means, as "did you mean" proposes it."""
    close = difflib.get_close_matches(name, list(states), n=1)
    return close[0] if close else None


def _resolve(name: str, flow: Flow) -> str | None:
    return name if name in flow.states else intended(name, flow.states)


def _unknown(flow: Flow, name: str) -> str:
    meant = intended(name, flow.states)
    if meant is not None:
        return f"unknown state '{name}' (did you mean '{meant}'?)"
    if not flow.states:
        return f"unknown state '{name}'"
    listed = ", ".join(list(flow.states)[:10]) + (", …" if len(flow.states) > 10 else "")
    return f"unknown state '{name}'; the states are {listed}"


def unknown_states(file: FlowFile) -> Iterator[Problem]:
    states = file.flow.states
    if file.flow.start not in states:
        yield file.problem(("start",), _unknown(file.flow, file.flow.start))
    for edge in flow_edges(file.flow):
        if edge.dest not in states:
            yield file.problem(edge.loc, _unknown(file.flow, edge.dest))


def reachable(flow: Flow) -> set[str]:
    """States a conversation can enter, from `start` over every edge.

    A global transition is offered in every state the conversation reaches, so its target is
    reachable as soon as the start is. A misspelt target (or start) counts as the state it most
    likely means: the typo is one mistake, already reported, and calling its state unreachable
    too would report it twice.
    """
    start = _resolve(flow.start, flow)
    if start is None:
        return set()
    targets: dict[str, list[str]] = defaultdict(list)
    for edge in flow_edges(flow):
        dest = _resolve(edge.dest, flow)
        if dest is not None:
            targets[edge.source].append(dest)
    seen: set[str] = set()
    queue = [start, *targets[ANY_STATE]]
    while queue:
        name = queue.pop()
        if name not in seen:
            seen.add(name)
            queue.extend(targets[name])
    return seen


def unreachable_states(file: FlowFile) -> Iterator[Problem]:
    flow = file.flow
    start = _resolve(flow.start, flow)
    if start is None:
        return  # every state would be listed; the unknown start is the one problem
    seen = reachable(flow)
    for name in flow.states:
        if name not in seen:
            message = (
                f"state '{name}' is unreachable from start '{start}': no goto, on, otherwise, "
                "on_fail or on_error of a reachable state leads to it; link or remove it"
            )
            yield file.problem(("states", name), message, key=True)


def dead_ends(file: FlowFile) -> Iterator[Problem]:
    edges = list(flow_edges(file.flow))
    if any(edge.source == ANY_STATE for edge in edges):
        return  # a global transition with a goto leaves any state
    sources = {edge.source for edge in edges}
    for name, state, loc in file.states():
        # An ask without goto is reported by `ask_rules`, with its own fix.
        if state.end or state.handoff is not None or state.ask is not None or name in sources:
            continue
        message = f"state '{name}' can never leave: add goto, on, end: true or handoff"
        yield file.problem(loc, message, key=True)


def never_waits(state: State) -> str | None:
    """Why a state never reads input nor runs timers (`flows.engine._Turn._enter`), or None."""
    if state.ask is not None:
        return None
    if isinstance(state.goto, str) or any(b.condition is None for b in state.goto or ()):
        return "moves on at once (goto)"
    if state.goto:
        return None  # when no condition holds, the state waits
    if state.handoff is not None:
        return "hands off to a person"
    return "ends the conversation" if state.end else None


def unread_input(file: FlowFile) -> Iterator[Problem]:
    for name, state, loc in file.states():
        why = never_waits(state)
        if why is None:
            continue
        for key in ("on", "otherwise"):
            if getattr(state, key):
                message = f"never used: state '{name}' {why}, so it never waits for input"
                yield file.problem((*loc, key), message, key=True, severity=Severity.WARNING)


def shadowed_branches(file: FlowFile) -> Iterator[Problem]:
    for _, state, loc in file.states():
        if not isinstance(state.goto, tuple):
            continue
        first = next((i for i, b in enumerate(state.goto) if b.condition is None), None)
        if first is None:
            continue
        for index in range(first + 1, len(state.goto)):
            message = f"never reached: goto[{first}] before it has no `if`, so it always matches"
            yield file.problem((*loc, "goto", index), message, severity=Severity.WARNING)


def _always_next(state: State) -> str | None:
    """The state entered next whatever the conditions, when moving on at once; or None."""
    if state.ask is not None or state.goto is None:
        return None
    if isinstance(state.goto, str):
        return state.goto
    return state.goto[0].to if state.goto and state.goto[0].condition is None else None


def _simple_cycles(order: list[str], successors: dict[str, list[str]]) -> Iterator[list[str]]:
    """Every simple cycle once, starting at its first state in `order`."""
    rank = {name: index for index, name in enumerate(order)}
    budget = LOOP_SEARCH_BUDGET
    for start in order:
        path = [start]
        stack = [iter(successors[start])]
        while stack:
            budget -= 1
            if budget < 0:
                return
            dest = next(stack[-1], None)
            if dest is None:
                stack.pop()
                path.pop()
            elif dest == start:
                yield [*path, start]
            elif rank[dest] > rank[start] and dest not in path:
                path.append(dest)
                stack.append(iter(successors[dest]))


def goto_loops(file: FlowFile) -> Iterator[Problem]:
    """Cycles of moves made without waiting for input: a turn would never end.

    Only immediate edges count (a goto, a conditional goto entry, a call's `on_error`). A call
    runs on entry before the state waits, so its `on_error` counts even in a state with an ask.
    """
    flow = file.flow
    immediate: dict[tuple[str, str], list[Edge]] = defaultdict(list)
    successors: dict[str, list[str]] = {name: [] for name in flow.states}
    for edge in flow_edges(flow):
        if edge.immediate and edge.dest in flow.states:
            if (edge.source, edge.dest) not in immediate:
                successors[edge.source].append(edge.dest)
            immediate[edge.source, edge.dest].append(edge)
    always = {name: _always_next(state) for name, state in flow.states.items()}
    for cycle in _simple_cycles(list(flow.states), successors):
        steps = list(pairwise(cycle))
        first = immediate[steps[0]]
        edge = next((e for e in first if e.kind is not EdgeKind.CALL_FAILED), first[0])
        chain = " -> ".join(cycle)
        if len(steps) == 1:
            subject, loops, which, their = f"state {chain}", "loops", "it", "its"
        else:
            subject, loops, which, their = f"states {chain}", "loop", "one of them", "their"
        if all(always[source] == dest for source, dest in steps):
            message = (
                f"{subject} {loops} forever without waiting for input: make {which} wait "
                "(an ask, or an if on a goto), end or hand off"
            )
            yield file.problem(edge.loc, message)
        else:
            message = (
                f"{subject} may loop without waiting for input when {their} conditions allow "
                f"it; at run time a turn stops with an error after {MAX_MOVES_PER_TURN} moves"
            )
            yield file.problem(edge.loc, message, severity=Severity.WARNING)
