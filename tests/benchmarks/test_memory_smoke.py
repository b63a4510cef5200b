"""`benchmarks/memory.py` runs end to end on tiny stores and prints its report as JSON; a
second run takes the stores from its cache. The figures themselves are not checked: the
benchmark only measures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.memory import median_of, round_orders

ROOT = Path(__file__).resolve().parents[2]
TARGETED = {"rss_open_mb", "rss_turns_mb", "peak_rss_mb", "turn_p50_ms", "turn_p95_ms"}
TARGETED |= {"turn_p99_ms"}
FIGURES = TARGETED | {"cpu_p50_ms", "cpu_p95_ms", "cpu_p99_ms"}
MOMENTS = {"start", "open", "turns"}


def run_memory(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(ROOT / "benchmarks" / "memory.py"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_a_tiny_run_prints_every_figure_and_reuses_its_stores(tmp_path: Path) -> None:
    args = ["--json", "--sizes", "40", "10", "--turns", "8", "--warmup", "1", "--rounds", "2"]
    args += ["--cache-dir", str(tmp_path)]

    first = run_memory(*args)
    again = run_memory(*args)

    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["turns"], report["warmup"], report["rounds"]) == (8, 1, 2)
    assert list(report["sizes"]) == ["10", "40"]  # sorted: the smallest is the reference
    for size in report["sizes"].values():
        assert set(size["rss_mb"]) == set(size["peak_rss_mb"]) == MOMENTS
        assert set(size["turn_ms"]) == set(size["turn_cpu_ms"]) == {"p50", "p95", "p99", "max"}
        assert size["waits_per_turn"] >= 0
        assert size["preempted_per_turn"] >= 0
        assert size["generated_s"] is not None
        assert size["rss_mb"]["open"] > 0
    assert list(report["ratios"]) == ["40"]
    assert set(report["ratios"]["40"]) == FIGURES
    assert report["target"]["at"] == 40
    assert set(report["target"]["met"]) == TARGETED
    assert isinstance(report["target"]["all_met"], bool)
    assert {"python", "cores", "sqlite"} <= set(report)

    assert again.returncode == 0, again.stderr
    cached = json.loads(again.stdout)
    assert cached["cache"] == report["cache"]
    assert [size["generated_s"] for size in cached["sizes"].values()] == [None, None]
    # The runs worked on copies: the cache holds the two generated stores and nothing else.
    folder = Path(report["cache"]["dir"])
    assert sorted(p.name for p in folder.iterdir()) == ["store-10.db", "store-40.db"]


def test_clear_cache_removes_the_stores(tmp_path: Path) -> None:
    made = run_memory("--json", "--sizes", "4", "6", "--turns", "2", "--rounds", "1",
                      "--cache-dir", str(tmp_path))  # fmt: skip
    assert made.returncode == 0, made.stderr

    cleared = run_memory("--clear-cache", "--cache-dir", str(tmp_path))

    assert cleared.returncode == 0, cleared.stderr
    assert "removed the cached stores" in cleared.stdout
    assert not (tmp_path / "memory").exists()


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("--sizes", "1", "1000"), "2 to"),
        (("--turns", "0"), "must be 1 or more"),
        (("--warmup", "-1"), "--warmup"),
        (("--sizes",), "expected at least one argument"),
    ],
)
def test_bad_options_are_usage_errors(args: tuple[str, ...], complaint: str) -> None:
    done = run_memory(*args)

    assert done.returncode == 2
    assert complaint in done.stderr


def test_rounds_alternate_their_order_and_figures_are_medians() -> None:
    assert round_orders([1, 2, 3], 3) == [[1, 2, 3], [3, 2, 1], [1, 2, 3]]
    rounds = [{"open_s": 1.0, "turn_ms": {"p50": 3.0}}, {"open_s": 5.0, "turn_ms": {"p50": 1.0}}]
    rounds.append({"open_s": 2.0, "turn_ms": {"p50": 2.0}})

    assert median_of(rounds) == {"open_s": 2.0, "turn_ms": {"p50": 2.0}}


def test_the_peak_is_the_probe_process_own_not_its_parent_s() -> None:
    # Linux keeps ru_maxrss across execve: a probe started by a parent holding this much
    # would report it as its own peak.
    ballast = bytearray(300_000_000)
    code = "from benchmarks.memory_probe import peak_rss_mb; print(peak_rss_mb())"

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )

    assert float(done.stdout) < len(ballast) / 2e6
