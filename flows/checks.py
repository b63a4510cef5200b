"""Semantic checks of a schema-valid flow: what `causette validate` reports beyond the schema.

FLOWS.md promises that validation reports every problem, not just the first, each at
`path:line:column`. So each check is a small function from a `FlowFile` to the problems it
finds, `CHECKS` lists them in order, and none stops the others. Checks read the pydantic model
for meaning and the raw YAML tree (`LineDict`/`LineList`) for positions.

The rules follow `flows.engine` and `flows.compiler`, so that what validation calls unused,
ignored or endless is what the engine really does. The graph checks live in
`flows.checks_graph`, the template checks in `flows.checks_templates`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

from pydantic import ValidationError

from flows.checking import Check, FlowFile, Loc
from flows.checks_graph import (
    dead_ends,
    goto_loops,
    never_waits,
    shadowed_branches,
    unknown_states,
    unreachable_states,
    unread_input,
)
from flows.checks_templates import templates
from flows.compiler import CompiledContent
from flows.loader import LineDict
from flows.problems import Problem, Severity
from flows.schema import AskType, Flow, State, Traffic, Transition
from flows.templates import has_template, is_template
from messaging.content import Text
from messaging.encoding import Encoding, non_gsm7_characters
from messaging.limits import CHIPS_MAX
from messaging.renderers.sms import DEFAULT_STOP_MENTION, render_sms

SMS_SEGMENTS_WARN: Final = 3
"""FLOWS.md "SMS rendering": validation warns when a rendered SMS needs more than this."""


INPUT_CONDITIONS: Final = ("data", "text", "keywords", "location", "file")
"""Transition conditions that read an inbound message (`if` may also guard a timer)."""

_ASK_EXTRAS: Final = {
    "choices": frozenset({AskType.CHOICE}),
    "pattern": frozenset({AskType.REGEX}),
    "min": frozenset({AskType.NUMBER, AskType.INTEGER}),
    "max": frozenset({AskType.NUMBER, AskType.INTEGER}),
}
"""Ask keys and the answer types that read them (`flows.answers.read_answer`)."""


def is_catch_all(file: FlowFile, loc: Loc, transition: Transition) -> bool:
    """True for an `on` entry that matches every input: no condition and no `after`.

    The file is read too: when the schema rejected a condition or an `after`, validation
    checks a model with it left out, which must not make the entry look unconditional.
    """
    conditions = (*(getattr(transition, key) for key in INPUT_CONDITIONS), transition.condition)
    if transition.after is not None or any(value is not None for value in conditions):
        return False
    node = file.node(loc)
    keys = (*INPUT_CONDITIONS, "if", "after")
    return not (isinstance(node, LineDict) and any(key in node for key in keys))


# --- variables, regular expressions --------------------------------------------------------


def undeclared_variables(file: FlowFile) -> Iterator[Problem]:
    declared = file.flow.vars

    def message(name: str) -> str:
        hint = file.did_you_mean(name, declared)
        return f"variable '{name}' is not declared{hint}: add `{name}: null` under `vars`"

    for loc, values in file.sets():
        for name in values:
            if name not in declared:
                yield file.problem((*loc, name), message(name), key=True)
    for _, state, loc in file.states():
        if state.ask is not None and state.ask.var not in declared:
            yield file.problem((*loc, "ask", "var"), message(state.ask.var))
        save = state.call.save if state.call is not None else None
        if save is not None and save not in declared:
            yield file.problem((*loc, "call", "save"), message(save))


def regular_expressions(file: FlowFile) -> Iterator[Problem]:
    patterns: list[tuple[Loc, str]] = [
        ((*loc, "text"), transition.text)
        for loc, transition, _ in file.transitions()
        if transition.text is not None
    ]
    patterns += [
        ((*loc, "ask", "pattern"), state.ask.pattern)
        for _, state, loc in file.states()
        if state.ask is not None and state.ask.pattern is not None
    ]
    for loc, pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as error:
            message = f"bad regular expression: {error} (Python `re` syntax)"
            yield file.problem(loc, message)


# --- what a state does ------------------------------------------------------------------


def conflicting_endings(file: FlowFile) -> Iterator[Problem]:
    """`end` and `handoff` stop the conversation (or the bot): nothing may follow them."""
    for name, state, loc in file.states():
        if state.end:
            stop, why = "end: true", "remove one"
        elif state.handoff is not None:
            stop, why = "a handoff", "the bot stays silent after a handoff"
        else:
            continue
        for key in ("ask", "goto", "handoff"):
            if getattr(state, key) is not None and not stop.endswith(key):
                message = f"state '{name}' has {stop}, so it cannot also have {key}: {why}"
                yield file.problem((*loc, key), message, key=True)


def ask_rules(file: FlowFile) -> Iterator[Problem]:
    for _, state, loc in file.states():
        ask = state.ask
        if ask is None:
            continue
        at = (*loc, "ask")
        if state.goto is None:
            yield file.problem(at, "an ask needs a goto to continue after a valid answer", key=True)
        if ask.type is AskType.CHOICE and not ask.choices:
            yield file.problem((*at, "type"), "an ask of type choice needs `choices`")
        if ask.type is AskType.REGEX and ask.pattern is None:
            yield file.problem((*at, "type"), "an ask of type regex needs a `pattern`")
        for key, types in _ASK_EXTRAS.items():
            if key in ask.model_fields_set and ask.type not in types:
                uses = " or ".join(sorted(types))
                message = f"ignored: an ask of type {ask.type} does not use {key} (only {uses} do)"
                yield file.problem((*at, key), message, key=True, severity=Severity.WARNING)
        low, high = ask.min, ask.max
        if ask.type in _ASK_EXTRAS["min"] and low is not None and high is not None and low > high:
            message = f"min {low:g} is above max {high:g}: no answer can be valid"
            yield file.problem((*at, "min"), message)
        if ask.max_attempts is not None and ask.on_fail is None:
            message = "max_attempts does nothing without on_fail: the question is asked forever"
            yield file.problem((*at, "max_attempts"), message, key=True, severity=Severity.WARNING)


def ask_chips_fit(file: FlowFile) -> Iterator[Problem]:
    """A choice prompt without suggestions gets its choices as chips, at most `CHIPS_MAX`."""
    for _, state, loc in file.states():
        ask = state.ask
        if ask is None or len(ask.choices) <= CHIPS_MAX:
            continue
        prompts = (ask.prompt, ask.retry)
        if any(isinstance(p, Text) and not p.suggestions for p in prompts):
            message = (
                f"{len(ask.choices)} choices, but the prompt shows them as chips and RBM allows "
                f"at most {CHIPS_MAX}: keep {CHIPS_MAX} or give the prompt its own suggestions"
            )
            yield file.problem((*loc, "ask", "choices"), message, key=True)


def transition_rules(file: FlowFile) -> Iterator[Problem]:
    for loc, transition, state in file.transitions():
        if transition.after is None:
            continue
        if state is None:
            message = "a global transition reacts to input only: move this after into a state's on"
            yield file.problem((*loc, "after"), message, key=True)
            continue
        for key in INPUT_CONDITIONS:
            if getattr(transition, key) is not None:
                message = (
                    f"a transition with after is a timer, it cannot also match {key}: "
                    "split it into two transitions"
                )
                yield file.problem((*loc, key), message, key=True)


def catch_alls(file: FlowFile) -> Iterator[Problem]:
    """What an `on` entry without conditions hides: later entries, `otherwise`, the answers."""
    states = file.flow.states.values()
    has_answers = any(s.ask is not None or s.otherwise is not None for s in states)
    lists: list[tuple[Loc, tuple[Transition, ...], State | None]] = [
        ((*loc, "on"), state.on, state) for _, state, loc in file.states()
    ]
    lists.append((("on",), file.flow.on, None))
    for loc, transitions, state in lists:
        if state is not None and never_waits(state):
            continue  # `unread_input` reports its whole `on`
        first = next(
            (i for i, t in enumerate(transitions) if is_catch_all(file, (*loc, i), t)), None
        )
        if first is None:
            continue
        for index in range(first + 1, len(transitions)):
            if transitions[index].after is None:  # timers are not input matches
                message = f"never reached: on[{first}] before it matches any input"
                yield file.problem((*loc, index), message, severity=Severity.WARNING)
        if state is None and has_answers:
            message = (
                "a global transition without condition matches any input a state's own on "
                "leaves: asks never get an answer and otherwise is never used; add a condition"
            )
            yield file.problem((*loc, first), message, severity=Severity.WARNING)
        elif state is not None and state.ask is not None:
            message = "matches any input, so the ask never gets an answer; add a condition"
            yield file.problem((*loc, first), message, severity=Severity.WARNING)
        elif state is not None and state.otherwise is not None:
            message = f"never used: on[{first}] matches any input"
            at = (*loc[:-1], "otherwise")
            yield file.problem(at, message, key=True, severity=Severity.WARNING)


def unused_otherwise(file: FlowFile) -> Iterator[Problem]:
    for name, state, loc in file.states():
        if state.ask is not None and state.otherwise is not None:
            message = (
                f"never used: state '{name}' has an ask, so input that no transition matches is "
                "read as the answer (use ask.retry for invalid answers)"
            )
            yield file.problem((*loc, "otherwise"), message, key=True, severity=Severity.WARNING)


# --- contents ---------------------------------------------------------------------------


def duplicate_choices(file: FlowFile) -> Iterator[Problem]:
    """Two choices of an ask with one data: the answer could not tell them apart.

    A content's own chips are checked by `messaging.content` with the schema; an ask's
    choices become chips only when the flow is compiled, so they are checked here.
    """
    for _, state, loc in file.states():
        if state.ask is None:
            continue
        seen: dict[str, int] = {}
        for index, choice in enumerate(state.ask.choices):
            at: Loc = (*loc, "ask", "choices", index)
            if "data" not in choice.model_fields_set and is_template(choice.reply):
                continue  # its default data is the slug of a label rendered at run time
            first = seen.setdefault(choice.postback, index)
            if first == index:
                continue
            node = file.node(at)
            if isinstance(node, LineDict) and "data" in node:
                at = (*at, "data")
            message = (
                f"duplicate choice data '{choice.postback}' (same as choices[{first}]): the "
                "answer could not tell them apart; give each choice its own data"
            )
            yield file.problem(at, message)


def long_sms(file: FlowFile) -> Iterator[Problem]:
    stop_mention = DEFAULT_STOP_MENTION if file.flow.traffic is Traffic.MARKETING else None
    for loc, content, chips in file.contents():
        dumped = content.model_dump(exclude_unset=True, by_alias=True, warnings=False)
        if has_template(dumped) or any(has_template(chip.model_dump()) for chip in chips):
            continue  # a templated text has no length until it is rendered
        try:
            sent = CompiledContent(content, chips).render({})
        except ValidationError:
            continue  # too many chips: `ask_chips_fit` reports it
        sms = render_sms(sent, stop_mention=stop_mention)
        segments = sms.segments
        if segments.count <= SMS_SEGMENTS_WARN:
            continue
        encoding = "GSM-7" if segments.encoding is Encoding.GSM7 else "UCS-2"
        message = (
            f"this message takes {segments.count} SMS segments ({encoding}, {len(sms.text)} "
            f"characters); FLOWS.md warns above {SMS_SEGMENTS_WARN}: shorten it or give it a "
            "shorter `sms:` text"
        )
        wide = non_gsm7_characters(sms.text)
        if segments.encoding is Encoding.UCS2 and len(wide) <= 5:
            # A stray typographic character is the usual culprit, and an easy fix.
            shown = " ".join(wide)
            message += f"; these switch it to UCS-2, 67 characters a segment, not 153: {shown}"
        yield file.problem(loc, message, severity=Severity.WARNING)


CHECKS: Final[tuple[Check, ...]] = (
    unknown_states,
    unreachable_states,
    dead_ends,
    goto_loops,
    undeclared_variables,
    templates,
    regular_expressions,
    conflicting_endings,
    ask_rules,
    ask_chips_fit,
    unread_input,
    transition_rules,
    catch_alls,
    unused_otherwise,
    shadowed_branches,
    duplicate_choices,
    long_sms,
)


def check_flow(flow: Flow, raw: Any, path: str) -> list[Problem]:
    """Every semantic problem of a flow the schema accepted, errors and warnings, in check order.

    `raw` is the YAML tree the flow was read from (`flows.loader.load_yaml`), for positions.
    """
    file = FlowFile(flow, raw, path)
    return [problem for check in CHECKS for problem in check(file)]
