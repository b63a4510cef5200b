"""Durations as flows write them: `30s`, `10m`, `2h`, `1d`, or combined like `1h30m`."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)\s*([smhd])")
_WHOLE = re.compile(r"^\s*(?:\d+\s*[smhd]\s*)+$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """`2h` -> 2 hours. Raises ValueError naming the text when it is not a duration."""
    if not isinstance(text, str) or not _WHOLE.match(text):
        raise ValueError(
            f"bad duration {text!r}: write a number and a unit s, m, h or d "
            "(30s, 10m, 2h, 1d, 1h30m)"
        )
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))
    if seconds <= 0:
        raise ValueError(f"bad duration {text!r}: it must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest flow spelling of a duration: 5400 s -> `1h30m`."""
    seconds = int(delta.total_seconds())
    parts = []
    for unit in "dhms":
        amount, seconds = divmod(seconds, _UNIT_SECONDS[unit])
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0s"
