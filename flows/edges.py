"""Every way a flow can move from one state to another, in one place.

The compiler turns these edges into the `transitions` machine, validation walks them for
reachability and dead ends, and the Mermaid export draws them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from flows.durations import format_duration
from flows.schema import Flow, State, Transition

ANY_STATE = "*"


class EdgeKind(StrEnum):
    GOTO = "goto"  # moves on at once
    BRANCH = "branch"  # a conditional goto entry
    INPUT = "input"  # an `on` transition matching input
    TIMER = "timer"  # an `on` transition with `after`
    GLOBAL = "global"  # a global `on` transition, from any state
    OTHERWISE = "otherwise"
    ANSWER = "answer"  # the goto taken after a valid `ask` answer
    ASK_FAILED = "ask_failed"  # `on_fail` after `max_attempts`
    CALL_FAILED = "call_failed"  # `on_error` of a `call`


@dataclass(frozen=True, slots=True)
class Edge:
    source: str  # a state name, or ANY_STATE for a global transition
    dest: str
    kind: EdgeKind
    label: str
    loc: tuple[str | int, ...]
    """Where the edge's target is written in the flow file (a path through the YAML)."""

    @property
    def immediate(self) -> bool:
        """True when the move happens without waiting for input or time."""
        return self.kind in (EdgeKind.GOTO, EdgeKind.BRANCH, EdgeKind.CALL_FAILED)


def describe_transition(transition: Transition) -> str:
    """A short label for a transition: its conditions, as a person would read them."""
    parts: list[str] = []
    if transition.data is not None:
        parts.append("data: " + " | ".join(transition.data))
    if transition.text is not None:
        parts.append(f"text ~ {transition.text}")
    if transition.keywords is not None:
        parts.append("keywords: " + ", ".join(transition.keywords))
    if transition.location:
        parts.append("location")
    if transition.file:
        parts.append("file")
    if transition.after is not None:
        parts.append(f"after {format_duration(transition.after)}")
    if transition.condition is not None:
        parts.append(f"if {transition.condition}")
    return "; ".join(parts) or "any input"


def state_edges(name: str, state: State) -> Iterator[Edge]:
    base: tuple[str | int, ...] = ("states", name)
    if state.call is not None and state.call.on_error is not None:
        yield Edge(
            name,
            state.call.on_error,
            EdgeKind.CALL_FAILED,
            "call failed",
            (*base, "call", "on_error"),
        )
    if state.ask is not None and state.ask.on_fail is not None:
        yield Edge(
            name,
            state.ask.on_fail,
            EdgeKind.ASK_FAILED,
            "no valid answer",
            (*base, "ask", "on_fail"),
        )
    if isinstance(state.goto, str):
        kind = EdgeKind.ANSWER if state.ask is not None else EdgeKind.GOTO
        label = f"{state.ask.var} answered" if state.ask is not None else ""
        yield Edge(name, state.goto, kind, label, (*base, "goto"))
    elif state.goto is not None:
        for index, branch in enumerate(state.goto):
            label = f"if {branch.condition}" if branch.condition else "else"
            kind = EdgeKind.ANSWER if state.ask is not None else EdgeKind.BRANCH
            yield Edge(name, branch.to, kind, label, (*base, "goto", index, "to"))
    for index, transition in enumerate(state.on):
        if transition.goto is not None:
            kind = EdgeKind.INPUT if transition.after is None else EdgeKind.TIMER
            loc = (*base, "on", index, "goto")
            yield Edge(name, transition.goto, kind, describe_transition(transition), loc)
    if state.otherwise is not None and state.otherwise.goto is not None:
        loc = (*base, "otherwise", "goto")
        yield Edge(name, state.otherwise.goto, EdgeKind.OTHERWISE, "otherwise", loc)


def flow_edges(flow: Flow) -> Iterator[Edge]:
    """All edges; global transitions come once, with `ANY_STATE` as their source."""
    for name, state in flow.states.items():
        yield from state_edges(name, state)
    for index, transition in enumerate(flow.on):
        if transition.goto is not None:
            loc = ("on", index, "goto")
            yield Edge(
                ANY_STATE, transition.goto, EdgeKind.GLOBAL, describe_transition(transition), loc
            )
