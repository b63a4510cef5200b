"""SQLite only: while another process holds the file's write lock, the store's writes fail
at once instead of each waiting the busy timeout on the event loop (store/sqlite_lock.py),
and nothing is half-written."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from store.sqlite import BUSY_TIMEOUT_MS, SqliteStore
from store.sqlite_connection import StoreConnection
from store.sqlite_lock import is_busy
from store.sqlite_schema import transaction
from tests.store import (
    PHONE,
    T0,
    bumped,
    claim_one,
    conversation,
    everything,
    inbound,
    line,
    outbound,
    start,
    turn,
)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Another process's write lock on the file, as `sqlite3` shells and backups take it."""
    with closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")


def connection(path: Path) -> StoreConnection:
    """The store's kind of connection, in WAL mode as the store opens it."""
    db = StoreConnection(str(path), busy_timeout_ms=BUSY_TIMEOUT_MS)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
    return db


def busy_timeout(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA busy_timeout").fetchone()[0])


def test_the_connection_stops_waiting_for_a_lock_held_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "causette.db"
    with closing(connection(path)) as db:
        assert busy_timeout(db) == BUSY_TIMEOUT_MS
        with locked(path):
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                db.execute("INSERT INTO t VALUES (1)")  # waited BUSY_TIMEOUT_MS
            assert busy_timeout(db) == 0  # so the next ones try once and fail at once
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                db.executemany("INSERT INTO t VALUES (?)", [(2,), (3,)])
            with pytest.raises(sqlite3.OperationalError, match="locked"), transaction(db):
                db.execute("INSERT INTO t VALUES (4)")
            assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0  # WAL: reads work
            assert (db.lock.locked, db.lock.busy_failures, busy_timeout(db)) == (True, 3, 0)
        with transaction(db):  # the first write that takes the lock gives the wait back
            db.execute("INSERT INTO t VALUES (5)")
        assert (db.lock.locked, db.lock.busy_failures) == (False, 3)
        assert busy_timeout(db) == BUSY_TIMEOUT_MS
        assert [n for (n,) in db.execute("SELECT n FROM t")] == [5]


def test_an_autocommitted_write_gives_the_wait_back_too(tmp_path: Path) -> None:
    path = tmp_path / "causette.db"
    with closing(connection(path)) as db:
        with locked(path), pytest.raises(sqlite3.OperationalError):
            db.execute("INSERT INTO t VALUES (1)")
        db.execute("SELECT n FROM t").fetchall()  # a read does not take the lock
        assert db.lock.locked
        db.execute("UPDATE t SET n = 2 WHERE n = 99")  # a write, even one changing no row
        assert not db.lock.locked
        assert busy_timeout(db) == BUSY_TIMEOUT_MS


def test_other_errors_leave_the_wait_alone(tmp_path: Path) -> None:
    with closing(connection(tmp_path / "causette.db")) as db:
        with pytest.raises(sqlite3.OperationalError, match="no such table") as raised:
            db.execute("INSERT INTO missing VALUES (1)")
        assert not is_busy(raised.value)
        assert (db.lock.locked, db.lock.busy_failures) == (False, 0)
        assert busy_timeout(db) == BUSY_TIMEOUT_MS


async def test_a_locked_store_fails_fast_and_writes_nothing_half(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "causette.db"
    caplog.set_level(logging.WARNING, logger="store.sqlite_lock")
    async with SqliteStore(path, checkpoint_thread=False) as store:
        conv = await start(store, conversation())
        await store.append_inbound(inbound("m1"))
        claim = await claim_one(store)
        write = turn(bumped(conv, T0), outbound=[outbound("o1")], history=[line(conv, "h1")])
        before = await everything(store, conv)
        with locked(path):
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                await store.commit_turn(claim, write, T0)  # the turn's whole unit
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                await store.append_inbound(inbound("m2"))  # a webhook's autocommitted insert
            assert await everything(store, conv) == before
            assert (store.lock_watch.locked, store.lock_watch.busy_failures) == (True, 2)
        assert await everything(store, conv) == before
        await store.commit_turn(claim, write, T0)
        assert not store.lock_watch.locked
        stored = await store.get_conversation_by_id(conv.id)
        assert stored is not None
        assert stored.version == 2
    warnings = [r.getMessage() for r in caplog.records if r.name == "store.sqlite_lock"]
    assert len(warnings) == 2, warnings  # once locked, once free: not once a failed write
    assert "another process holds the write lock" in warnings[0]
    assert "free again (2 statements failed for it)" in warnings[1]
    assert not any(PHONE in w or PHONE[1:] in w for w in warnings)
