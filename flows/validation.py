"""From a flow file to a `CompiledFlow`, or to every problem that stops it, with positions."""

from __future__ import annotations

import difflib
import functools
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from flows.checks import check_flow
from flows.compiler import CompiledFlow
from flows.loader import LineDict, LineList, dotted, key_position, load_yaml, walk
from flows.problems import FlowError, Problem, Severity
from flows.schema import Ask, Branch, Call, Flow, Handoff, Otherwise, State, Transition
from flows.templates import is_template
from messaging.content import Card, Carousel, File, Image, RichCard, RichCarousel, Text, Video
from messaging.limits import deferred_context
from messaging.suggestions import (
    AddToCalendar,
    CalendarEvent,
    Dial,
    OpenUrl,
    Place,
    Reply,
    ShareLocation,
    ShowLocation,
)

_DEFERRED = deferred_context(is_template)
_KEYED_MODELS = (
    *(Flow, State, Transition, Ask, Call, Handoff, Otherwise, Branch),
    *(Text, RichCard, RichCarousel, Card, Carousel, Image, Video, File),
    *(Reply, OpenUrl, Dial, ShowLocation, ShareLocation, AddToCalendar, Place, CalendarEvent),
)
_KNOWN_KEYS = sorted(
    {
        field.alias or name
        for model in _KEYED_MODELS
        for name, field in model.model_fields.items()
        if name != "kind"  # the union tag, never written in a flow
    }
)
"""Every key the flow language knows, for "did you mean" hints."""


_SALVAGE_ROUNDS = 8


def parse_flow(text: str, path: str = "<string>") -> tuple[Flow | None, Any, list[Problem]]:
    """Load and schema-check a flow.

    Returns the model, the raw tree and the problems. With schema errors the model is a
    *salvaged* one (the invalid parts dropped) when that is possible, so that the semantic
    checks can still report the rest of the file's mistakes; callers must treat any error
    problem as fatal.
    """
    raw, problems = load_yaml(text, path)
    if raw is None and not problems:
        return (
            None,
            raw,
            [Problem(path, 1, 1, "the file is empty; a flow needs `flow`, `start` and `states`")],
        )
    if problems and raw is None:
        return None, raw, problems
    if not isinstance(raw, LineDict):
        return None, raw, [*problems, Problem(path, 1, 1, "a flow file must be a mapping of keys")]
    try:
        flow = Flow.model_validate(raw, context=_DEFERRED)
    except ValidationError as error:
        problems.extend(problem_from_error(path, raw, detail) for detail in error.errors())
        salvaged, tree = _salvage(raw, error.errors())
        return salvaged, tree, problems
    return flow, raw, problems


def _salvage(raw: LineDict, errors: list[ErrorDetails]) -> tuple[Flow | None, LineDict]:
    """The flow with every invalid part dropped (None when too little is left to check), and
    the tree it was read from, whose positions still point into the file."""
    tree = _copy(raw)
    for _ in range(_SALVAGE_ROUNDS):
        if not _drop_invalid(tree, errors):
            return None, tree
        try:
            return Flow.model_validate(tree, context=_DEFERRED), tree
        except ValidationError as error:
            errors = error.errors()
    return None, tree


def _drop_invalid(tree: LineDict, errors: list[ErrorDetails]) -> bool:
    doomed_keys: list[tuple[LineDict, Any]] = []
    doomed_items: dict[int, tuple[LineList, set[int]]] = {}
    for detail in errors:
        loc = tuple(detail["loc"])
        if loc in (("flow",), ("start",)) and detail["type"] == "missing":
            # Stand-ins keep the rest checkable: the states are still worth looking at.
            states = tree.get("states")
            key = str(loc[0])
            tree[key] = next(iter(states), "start") if isinstance(states, dict) else "flow"
            tree.pos[key] = tree.key_pos[key] = tree.start
            continue
        _, found, _ = walk(tree, loc)
        # Only the invalid key goes: its siblings (a transition's `goto`, say) keep the graph
        # whole, so that reachability does not report consequences of this one mistake.
        if not found or found == ["states"]:
            return False
        _, _, parent = walk(tree, tuple(found[:-1]))
        if isinstance(parent, LineDict):
            doomed_keys.append((parent, found[-1]))
        elif isinstance(parent, LineList):
            doomed_items.setdefault(id(parent), (parent, set()))[1].add(int(found[-1]))
    for mapping, key in doomed_keys:
        mapping.pop(key, None)
    for sequence, indexes in doomed_items.values():
        for index in sorted(indexes, reverse=True):
            del sequence[index]
            del sequence.pos[index]
    return True


