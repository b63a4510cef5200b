"""A validated flow compiled once per content hash: templates, regexes and the state machine.

Every conversation on one flow version shares one `CompiledFlow` and its one `transitions`
machine, built with `model=None` and `auto_transitions=False` (the default adds an edge from
every state to every other: 20 s and 446 MB for 1000 states, reference/libs.md §1). A turn
moves a light cursor with `machine.events[trigger].trigger(cursor)`: about 8 µs whatever the
flow's size. The machine only decides and checks moves; the engine runs side effects itself,
in order.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter
from transitions import Machine

from flows.edges import ANY_STATE, flow_edges
from flows.schema import Ask, Call, Flow, Otherwise, State, Transition
from flows.templates import Expression, TextTemplate, has_template, value_template
from messaging.choices import ChoiceMap
from messaging.content import Content, Text
from messaging.suggestions import Reply
from messaging.text import words

CONTENT: TypeAdapter[Content] = TypeAdapter(Content)
DEFAULT_MAX_ATTEMPTS = 3
YES_NO_CHOICES = (Reply(reply="Oui", data="yes"), Reply(reply="Non", data="no"))

Maker = Callable[[Mapping[str, Any]], Any]


def goto_trigger(dest: str) -> str:
    """The machine event that moves a conversation to `dest`."""
    return f"goto {dest}"


class CompiledContent:
    """A content whose templated strings are compiled; renders to a validated `Content`."""

    __slots__ = ("_constant", "_constant_choices", "_make")

    def __init__(self, content: Content, extra_replies: tuple[Reply, ...] = ()) -> None:
        raw: Any = content.model_dump(exclude_unset=True, by_alias=True, warnings=False)
        if extra_replies and isinstance(content, Text) and not content.suggestions:
            # An ask of type choice or yes_no shows its choices as chips on its prompt.
            raw["suggestions"] = [r.model_dump(exclude_unset=True) for r in extra_replies]
        templated = has_template(raw)
        self._make: Maker = value_template(raw)
        self._constant: Content | None = None if templated else CONTENT.validate_python(raw)
        self._constant_choices = ChoiceMap.of(self._constant) if self._constant else None

    def render(self, context: Mapping[str, Any]) -> Content:
        if self._constant is not None:
            return self._constant
        return CONTENT.validate_python(self._make(context))

    def choices(self, rendered: Content) -> ChoiceMap:
        """The choice map of a rendering of this content (computed once when constant)."""
        if self._constant_choices is not None:
            return self._constant_choices
        return ChoiceMap.of(rendered)


def _says(contents: tuple[Content, ...]) -> tuple[CompiledContent, ...]:
    return tuple(CompiledContent(c) for c in contents)


def _sets(values: Mapping[str, Any]) -> tuple[tuple[str, Maker], ...]:
    return tuple((name, value_template(value)) for name, value in values.items())


def _condition(source: str | None) -> Expression | None:
    return Expression(source) if source is not None else None


@dataclass(frozen=True, slots=True)
class CompiledTransition:
    spec: Transition
    index: int
    data: frozenset[str] | None
    text: re.Pattern[str] | None
    keywords: frozenset[tuple[str, ...]] | None
    """Each keyword as its folded words, matched as a run of the input's words."""
    condition: Expression | None
    set: tuple[tuple[str, Maker], ...]
    say: tuple[CompiledContent, ...]

    @classmethod
    def of(cls, spec: Transition, index: int) -> CompiledTransition:
        return cls(
            spec=spec,
            index=index,
            data=frozenset(spec.data) if spec.data is not None else None,
            text=re.compile(spec.text) if spec.text is not None else None,
            keywords=frozenset(words(k) for k in spec.keywords)
            if spec.keywords is not None
            else None,
            condition=_condition(spec.condition),
            set=_sets(spec.set),
            say=_says(spec.say),
        )

    @property
    def goto(self) -> str | None:
        return self.spec.goto


@dataclass(frozen=True, slots=True)
class CompiledOtherwise:
    set: tuple[tuple[str, Maker], ...]
    say: tuple[CompiledContent, ...]
    goto: str | None

    @classmethod
    def of(cls, spec: Otherwise) -> CompiledOtherwise:
        return cls(set=_sets(spec.set), say=_says(spec.say), goto=spec.goto)


