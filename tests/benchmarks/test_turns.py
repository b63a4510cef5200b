"""`benchmarks/turns.py` runs end to end on a tiny load and prints its report as JSON (the
figures themselves are not checked: the benchmark only measures)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.turns_profile import frame_name, parse_collapsed

ROOT = Path(__file__).resolve().parents[2]
RUN_KEYS = {
    "offered",
    "acked",
    "refused",
    "completed",
    "unmatched_replies",
    "turns_per_s",
    "turn_ms",
    "ack_ms",
    "generator_lag_ms",
    "server_cpu_ms_per_turn",
    "server_cpu_share",
    "generator_cpu_share",
}


def run_turns(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(ROOT / "benchmarks" / "turns.py"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=ROOT)


def test_a_tiny_run_prints_every_figure_as_json() -> None:
    done = run_turns("--json", "--phones", "5", "--duration", "1", "--rate", "20", "--drain", "10")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["store"] == "sqlite"
    assert report["rates"] == [20]
    run = report["runs"]["20"]
    assert set(run) == {"causette", "baseline", "ratio", "cpu_ratio"}
    for kind in ("causette", "baseline"):
        assert set(run[kind]) == RUN_KEYS
        assert run[kind]["offered"] == 20
        # Every MO got its reply, and only one: the turns matched the replies.
        assert run[kind]["completed"] == 20
        assert run[kind]["unmatched_replies"] == 0
        assert set(run[kind]["turn_ms"]) == {"p50", "p95", "p99", "max"}
    assert isinstance(report["ratio"], float)
    assert set(report["target"]) == {"min_ratio", "ratio_met", "ack_p99_ms_below", "ack_met"}
    assert report["generator"]["offered_mo_per_s"] == 40
    assert report["ack_p99_ms"].keys() == {"20"}


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("--rate", "0"), "must be 1 or more"),
        (("--duration", "-1"), "--duration"),
        (("--store", "oracle"), "invalid choice"),
    ],
)
def test_bad_options_are_usage_errors(args: tuple[str, ...], complaint: str) -> None:
    done = run_turns(*args)

    assert done.returncode == 2
    assert complaint in done.stderr


def test_py_spy_stacks_add_up_by_function() -> None:
    raw = (
        "process 1:python;run (aiohttp/web.py:10);handle (webhooks/smsmode.py:5) 3\n"
        "process 1:python;run (aiohttp/web.py:12);commit (store/sqlite.py:7) 2\n"
        "process 1:python;run (aiohttp/web.py:10) 1\n"
        "not a stack line\n"
    )

    samples, own, total = parse_collapsed(raw)

    assert samples == 6
    assert own == {"smsmode.py:handle": 3, "sqlite.py:commit": 2, "web.py:run": 1}
    assert total["web.py:run"] == 6
    assert frame_name("<module> (<string>:1)") == "<string>:<module>"
