"""Checks of a flow's Jinja: every template and `if:` compiles, and uses names that exist.

Each string is compiled the way `flows.compiler` will compile it (a `set:`, `json:` or content
string through `value_template`, a URL or header through `TextTemplate`, a condition through
`Expression`), so an error found here is the one loading the flow would raise, and a flow that
passes here compiles. Undefined names render as errors at run time (FLOWS.md "Templates and
context"); the ones visible in the source are reported now.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

from jinja2 import TemplateSyntaxError, meta, nodes

from flows.loader import LineDict, LineList, Position, key_position, walk
from flows.problems import Problem
from flows.templates import (
    CONTEXT_NAMES,
    ENVIRONMENT,
    Expression,
    TextTemplate,
    is_template,
    parse_names,
    value_template,
)

if TYPE_CHECKING:
    from flows.checking import FlowFile, Loc

INPUT_FIELDS: Final = frozenset({"text", "data", "location", "file"})
"""What `input` holds (FLOWS.md "Templates and context"; `flows.engine._Input.as_context`)."""

_UNKNOWN_HELPER = re.compile(r"No (filter|test) named '([^']+)'")


class Kind(Enum):
    """How the compiler reads a string, and so how it must compile here."""

    VALUE = "value"  # `set:`, `json:` and content strings: `value_template`
    TEXT = "text"  # call URL and headers: `TextTemplate`
    EXPRESSION = "expression"  # `if:` conditions: `Expression`


_COMPILE: Final[dict[Kind, Callable[[str], object]]] = {
    Kind.VALUE: value_template,
    Kind.TEXT: TextTemplate,
    Kind.EXPRESSION: Expression,
}


def _sites(file: FlowFile) -> Iterator[tuple[Loc, Kind]]:
    """Where templates are written: the keys whose values `flows.compiler` compiles."""
    for _, state, loc in file.states():
        yield (*loc, "say"), Kind.VALUE
        yield from (((*loc, "set", name), Kind.VALUE) for name in state.set)
        if state.call is not None:
            yield (*loc, "call", "url"), Kind.TEXT
            yield from (((*loc, "call", "headers", h), Kind.TEXT) for h in state.call.headers)
            yield (*loc, "call", "json"), Kind.VALUE
        yield (*loc, "ask", "prompt"), Kind.VALUE
        yield (*loc, "ask", "retry"), Kind.VALUE
        yield (*loc, "handoff", "say"), Kind.VALUE
        if isinstance(state.goto, tuple):
            yield from (((*loc, "goto", i, "if"), Kind.EXPRESSION) for i in range(len(state.goto)))
        if state.otherwise is not None:
            yield (*loc, "otherwise", "say"), Kind.VALUE
            yield from (((*loc, "otherwise", "set", n), Kind.VALUE) for n in state.otherwise.set)
    for loc, transition, _ in file.transitions():
        yield (*loc, "if"), Kind.EXPRESSION
        yield (*loc, "say"), Kind.VALUE
        yield from (((*loc, "set", name), Kind.VALUE) for name in transition.set)


def _strings(node: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    """Every string under a raw YAML node (values only: mapping keys are never templates)."""
    if isinstance(node, str):
        yield loc, node
    elif isinstance(node, LineDict):
        for key, value in node.items():
            yield from _strings(value, (*loc, key))
    elif isinstance(node, LineList):
        for index, value in enumerate(node):
            yield from _strings(value, (*loc, index))


def _position(file: FlowFile, loc: Loc, source: str, lineno: int) -> Position:
    """Where line `lineno` of a template stands in the file.

    The YAML tree keeps only where a string starts: for a block scalar (`|`), the indicator.
    A string ending in a newline is taken for one, whose template line n is n lines below the
    indicator, indented (usually) two columns past its key. Anything else points at the string.
    """
    position, _, _ = walk(file.raw, loc)
    lines = source.split("\n")
    if lineno <= 1 or not source.endswith("\n") or lineno >= len(lines):
        return position
    line, column = position
    parent = file.node(loc[:-1])
    if isinstance(parent, LineDict):
        column = key_position(file.raw, loc)[1] + 2
    text = lines[lineno - 1]
    return line + lineno, column + len(text) - len(text.lstrip(" "))


def _syntax_error(file: FlowFile, error: TemplateSyntaxError) -> str:
    message = f"template syntax error: {error.message or error}"
    helper = _UNKNOWN_HELPER.search(error.message or "")
    if helper:
        known = ENVIRONMENT.filters if helper[1] == "filter" else ENVIRONMENT.tests
        message += file.did_you_mean(helper[2], known)
    return message


def _line_note(lineno: int) -> str:
    return f" (line {lineno} of the template)" if lineno > 1 else ""


def _called(tree: nodes.Template) -> set[int]:
    """The ids of `x.name` nodes that are called: `vars.get(...)` is dict's method, not a var."""
    calls = tree.find_all(nodes.Call)
    return {id(call.node) for call in calls if isinstance(call.node, nodes.Getattr)}


