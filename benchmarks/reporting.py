"""What every benchmark script shares around its numbers: the common command-line options,
rich tables of right-aligned figures with cells coloured against a target, the machine a run
was on, and the report printed as one JSON object.

Imported as `benchmarks.reporting`: an entry script puts the repository root on `sys.path`
in place of its own folder before importing it (see `benchmarks/store.py`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
from collections.abc import Sequence
from typing import Any

from rich.table import Table

# --- command line -------------------------------------------------------------------------

EXIT_PROMISE = "Always exits 0 after a successful run."
"""Benchmarks only measure: a number off its target is reported, never an error."""


def positive(text: str) -> int:
    """An argparse type: an integer of 1 or more; `_` and `,` may group its digits."""
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {text}")
    return value


def benchmark_parser(about: str) -> argparse.ArgumentParser:
    """The parser of a benchmark script, with the `--json` switch they all take; its
    description is `about` and the promise every benchmark keeps about its exit status."""
    parser = argparse.ArgumentParser(description=f"{about} {EXIT_PROMISE}")
    parser.add_argument("--json", action="store_true", help="print one JSON object, no table")
    return parser


# --- tables -------------------------------------------------------------------------------


def figures_table(
    title: str, columns: Sequence[str], *, caption: str | None = None, labels: int = 0
) -> Table:
    """A table of `columns`, right-aligned figures but for the first `labels` columns."""
    table = Table(title=title, caption=caption)
    for index, name in enumerate(columns):
        table.add_column(name, justify="left" if index < labels else "right")
    return table


def styled(text: str, good: bool) -> str:
    """`text` in green when it meets its target, in red when it does not (rich markup)."""
    style = "green" if good else "red"
    return f"[{style}]{text}[/]"


def ratio_cell(ratio: float, target: float, unit: str = "") -> str:
    """A ratio to two decimals, green when at most `target`."""
    return styled(f"{ratio:.2f}{unit}", ratio <= target)


# --- the machine and JSON -----------------------------------------------------------------


def machine_json(*, implementation: bool = False) -> dict[str, Any]:
    """The Python version (and implementation) and the core count, as JSON fields."""
    found: dict[str, Any] = {"python": platform.python_version()}
    if implementation:
        found["implementation"] = platform.python_implementation()
    found["cores"] = os.cpu_count()
    return found


def machine_line() -> str:
    """The Python version and the core count, for the line under a report's tables."""
    return f"Python {platform.python_version()}, {os.cpu_count()} cores"


def print_json(found: dict[str, Any]) -> None:
    """The report as one indented JSON object on stdout, non-ASCII characters kept."""
    print(json.dumps(found, ensure_ascii=False, indent=2))


# --- latency figures ------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """The value under which `share` (0 to 1) of `values` fall, nearest rank; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def latency_ms(ns: Sequence[int]) -> dict[str, float]:
    """p50, p95, p99 and max of durations in nanoseconds, in milliseconds to 0.01."""
    shares = {"p50": 0.50, "p95": 0.95, "p99": 0.99, "max": 1.0}
    return {name: round(percentile(ns, share) / 1e6, 2) for name, share in shares.items()}
