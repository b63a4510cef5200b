"""YAML loading for flow files: libyaml's C parser, YAML 1.2 scalars, positions on every node.

PyYAML implements YAML 1.1, where `on:`, `yes`, `no`, `off` are booleans, `10:30` is the
integer 630 and `2026-12-12` a date. The flow language needs `on:` as a key and labels such as
`reply: Yes` as strings, so scalars resolve the YAML 1.2 core way: only `true`/`false` are
booleans, and there are no timestamps or base-60 numbers. PyYAML silently keeps the last of
duplicate keys; here each duplicate is a problem. Every mapping and sequence records the
1-based line and column of its items so that later checks can point at them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import yaml

from flows.problems import Problem

Position = tuple[int, int]

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LineDict(dict[Any, Any]):
    """A mapping that knows where it, its keys and its values stand in the file."""

    __slots__ = ("key_pos", "pos", "start")

    def __init__(self) -> None:
        super().__init__()
        self.start: Position = (1, 1)
        self.pos: dict[Any, Position] = {}
        self.key_pos: dict[Any, Position] = {}


class LineList(list[Any]):
    """A sequence that knows where it and each of its items stand in the file."""

    __slots__ = ("pos", "start")

    def __init__(self) -> None:
        super().__init__()
        self.start: Position = (1, 1)
        self.pos: list[Position] = []


def _mark(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


class FlowLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    # Start from no implicit resolvers at all; the YAML 1.2 ones are added below.
    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {}

    def __init__(self, stream: Any, path: str) -> None:
        super().__init__(stream)
        self.path = path
        self.problems: list[Problem] = []

    def construct_line_map(self, node: yaml.MappingNode) -> Any:
        data = LineDict()
        data.start = _mark(node)
        yield data
        self.flatten_mapping(node)
        first_seen: dict[Any, Position] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                line, column = _mark(key_node)
                self.problems.append(
                    Problem(self.path, line, column, "a key must be a plain value")
                )
                continue
            if key in data:
                line, column = _mark(key_node)
                first = first_seen[key]
                message = f"duplicate key `{key}` (first at line {first[0]})"
                self.problems.append(Problem(self.path, line, column, message))
            first_seen.setdefault(key, _mark(key_node))
            data[key] = self.construct_object(value_node, deep=True)
            data.key_pos[key] = _mark(key_node)
            data.pos[key] = _mark(value_node)

    def construct_line_seq(self, node: yaml.SequenceNode) -> Any:
        data = LineList()
        data.start = _mark(node)
        yield data
        data.extend(self.construct_object(child, deep=True) for child in node.value)
        data.pos = [_mark(child) for child in node.value]


FlowLoader.add_constructor("tag:yaml.org,2002:map", FlowLoader.construct_line_map)
FlowLoader.add_constructor("tag:yaml.org,2002:seq", FlowLoader.construct_line_seq)

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
FlowLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
FlowLoader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
FlowLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
FlowLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_bool(loader: FlowLoader, node: yaml.ScalarNode) -> bool:
    return str(loader.construct_scalar(node)).lower() == "true"


def _construct_int(loader: FlowLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text, 0) if text.startswith("0x") else int(text, 10)


FlowLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
FlowLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def load_yaml(text: str, path: str = "<string>") -> tuple[Any, list[Problem]]:
    """Parse YAML text; returns the data (LineDict/LineList containers) and the problems found.

    A syntax error gives no data and one problem at the place libyaml reports.
    """
    loader = FlowLoader(text, path)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"YAML syntax error: {error.problem or error.context}"
        return None, [Problem(path, line, column, message)]
    except yaml.YAMLError as error:
        return None, [Problem(path, 1, 1, f"YAML error: {error}")]
    finally:
        loader.dispose()
    return data, loader.problems


def load_yaml_file(path: Path) -> tuple[Any, list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [Problem(str(path), 1, 1, f"cannot read file: {error}")]
    return load_yaml(text, str(path))


def walk(raw: Any, loc: tuple[Any, ...]) -> tuple[Position, list[str | int], Any]:
    """Follow a path (a pydantic `loc`, or one built by a check) through the raw YAML tree.

    Parts that are not keys or indexes of the current node (pydantic's union tags, for
    instance) are skipped. Returns the deepest position reached, the path of the parts found,
    and the node there.
    """
    node = raw
    position: Position = getattr(raw, "start", (1, 1))
    found: list[str | int] = []
    for part in loc:
        in_mapping = isinstance(node, LineDict) and part in node
        in_sequence = isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node)
        if in_mapping or in_sequence:
            position, node = node.pos[part], node[part]
        else:
            continue
        found.append(part)
    return position, found, node


def key_position(raw: Any, loc: tuple[Any, ...]) -> Position:
    """The position of the last key of `loc` itself (not its value), for "unknown key" errors."""
    parent_position, _, parent = walk(raw, loc[:-1])
    if isinstance(parent, LineDict) and loc and loc[-1] in parent.key_pos:
        return parent.key_pos[loc[-1]]
    return parent_position


def dotted(path: list[str | int] | tuple[str | int, ...]) -> str:
    """`['states', 'ask', 'on', 0]` -> `states.ask.on[0]`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
