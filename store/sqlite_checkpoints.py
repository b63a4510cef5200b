"""WAL checkpoints of the SQLite store in a thread of their own, off the event loop.

In WAL mode a commit appends pages to the `-wal` file; a checkpoint copies them back into the
database file and syncs both. SQLite runs one by itself inside the commit that takes the WAL
past `wal_autocheckpoint` pages (1,000 by default), so on the event loop: scattered writes
and two fsyncs every ~23 turns, the p99 of a turn on a large store (docs/performance.md,
"Memory and store size").

Here a thread with a connection of its own runs `PRAGMA wal_checkpoint(PASSIVE)`, which takes
no lock a writer or a reader needs (CPython's `sqlite3` releases the GIL while SQLite works).
It sleeps until the store's connection reports a commit (`wrote`), waits `pause_s` more so
that the commits of a burst share one checkpoint, and checkpoints; an idle store costs
nothing.

What a thread cannot do is start the WAL over: SQLite does that only when a write transaction
begins with every frame already copied, and a writer that keeps committing (a busy server, a
batch) adds frames while any checkpoint runs. So once the WAL holds `RESTART_FRAMES`, the
thread syncs the database file and checkpoints again at once until what the writer added
meanwhile is little (`CAUGHT_UP_FRAMES`), then asks the serving connection to finish (`wrote`
returns True): at its next commit it checkpoints the few frames left, inline (1.5–2.1 ms on
a store of a million conversations, docs/performance.md), and its next write starts the file
over. `wal_autocheckpoint` stays on the serving connection as a safety net at
`SAFETY_NET_FRAMES`, should the thread fall behind or stop.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)

RESTART_FRAMES = 10_000
"""WAL size (4 KiB pages; 40 MiB) from which the WAL is started over: seldom, since each
time the event loop checkpoints the rest inline (in `benchmarks/memory.py`'s turns it grew to
18,500–22,200 frames first, every ~500 turns of ~43 pages; 4,000 or 20,000 measured the
same)."""

CAUGHT_UP_FRAMES = 256
"""The thread hands the restart to the serving connection once its last checkpoint found
fewer new frames than this: what the loop then copies inline."""

SAFETY_NET_FRAMES = 4 * RESTART_FRAMES
"""`wal_autocheckpoint` of the serving connection while a thread checkpoints: the WAL's bound
(160 MiB) if the thread cannot keep up or stopped, when SQLite checkpoints inline again."""

PAUSE_S = 0.25
"""How long the thread waits after a commit before it checkpoints, so that the commits of a
burst share one checkpoint and its fsyncs: the checkpoints' I/O slows the turns it overlaps
on this 2-core VM, so fewer, larger ones (0.05 s measured no better at the p95, worse at the
p99). With `synchronous = NORMAL` a checkpoint is also when the WAL is synced: a power loss
(not a process crash) can lose the commits of about this long, as it could lose those since
SQLite's last checkpoint before (every 1,000 pages, or never on a store left idle)."""