def _copy(node: Any) -> Any:
    """A deep copy that keeps the positions of LineDict and LineList containers."""
    if isinstance(node, LineDict):
        mapping = LineDict()
        mapping.start, mapping.pos, mapping.key_pos = node.start, dict(node.pos), dict(node.key_pos)
        mapping.update((key, _copy(value)) for key, value in node.items())
        return mapping
    if isinstance(node, LineList):
        sequence = LineList()
        sequence.start, sequence.pos = node.start, list(node.pos)
        sequence.extend(_copy(item) for item in node)
        return sequence
    return node


def check_text(text: str, path: str = "<string>") -> tuple[Flow | None, list[Problem]]:
    """Every problem of a flow: YAML, schema, then the semantic checks (errors and warnings).

    The flow is returned only when it has no error.
    """
    flow, raw, problems = parse_flow(text, path)
    if flow is not None:
        located = {(p.line, p.column) for p in problems}
        # On a salvaged flow, a consequence of a dropped part lands where that part was.
        problems.extend(p for p in check_flow(flow, raw, path) if (p.line, p.column) not in located)
    if any(p.severity is Severity.ERROR for p in problems):
        flow = None
    return flow, sorted(set(problems))


@functools.lru_cache(maxsize=256)
def compile_text(text: str, path: str = "<string>") -> CompiledFlow:
    """A runnable flow; raises `FlowError` listing every error (and warning) found.

    The same text gives the same `CompiledFlow`, so every conversation on one flow version
    shares one machine and one set of compiled templates (a failure is not remembered).
    """
    flow, problems = check_text(text, path)
    if flow is None:
        raise FlowError(problems)
    return CompiledFlow(flow, text, path)


def load_flow(path: Path | str) -> CompiledFlow:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise FlowError([Problem(str(path), 1, 1, f"cannot read the flow file: {error}")]) from None
    return compile_text(text, str(path))


def check_file(path: Path | str) -> list[Problem]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return [Problem(str(path), 1, 1, f"cannot read the flow file: {error}")]
    return check_text(text, str(path))[1]


def problem_from_error(path: str, raw: Any, detail: ErrorDetails) -> Problem:
    """One pydantic error as a `path:line:column` problem, worded for a person."""
    loc = tuple(detail["loc"])
    kind = detail["type"]
    if kind == "extra_forbidden":
        _, parent_path, _ = walk(raw, loc[:-1])
        line, column = key_position(raw, loc)
        key = loc[-1]
        message = f"unknown key `{key}`"
        close = difflib.get_close_matches(str(key), _KNOWN_KEYS, n=1)
        if close:
            message += f" (did you mean `{close[0]}`?)"
        where = dotted(parent_path)
        return Problem(path, line, column, f"{where}: {message}" if where else message)
    if kind == "missing":
        (line, column), found, _ = walk(raw, loc[:-1])
        where = dotted(found)
        message = f"missing `{loc[-1]}`"
        return Problem(path, line, column, f"{where}: {message}" if where else message)
    (line, column), found, _ = walk(raw, loc)
    message = detail["msg"].removeprefix("Value error, ")
    where = dotted(found)
    return Problem(path, line, column, f"{where}: {message}" if where else message)
