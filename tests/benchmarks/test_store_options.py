"""The command line `benchmarks/store.py` and `benchmarks/memory.py` share
(`benchmarks/store_options.py`): `--quick` fills only the options left unset, a generated
store's size and the untimed turns are checked as they are read."""

from __future__ import annotations

import argparse

import pytest

from benchmarks import memory, store
from benchmarks.store_options import settle, store_size, untimed
from benchmarks.store_runtime import MAX_CONVERSATIONS


def test_quick_fills_the_options_left_unset_and_keeps_the_ones_given() -> None:
    full = store.parse_args([])
    quick = store.parse_args(["--quick"])
    given = store.parse_args(["--quick", "--turns", "7", "--large", "50"])

    assert [full.conversations, full.rounds, full.large, full.turns] == [2000, 3, 1_000_000, 500]
    assert [quick.conversations, quick.rounds, quick.large, quick.turns] == [500, 2, 10_000, 200]
    assert [given.conversations, given.rounds, given.large, given.turns] == [500, 2, 50, 7]
    assert (full.small, full.warmup, full.seed) == (1000, 20, 1)


def test_memory_takes_the_same_quick_run_and_sorts_its_sizes() -> None:
    full = memory.parse_args(["--cache-dir", "unused"])
    quick = memory.parse_args(["--quick", "--sizes", "40", "10", "40", "--cache-dir", "unused"])

    assert (full.sizes, full.turns, full.rounds) == ([1000, 100_000, 1_000_000], 2000, 3)
    assert (quick.sizes, quick.turns, quick.rounds) == ([10, 40], 500, 1)
    assert (quick.warmup, quick.seed) == (100, 1)


def test_settle_reads_quick_only_for_what_full_names() -> None:
    args = argparse.Namespace(quick=True, turns=None, rounds=4, other=None)

    settle(args, {"turns": 9, "rounds": 3}, {"turns": 2, "rounds": 1})

    assert vars(args) == {"quick": True, "turns": 2, "rounds": 4, "other": None}


@pytest.mark.parametrize("text", ["1", "0", "-5", str(MAX_CONVERSATIONS), "beaucoup"])
def test_a_store_size_out_of_bounds_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        store_size(text)


def test_store_sizes_and_untimed_turns_read_grouped_digits() -> None:
    assert store_size("2") == 2
    assert store_size("1_000_000") == store_size("1,000,000") == 1_000_000
    assert untimed("0") == 0
    assert untimed("1_000") == 1000
    with pytest.raises(argparse.ArgumentTypeError, match="0 or more"):
        untimed("-1")