@dataclass(frozen=True, slots=True)
class CompiledCall:
    spec: Call
    url: TextTemplate
    headers: tuple[tuple[str, TextTemplate], ...]
    body: Maker | None

    @classmethod
    def of(cls, spec: Call) -> CompiledCall:
        return cls(
            spec=spec,
            url=TextTemplate(spec.url),
            headers=tuple((k, TextTemplate(v)) for k, v in spec.headers.items()),
            body=value_template(spec.json_body) if spec.json_body is not None else None,
        )

    @property
    def timeout(self) -> timedelta:
        return self.spec.timeout


@dataclass(frozen=True, slots=True)
class CompiledAsk:
    spec: Ask
    prompt: CompiledContent | None
    retry: CompiledContent | None
    choices: tuple[Reply, ...]
    pattern: re.Pattern[str] | None

    @property
    def max_attempts(self) -> int:
        """Invalid answers allowed before `on_fail`; 3 when only `on_fail` is given."""
        return self.spec.max_attempts or DEFAULT_MAX_ATTEMPTS

    @classmethod
    def of(cls, spec: Ask) -> CompiledAsk:
        chips = YES_NO_CHOICES if spec.type == "yes_no" else spec.choices
        return cls(
            spec=spec,
            prompt=CompiledContent(spec.prompt, chips) if spec.prompt is not None else None,
            retry=CompiledContent(spec.retry, chips) if spec.retry is not None else None,
            choices=chips,
            pattern=re.compile(spec.pattern) if spec.pattern is not None else None,
        )


@dataclass(frozen=True, slots=True)
class CompiledState:
    name: str
    spec: State
    say: tuple[CompiledContent, ...]
    set: tuple[tuple[str, Maker], ...]
    call: CompiledCall | None
    ask: CompiledAsk | None
    goto: tuple[tuple[Expression | None, str], ...]
    """The goto entries in order; one entry without condition for a plain `goto: name`."""
    on_input: tuple[CompiledTransition, ...]
    on_timer: tuple[tuple[CompiledTransition, timedelta], ...]
    """The `after` transitions with their delays, in file order; the index names the timer."""
    otherwise: CompiledOtherwise | None
    handoff_say: tuple[CompiledContent, ...]

    @classmethod
    def of(cls, name: str, spec: State) -> CompiledState:
        if isinstance(spec.goto, str):
            goto: tuple[tuple[Expression | None, str], ...] = ((None, spec.goto),)
        else:
            goto = tuple((_condition(b.condition), b.to) for b in spec.goto or ())
        transitions = [CompiledTransition.of(t, i) for i, t in enumerate(spec.on)]
        return cls(
            name=name,
            spec=spec,
            say=_says(spec.say),
            set=_sets(spec.set),
            call=CompiledCall.of(spec.call) if spec.call is not None else None,
            ask=CompiledAsk.of(spec.ask) if spec.ask is not None else None,
            goto=goto,
            on_input=tuple(t for t in transitions if t.spec.after is None),
            on_timer=tuple((t, t.spec.after) for t in transitions if t.spec.after is not None),
            otherwise=CompiledOtherwise.of(spec.otherwise) if spec.otherwise is not None else None,
            handoff_say=_says(spec.handoff.say) if spec.handoff is not None else (),
        )


class CompiledFlow:
    """One flow version, ready to run; share it between every conversation on that version."""

    def __init__(self, flow: Flow, source: str, path: str = "<string>") -> None:
        self.flow = flow
        self.path = path
        self.content_hash = content_hash(source)
        self.states = {name: CompiledState.of(name, state) for name, state in flow.states.items()}
        self.global_on = tuple(CompiledTransition.of(t, i) for i, t in enumerate(flow.on))
        self.machine = _build_machine(flow)

    @property
    def id(self) -> str:
        return self.flow.flow

    @property
    def start(self) -> str:
        return self.flow.start


def content_hash(source: str) -> str:
    """The version of a flow: SHA-256 of its file's text."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _build_machine(flow: Flow) -> Machine:
    names = list(flow.states)
    machine = Machine(
        model=None, states=names, initial=flow.start, auto_transitions=False, send_event=False
    )
    sources: dict[str, set[str]] = defaultdict(set)
    for edge in flow_edges(flow):
        sources[edge.dest].update(names if edge.source == ANY_STATE else [edge.source])
    for dest, from_states in sources.items():
        ordered: list[Any] = sorted(from_states)
        machine.add_transition(goto_trigger(dest), ordered, dest)
    return machine
