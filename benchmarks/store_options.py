"""The command line the benchmarks that time turns on SQLite stores they generate share
(`store.py`'s scale part, `memory.py`): a `--quick` smoke run whose values fill the options
left unset, the size a generated store may have, and the options of the timed turns.

Imported as `benchmarks.store_options`: an entry script puts the repository root on
`sys.path` in place of its own folder before importing it (see `benchmarks/store.py`).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from benchmarks import reporting
from benchmarks.store_runtime import MAX_CONVERSATIONS


def store_size(text: str) -> int:
    """An argparse type: the conversations of a generated store, 2 (one started, one
    waiting) up to what `store_generate.py` numbers; digits grouped as `positive` takes."""
    value = reporting.positive(text)
    if not 2 <= value < MAX_CONVERSATIONS:
        raise argparse.ArgumentTypeError(
            f"each store needs 2 to {MAX_CONVERSATIONS - 1:,} conversations: {text}"
        )
    return value


def untimed(text: str) -> int:
    """An argparse type: a count of untimed turns, 0 or more."""
    value = int(text)  # a ValueError: argparse says "invalid untimed value"
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text}")
    return value


def add_quick(parser: argparse.ArgumentParser, what: str) -> None:
    """`--quick`: a fast smoke run of `what` (its values, which `settle` gives the options
    left unset)."""
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a fast smoke run: {what} (options given explicitly still apply)",
    )


def settle(
    args: argparse.Namespace, full: Mapping[str, object], quick: Mapping[str, object]
) -> None:
    """Each option of `full` left unset (None) takes its `quick` value under `--quick`, else
    its `full` one."""
    for name, value in full.items():
        if getattr(args, name) is None:
            setattr(args, name, quick[name] if args.quick else value)


def add_turn_options(
    parser: argparse.ArgumentParser, *, turns: int, warmup: int, where: str, part: str = ""
) -> None:
    """`--turns` (timed turns `where`; unset, for `settle` to fill with `turns` or its quick
    value), `--warmup` (untimed turns first, `warmup` by default) and `--seed` (which
    waiting conversations the turns pick). `part` starts each help text (`"scale: "`)."""
    parser.add_argument(
        "--turns",
        type=reporting.positive,
        help=f"{part}timed turns {where} (default: {turns:,})",
    )
    parser.add_argument(
        "--warmup",
        type=untimed,
        default=warmup,
        help=f"{part}untimed turns first, {where} (default: {warmup})",
    )
    parser.add_argument("--seed", type=int, default=1, help=f"{part}picks the conversations")
