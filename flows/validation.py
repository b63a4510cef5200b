"""From a flow file to a `CompiledFlow`, or to every problem that stops it, with positions."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from flows.checks import check_flow
from flows.compiler import CompiledFlow
from flows.loader import dotted, key_position, load_yaml, walk
from flows.problems import FlowError, Problem, Severity
from flows.schema import Ask, Branch, Call, Flow, Handoff, Otherwise, State, Transition
from flows.templates import is_template
from messaging.limits import deferred_context

_DEFERRED = deferred_context(is_template)
_KNOWN_KEYS = sorted(
    {
        field.alias or name
        for model in (Flow, State, Transition, Ask, Call, Handoff, Otherwise, Branch)
        for name, field in model.model_fields.items()
    }
    | {"text", "card", "carousel", "image", "video", "file", "sms", "suggestions", "title"}
    | {"description", "height", "orientation", "width", "cards", "reply", "data", "url", "label"}
    | {"dial", "location", "share_location", "calendar", "start", "end", "lat", "lng", "query"}
)
"""Every key the flow language knows, for "did you mean" hints."""


def parse_flow(text: str, path: str = "<string>") -> tuple[Flow | None, Any, list[Problem]]:
    """Load and schema-check a flow; returns the model (None on errors), the raw tree, problems."""
    raw, problems = load_yaml(text, path)
    if raw is None and not problems:
        return (
            None,
            raw,
            [Problem(path, 1, 1, "the file is empty; a flow needs `flow`, `start` and `states`")],
        )
    if problems and raw is None:
        return None, raw, problems
    if not isinstance(raw, dict):
        return None, raw, [*problems, Problem(path, 1, 1, "a flow file must be a mapping of keys")]
    try:
        flow = Flow.model_validate(raw, context=_DEFERRED)
    except ValidationError as error:
        problems.extend(problem_from_error(path, raw, detail) for detail in error.errors())
        return None, raw, problems
    return flow, raw, problems


def check_text(text: str, path: str = "<string>") -> tuple[Flow | None, list[Problem]]:
    """Every problem of a flow: YAML, schema, then the semantic checks (errors and warnings)."""
    flow, raw, problems = parse_flow(text, path)
    if flow is not None:
        problems.extend(check_flow(flow, raw, path))
    return flow, sorted(set(problems))


def compile_text(text: str, path: str = "<string>") -> CompiledFlow:
    """A runnable flow; raises `FlowError` listing every error (and warning) found."""
    flow, problems = check_text(text, path)
    if flow is None or any(p.severity is Severity.ERROR for p in problems):
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
