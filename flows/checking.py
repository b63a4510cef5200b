"""The flow under check: its model, its raw YAML for positions, and the walks checks share."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from flows.compiler import YES_NO_CHOICES
from flows.loader import LineList, Position, dotted, key_position, walk
from flows.problems import Problem, Severity
from flows.schema import Ask, AskType, Flow, State, Transition
from messaging.content import Content
from messaging.suggestions import Reply

Loc = tuple[str | int, ...]
"""A path through the YAML tree, as `flows.edges.Edge.loc` and pydantic write it."""


@dataclass(frozen=True, slots=True)
class FlowFile:
    """A flow being checked: its model, its raw YAML tree for positions, and its path."""

    flow: Flow
    raw: Any
    path: str

    def problem(
        self, loc: Loc, message: str, *, key: bool = False, severity: Severity = Severity.ERROR
    ) -> Problem:
        """A problem at the value written at `loc` (at its key with `key=True`)."""
        position, found, _ = walk(self.raw, loc)
        if key:
            position = key_position(self.raw, loc)
        return self.problem_at(position, found, message, severity)

    def problem_at(
        self,
        position: Position,
        found: Iterable[str | int],
        message: str,
        severity: Severity = Severity.ERROR,
    ) -> Problem:
        """A problem at an explicit position, prefixed by the dotted YAML path `found`."""
        where = dotted(list(found))
        line, column = position
        text = f"{where}: {message}" if where else message
        return Problem(self.path, line, column, text, severity)

    def node(self, loc: Loc) -> Any:
        """The raw YAML node at `loc`, or None when `loc` is not written in the file."""
        _, found, node = walk(self.raw, loc)
        return node if len(found) == len(loc) else None

    @staticmethod
    def did_you_mean(name: str, options: Iterable[str]) -> str:
        close = difflib.get_close_matches(name, list(options), n=1)
        return f" (did you mean '{close[0]}'?)" if close else ""

    def states(self) -> Iterator[tuple[str, State, Loc]]:
        for name, state in self.flow.states.items():
            yield name, state, ("states", name)

    def transitions(self) -> Iterator[tuple[Loc, Transition, State | None]]:
        """Every `on` entry: each state's, then the global ones (with None for the state)."""
        for _, state, loc in self.states():
            for index, transition in enumerate(state.on):
                yield (*loc, "on", index), transition, state
        for index, transition in enumerate(self.flow.on):
            yield ("on", index), transition, None

    def sets(self) -> Iterator[tuple[Loc, dict[str, Any]]]:
        """Every `set` mapping: states', transitions' and `otherwise`'s."""
        for _, state, loc in self.states():
            yield (*loc, "set"), state.set
            if state.otherwise is not None:
                yield (*loc, "otherwise", "set"), state.otherwise.set
        for loc, transition, _ in self.transitions():
            yield (*loc, "set"), transition.set

    def says(self, loc: Loc, contents: tuple[Content, ...]) -> Iterator[tuple[Loc, Content]]:
        """The contents of a `say`, each with its own path: `say` holds one or a list."""
        if isinstance(self.node(loc), LineList):
            yield from (((*loc, index), content) for index, content in enumerate(contents))
        elif contents:
            yield loc, contents[0]

    def contents(self) -> Iterator[tuple[Loc, Content, tuple[Reply, ...]]]:
        """Every content the flow sends, with the chips the compiler adds to an ask's prompt."""
        for _, state, loc in self.states():
            yield from ((*c, ()) for c in self.says((*loc, "say"), state.say))
            if state.otherwise is not None:
                says = self.says((*loc, "otherwise", "say"), state.otherwise.say)
                yield from ((*c, ()) for c in says)
            if state.handoff is not None:
                says = self.says((*loc, "handoff", "say"), state.handoff.say)
                yield from ((*c, ()) for c in says)
            if state.ask is not None:
                chips = ask_chips(state.ask)
                for key, content in (("prompt", state.ask.prompt), ("retry", state.ask.retry)):
                    if content is not None:
                        yield (*loc, "ask", key), content, chips
        for loc, transition, _ in self.transitions():
            yield from ((*c, ()) for c in self.says((*loc, "say"), transition.say))


def ask_chips(ask: Ask) -> tuple[Reply, ...]:
    """The chips `flows.compiler.CompiledAsk` puts on a prompt without suggestions of its own."""
    return YES_NO_CHOICES if ask.type is AskType.YES_NO else ask.choices


Check = Callable[[FlowFile], Iterable[Problem]]
"""A check: every problem of one kind in the flow, none stopping the others."""
