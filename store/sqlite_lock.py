"""Failing fast while another process holds the SQLite file's write lock.

A write waits up to the busy timeout for the lock, and the wait blocks the event loop. When
another process keeps the lock (a backup, a forgotten `sqlite3` shell: `benchmarks/chaos.py
--scenario store-down` holds it 30 s), every write would wait that long before failing, and
the loop would hardly run anything else. Once one write failed for the lock, the next ones
are likely to fail too: the connection stops waiting (`busy_timeout = 0`), so every write
tries once and fails at once (a webhook answers 503 at once and the provider posts again
later) until a write succeeds, which gives the wait back.
"""

from __future__ import annotations

import logging
import sqlite3

log = logging.getLogger(__name__)


def is_busy(error: sqlite3.Error) -> bool:
    """Whether `error` is SQLITE_BUSY (or one of its extended codes): a lock held elsewhere."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:  # raised by the `sqlite3` module itself, not by SQLite
        return False
    return int(code) & 0xFF == sqlite3.SQLITE_BUSY


class LockWatch:
    """Whether the file is known to be locked by another process, and the busy timeout of
    the connection that follows from it.

    The connection (`store/sqlite_connection.py`) reports every statement that failed and,
    while `locked`, every write that succeeded."""

    def __init__(self, name: str, timeout_ms: int) -> None:
        self.name = name
        """The file, for the log lines."""
        self.timeout_ms = timeout_ms
        """The busy timeout while the file is not known to be locked."""
        self.locked = False
        """From a statement that failed for the lock until a write succeeds."""
        self.busy_failures = 0
        """Statements that failed for the lock since the connection opened."""
        self._failed_before = 0  # `busy_failures` when the lock was last found free

    def failed(self, db: sqlite3.Connection, error: sqlite3.Error) -> None:
        """A statement of `db` raised `error`: if it was the lock, stop waiting for it."""
        if not is_busy(error):
            return
        self.busy_failures += 1
        if self.locked:
            return
        self.locked = True
        db.execute("PRAGMA busy_timeout = 0")
        log.warning(
            "SQLite store %s: another process holds the write lock (a write waited %d ms for "
            "it); writes now fail at once until one succeeds",
            self.name,
            self.timeout_ms,
        )

    def wrote(self, db: sqlite3.Connection) -> None:
        """A write of `db` took the lock (reported while `locked` only): wait for it again."""
        self.locked = False
        db.execute(f"PRAGMA busy_timeout = {self.timeout_ms}")
        failed, self._failed_before = self.busy_failures - self._failed_before, self.busy_failures
        log.warning(
            "SQLite store %s: the write lock is free again (%d statements failed for it); "
            "writes wait up to %d ms for it again",
            self.name,
            failed,
            self.timeout_ms,
        )
