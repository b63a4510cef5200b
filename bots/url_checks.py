"""R28 at validation time: the URLs written in a flow's messages, checked against the
deployment's URL policy, each problem at its `path:line:column`.

A URL that comes from a template (`{{ link }}`) cannot be known here: the dispatcher checks
it when the message leaves (compliance.gate). Backend calls (`call:`) are not messages and
are left out, as are the flow's `vars` (checked where they are used, when sent).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from compliance.urls import UrlPolicy
from flows.loader import LineDict, LineList, Position, dotted, load_yaml
from flows.problems import Problem

NOT_MESSAGES = frozenset({"call", "vars"})
"""Keys whose values never reach a phone as text."""


def flow_url_problems(path: Path, policy: UrlPolicy) -> list[Problem]:
    """A problem for each static URL of the flow's messages that the policy refuses."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []  # the flow check reports an unreadable file
    raw, _ = load_yaml(text, str(path))
    problems = []
    for (line, column), loc, value in _strings(raw, (1, 1), ()):
        if "{{" in value or "{%" in value:
            continue
        for message in policy.problems(value):
            where = dotted(loc)
            problems.append(Problem(str(path), line, column, f"{where}: {message}"))
    return problems


def _strings(
    node: Any, position: Position, loc: tuple[str | int, ...]
) -> Iterator[tuple[Position, tuple[str | int, ...], str]]:
    if isinstance(node, str):
        yield position, loc, node
    elif isinstance(node, LineDict):
        for key, value in node.items():
            if key in NOT_MESSAGES:
                continue
            yield from _strings(value, node.pos.get(key, position), (*loc, key))
    elif isinstance(node, LineList):
        for index, value in enumerate(node):
            at = node.pos[index] if index < len(node.pos) else position
            yield from _strings(value, at, (*loc, index))
