"""`causette serve --workers N` (bots/workers.py): which stores it refuses, and the parent's
restart policy, with real spawned processes standing for the workers. The real servers on one
port are in tests/runtime/test_serve_processes.py."""

from __future__ import annotations

import multiprocessing
import sys
from multiprocessing.process import BaseProcess
from pathlib import Path

from bots.config import load_settings
from bots.workers import RESTART_LIMIT, Supervisor, refusal


def test_sqlite_serves_one_process_only(tmp_path: Path) -> None:
    settings = load_settings(_config(tmp_path, "sqlite://causette.db"), {})
    assert refusal(settings, 1, 8080) is None
    refused = refusal(settings, 3, 8080)
    assert refused is not None
    assert refused.startswith("--workers 3: the store is SQLite (sqlite://")
    assert "MongoDB replica set" in refused


def test_mongodb_serves_several_but_not_on_port_zero(tmp_path: Path) -> None:
    settings = load_settings(_config(tmp_path, "mongodb://db.example/causette"), {})
    assert refusal(settings, 4, 8080) is None
    assert (
        refusal(settings, 4, 0) == "--workers 4: --port 0 would give each worker a port of its own"
    )


def _config(tmp_path: Path, store: str) -> Path:
    (tmp_path / "echo.yaml").write_text(
        "flow: echo\nstart: s\nstates:\n  s: {say: Bonjour., end: true}\n", encoding="utf-8"
    )
    config = tmp_path / "bots.yaml"
    config.write_text(f"store: {store}\nbots:\n  - id: echo\n    flow: echo.yaml\n")
    return config


def crash() -> None:
    """A worker that dies as it starts (a store it cannot reach, say)."""
    sys.exit(3)


def test_a_worker_that_keeps_dying_stops_the_parent_with_exit_code_1() -> None:
    context = multiprocessing.get_context("spawn")
    started: list[int] = []

    def start(index: int) -> BaseProcess:
        started.append(index)
        process = context.Process(target=crash)
        process.start()
        return process

    assert Supervisor(start, 1).run() == 1
    # Started, then started again RESTART_LIMIT times within the window, then given up.
    assert started == [0] * (RESTART_LIMIT + 1)
