"""Which store errors are outages (one line, the loop tries again) and which are bugs."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from store.availability import is_unavailable, log_failure


def _locked_error(tmp_path: Path) -> sqlite3.OperationalError:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(sqlite3.OperationalError) as raised:
            other.execute("CREATE TABLE t (x)")
        return raised.value
    finally:
        other.close()
        holder.close()


def test_outages_are_told_from_bugs(tmp_path: Path) -> None:
    assert is_unavailable(_locked_error(tmp_path))
    assert is_unavailable(ServerSelectionTimeoutError("no primary"))
    assert is_unavailable(AutoReconnect("connection reset"))
    assert not is_unavailable(sqlite3.OperationalError("no such table: inbox"))
    assert not is_unavailable(ValueError("a bug"))


def test_an_outage_is_one_warning_line_and_a_bug_keeps_its_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = logging.getLogger("tests.availability")
    with caplog.at_level(logging.WARNING, logger="tests.availability"):
        log_failure(log, _locked_error(tmp_path), "round %d failed", 1)
        log_failure(log, ValueError("a bug"), "round %d failed", 2)
    outage, bug = caplog.records
    assert (outage.levelno, outage.exc_info) == (logging.WARNING, None)
    assert outage.getMessage() == "round 1 failed (store unavailable: database is locked)"
    assert bug.levelno == logging.ERROR
    assert bug.exc_info is not None
