"""A pydantic model read from a YAML file, with every problem at its `path:line:column`.

`agents/` may not use the flow tooling's loader (`flows/` is not below it in the house), and
the admin files it reads (agent specs, number declarations) are small: PyYAML's node tree gives
the positions. Every scalar stays a string (no YAML 1.1 `NO` for false, no `+33…` integers);
only `~`, `null` and empty values are null. Duplicate keys and recursive aliases are problems.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Position = tuple[int, int]
Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NULL_TAG = "tag:yaml.org,2002:null"


class YamlModelError(Exception):
    """Every problem of a file, each `path:line:column: field: message`, in file order."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


Hint = Callable[[Loc, Any, str], str]
"""Rewords a validation message for a person: (loc, the data read, pydantic's message)."""


def parse_yaml_model(
    model: type[M],
    text: str,
    path: str,
    *,
    models: Iterable[type[BaseModel]] = (),
    hint: Hint | None = None,
    error: type[YamlModelError] = YamlModelError,
) -> M:
    """`model` from YAML `text`; `error` lists every problem. `models` are the nested models
    whose keys the did-you-mean hints draw from."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as problem:
        mark = problem.problem_mark or problem.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"YAML syntax error: {problem.problem or problem.context}"
        raise error([f"{path}:{line}:{column}: {message}"]) from None
    except yaml.YAMLError as problem:
        raise error([f"{path}:1:1: YAML error: {problem}"]) from None
    if node is None:
        raise error([f"{path}:1:1: the file is empty"])
    tree = _Tree()
    data = tree.build(node, ())
    problems = list(tree.problems)
    every: list[type[BaseModel]] = [model, *models]
    known = sorted({name for each in every for name in each.model_fields})
    try:
        result = model.model_validate(data)
    except ValidationError as failure:
        for detail in failure.errors():
            loc = tuple(detail["loc"])
            message = hint(loc, data, detail["msg"]) if hint else detail["msg"]
            problems.append(_problem(tree, loc, detail["type"], message, known))
    else:
        if not problems:
            return result
    problems.sort(key=lambda p: p[0])
    raise error([f"{path}:{line}:{column}: {message}" for (line, column), message in problems])


class _Tree:
    """Plain data built from YAML nodes, with the position of every value and key."""

    def __init__(self) -> None:
        self.values: dict[Loc, Position] = {(): (1, 1)}
        self.keys: dict[Loc, Position] = {}
        self.problems: list[tuple[Position, str]] = []
        self._active: set[int] = set()

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.values[loc] = _mark(node)
        if id(node) in self._active:
            self.problems.append((_mark(node), f"{_dotted(loc)}: recursive YAML alias"))
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc)
            if isinstance(node, yaml.SequenceNode):
                return [self.build(child, (*loc, i)) for i, child in enumerate(node.value)]
            # Only a plain `~`, `null` or empty value resolves to the null tag (YAML 1.1 and
            # 1.2 agree there); every other scalar stays a string.
            return None if node.tag == _NULL_TAG else str(node.value)
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append((_mark(key_node), "a key must be a plain value"))
                continue
            key = str(key_node.value)
            if key in data:
                first = self.keys[(*loc, key)][0]
                where = _dotted((*loc, key))
                message = f"{where}: duplicate key (first at line {first})"
                self.problems.append((_mark(key_node), message))
                continue
            self.keys[(*loc, key)] = _mark(key_node)
            data[key] = self.build(value_node, (*loc, key))
        return data

    def locate(self, loc: Loc) -> Loc:
        """The longest part of a pydantic `loc` that names a node of the file."""
        found: Loc = ()
        for part in loc:
            if (*found, part) in self.values:
                found = (*found, part)
        return found


def _mark(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _problem(
    tree: _Tree, loc: Loc, kind: str, message: str, known: list[str]
) -> tuple[Position, str]:
    """One pydantic error as a position and `field: message`, worded for a person."""
    if kind == "extra_forbidden":
        parent = tree.locate(loc[:-1])
        key = str(loc[-1])
        text = f"unknown key `{key}`"
        close = difflib.get_close_matches(key, known, n=1)
        if close:
            text += f" (did you mean `{close[0]}`?)"
        position = tree.keys.get((*parent, key), tree.values[parent])
        return position, f"{_dotted(parent)}: {text}" if parent else text
    if kind == "missing":
        parent = tree.locate(loc[:-1])
        text = f"missing `{loc[-1]}`"
        return tree.values[parent], f"{_dotted(parent)}: {text}" if parent else text
    found = tree.locate(loc)
    text = message.removeprefix("Value error, ")
    return tree.values[found], f"{_dotted(found)}: {text}" if found else text