def _lookups(tree: nodes.Template, name: str) -> Iterator[tuple[str, int]]:
    """`name.x` and `name['x']` in a template, as (x, line), method calls left out."""
    called = _called(tree)
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        if not isinstance(node.node, nodes.Name) or node.node.name != name:
            continue
        if isinstance(node, nodes.Getattr):
            if id(node) not in called:
                yield node.attr, node.lineno
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            yield node.arg.value, node.lineno


def _unknown_keys(
    tree: nodes.Template, name: str, known: Collection[str]
) -> Iterator[tuple[str, int]]:
    """Keys of `name` the template reads that are not in `known`, each once, with its line."""
    seen: set[str] = set()
    for key, line in _lookups(tree, name):
        if key not in known and key not in seen:
            seen.add(key)
            yield key, line


def _names(file: FlowFile, tree: nodes.Template) -> Iterator[tuple[str, int]]:
    """Messages about the names a template reads, each with the template line to point at."""
    free = meta.find_undeclared_variables(tree)
    allowed = CONTEXT_NAMES | set(ENVIRONMENT.globals)
    first_line: dict[str, int] = {}
    for name_node in tree.find_all(nodes.Name):
        first_line.setdefault(name_node.name, name_node.lineno)
    for name in sorted(free - allowed):
        hint = file.did_you_mean(name, CONTEXT_NAMES)
        listed = ", ".join(sorted(CONTEXT_NAMES))
        yield f"unknown name '{name}'{hint}: templates can use {listed}", first_line.get(name, 1)
    if "vars" in free:
        for var, line in _unknown_keys(tree, "vars", file.flow.vars):
            hint = file.did_you_mean(var, file.flow.vars)
            yield f"unknown variable 'vars.{var}'{hint}: declare '{var}' under `vars`", line
    if "input" in free:
        listed = ", ".join(sorted(INPUT_FIELDS))
        for field, line in _unknown_keys(tree, "input", INPUT_FIELDS):
            hint = file.did_you_mean(field, INPUT_FIELDS)
            yield f"unknown field 'input.{field}'{hint}: input has {listed}", line


def templates(file: FlowFile) -> Iterator[Problem]:
    for site, kind in _sites(file):
        for loc, source in _strings(file.node(site), site):
            if kind is not Kind.EXPRESSION and not is_template(source):
                continue
            try:
                _COMPILE[kind](source)
                tree = parse_names(source, expression=kind is Kind.EXPRESSION)
                found = list(_names(file, tree))
            except TemplateSyntaxError as error:
                lineno = error.lineno or 1
                message = _syntax_error(file, error) + _line_note(lineno)
                yield file.problem_at(_position(file, loc, source, lineno), loc, message)
                continue
            for message, lineno in found:
                position = _position(file, loc, source, lineno)
                yield file.problem_at(position, loc, message + _line_note(lineno))