_MAX_PASSES = 8  # checkpoints in a row to catch up with the writer before a restart
_sync = getattr(os, "fdatasync", os.fsync)  # fdatasync: Linux, not macOS nor Windows


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What one `PRAGMA wal_checkpoint` reported."""

    busy: bool
    """It could not do all its work: another checkpoint ran, or a reader held old frames."""
    wal_frames: int
    """Frames (pages) in the WAL when it started; -1 when it could not run."""
    copied: int
    """Frames of the WAL in the database file now, copied by it or earlier ones."""

    @classmethod
    def run(cls, db: sqlite3.Connection) -> Checkpoint:
        busy, frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return cls(bool(busy), frames, copied)


class Checkpointer:
    """A thread checkpointing the WAL of the SQLite file at `path` after writes.

    `start()` once, `wrote()` after each commit of the serving connection (cheap), `stop()`
    to end it. `checkpoint_now()` runs one at once and returns what it did (tests, tools)."""

    def __init__(
        self, path: str, *, pause_s: float = PAUSE_S, restart_frames: int = RESTART_FRAMES
    ) -> None:
        self._path = path
        self._pause_s = pause_s
        self._restart_frames = restart_frames
        self._changed = threading.Condition()
        # Guarded by `_changed`, except the unlocked reads in `wrote`.
        self._dirty = False
        self._stopping = False
        self._asked = 0  # checkpoint_now() calls, and of them answered
        self._done = 0
        self._last: Checkpoint | None = None
        self._runs = 0
        self._ended = False
        self.restart_due = False
        """Set by the thread, cleared by `restart`: the WAL is large and the thread caught
        up with the writer."""
        self.restarts = 0
        """WALs the serving connection was asked to start over (`restart`)."""
        self._failing = False  # only the thread touches it
        self._thread = threading.Thread(
            target=self._run, name=f"sqlite-checkpoints {path}", daemon=True
        )

    @property
    def running(self) -> bool:
        """Whether the thread was started and has not ended."""
        return self._thread.ident is not None and not self._ended

    def start(self) -> None:
        self._thread.start()

    def wrote(self) -> bool:
        """A change was committed: checkpoint soon. True when the caller should `restart`
        now. Costs two attribute reads while a checkpoint is already due: `_dirty` is
        cleared before a checkpoint starts, so a commit that still sees it set is one the
        coming checkpoint will copy."""
        if not self._dirty:
            with self._changed:
                self._dirty = True
                self._changed.notify_all()
        return self.restart_due

    def restart(self, db: sqlite3.Connection) -> Checkpoint | None:
        """On the serving connection `db`, outside a transaction: checkpoint the frames the
        thread left, so that the next write starts the WAL over. None if it could not run
        (a statement of `db` still reading: the thread asks again after its next pass)."""
        self.restart_due = False
        self.restarts += 1
        try:
            return Checkpoint.run(db)
        except sqlite3.Error:
            return None

    def checkpoint_now(self, timeout: float | None = None) -> Checkpoint | None:
        """Run a checkpoint in the thread now and wait for it (blocking the caller): what it
        did, or None if the thread is not running or `timeout` seconds passed."""
        with self._changed:
            if not self.running or self._stopping:
                return None
            self._asked += 1
            asked = self._asked
            self._changed.notify_all()
            self._changed.wait_for(lambda: self._done >= asked or self._ended, timeout)
            return self._last if self._done >= asked else None

    def wait_checkpoints(self, count: int, timeout: float | None = None) -> bool:
        """Block until the thread ran `count` checkpoints since it started (tests, tools):
        whether it did within `timeout` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self._runs >= count or self._ended, timeout)
            return self._runs >= count

    def stop(self) -> None:
        """Stop the thread and wait for it: it ends its checkpoint of the moment, if any
        (PASSIVE waits for no lock), and closes its connection."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._thread.ident is not None:  # started
            self._thread.join()

    # --- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self._path, isolation_level=None)
        except sqlite3.Error as error:
            log.warning("SQLite store %s: no checkpoint thread: %s", self._path, error)
            self._end()
            return
        try:
            # The checkpoint's syncs follow its connection's setting: the store's.
            db.execute("PRAGMA synchronous = NORMAL")
            file = os.open(self._path, os.O_RDONLY)
            try:
                while (asked := self._next()) is not None:
                    found = self._catch_up(db, file)
                    with self._changed:
                        self._last, self._done = found, asked
                        self._runs += 1
                        self._changed.notify_all()
            finally:
                os.close(file)
        except (sqlite3.Error, OSError) as error:
            log.warning("SQLite store %s: the checkpoint thread stopped: %s", self._path, error)
        finally:
            db.close()
            self._end()

    def _next(self) -> int | None:
        """Sleep until a checkpoint is due; the `checkpoint_now` calls it answers, or None
        to stop."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._dirty or self._stopping or self._asked > self._done
            )
            if not self._stopping and self._asked == self._done:
                # After a commit: let the burst's next commits join this checkpoint.
                self._changed.wait_for(
                    lambda: self._stopping or self._asked > self._done, self._pause_s
                )
            if self._stopping:
                return None
            self._dirty = False
            return self._asked

    def _catch_up(self, db: sqlite3.Connection, file: int) -> Checkpoint | None:
        """One checkpoint; with a large WAL, more until the writer added little meanwhile,
        and then the restart is due."""
        found = self._checkpoint(db)
        if found is None or found.wal_frames < self._restart_frames:
            return found
        for _ in range(_MAX_PASSES):
            again = self._checkpoint(db, synced=file)
            if again is None or again.busy or again.wal_frames < found.wal_frames:
                return again  # the loop checkpoints already, a reader holds frames, restarted
            added, found = again.wal_frames - found.wal_frames, again
            if added < CAUGHT_UP_FRAMES:
                break
        self.restart_due = True
        return found

    def _checkpoint(self, db: sqlite3.Connection, synced: int | None = None) -> Checkpoint | None:
        """A PASSIVE checkpoint, after syncing the database file `synced` if given; None
        (logged once until one works again) if the file was removed, the disk failed: the
        thread tries again at the next commit."""
        try:
            if synced is not None:
                # SQLite syncs the database file only at the end of a checkpoint that copied
                # the whole WAL, which one racing a writer seldom is: the pages copied so far
                # would all be synced by the restart's checkpoint, on the event loop (a 40 ms
                # fsync on a 3 GB store, measured). Synced here, off that path, and only
                # before a restart: a page copied several times since the last one is
                # written to the disk once.
                _sync(synced)
            found = Checkpoint.run(db)
        except (sqlite3.Error, OSError) as error:
            if not self._failing:
                log.warning("SQLite store %s: checkpoint failed: %s", self._path, error)
            self._failing = True
            return None
        if self._failing:
            log.warning("SQLite store %s: checkpoints work again", self._path)
        self._failing = False
        return found

    def _end(self) -> None:
        with self._changed:
            self._ended = True
            self._changed.notify_all()
