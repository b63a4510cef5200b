"""`benchmarks/store.py` runs end to end on tiny stores and prints its report as JSON (the
figures themselves are not checked: the benchmark only measures); a throughput replay that
does not write the runtime's rows stops the run; bad options are usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks import store_throughput
from benchmarks.store_rows import Params, TurnRows, turn_rows
from benchmarks.store_runtime import RecordedTurn

ROOT = Path(__file__).resolve().parents[2]
SCALE = ("--small", "10", "--large", "40", "--turns", "5", "--warmup", "1")
THROUGHPUT = ("--conversations", "20", "--rounds", "1")


def run_store(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(ROOT / "benchmarks" / "store.py"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_the_scale_part_prints_its_figures_as_json() -> None:
    done = run_store("--json", "--part", "scale", *SCALE)

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == {"scale", "sqlite", "python", "cores"}
    scale = report["scale"]
    assert (scale["turns"], scale["warmup"]) == (5, 1)
    assert (scale["small"]["conversations"], scale["large"]["conversations"]) == (10, 40)
    for size in (scale["small"], scale["large"]):
        assert set(size["median_us_in"]) == {"claim", "get_conversation", "commit_turn", "other"}
    assert scale["ratio"] > 0
    assert isinstance(scale["target"]["met"], bool)


def test_the_throughput_part_prints_its_figures_as_json() -> None:
    # The run stops if a replay did not write the very rows the runtime wrote.
    done = run_store("--json", "--part", "throughput", *THROUGHPUT)

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == {"throughput", "sqlite", "python", "cores"}
    throughput = report["throughput"]
    assert (throughput["conversations"], throughput["turns"]) == (20, 40)
    assert set(throughput["paths"]) == {"runtime", "store_sql", "bare"}
    # A start writes 8 rows (lease in and out, inbox done, conversation, 1 message, 2 history
    # lines, its timer armed), a reply 8 (its timer cancelled) or 9 (and re-armed: the odd
    # conversations stay): (20·8 + 10·8 + 10·9) / 40 turns.
    assert throughput["writes_per_turn"] == 8.25


def _queued_as_before(turn: RecordedTurn) -> TurnRows:
    """A turn's rows with each outbox entry's history empty, as the replay wrote it before
    the store began it with the queued line."""
    rows = turn_rows(turn)
    commit = tuple(
        replace(statement, rows=tuple(map(_empty_history, statement.rows)))
        if "INTO outbox" in statement.sql
        else statement
        for statement in rows.commit
    )
    return replace(rows, commit=commit)


def _empty_history(row: Params) -> Params:
    assert isinstance(row, tuple)  # the outbox INSERT's parameters, `history` the last
    return (*row[:-1], "[]")


async def test_a_replay_that_writes_other_rows_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_throughput, "turn_rows", _queued_as_before)

    with pytest.raises(RuntimeError, match="did not write the rows the runtime wrote"):
        await store_throughput.throughput_round(tmp_path / "round", 4)


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("--large", "1"), "2 to"),
        (("--small", "90_000_000"), "2 to"),
        (("--turns", "0"), "must be 1 or more"),
        (("--warmup", "-1"), "--warmup"),
        (("--part", "both"), "invalid choice"),
    ],
)
def test_bad_options_are_usage_errors(args: tuple[str, ...], complaint: str) -> None:
    done = run_store(*args)

    assert done.returncode == 2
    assert complaint in done.stderr
