"""SQLite only: the WAL is checkpointed by a thread of the store, off the event loop
(store/sqlite_checkpoints.py); close() stops it; a killed process loses no committed write."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

import pytest

from store.sqlite import BUSY_TIMEOUT_MS, SqliteStore
from store.sqlite_checkpoints import SAFETY_NET_FRAMES, Checkpointer
from store.sqlite_connection import StoreConnection
from tests.store import BOT, PHONE, conversation, inbound, start

ROOT = Path(__file__).resolve().parents[2]


def checkpoint_threads(path: Path) -> list[threading.Thread]:
    """The live checkpoint threads of the file at `path` (other tests' do not count)."""
    return [t for t in threading.enumerate() if t.name == f"sqlite-checkpoints {path}"]


def pragma(store: SqliteStore, name: str) -> int:
    return int(store._conn.execute(f"PRAGMA {name}").fetchone()[0])


def running(store: SqliteStore) -> Checkpointer:
    checkpointer = store.checkpointer
    assert checkpointer is not None
    assert checkpointer.running
    return checkpointer


async def test_the_thread_copies_the_wal_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "causette.db"
    async with SqliteStore(path) as store:
        await start(store, conversation())
        done = running(store).checkpoint_now(timeout=30)
        assert done is not None
        assert not done.busy
        assert done.wal_frames > 0
        assert done.copied == done.wal_frames
        # The database file alone, without its WAL, holds the conversation now.
        shutil.copyfile(path, tmp_path / "alone.db")
        with closing(sqlite3.connect(tmp_path / "alone.db")) as alone:
            sql = "SELECT phone FROM conversations WHERE bot_id = ?"
            assert alone.execute(sql, (BOT,)).fetchall() == [(PHONE,)]


async def test_a_commit_wakes_the_thread(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "causette.db") as store:
        checkpointer = running(store)
        assert not checkpointer.wait_checkpoints(1, timeout=0)  # idle: it sleeps
        await store.append_inbound(inbound("m1"))
        await store.inbox_depth()  # `... RETURNING` counts its change at the next statement
        assert checkpointer.wait_checkpoints(1, timeout=30)


async def test_the_wal_starts_over_once_the_thread_caught_up(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "causette.db") as store:
        for n in range(20):
            await store.append_inbound(inbound(f"m{n}"))
        first = running(store).checkpoint_now(timeout=30)
        await store.append_inbound(inbound("last"))
        second = running(store).checkpoint_now(timeout=30)
        assert first is not None
        assert second is not None
        assert second.copied == second.wal_frames < first.wal_frames


def test_a_large_wal_is_started_over_by_the_serving_connection(tmp_path: Path) -> None:
    path = str(tmp_path / "causette.db")
    with closing(StoreConnection(path, busy_timeout_ms=BUSY_TIMEOUT_MS)) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("CREATE TABLE t (body TEXT)")
        # Checkpoints when asked only (a long pause), so none races the one asserted on.
        checkpointer = Checkpointer(path, pause_s=3600, restart_frames=50)
        checkpointer.start()
        db.checkpointer = checkpointer
        try:
            for _ in range(60):
                db.execute("INSERT INTO t VALUES (?)", ("x" * 3000,))
            found = checkpointer.checkpoint_now(timeout=30)
            assert found is not None
            assert found.wal_frames >= 60
            assert checkpointer.restart_due  # caught up with the (idle) writer
            db.execute("INSERT INTO t VALUES ('y')")  # a commit: copies the rest, inline
            assert (checkpointer.restart_due, checkpointer.restarts) == (False, 1)
            db.execute("INSERT INTO t VALUES ('z')")  # starts the WAL over
            after = checkpointer.checkpoint_now(timeout=30)
            assert after is not None
            assert after.wal_frames < 10
            assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 62
        finally:
            checkpointer.stop()


async def test_the_serving_connection_keeps_a_safety_net(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "a.db") as threaded:
        assert pragma(threaded, "wal_autocheckpoint") == SAFETY_NET_FRAMES
    async with SqliteStore(tmp_path / "b.db", checkpoint_thread=False) as inline:
        assert inline.checkpointer is None
        assert pragma(inline, "wal_autocheckpoint") == 1000  # SQLite's default
    async with SqliteStore(":memory:") as memory:
        assert memory.checkpointer is None


async def test_close_stops_the_thread_and_empties_the_wal(tmp_path: Path) -> None:
    path = tmp_path / "causette.db"
    store = SqliteStore(path)
    await store.open()
    checkpointer = running(store)
    assert len(checkpoint_threads(path)) == 1
    await start(store, conversation())
    await store.close()
    assert not checkpointer.running
    assert checkpoint_threads(path) == []
    assert checkpointer.checkpoint_now(timeout=1) is None
    # The last connection's close copied the WAL back and deleted it.
    assert not path.with_name(path.name + "-wal").exists()
    await store.close()  # twice is harmless


async def test_close_while_another_process_reads_still_stops(tmp_path: Path) -> None:
    path = tmp_path / "causette.db"
    store = SqliteStore(path)
    await store.open()
    assert len(checkpoint_threads(path)) == 1
    await start(store, conversation())
    with closing(sqlite3.connect(path)) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM conversations").fetchall()  # holds a snapshot
        await store.append_inbound(inbound("m1"))
        await store.close()  # not the last connection: the WAL stays for the reader
        reader.execute("COMMIT")
    assert checkpoint_threads(path) == []
    async with SqliteStore(path) as again:
        assert await again.inbox_depth() == 1  # m1 (the start event was handled)
        assert await again.get_conversation(BOT, PHONE) is not None


_KILLED = """
import asyncio, os, signal, sys
from store.sqlite import SqliteStore
from tests.store import inbound

async def main() -> None:
    store = SqliteStore(sys.argv[1])
    await store.open()
    for n in range(300):
        await store.append_inbound(inbound(f"m{n}"))
        if n == 150:
            store.checkpointer.checkpoint_now(timeout=30)
        store.checkpointer.wrote()  # keep the thread busy while the process dies
    print("written", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
async def test_a_killed_process_loses_no_committed_write(tmp_path: Path) -> None:
    path = tmp_path / "causette.db"
    done = subprocess.run(
        [sys.executable, "-c", _KILLED, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -9, done.stderr
    assert done.stdout == "written\n"
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    async with SqliteStore(path) as store:
        assert await store.inbox_depth() == 300
