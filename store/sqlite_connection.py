"""The SQLite store's connection: how it is opened and closed, and the class every statement
of the store goes through (`execute`, `executemany`, autocommitted or inside `transaction()`
of `store/sqlite_schema.py`). That is where the store learns that another process holds the
write lock (`store/sqlite_lock.py`) and that a write was committed (which wakes the
checkpoint thread, `store/sqlite_checkpoints.py`).

What that costs a statement is measured in `store/sqlite.py`'s docstring.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from store.sqlite_checkpoints import SAFETY_NET_FRAMES, Checkpointer
from store.sqlite_lock import LockWatch
from store.sqlite_schema import create_schema
from store.url import MEMORY

_EXECUTE = sqlite3.Connection.execute
_EXECUTEMANY = sqlite3.Connection.executemany


class StoreConnection(sqlite3.Connection):
    """A `sqlite3.Connection` in autocommit mode (`isolation_level=None`: the store writes
    its own `BEGIN IMMEDIATE` ... `COMMIT`) that fails fast while the file is locked by
    another process and tells its `checkpointer`, if any, after each statement that left
    a committed change."""

    def __init__(self, path: str, *, busy_timeout_ms: int) -> None:
        super().__init__(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
        self.path = path
        self.lock = LockWatch(path, busy_timeout_ms)
        self.checkpointer: Checkpointer | None = None
        """The thread checkpointing the file's WAL, told of each commit."""
        self._changes = 0

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            cursor = _EXECUTE(self, sql, parameters)
        except sqlite3.OperationalError as error:
            self.lock.failed(self, error)
            raise
        self._succeeded(cursor)
        return cursor

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        try:
            cursor = _EXECUTEMANY(self, sql, parameters)
        except sqlite3.OperationalError as error:
            self.lock.failed(self, error)
            raise
        self._succeeded(cursor)
        return cursor

    def _succeeded(self, cursor: sqlite3.Cursor) -> None:
        # A write holds the lock once it ran: `BEGIN IMMEDIATE` leaves a transaction open,
        # INSERT/UPDATE/DELETE (even one that changed nothing) have a row count.
        if self.lock.locked and (self.in_transaction or cursor.rowcount >= 0):
            self.lock.wrote(self)
        # Outside a transaction only: a change counted inside one is not committed yet. An
        # autocommitted `... RETURNING` counts its change once its rows are fetched, so it
        # is seen at the next statement.
        if not self.in_transaction and self.total_changes != self._changes:
            self._changes = self.total_changes
            checkpointer = self.checkpointer
            if checkpointer is not None and checkpointer.wrote():
                checkpointer.restart(self)


def open_connection(path: str, busy_timeout_ms: int, *, checkpoint_thread: bool) -> StoreConnection:
    """The store's connection to the file at `path` (or `:memory:`), its schema created or
    upgraded; for a file, in WAL mode, with a checkpoint thread if `checkpoint_thread`."""
    db = StoreConnection(path, busy_timeout_ms=busy_timeout_ms)
    try:
        db.row_factory = sqlite3.Row
        if path != MEMORY:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
        # Temporary files in memory: a turn's savepoint (the group commit, commit_turn)
        # otherwise spills its statement journal to a file in /var/tmp on every turn
        # (open, tens of writes, unlink). No query of the store sorts a large set in a
        # temporary b-tree (they walk indexes), so this does not grow with the store.
        db.execute("PRAGMA temp_store = MEMORY")
        create_schema(db)
        if checkpoint_thread and path != MEMORY:
            db.execute(f"PRAGMA wal_autocheckpoint = {SAFETY_NET_FRAMES}")
            db.checkpointer = Checkpointer(path)
            db.checkpointer.start()
    except BaseException:
        close_connection(db)
        raise
    return db


def close_connection(db: StoreConnection) -> None:
    """Stop the checkpoint thread, then close. The final checkpoint is SQLite's: closing the
    last connection to the file copies the WAL back and deletes it. Not an explicit
    `wal_checkpoint(TRUNCATE)`: with another process using the file (a CLI command closing
    while `causette serve` runs), it would take the write lock and hold that process's
    writes, on its event loop, for its copy and fsync (tens of ms on a large store)."""
    try:
        if db.checkpointer is not None:
            db.checkpointer.stop()
            db.checkpointer = None
    finally:
        db.close()
