"""`${VAR}` references in `bots.yaml`: deployment values taken from the environment.

A container image carries one `bots.yaml`; what changes between deployments (the store URL,
the public URL, the providers' hosts) comes from the environment, as in docker-compose:

```yaml
store: ${CAUSETTE_STORE:-sqlite://causette.db}
public_url: ${CAUSETTE_PUBLIC_URL}
```

`${NAME}` must be set (empty is allowed, as in compose); `${NAME:-default}` falls back to
`default` when NAME is unset or empty; `$$` writes a single `$`. References are replaced in
string values only (never in keys), before the file is validated, so every other check sees
the final value and problems keep the file's line and column.

Secrets still belong in `*_env` fields, which name a variable without reading it into the
settings: a problem with an interpolated value may quote that value, and a problem with a
reference names the variable only, never its value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from flows.loader import LineDict, LineList, Position, dotted
from flows.problems import Problem

Loc = tuple[str | int, ...]

_REFERENCE = re.compile(
    r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|(?P<bad>\{[^}]*\}?))"
)


def interpolate(raw: Any, environ: Mapping[str, str], path: str) -> list[Problem]:
    """Replace the references in every string value of `raw` (a `load_yaml` tree) in place;
    a problem, at the value's position, for each unset variable or malformed reference."""
    problems: list[Problem] = []
    for holder, loc, (line, column) in _string_slots(raw, ()):
        value, missing = _substitute(holder[loc[-1]], environ)
        holder[loc[-1]] = value
        problems.extend(Problem(path, line, column, f"{dotted(loc)}: {m}") for m in missing)
    return problems


def _string_slots(node: Any, loc: Loc) -> Iterator[tuple[Any, Loc, Position]]:
    """(container, path, position) of every string value with a `$` in it."""
    if isinstance(node, LineDict):
        slots: Iterator[tuple[Any, Position]] = ((key, node.pos[key]) for key in node)
    elif isinstance(node, LineList):
        slots = ((index, node.pos[index]) for index in range(len(node)))
    else:
        return
    for key, position in slots:
        value = node[key]
        if isinstance(value, str) and "$" in value:
            yield node, (*loc, key), position
        else:
            yield from _string_slots(value, (*loc, key))


def _substitute(text: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group("bad") is not None:
            missing.append(
                f"`${match.group('bad')}` is not a reference: write ${{NAME}} or "
                "${NAME:-default} (`$$` for a dollar sign)"
            )
            return ""
        name, default = match.group("name"), match.group("default")
        value = environ.get(name)
        if default is not None and not value:
            return default
        if value is None:
            missing.append(
                f"environment variable `{name}` is not set (write ${{{name}:-default}}"
                " for a default)"
            )
            return ""
        return value

    return _REFERENCE.sub(replace, text), missing
